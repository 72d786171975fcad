/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-get: rebuild an image from a site over HTTP, or read files out of it, without FUSE. */

#include "cli.h"
#include "ext2.h"
#include "image.h"
#include "log.h"
#include "progress.h"
#include "remote.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-get [OPTIONS] URL[,URL...] OUT\n"
		"       hfc-get --ls [-l] URL[,URL...] PATH\n"
		"       hfc-get --cat URL[,URL...] PATH\n"
		"Rebuild the image of a site (OUT - is stdout), or list a directory or print a file of\n"
		"the ext2 file system in it, fetching only the blocks needed. URL is http://, https://,\n"
		"file:// or a directory; several URLs are mirrors of one site.\n"
		"\n"
		"  -v, --version N        the version to fetch (default: the current one)\n"
		"      --ls               list PATH in the image's file system\n"
		"  -l, --long             with --ls: mode, links, owner, size, date\n"
		"      --cat              write the file PATH of the image to stdout\n"
		"  -c, --connections N    transfers at once (default 8)\n"
		"      --timeout MS       one request's time limit (default 30000)\n"
		"      --retries N        further attempts per block (default 4)\n"
		"      --cache DIR        keep block files in DIR (as hfc-mount --cache)\n"
		"      --cache-size SIZE  bound of the cache (default 1G; K, M, G, T suffixes)\n"
		"      --allow-older      accept a current version older than one seen before\n"
		"      --json             print the summary as one JSON object\n"
		"  -q, --quiet            no progress bar, no summary\n"
		"  -h, --help             show this help\n");
}

static int remote_block(void *ctx, unsigned worker, uint64_t i, void *out, HfcErr *err)
{
	(void)worker;
	return hfc_remote_block(ctx, i, out, err);
}

static ssize_t remote_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	return hfc_remote_pread(ctx, buf, len, offset);
}

