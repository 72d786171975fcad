/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-diff: compare two versions of a site; write delta bundles. */

#include "cli.h"
#include "delta.h"
#include "history.h"
#include "log.h"
#include "progress.h"

#include <fcntl.h>
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
	bool full, quiet, json;
	unsigned jobs;
	int level;
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
		printf("{\"site\":");
		hfc_json_string(stdout, site);
		printf(",\"a\":%u,\"b\":%u,\"image_size_a\":%" PRIu64 ",\"image_size_b\":%" PRIu64
		       ",\"blocks_a\":%" PRIu64 ",\"blocks_b\":%" PRIu64 ",\"changed_blocks\":%" PRIu64
		       ",\"changed_percent\":%.2f,\"new_blocks\":%" PRIu64 ",\"new_bytes\":%" PRIu64
		       ",\"stored_bytes_b\":%" PRIu64 ",\"new_percent\":%.2f,\"same\":%s}\n",
		       a->version, b->version, a->image_size, b->image_size, d.blocks_a, d.blocks_b,
		       d.changed, pct(d.changed, MAX(d.blocks_a, d.blocks_b)), d.new_blocks,
		       d.new_bytes, d.stored_b, pct(d.new_bytes, d.stored_b),
		       d.same ? "true" : "false");
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
	HfcBundleOptions bo = {
		.full = o->full, .jobs = o->jobs, .level = o->level,
		.progress = !o->quiet && !o->json,
	};
	HfcBundleResult res;
	HfcErr err = { "" };
	int r = hfc_bundle_make(s, a, b, o->bundle, &bo, &res, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	/* The summary is a result, but never mixed into a bundle written to stdout. */
	FILE *f = strcmp(o->bundle, "-") == 0 ? stderr : stdout;
	if (o->json) {
		fprintf(f, "{\"bundle\":");
		hfc_json_string(f, o->bundle);
		fprintf(f, ",\"kind\":\"%s\",\"base\":%u,\"target\":%u,\"bundle_bytes\":%" PRIu64
			   ",\"blocks\":%" PRIu64 ",\"recipes\":%" PRIu64 ",\"raw\":%" PRIu64
			   ",\"block_bytes\":%" PRIu64 ",\"pages\":%" PRIu64 ",\"zero_pages\":%" PRIu64
			   ",\"copied_pages\":%" PRIu64 ",\"repeated_pages\":%" PRIu64
			   ",\"literal_pages\":%" PRIu64 ",\"bases\":%" PRIu64 ",\"delta_bytes\":%" PRIu64
			   ",\"seconds\":%.3f}\n",
			o->full ? "full" : "delta", a && !o->full ? a->version : 0, b->version,
			res.bundle_bytes, res.blocks, res.recipes, res.raw, res.block_bytes,
			res.pages, res.zero_pages, res.copied_pages, res.repeated_pages,
			res.literal_pages, res.bases, res.delta_bytes, res.seconds);
	} else if (!o->quiet) {
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stat", no_argument, NULL, 's' },
		{ "list", no_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'J' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "full", no_argument, NULL, 'F' },
		{ "level", required_argument, NULL, 'L' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	hfc_log_set_program("hfc-diff");
	Args o = { .mode = MODE_STAT };
	int modes = 0;
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "slb:FL:j:qh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.mode = MODE_STAT;
			modes++;
			break;
		case 'l':
			o.mode = MODE_LIST;
			modes++;
			break;
		case 'J':
			o.mode = MODE_JSON;
			o.json = true;
			modes++;
			break;
		case 'b':
			o.bundle = optarg;
			break;
		case 'F':
			o.full = true;
			break;
		case 'L':
			if (hfc_parse_uint(optarg, HFC_LEVEL_MAX, &v) < 0 || v < HFC_LEVEL_MIN) {
				hfc_log_error("--level", "'%s' is not a level from %d to %d", optarg,
					      HFC_LEVEL_MIN, HFC_LEVEL_MAX);
				return EXIT_TROUBLE;
			}
			o.level = (int)v;
			break;
		case 'j':
			if (hfc_parse_uint(optarg, 1024, &v) < 0 || v == 0) {
				hfc_log_error("--jobs", "'%s' is not a number from 1 to 1024", optarg);
				return EXIT_TROUBLE;
			}
			o.jobs = (unsigned)v;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SAME;
		default:
			usage(stderr);
			return EXIT_TROUBLE;
		}
	}
	int nargs = argc - optind;
	if (modes > 1 || (o.bundle && modes && o.mode != MODE_JSON)) {
		hfc_log_error("usage", "--stat, --list and --json exclude each other (and --bundle takes only --json)");
		return EXIT_TROUBLE;
	}
	if ((o.full || o.level) && !o.bundle) {
		hfc_log_error("usage", "--full and --level go with --bundle");
		return EXIT_TROUBLE;
	}
	if (!(nargs == 3 || (nargs == 2 && o.full))) {
		hfc_log_error("usage", o.full ? "expected SITE [A] B (see --help)"
					      : "expected SITE, A and B (see --help)");
		return EXIT_TROUBLE;
	}
	const char *site = argv[optind];

	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	HfcErr err = { "" };
	int r = hfc_site_open(site, false, &s, &err);
	if (r >= 0)
		r = hfc_site_lock(s, false, &err);
	if (r < 0) {
		hfc_log_err(r, &err);
		return EXIT_TROUBLE;
	}
	_cleanup_(hfc_index_freep) HfcIndex *a = NULL, *b = NULL;
	if (nargs == 3 && load_version(s, argv[optind + 1], &a) < 0)
		return EXIT_TROUBLE;
	if (load_version(s, argv[optind + nargs - 1], &b) < 0)
		return EXIT_TROUBLE;
	if (o.bundle)
		r = run_bundle(s, o.full ? NULL : a, b, &o);
	else
		r = run_diff(s, site, a, b, &o);
	return r < 0 ? EXIT_TROUBLE : r;
}
