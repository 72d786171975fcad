/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-mkimage: build the next version of a site from an image file or block device. */

#include "build.h"
#include "codec.h"
#include "cli.h"
#include "log.h"
#include "progress.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-mkimage [OPTIONS] IMAGE SITE\n"
		"Build the next version of SITE from IMAGE (a raw image file or block device).\n"
		"\n"
		"  -b, --block-size N     block size in bytes, a multiple of 512 from 4096 to 64 MiB\n"
		"                         (default 262144; fixed by the site's first version)\n"
		"  -j, --jobs N           threads for hashing and compression (default: all cores)\n"
		"  -l, --level N          compression level 1-12 (default %d)\n"
		"  -H, --hash ALGO        md5 (default) or sha256; fixed by the site's first version\n"
		"  -L, --label TEXT       a label for the new version\n"
		"  -n, --dry-run          compute what would be stored; write nothing\n"
		"  -f, --force-version    publish a new version even when nothing changed\n"
		"      --json             print the summary as one JSON object\n"
		"  -q, --quiet            no progress bar and no summary\n"
		"  -h, --help             show this help\n",
		HFC_LEVEL_DEFAULT);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "block-size", required_argument, NULL, 'b' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "level", required_argument, NULL, 'l' },
		{ "hash", required_argument, NULL, 'H' },
		{ "label", required_argument, NULL, 'L' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force-version", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	hfc_log_set_program("hfc-mkimage");
	HfcBuildOptions o = { .progress = true };
	bool json = false, quiet = false;
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "b:j:l:H:L:nfqh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (hfc_parse_size(optarg, &v) < 0 || !hfc_block_size_valid(v)) {
				hfc_log_error("--block-size",
					      "'%s' is not a multiple of 512 from 4096 to 67108864",
					      optarg);
				return 2;
			}
			o.block_size = (uint32_t)v;
			break;
		case 'j':
			if (hfc_opt_uint("--jobs", optarg, 1, 1024, &v) < 0)
				return 2;
			o.jobs = (unsigned)v;
			break;
		case 'l':
			if (hfc_opt_uint("--level", optarg, HFC_LEVEL_MIN, HFC_LEVEL_MAX, &v) < 0)
				return 2;
			o.level = (int)v;
			break;
		case 'H':
			if (hfc_hash_from_name(optarg, &o.hash) < 0) {
				hfc_log_error("--hash", "'%s' is not md5 or sha256", optarg);
				return 2;
			}
			o.hash_set = true;
			break;
		case 'L':
			if (!hfc_label_valid(optarg)) {
				hfc_log_error("--label", "1 to %d printable UTF-8 bytes expected",
					      HFC_LABEL_MAX);
				return 2;
			}
			o.label = optarg;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'f':
			o.force_version = true;
			break;
		case 'J':
			json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		hfc_log_error("usage", "expected IMAGE and SITE (see --help)");
		return 2;
	}
	const char *image = argv[optind], *site = argv[optind + 1];
	o.progress = !quiet && !json;

	HfcBuildResult res = { 0 };
	HfcErr err = { "" };
	int r = hfc_build(image, site, &o, &res, &err);
	if (r < 0) {
		hfc_log_err(r, &err);
		return 1;
	}
	if (res.unchanged && o.label && !quiet)
		hfc_log_warn("image unchanged: label not used (--force-version publishes anyway)");
	double mbs = res.seconds > 0 ? (double)res.bytes_read / res.seconds / 1e6 : 0;
	if (json) {
		printf("{\"site\":");
		hfc_json_string(stdout, site);
		printf(",\"version\":%u,\"published\":%s,\"unchanged\":%s,\"dry_run\":%s,\"image_size\":%" PRIu64
		       ",\"blocks\":%" PRIu64 ",\"new\":%" PRIu64 ",\"reused\":%" PRIu64
		       ",\"zero\":%" PRIu64 ",\"bytes_read\":%" PRIu64 ",\"bytes_written\":%" PRIu64
		       ",\"seconds\":%.3f,\"mb_per_s\":%.1f}\n",
		       res.version, res.published ? "true" : "false",
		       res.unchanged ? "true" : "false", o.dry_run ? "true" : "false",
		       res.image_size, res.blocks, res.new_blocks, res.reused, res.zero,
		       res.bytes_read, res.bytes_written, res.seconds, mbs);
	} else if (!quiet) {
		char rd[32], wr[32];
		hfc_format_bytes(res.bytes_read, rd, sizeof(rd));
		hfc_format_bytes(res.bytes_written, wr, sizeof(wr));
		const char *what = res.unchanged ? "unchanged, still version"
				   : o.dry_run	   ? "dry run, would be version"
						   : "version";
		printf("%s: %s %u: %" PRIu64 " blocks, %" PRIu64 " new, %" PRIu64 " reused, %" PRIu64
		       " zero; read %s, wrote %s in %.2f s (%.1f MB/s)\n",
		       site, what, res.version, res.blocks, res.new_blocks, res.reused, res.zero, rd,
		       wr, res.seconds, mbs);
	}
	if (fflush(stdout) != 0) {
		hfc_log_errno(-errno, "stdout");
		return 1;
	}
	return 0;
}
