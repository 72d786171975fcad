/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-apply: apply a bundle made by hfc-diff --bundle to a site. */

#include "cli.h"
#include "delta.h"
#include "log.h"
#include "progress.h"

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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	hfc_log_set_program("hfc-apply");
	HfcApplyOptions o = { 0 };
	bool json = false, quiet = false;
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "fj:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.force = true;
			break;
		case 'j':
			if (hfc_parse_uint(optarg, 1024, &v) < 0 || v == 0) {
				hfc_log_error("--jobs", "'%s' is not a number from 1 to 1024", optarg);
				return 2;
			}
			o.jobs = (unsigned)v;
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
		hfc_log_error("usage", "expected BUNDLE and SITE (see --help)");
		return 2;
	}
	const char *bundle = argv[optind], *site = argv[optind + 1];
	o.progress = !quiet && !json;

	HfcApplyResult res;
	HfcErr err = { "" };
	int r = hfc_bundle_apply(bundle, site, &o, &res, &err);
	if (r < 0) {
		hfc_log_err(r, &err);
		return 1;
	}
	if (res.parent_rewritten && !quiet)
		hfc_log_warn("version %u published as the child of %s's newest version (--force): its index differs from the source's",
			     res.version, site);
	if (json) {
		printf("{\"site\":");
		hfc_json_string(stdout, site);
		printf(",\"kind\":\"%s\",\"base\":%u,\"version\":%u,\"already\":%s,"
		       "\"parent_rewritten\":%s,\"blocks\":%" PRIu64 ",\"written\":%" PRIu64
		       ",\"written_bytes\":%" PRIu64 ",\"present\":%" PRIu64 ",\"bundle_bytes\":%" PRIu64
		       ",\"seconds\":%.3f}\n",
		       res.kind == HFC_BUNDLE_FULL ? "full" : "delta", res.base, res.version,
		       res.already ? "true" : "false", res.parent_rewritten ? "true" : "false",
		       res.blocks, res.written, res.written_bytes, res.present, res.bundle_bytes,
		       res.seconds);
	} else if (!quiet) {
		char wb[32];
		hfc_format_bytes(res.written_bytes, wb, sizeof(wb));
		if (res.already)
			printf("%s: already has version %u; nothing to do\n", site, res.version);
		else
			printf("%s: version %u published: %" PRIu64 " block files written (%s), %" PRIu64
			       " already there, in %.2f s\n",
			       site, res.version, res.written, wb, res.present, res.seconds);
	}
	if (fflush(stdout) != 0) {
		hfc_log_errno(-errno, "stdout");
		return 1;
	}
	return 0;
}
