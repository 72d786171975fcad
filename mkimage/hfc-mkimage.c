/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-mkimage: build the next version of a site from an image file or block device. */

#include "base/codec.h"
#include "base/parse.h"
#include "site/build.h"
#include "base/clock.h"
#include "programs/cli.h"
#include "programs/log.h"
#include "programs/json.h"
#include "programs/progress.h"

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
		"      --sign-key KEY     sign the version with the Ed25519 key KEY (hfc-index keygen)\n"
		"      --expires WHEN     the signature's expiry: a time (YYYY-MM-DDTHH:MM:SSZ) or a\n"
		"                         duration (14d, 12h); default 30d\n"
		"      --json             print the summary as one JSON object\n"
		"  -q, --quiet            no progress bar and no summary\n"
		"  -h, --help             show this help\n",
		HFC_LEVEL_DEFAULT);
}

typedef struct Args {
	HfcBuildOptions build;
	const char *sign_key; /* --sign-key */
	int64_t now;
	HfcOutArgs out;
	const char *image, *site;
} Args;

static int print_result(const Args *a, const HfcBuildResult *res)
{
	double mbs = res->seconds > 0 ? (double)res->bytes_read / res->seconds / 1e6 : 0;
	if (a->out.json)
		return hfc_json_print(stdout,
			json_pack("{s:o, s:i, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
				  "site", hfc_json_str(a->site), "version", (json_int_t)res->version,
				  "published", res->published, "unchanged", res->unchanged,
				  "dry_run", a->build.dry_run, "image_size", (json_int_t)res->image_size,
				  "blocks", (json_int_t)res->blocks, "new", (json_int_t)res->new_blocks,
				  "reused", (json_int_t)res->reused, "zero", (json_int_t)res->zero,
				  "bytes_read", (json_int_t)res->bytes_read,
				  "bytes_written", (json_int_t)res->bytes_written,
				  "seconds", hfc_json_seconds(res->seconds), "mb_per_s", hfc_json_rate(mbs)));
	if (a->out.quiet)
		return 0;
	char rd[32], wr[32];
	hfc_format_bytes(res->bytes_read, rd, sizeof(rd));
	hfc_format_bytes(res->bytes_written, wr, sizeof(wr));
	const char *what = res->unchanged ? "unchanged, still version"
			   : a->build.dry_run ? "dry run, would be version"
					      : "version";
	printf("%s: %s %u: %" PRIu64 " blocks, %" PRIu64 " new, %" PRIu64 " reused, %" PRIu64
	       " zero; read %s, wrote %s in %.2f s (%.1f MB/s)\n",
	       a->site, what, res->version, res->blocks, res->new_blocks, res->reused, res->zero, rd,
	       wr, res->seconds, mbs);
	return 0;
}

static int run(Args *a)
{
	_cleanup_(hfc_key_freep) HfcKey *key = NULL;
	if (a->sign_key) {
		HfcErr kerr = { "" };
		int k = hfc_key_load(a->sign_key, true, &key, &kerr);
		if (k < 0)
			return hfc_log_err(k, &kerr);
		a->build.sign_key = key;
		if (!a->build.sign_expires)
			a->build.sign_expires = a->now + 30 * 86400;
	}
	HfcProgressBar bar;
	a->build.progress = hfc_progress_bar(&bar, !a->out.quiet && !a->out.json);
	HfcBuildResult res = { 0 };
	HfcErr err = { "" };
	int r = hfc_build(a->image, a->site, &a->build, &res, &err);
	hfc_progress_bar_end(&bar);
	if (r < 0)
		return hfc_log_err(r, &err);
	if (res.unchanged && a->build.label && !a->out.quiet)
		hfc_log_warn("image unchanged: label not used (--force-version publishes anyway)");
	r = print_result(a, &res);
	if (r < 0)
		return hfc_log_errno(r, "stdout");
	return hfc_stdout_flush();
}

enum { OPT_SIGN_KEY = 256, OPT_EXPIRES };

static int parse_args(int argc, char **argv, Args *a)
{
	static const struct option opts[] = {
		{ "block-size", required_argument, NULL, 'b' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "level", required_argument, NULL, 'l' },
		{ "hash", required_argument, NULL, 'H' },
		{ "label", required_argument, NULL, 'L' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force-version", no_argument, NULL, 'f' },
		{ "sign-key", required_argument, NULL, OPT_SIGN_KEY },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	HfcBuildOptions *o = &a->build;
	uint64_t v;
	int c, r = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, "b:j:l:H:L:nfqh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (hfc_parse_size(optarg, &v) < 0 || !hfc_block_size_valid(v)) {
				hfc_log_error("--block-size",
					      "'%s' is not a multiple of 512 from 4096 to 67108864",
					      optarg);
				return HFC_USAGE;
			}
			o->block_size = (uint32_t)v;
			break;
		case 'j':
			r = hfc_opt_jobs(optarg, &o->jobs);
			break;
		case 'l':
			r = hfc_opt_uint("--level", optarg, HFC_LEVEL_MIN, HFC_LEVEL_MAX, &v);
			o->level = (int)v;
			break;
		case 'H':
			if (hfc_hash_from_name(optarg, &o->hash) < 0) {
				hfc_log_error("--hash", "'%s' is not md5 or sha256", optarg);
				return HFC_USAGE;
			}
			o->hash_set = true;
			break;
		case 'L':
			if (!hfc_label_valid(optarg)) {
				hfc_log_error("--label", "1 to %d printable UTF-8 bytes expected",
					      HFC_LABEL_MAX);
				return HFC_USAGE;
			}
			o->label = optarg;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'f':
			o->force_version = true;
			break;
		case OPT_SIGN_KEY:
			a->sign_key = optarg;
			break;
		case OPT_EXPIRES:
			r = hfc_opt_expires("--expires", optarg, a->now, &o->sign_expires);
			break;
		default:
			r = hfc_common_opt(c, usage, &a->out);
			break;
		}
	}
	if (r < 0)
		return r;
	if (a->build.sign_expires && !a->sign_key)
		return hfc_usage_error("--expires goes with --sign-key");
	if (argc - optind != 2)
		return hfc_usage_error("expected IMAGE and SITE");
	a->image = argv[optind];
	a->site = argv[optind + 1];
	return 0;
}

int main(int argc, char **argv)
{
	hfc_log_set_program("hfc-mkimage");
	Args a = { .now = hfc_realtime() };
	int r = parse_args(argc, argv, &a);
	if (r >= 0)
		r = run(&a);
	return hfc_exit_status(r);
}
