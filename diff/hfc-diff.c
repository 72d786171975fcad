/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-diff: compare two versions of a site; write delta bundles. */

#include "base/parse.h"
#include "programs/cli.h"
#include "delta/delta.h"
#include "site/history.h"
#include "programs/log.h"
#include "programs/json.h"
#include "programs/progress.h"

#include <fcntl.h>
#include <math.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* diff(1)'s exit statuses. */
enum { EXIT_SAME = 0, EXIT_DIFFERENT = 1, EXIT_TROUBLE = 2 };

typedef enum Mode { MODE_STAT, MODE_LIST, MODE_JSON } Mode;

typedef struct Args {
	Mode mode;
	const char *bundle;
	bool full;
	HfcOutArgs out;
	int modes; /* --stat, --list and --json given */
	unsigned jobs;
	int level;
	const char *site, *a, *b; /* a is NULL for a full bundle of B alone */
} Args;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-diff [--stat|--list|--json] SITE A B\n"
		"       hfc-diff --bundle FILE [--full] [--level N] SITE A B\n"
		"       hfc-diff --bundle FILE --full SITE B\n"
		"Compare versions A and B of SITE (version numbers, or paths of index files), or write\n"
		"a bundle that carries B to any site holding A.\n"
		"\n"
		"  -s, --stat          blocks changed, new block files and their bytes (the default)\n"
		"  -l, --list          the paths of B's new block files, one a line (rsync --files-from)\n"
		"      --json          the figures as one JSON object\n"
		"  -b, --bundle FILE   write a delta bundle to FILE (- for stdout); apply it with hfc-apply\n"
		"  -F, --full          with --bundle: plain block files, every one B names (no A needed)\n"
		"  -L, --level N       compression level of the bundle's page stream, 1-12 (default %d)\n"
		"  -j, --jobs N        threads (default: all cores)\n"
		"  -q, --quiet         no progress bar, no bundle summary\n"
		"  -h, --help          show this help\n"
		"\n"
		"Exit status: 0 when A and B are the same, 1 when they differ, 2 on trouble;\n"
		"with --bundle, 0 when the bundle was written and 2 on trouble.\n",
		HFC_DELTA_LEVEL_DEFAULT);
}

/* A version number (digits only), or else the path of an index file. */
static int load_version(HfcSite *s, const char *arg, HfcIndex **ret)
{
	HfcErr err = { "" };
	uint64_t v;
	int r;
	if (arg[strspn(arg, "0123456789")] == 0) {
		if (hfc_parse_uint(arg, HFC_VERSION_MAX, &v) < 0 || v == 0)
			return hfc_log_error("version", "'%s' is not a version number", arg);
		r = hfc_site_load_index(s, (uint32_t)v, ret, &err);
		if (r == -ENOENT)
			return hfc_log_error(hfc_site_path(s), "no version %s", arg);
	} else {
		r = hfc_index_load_at(AT_FDCWD, arg, arg, ret, &err);
	}
	return r < 0 ? hfc_log_err(r, &err) : 0;
}