int main(int argc, char **argv)
{
	enum { OPT_LS = 256, OPT_CAT, OPT_TIMEOUT, OPT_RETRIES, OPT_CACHE, OPT_CACHE_SIZE, OPT_JSON,
	       OPT_OLDER };
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "ls", no_argument, NULL, OPT_LS },
		{ "long", no_argument, NULL, 'l' },
		{ "cat", no_argument, NULL, OPT_CAT },
		{ "connections", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "cache", required_argument, NULL, OPT_CACHE },
		{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
		{ "allow-older", no_argument, NULL, OPT_OLDER },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	hfc_log_set_program("hfc-get");
	HfcRemoteOptions o;
	hfc_remote_options_default(&o);
	bool ls = false, cat = false, longfmt = false, json = false, quiet = false;
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "v:lc:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if (hfc_opt_uint("--version", optarg, 1, HFC_VERSION_MAX, &v) < 0)
				return 2;
			o.version = (uint32_t)v;
			break;
		case OPT_LS:
			ls = true;
			break;
		case 'l':
			longfmt = true;
			break;
		case OPT_CAT:
			cat = true;
			break;
		case 'c':
			if (hfc_opt_uint("--connections", optarg, 1, 64, &v) < 0)
				return 2;
			o.http.connections = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			if (hfc_opt_uint("--timeout", optarg, 100, 3600000, &v) < 0)
				return 2;
			o.http.timeout_ms = (unsigned)v;
			break;
		case OPT_RETRIES:
			if (hfc_opt_uint("--retries", optarg, 0, 100, &v) < 0)
				return 2;
			o.http.retries = (unsigned)v;
			break;
		case OPT_CACHE:
			o.cache_dir = optarg;
			break;
		case OPT_CACHE_SIZE:
			if (hfc_opt_size("--cache-size", optarg, UINT64_C(1) << 20, &o.cache_size) < 0)
				return 2;
			break;
		case OPT_OLDER:
			o.allow_older = true;
			break;
		case OPT_JSON:
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
	if (ls && cat) {
		hfc_log_error("usage", "--ls and --cat exclude each other");
		return 2;
	}
	if (longfmt && !ls) {
		hfc_log_error("usage", "--long goes with --ls");
		return 2;
	}
	if (argc - optind != 2) {
		hfc_log_error("usage", "expected URL and %s (see --help)", ls || cat ? "PATH" : "OUT");
		return 2;
	}
	const char *bases[64];
	int nb = hfc_split_urls(argv[optind], bases, 64);
	if (nb < 0)
		return 2;
	const char *target = argv[optind + 1];
	if (!(ls || cat)) {
		/* Whole blocks stream once: no memory cache, no readahead (every block is asked). */
		o.mem_cache = 0;
		o.readahead = 0;
	}

	_cleanup_(hfc_remote_freep) HfcRemote *r = NULL;
	HfcErr err = { "" };
	int k = hfc_remote_open(bases, (size_t)nb, &o, &r, &err);
	if (k < 0) {
		hfc_log_err(k, &err);
		return 1;
	}
	const HfcIndex *idx = hfc_remote_index(r);

	if (ls || cat) {
		k = hfc_remote_start(r);
		if (k < 0) {
			hfc_log_errno(k, "readahead");
			return 1;
		}
		HfcExt2 *fs;
		k = hfc_ext2_open(remote_read, r, idx->image_size, bases[0], &fs, &err);
		if (k < 0) {
			hfc_log_err(k, &err);
			return 1;
		}
		if (ls)
			k = hfc_ext2_ls(fs, target, longfmt, stdout, &err);
		else
			k = hfc_ext2_cat(fs, target, STDOUT_FILENO, &err);
		hfc_ext2_close(fs);
		if (k < 0) {
			hfc_log_err(k, &err);
			return 1;
		}
		if (fflush(stdout) != 0) {
			hfc_log_errno(-errno, "stdout");
			return 1;
		}
		return 0;
	}

	HfcOutput out;
	k = hfc_output_open(target, &out);
	if (k < 0) {
		hfc_output_discard(&out);
		hfc_log_errno(k, target);
		return 1;
	}
	double t0 = hfc_monotonic();
	k = hfc_image_write(idx, remote_block, r, &out, o.http.connections, !quiet && !json,
			    "hfc-get", &err);
	if (k >= 0)
		k = hfc_output_commit(&out, idx->image_size);
	else
		hfc_log_err(k, &err);
	if (k < 0 && !err.msg[0])
		hfc_log_errno(k, target);
	hfc_output_discard(&out);
	if (k < 0)
		return 1;
	double sec = hfc_monotonic() - t0;
	HfcRemoteStats st;
	hfc_remote_stats(r, &st);
	double mbs = sec > 0 ? (double)idx->image_size / sec / 1e6 : 0;
	FILE *sf = strcmp(target, "-") == 0 ? stderr : stdout;
	if (json) {
		fprintf(sf, "{\"version\":%u,\"image_size\":%" PRIu64 ",\"blocks\":%" PRIu64
			    ",\"bytes_fetched\":%" PRIu64 ",\"cache_hits\":%" PRIu64
			    ",\"requests\":%" PRIu64
			    ",\"retries\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"bad_blocks\":%" PRIu64
			    ",\"seconds\":%.3f,\"mb_per_s\":%.1f}\n",
			idx->version, idx->image_size, idx->nblocks, st.bytes_fetched, st.disk_hits,
			st.http.requests, st.http.retries, st.http.errors, st.bad_blocks, sec, mbs);
	} else if (!quiet) {
		char a[32], b[32];
		hfc_format_bytes(idx->image_size, a, sizeof(a));
		hfc_format_bytes(st.bytes_fetched, b, sizeof(b));
		fprintf(sf,
			"%s: version %u, %" PRIu64 " blocks, %s; fetched %s, %" PRIu64
			" blocks from the cache, in %.2f s (%.1f MB/s)\n",
			strcmp(target, "-") == 0 ? "stdout" : target, idx->version, idx->nblocks, a, b,
			st.disk_hits, sec, mbs);
	}
	return 0;
}
