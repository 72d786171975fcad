/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-apply: apply a bundle made by hfc-diff --bundle to a site. */

#include "base/clock.h"
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
		"      --pubkey PUB      refuse a bundle whose index is not signed by a trusted key,\n"
		"                        or whose signature expired (repeatable)\n"
		"      --sign-key KEY    sign the version published with KEY (for --force, whose\n"
		"                        rewritten parent drops the source's signature)\n"
		"      --expires WHEN    with --sign-key: the expiry (a time or a duration, default\n"
		"                        30d)\n"
		"      --json     print the summary as one JSON object\n"
		"  -q, --quiet    no progress bar and no summary\n"
		"  -h, --help     show this help\n");
}

typedef struct Args {
	HfcApplyOptions apply;
	HfcOutArgs out;
	const char *bundle, *site;
	HfcKeyring trusted;   /* --pubkey */
	const char *sign_key; /* --sign-key */
} Args;

static int print_result(const Args *a, const HfcApplyResult *res)
{
	if (a->out.json)
		return hfc_json_print(stdout,
			json_pack("{s:o, s:s, s:I, s:I, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:o}",
				  "site", hfc_json_str(a->site),
				  "kind", res->kind == HFC_BUNDLE_FULL ? "full" : "delta",
				  "base", (json_int_t)res->base, "version", (json_int_t)res->version,
				  "already", res->already, "resigned", res->resigned,
				  "parent_rewritten", res->parent_rewritten,
				  "blocks", (json_int_t)res->blocks, "written", (json_int_t)res->written,
				  "written_bytes", (json_int_t)res->written_bytes,
				  "present", (json_int_t)res->present,
				  "bundle_bytes", (json_int_t)res->bundle_bytes,
				  "seconds", hfc_json_seconds(res->seconds)));
	if (a->out.quiet)
		return 0;
	char wb[32];
	hfc_format_bytes(res->written_bytes, wb, sizeof(wb));
	if (res->already && res->resigned)
		printf("%s: already has version %u; took the bundle's newer signature\n", a->site,
		       res->version);
	else if (res->already)
		printf("%s: already has version %u; nothing to do\n", a->site, res->version);
	else
		printf("%s: version %u published: %" PRIu64 " block files written (%s), %" PRIu64
		       " already there, in %.2f s\n",
		       a->site, res->version, res->written, wb, res->present, res->seconds);
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
		a->apply.sign_key = key;
		if (!a->apply.sign_expires)
			a->apply.sign_expires = a->apply.now + 30 * 86400;
	}
	a->apply.trusted = a->trusted.keys;
	a->apply.ntrusted = a->trusted.n;
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

enum { OPT_PUBKEY = 256, OPT_SIGN_KEY, OPT_EXPIRES };

static int on_option(void *userdata, int c, const char *arg)
{
	Args *a = userdata;
	switch (c) {
	case OPT_PUBKEY:
		return hfc_keyring_add(&a->trusted, arg); /* a key that cannot be read: 1, not a usage error */
	case OPT_SIGN_KEY:
		a->sign_key = arg;
		return 0;
	case OPT_EXPIRES:
		return hfc_opt_expires("--expires", arg, a->apply.now, &a->apply.sign_expires);
	case 'f':
		a->apply.force = true;
		return 0;
	case 'j':
		return hfc_opt_jobs(arg, &a->apply.jobs);
	}
	return HFC_OPT_UNKNOWN;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "pubkey", required_argument, NULL, OPT_PUBKEY },
		{ "sign-key", required_argument, NULL, OPT_SIGN_KEY },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	Args a = { .apply.now = hfc_realtime() };
	const HfcCli cli = { "hfc-apply", usage, "fj:" HFC_COMMON_SHORT, opts, on_option, &a, &a.out,
			     2, 2, "BUNDLE and SITE" };
	int i = hfc_cli_parse(&cli, argc, argv);
	if (i < 0)
		return hfc_exit_status(i);
	if (a.apply.sign_expires && !a.sign_key)
		return hfc_exit_status(hfc_usage_error("--expires goes with --sign-key"));
	a.bundle = argv[i];
	a.site = argv[i + 1];
	int r = run(&a);
	hfc_keyring_done(&a.trusted);
	return hfc_exit_status(r);
}