static int print_path(void *ud, const uint8_t *hash, uint32_t stored)
{
	(void)stored;
	const HfcIndex *b = ud;
	char p[HFC_BLOCK_PATH_MAX];
	hfc_block_path(b->hash, hash, p);
	return puts(p) < 0 ? -EIO : 0;
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

static int run_diff(HfcSite *s, const char *site, const HfcIndex *a, const HfcIndex *b,
		    const Args *o)
{
	if (a->block_size != b->block_size || a->hash != b->hash)
		return hfc_log_error(site, "versions %u and %u differ in block size or hash",
				     a->version, b->version);
	_cleanup_(hfc_hashmap_freep) HfcHashMap *known = NULL;
	if (hfc_hashmap_new(hfc_hash_len(b->hash), &known) < 0)
		return hfc_log_errno(-ENOMEM, "diff");
	HfcErr err = { "" };
	int r = hfc_site_names_before(s, b->version, known, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	HfcDiffResult d;
	r = hfc_diff(a, b, known, o->mode == MODE_LIST ? print_path : NULL, (void *)b, &d);
	if (r < 0)
		return hfc_log_errno(r, "diff");
	if (o->mode == MODE_JSON) {
		r = hfc_json_print(stdout,
			json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:f, s:b}",
				  "site", hfc_json_str(site), "a", (json_int_t)a->version,
				  "b", (json_int_t)b->version, "image_size_a", (json_int_t)a->image_size,
				  "image_size_b", (json_int_t)b->image_size,
				  "blocks_a", (json_int_t)d.blocks_a, "blocks_b", (json_int_t)d.blocks_b,
				  "changed_blocks", (json_int_t)d.changed,
				  "changed_percent", round(pct(d.changed, MAX(d.blocks_a, d.blocks_b)) * 100) / 100,
				  "new_blocks", (json_int_t)d.new_blocks, "new_bytes", (json_int_t)d.new_bytes,
				  "stored_bytes_b", (json_int_t)d.stored_b,
				  "new_percent", round(pct(d.new_bytes, d.stored_b) * 100) / 100,
				  "same", d.same));
		if (r < 0)
			return hfc_log_errno(r, "stdout");
	} else if (o->mode == MODE_STAT) {
		char nb[32], sb[32];
		hfc_format_bytes(d.new_bytes, nb, sizeof(nb));
		hfc_format_bytes(d.stored_b, sb, sizeof(sb));
		printf("versions:         %u -> %u%s\n", a->version, b->version,
		       d.same ? " (the same)" : "");
		uint64_t nblk = MAX(d.blocks_a, d.blocks_b);
		printf("blocks changed:   %" PRIu64 " of %" PRIu64 " (%.2f%% of the image)\n",
		       d.changed, nblk, pct(d.changed, nblk));
		printf("new block files:  %" PRIu64 ", %" PRIu64 " bytes (%s, %.2f%% of version %u's %s)\n",
		       d.new_blocks, d.new_bytes, nb, pct(d.new_bytes, d.stored_b), b->version, sb);
	}
	if (fflush(stdout) != 0)
		return hfc_log_errno(-errno, "stdout");
	return d.same ? EXIT_SAME : EXIT_DIFFERENT;
}

static int run_bundle(HfcSite *s, const HfcIndex *a, HfcIndex *b, const Args *o)
{
	HfcProgressBar bar;
	HfcBundleOptions bo = {
		.full = o->full, .jobs = o->jobs, .level = o->level,
		.progress = hfc_progress_bar(&bar, !o->out.quiet && !o->out.json),
	};
	HfcBundleResult res;
	HfcErr err = { "" };
	int r = hfc_bundle_make(s, a, b, o->bundle, &bo, &res, &err);
	hfc_progress_bar_end(&bar);
	if (r < 0)
		return hfc_log_err(r, &err);
	/* The summary is a result, but never mixed into a bundle written to stdout. */
	FILE *f = strcmp(o->bundle, "-") == 0 ? stderr : stdout;
	if (o->out.json) {
		r = hfc_json_print(f,
			json_pack("{s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
				  "bundle", hfc_json_str(o->bundle), "kind", o->full ? "full" : "delta",
				  "base", (json_int_t)(a && !o->full ? a->version : 0),
				  "target", (json_int_t)b->version,
				  "bundle_bytes", (json_int_t)res.bundle_bytes,
				  "blocks", (json_int_t)res.blocks, "recipes", (json_int_t)res.recipes,
				  "raw", (json_int_t)res.raw, "block_bytes", (json_int_t)res.block_bytes,
				  "pages", (json_int_t)res.pages, "zero_pages", (json_int_t)res.zero_pages,
				  "copied_pages", (json_int_t)res.copied_pages,
				  "repeated_pages", (json_int_t)res.repeated_pages,
				  "literal_pages", (json_int_t)res.literal_pages,
				  "bases", (json_int_t)res.bases, "delta_bytes", (json_int_t)res.delta_bytes,
				  "seconds", hfc_json_seconds(res.seconds)));
		if (r < 0)
			return hfc_log_errno(r, "stdout");
	} else if (!o->out.quiet) {
		char bb[32], fb[32];
		hfc_format_bytes(res.bundle_bytes, bb, sizeof(bb));
		hfc_format_bytes(res.block_bytes, fb, sizeof(fb));
		if (o->full)
			fprintf(f, "%s: version %u, full bundle of %s: %" PRIu64 " block files in %.2f s\n",
				o->bundle, b->version, bb, res.blocks, res.seconds);
		else
			fprintf(f,
				"%s: version %u -> %u, delta bundle of %s for %" PRIu64
				" block files (%s as files): %" PRIu64 " pages: %" PRIu64 " zero, %" PRIu64
				" copied, %" PRIu64 " repeated, %" PRIu64 " literal; %" PRIu64
				" plain block files; in %.2f s\n",
				o->bundle, a->version, b->version, bb, res.blocks, fb, res.pages,
				res.zero_pages, res.copied_pages, res.repeated_pages,
				res.literal_pages, res.raw, res.seconds);
	}
	if (fflush(f) != 0)
		return hfc_log_errno(-errno, "stdout");
	return 0;
}

