/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-publish: push a site to its mirrors with rsync in a safe order, and check them over HTTP. */

#include "publish/hfc-publish-report.h"

#include "programs/cli.h"
#include "programs/log.h"
#include "programs/progress.h"

#include <limits.h>
#include <stdio.h>

typedef struct Args {
	const char *config;
	bool status, verify, dry_run, deep, prune, repair;
	HfcOutArgs out;
	unsigned parallel;
	const char *only[HFC_PUBLISH_MAX_MIRRORS];
	size_t nonly;
} Args;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-publish [OPTIONS]\n"
		"       hfc-publish --status [-c FILE] [-m NAME]...\n"
		"Push a site to its mirrors with rsync in a safe order (new block files, then\n"
		"indexes/ and profiles/, then index.idx), then check each mirror over its own HTTP URL:\n"
		"its index.idx must be the site's, byte for byte, and every block file of the version\n"
		"must be there. Settings come from publish.yaml (see hfc-publish(1)).\n"
		"\n"
		"  -c, --config FILE     the settings (default: publish.yaml)\n"
		"  -m, --mirror NAME     only this mirror (repeatable; default: all)\n"
		"  -n, --dry-run         tell what would be sent; change nothing, check nothing\n"
		"      --deep            fetch every block file and check it against its name\n"
		"      --verify          only check the mirrors; push nothing\n"
		"      --repair          send block files the check finds missing or bad again, over\n"
		"                        the bad copies, and check again\n"
		"      --prune           after a good check, delete from each mirror the block files\n"
		"                        and indexes the site itself no longer has\n"
		"      --status          each mirror's version, how far behind, when it changed\n"
		"  -p, --parallel N      mirrors at once (default: the file's parallel, or 2)\n"
		"      --json            print the report as one JSON object\n"
		"  -q, --quiet           no progress bar, no report (errors still go to stderr)\n"
		"  -h, --help            show this help\n"
		"\n"
		"Exit status: 0 every mirror done and verified, 1 a mirror failed or an error, 2 usage.\n");
}

static int run(const Args *a)
{
	_cleanup_(hfc_publish_config_freep) HfcPublishConfig *c = NULL;
	HfcErr err = { "" };
	int r = hfc_publish_config_load(a->config, &c, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	bool selected[HFC_PUBLISH_MAX_MIRRORS] = { false };
	for (size_t i = 0; i < a->nonly; i++) {
		int k = hfc_publish_mirror_find(c, a->only[i]);
		if (k < 0) {
			hfc_log_error("--mirror", "no mirror called '%s' in %s", a->only[i],
				      a->config);
			return HFC_USAGE;
		}
		selected[k] = true;
	}
	const bool *sel = a->nonly ? selected : NULL;

	if (a->status) {
		_cleanup_(hfc_publish_status_freep) HfcPublishStatus *st = NULL;
		r = hfc_publish_status(c, sel, &st, &err);
		if (r < 0)
			return hfc_log_err(r, &err);
		r = publish_print_status(c, &a->out, st);
		if (r < 0)
			return hfc_log_errno(r, "stdout");
		int bad = publish_log_status_failures(c, st);
		r = hfc_stdout_flush();
		return r < 0 ? r : bad;
	}

	HfcPublishOptions o = { .dry_run = a->dry_run, .verify_only = a->verify, .deep = a->deep,
				.prune = a->prune, .repair = a->repair,
				.parallel = a->parallel, .selected = sel };
	HfcProgressBar bar;
	o.progress = hfc_progress_bar(&bar, !a->out.quiet && !a->out.json);
	_cleanup_(hfc_publish_result_freep) HfcPublishResult *res = NULL;
	r = hfc_publish_run(c, &o, &res, &err);
	hfc_progress_bar_end(&bar);
	if (r < 0)
		return hfc_log_err(r, &err);
	r = publish_print_report(c, &o, &a->out, res);
	if (r < 0)
		return hfc_log_errno(r, "stdout");
	r = hfc_stdout_flush();
	if (r < 0)
		return r;
	return publish_log_report_failures(c, res);
}

enum { OPT_DEEP = 256, OPT_VERIFY, OPT_PRUNE, OPT_REPAIR, OPT_STATUS };

/* Where an option that only switches something on goes; NULL for any other. */
static bool *flag_of(Args *a, int c)
{
	switch (c) {
	case 'n':
		return &a->dry_run;
	case OPT_DEEP:
		return &a->deep;
	case OPT_VERIFY:
		return &a->verify;
	case OPT_PRUNE:
		return &a->prune;
	case OPT_REPAIR:
		return &a->repair;
	case OPT_STATUS:
		return &a->status;
	}
	return NULL;
}

static int on_option(void *userdata, int c, const char *arg)
{
	Args *a = userdata;
	bool *flag = flag_of(a, c);
	if (flag) {
		*flag = true;
		return 0;
	}
	if (c == 'c') {
		a->config = arg;
		return 0;
	}
	if (c == 'm') {
		if (a->nonly == HFC_PUBLISH_MAX_MIRRORS)
			return hfc_usage_error("at most %d --mirror", HFC_PUBLISH_MAX_MIRRORS);
		a->only[a->nonly++] = arg;
		return 0;
	}
	if (c == 'p') {
		uint64_t v = 0;
		int r = hfc_opt_uint("--parallel", arg, 1, HFC_PUBLISH_MAX_MIRRORS, &v);
		a->parallel = (unsigned)v;
		return r;
	}
	return HFC_OPT_UNKNOWN;
}

/* Options that exclude each other. */
static int check_args(const Args *a)
{
	if (a->status && (a->verify || a->dry_run || a->deep || a->prune || a->repair))
		return hfc_usage_error("--status goes alone (with --config, --mirror, --json)");
	if (a->verify && a->dry_run)
		return hfc_usage_error("--verify and --dry-run exclude each other");
	if ((a->deep || a->repair) && a->dry_run)
		return hfc_usage_error("%s checks mirrors, which --dry-run does not",
				       a->deep ? "--deep" : "--repair");
	return 0;
}

/* getopt_long entries: an option that takes a value, and one that switches something on. */
#define VALUE(name, c) { name, required_argument, NULL, c }
#define FLAG(name, c) { name, no_argument, NULL, c }

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		VALUE("config", 'c'),
		VALUE("mirror", 'm'),
		VALUE("parallel", 'p'),
		FLAG("dry-run", 'n'),
		FLAG("deep", OPT_DEEP),
		FLAG("verify", OPT_VERIFY),
		FLAG("prune", OPT_PRUNE),
		FLAG("repair", OPT_REPAIR),
		FLAG("status", OPT_STATUS),
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	Args a = { .config = "publish.yaml" };
	const HfcCli cli = { "hfc-publish", usage, "c:m:np:" HFC_COMMON_SHORT, opts, on_option, &a,
			     &a.out, 0, INT_MAX, "no arguments" };
	int r = hfc_cli_parse(&cli, argc, argv);
	/* Named, as it always was: the one argument that should not be there. */
	if (r >= 0 && r < argc)
		r = hfc_usage_error("unexpected argument '%s'", argv[r]);
	if (r >= 0)
		r = check_args(&a);
	if (r >= 0)
		r = run(&a);
	return hfc_exit_status(r);
}
