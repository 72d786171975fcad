/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-get: rebuild an image from a site over HTTP, or read files out of it, without FUSE. */

#include "base/clock.h"
#include "programs/cli.h"
#include "fs/ext2.h"
#include "site/image.h"
#include "programs/log.h"
#include "programs/json.h"
#include "programs/progress.h"
#include "programs/remote-opts.h"
#include "client/remote.h"
#include "client/hfc-get-ls.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct Args {
	HfcRemoteOptions remote;
	bool ls, cat, longfmt;
	HfcOutArgs out;
	const char *bases[HFC_HTTP_MIRRORS_MAX]; /* the mirrors */
	int nbases;
	const char *target;
} Args;

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
		"      --ls                 list PATH in the image's file system\n"
		"  -l, --long               with --ls: mode, links, owner, size, date\n"
		"      --cat                write the file PATH of the image to stdout\n"
		HFC_REMOTE_HELP
		"      --json               print the summary as one JSON object\n"
		"  -q, --quiet              no progress bar, no summary\n"
		"  -h, --help               show this help\n");
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

/* --ls and --cat: the file system inside the image, read block by block. */
static int run_fs(HfcRemote *r, const Args *a)
{
	int k = hfc_remote_start(r);
	if (k < 0)
		return hfc_log_errno(k, "readahead");
	HfcErr err = { "" };
	_cleanup_(hfc_ext2_closep) HfcExt2 *fs = NULL;
	k = hfc_ext2_open(remote_read, r, hfc_remote_index(r)->image_size, hfc_remote_name(r), &fs,
			  &err);
	if (k >= 0)
		k = a->ls ? get_ls(fs, a->target, a->longfmt, stdout, &err)
			  : hfc_ext2_cat(fs, a->target, STDOUT_FILENO, &err);
	if (k < 0)
		return hfc_log_err(k, &err);
	return hfc_stdout_flush();
}

static int print_summary(const Args *a, HfcRemote *r, double sec)
{
	const HfcIndex *idx = hfc_remote_index(r);
	HfcRemoteStats st;
	hfc_remote_stats(r, &st);
	double mbs = sec > 0 ? (double)idx->image_size / sec / 1e6 : 0;
	bool to_stdout = strcmp(a->target, "-") == 0;
	FILE *sf = to_stdout ? stderr : stdout;
	if (a->out.json)
		return hfc_json_print(sf,
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
				  "version", (json_int_t)idx->version,
				  "image_size", (json_int_t)idx->image_size,
				  "blocks", (json_int_t)idx->nblocks,
				  "bytes_fetched", (json_int_t)st.bytes_fetched,
				  "cache_hits", (json_int_t)st.disk_hits,
				  "requests", (json_int_t)st.http.requests,
				  "retries", (json_int_t)st.http.retries,
				  "errors", (json_int_t)st.http.errors,
				  "bad_blocks", (json_int_t)st.bad_blocks,
				  "seconds", hfc_json_seconds(sec), "mb_per_s", hfc_json_rate(mbs)));
	if (a->out.quiet)
		return 0;
	char sz[32], fetched[32];
	hfc_format_bytes(idx->image_size, sz, sizeof(sz));
	hfc_format_bytes(st.bytes_fetched, fetched, sizeof(fetched));
	hfc_fputs_escaped(to_stdout ? "stdout" : a->target, sf);
	fprintf(sf,
		": version %u, %" PRIu64 " blocks, %s; fetched %s, %" PRIu64
		" blocks from the cache, in %.2f s (%.1f MB/s)\n",
		idx->version, idx->nblocks, sz, fetched, st.disk_hits, sec, mbs);
	return 0;
}

/* The whole image into OUT: a file that appears whole or not at all, a device, or stdout. */
static int run_image(HfcRemote *r, const Args *a)
{
	const HfcIndex *idx = hfc_remote_index(r);
	HfcOutput out;
	int k = hfc_output_open(a->target, &out);
	if (k < 0) {
		hfc_output_discard(&out);
		if (k == -ELOOP)
			return hfc_log_error(a->target, "a symbolic link to a device: name the device "
							"itself to write the image onto it");
		return hfc_log_errno(k, a->target);
	}
	double t0 = hfc_monotonic();
	HfcErr err = { "" };
	HfcProgressBar bar;
	HfcProgress progress = hfc_progress_bar(&bar, !a->out.quiet && !a->out.json);
	k = hfc_image_write(idx, remote_block, r, &out, a->remote.http.connections, &progress, &err);
	hfc_progress_bar_end(&bar);
	if (k < 0)
		hfc_log_err(k, &err);
	else if ((k = hfc_output_commit(&out, idx->image_size)) < 0)
		hfc_log_errno(k, a->target);
	hfc_output_discard(&out);
	if (k < 0)
		return k;
	k = print_summary(a, r, hfc_monotonic() - t0);
	if (k < 0)
		return hfc_log_errno(k, "stdout");
	return hfc_stdout_flush();
}

static int run(Args *a)
{
	if (!(a->ls || a->cat)) {
		/* Whole blocks stream once: no memory cache, no readahead (every block is asked). */
		a->remote.mem_cache = 0;
		a->remote.readahead = 0;
	}
	_cleanup_(hfc_remote_freep) HfcRemote *r = NULL;
	HfcErr err = { "" };
	int k = hfc_remote_open(a->bases, (size_t)a->nbases, &a->remote, &r, &err);
	if (k < 0)
		return hfc_log_err(k, &err);
	hfc_remote_opts_report(r);
	return a->ls || a->cat ? run_fs(r, a) : run_image(r, a);
}

static int parse_args(int argc, char **argv, Args *a)
{
	enum { OPT_LS = 256, OPT_CAT };
	static const struct option opts[] = {
		HFC_REMOTE_OPTIONS,
		{ "ls", no_argument, NULL, OPT_LS },
		{ "long", no_argument, NULL, 'l' },
		{ "cat", no_argument, NULL, OPT_CAT },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	hfc_remote_options_default(&a->remote);
	int c, r = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, HFC_REMOTE_SHORT "l" HFC_COMMON_SHORT, opts,
					  NULL)) != -1) {
		if (c == OPT_LS || c == OPT_CAT)
			*(c == OPT_LS ? &a->ls : &a->cat) = true;
		else if (c == 'l')
			a->longfmt = true;
		else if ((r = hfc_remote_opt(c, optarg, &a->remote)) == 0)
			r = hfc_common_opt(c, usage, &a->out);
	}
	if (r < 0)
		return r;
	if (a->ls && a->cat)
		return hfc_usage_error("--ls and --cat exclude each other");
	if (a->longfmt && !a->ls)
		return hfc_usage_error("--long goes with --ls");
	if (argc - optind != 2)
		return hfc_usage_error("expected URL and %s", a->ls || a->cat ? "PATH" : "OUT");
	a->target = argv[optind + 1];
	a->nbases = hfc_split_urls(argv[optind], a->bases, (int)ELEMENTSOF(a->bases));
	return a->nbases < 0 ? a->nbases : hfc_remote_opts_check(&a->remote);
}

int main(int argc, char **argv)
{
	hfc_log_set_program("hfc-get");
	Args a = { 0 };
	int r = parse_args(argc, argv, &a);
	if (r >= 0)
		r = run(&a);
	hfc_remote_opts_done(&a.remote);
	return hfc_exit_status(r);
}