static int on_option(void *userdata, int c, const char *arg)
{
	Args *o = userdata;
	uint64_t v;
	int r = 0;
	switch (c) {
	case 's':
	case 'l':
	case HFC_OPT_JSON:
		o->mode = c == 's' ? MODE_STAT : c == 'l' ? MODE_LIST : MODE_JSON;
		o->out.json = c == HFC_OPT_JSON;
		o->modes++;
		return 0;
	case 'b':
		o->bundle = arg;
		return 0;
	case 'F':
		o->full = true;
		return 0;
	case 'L':
		r = hfc_opt_uint("--level", arg, HFC_LEVEL_MIN, HFC_LEVEL_MAX, &v);
		o->level = (int)v;
		return r;
	case 'j':
		return hfc_opt_jobs(arg, &o->jobs);
	}
	return HFC_OPT_UNKNOWN;
}

/* The option combinations and the arguments: SITE A B, or SITE [A] B with --full. */
static int check_args(Args *o, int argc, char **argv, int first)
{
	char **args = argv + first;
	int nargs = argc - first;
	if (o->modes > 1 || (o->bundle && o->modes && o->mode != MODE_JSON))
		return hfc_usage_error("--stat, --list and --json exclude each other (and --bundle takes only --json)");
	if ((o->full || o->level) && !o->bundle)
		return hfc_usage_error("--full and --level go with --bundle");
	if (!(nargs == 3 || (nargs == 2 && o->full)))
		return hfc_usage_error(o->full ? "expected SITE [A] B" : "expected SITE, A and B");
	o->site = args[0];
	o->a = nargs == 3 ? args[1] : NULL;
	o->b = args[nargs - 1];
	return 0;
}

static int run(const Args *o)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	HfcErr err = { "" };
	int r = hfc_site_open(o->site, false, &s, &err);
	if (r >= 0)
		r = hfc_site_lock(s, false, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	_cleanup_(hfc_index_freep) HfcIndex *a = NULL, *b = NULL;
	if ((o->a && load_version(s, o->a, &a) < 0) || load_version(s, o->b, &b) < 0)
		return -1;
	if (o->bundle)
		return run_bundle(s, o->full ? NULL : a, b, o);
	return run_diff(s, o->site, a, b, o);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stat", no_argument, NULL, 's' },
		{ "list", no_argument, NULL, 'l' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "full", no_argument, NULL, 'F' },
		{ "level", required_argument, NULL, 'L' },
		{ "jobs", required_argument, NULL, 'j' },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	Args o = { .mode = MODE_STAT };
	const HfcCli cli = { "hfc-diff", usage, "slb:FL:j:" HFC_COMMON_SHORT, opts, on_option, &o,
			     &o.out, 2, 3, "SITE, A and B" };
	int r = hfc_cli_parse(&cli, argc, argv);
	if (r >= 0)
		r = check_args(&o, argc, argv, r);
	if (r >= 0)
		r = run(&o);
	/* diff(1)'s statuses: run_diff returns EXIT_SAME or EXIT_DIFFERENT; anything else is trouble. */
	return r < 0 ? EXIT_TROUBLE : r;
}
