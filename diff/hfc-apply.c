/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-apply: apply a bundle made by hfc-diff --bundle to a site. */

#include "programs/cli.h"
#include "delta/delta.h"
#include "programs/log.h"
#include "programs/json.h"
#include "programs/progress.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-apply [OPTIONS] BUNDLE SITE\n"
		"Apply a bundle made by hfc-diff --bundle (BUNDLE - is stdin): check it, rebuild and\n"
		"install its block files, then publish its version, index last. A bad bundle leaves\n"
		"SITE as it was; applying a bundle twice is harmless.\n"
		"\n"
		"  -f, --force    apply even when SITE's current version is not the bundle's base, or\n"
		"                 the bundle's version does not follow SITE's newest (its parent line\n"
		"                 is then rewritten)\n"
		"  -j, --jobs N   threads (default: all cores)\n"
		"      --json     print the summary as one JSON object\n"
		"  -q, --quiet    no progress bar and no summary\n"
		"  -h, --help     show this help\n");
}

typedef struct Args {
	HfcApplyOptions apply;
	HfcOutArgs out;
	const char *bundle, *site;
} Args;

static int print_result(const Args *a, const HfcApplyResult *res)
{
	if (a->out.json)
		return hfc_json_print(stdout,
			json_pack("{s:o, s:s, s:I, s:I, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:o}",
				  "site", hfc_json_str(a->site),
				  "kind", res->kind == HFC_BUNDLE_FULL ? "full" : "delta",
				  "base", (json_int_t)res->base, "version", (json_int_t)res->version,
				  "already", res->already, "parent_rewritten", res->parent_rewritten,
				  "blocks", (json_int_t)res->blocks, "written", (json_int_t)res->written,
				  "written_bytes", (json_int_t)res->written_bytes,
				  "present", (json_int_t)res->present,
				  "bundle_bytes", (json_int_t)res->bundle_bytes,
				  "seconds", hfc_json_seconds(res->seconds)));
	if (a->out.quiet)
		return 0;
	char wb[32];
	hfc_format_bytes(res->written_bytes, wb, sizeof(wb));
	if (res->already)
		printf("%s: already has version %u; nothing to do\n", a->site, res->version);
	else
		printf("%s: version %u published: %" PRIu64 " block files written (%s), %" PRIu64
		       " already there, in %.2f s\n",
		       a->site, res->version, res->written, wb, res->present, res->seconds);
	return 0;
}

static int run(Args *a)
{
	HfcProgressBar bar;
	a->apply.progress = hfc_progress_bar(&bar, !a->out.quiet && !a->out.json);
	HfcApplyResult res;
	HfcErr err = { "" };
	int r = hfc_bundle_apply(a->bundle, a->site, &a->apply, &res, &err);
	hfc_progress_bar_end(&bar);
	if (r < 0)
		return hfc_log_err(r, &err);
	if (res.parent_rewritten && !a->out.quiet)
		hfc_log_warn("version %u published as the child of %s's newest version (--force): its index differs from the source's",
			     res.version, a->site);
	r = print_result(a, &res);
	if (r < 0)
		return hfc_log_errno(r, "stdout");
	return hfc_stdout_flush();
}

static int parse_args(int argc, char **argv, Args *a)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "jobs", required_argument, NULL, 'j' },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	int c, r = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, "fj:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			a->apply.force = true;
			break;
		case 'j':
			r = hfc_opt_jobs(optarg, &a->apply.jobs);
			break;
		default:
			r = hfc_common_opt(c, usage, &a->out);
			break;
		}
	}
	if (r < 0)
		return r;
	if (argc - optind != 2)
		return hfc_usage_error("expected BUNDLE and SITE");
	a->bundle = argv[optind];
	a->site = argv[optind + 1];
	return 0;
}

int main(int argc, char **argv)
{
	hfc_log_set_program("hfc-apply");
	Args a = { 0 };
	int r = parse_args(argc, argv, &a);
	if (r >= 0)
		r = run(&a);
	return hfc_exit_status(r);
}
