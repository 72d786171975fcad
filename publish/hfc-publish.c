/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-publish: push a site to its mirrors with rsync in a safe order, and check them over HTTP. */

#include "programs/cli.h"
#include "programs/log.h"
#include "programs/json.h"
#include "programs/progress.h"
#include "publish/publish.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

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

/* A message, or null when there is none. */
static json_t *msg_or_null(const char *s)
{
	return s && *s ? hfc_json_str(s) : json_null();
}

static json_t *mirror_report_json(const char *name, const HfcMirrorReport *m)
{
	json_t *faults = json_array();
	for (size_t k = 0; faults && k < m->nfaults; k++)
		json_array_append_new(faults, hfc_json_str(m->faults[k]));
	return json_pack("{s:o, s:b, s:o, s:o, s:o, s:I, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}",
			 "name", hfc_json_str(name), "ok", m->ok, "failed", msg_or_null(m->failed),
			 "error", msg_or_null(m->ok ? NULL : m->err.msg),
			 "version_before",
			 m->before_known ? json_integer(m->version_before) : json_null(),
			 "version", (json_int_t)m->version, "pushed", m->pushed,
			 "verified", m->verified, "pruned", m->pruned,
			 "files_sent", (json_int_t)m->sent.files,
			 "bytes_sent", (json_int_t)m->sent.bytes,
			 "wire_bytes_sent", (json_int_t)m->sent.sent,
			 "wire_bytes_received", (json_int_t)m->sent.received,
			 "files_deleted", (json_int_t)m->deleted,
			 "files_repaired", (json_int_t)m->repaired,
			 "blocks_checked", (json_int_t)m->blocks_checked,
			 "bad_blocks", (json_int_t)m->bad_blocks, "faults", faults,
			 "rsync_seconds", hfc_json_seconds(m->sent.seconds),
			 "verify_seconds", hfc_json_seconds(m->verify_seconds),
			 "seconds", hfc_json_seconds(m->seconds));
}

static int print_report(const HfcPublishConfig *c, const Args *a, const HfcPublishResult *res)
{
	if (a->out.json) {
		json_t *mirrors = json_array();
		for (size_t i = 0; mirrors && i < res->nmirrors; i++)
			if (res->mirrors[i].selected)
				json_array_append_new(mirrors,
						      mirror_report_json(c->mirrors[i].name,
									 &res->mirrors[i]));
		return hfc_json_print(stdout,
			json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:b, s:o, s:o}",
				  "site", hfc_json_str(c->site), "version", (json_int_t)res->version,
				  "blocks", (json_int_t)res->blocks,
				  "block_bytes", (json_int_t)res->block_bytes,
				  "site_files", (json_int_t)res->site_files,
				  "site_bytes", (json_int_t)res->site_bytes, "dry_run", a->dry_run,
				  "verify_only", a->verify, "deep", a->deep, "prune", a->prune,
				  "seconds", hfc_json_seconds(res->seconds), "mirrors", mirrors));
	}
	size_t ok = 0, failed = 0;
	for (size_t i = 0; i < res->nmirrors; i++) {
		const HfcMirrorReport *m = &res->mirrors[i];
		if (!m->selected)
			continue;
		m->ok ? ok++ : failed++;
		if (a->out.quiet)
			continue;
		char sent[32], wire[32], before[32];
		hfc_format_bytes(m->sent.bytes, sent, sizeof(sent));
		hfc_format_bytes(m->sent.sent, wire, sizeof(wire));
		if (!m->before_known)
			snprintf(before, sizeof(before), "unknown");
		else if (m->version_before == 0)
			snprintf(before, sizeof(before), "none");
		else
			snprintf(before, sizeof(before), "%u", m->version_before);
		printf("%s: ", c->mirrors[i].name);
		if (a->dry_run)
			printf("version %s; would send %" PRIu64 " files, %s", before, m->sent.files,
			       sent);
		else if (m->pushed)
			printf("version %u (was %s): sent %" PRIu64 " files, %s (%s on the wire) "
			       "in %.2f s",
			       m->verified ? res->version : m->version, before, m->sent.files, sent,
			       wire, m->sent.seconds);
		else if (a->verify)
			printf("version %u", m->version);
		else
			printf("version %s", before);
		if (m->repaired)
			printf("; repaired %" PRIu64 " block files", m->repaired);
		if (m->verified)
			printf("; verified %" PRIu64 " block files%s in %.2f s", m->blocks_checked,
			       a->deep ? " (deep)" : "", m->verify_seconds);
		if (m->pruned)
			printf("; %s %" PRIu64 " files", a->dry_run ? "would prune" : "pruned",
			       m->deleted);
		if (!m->ok)
			printf("; FAILED at %s: %s", m->failed, m->err.msg);
		putchar('\n');
		for (size_t k = 0; k < m->nfaults; k++)
			printf("%s: bad: %s\n", c->mirrors[i].name, m->faults[k]);
		if (m->bad_blocks > m->nfaults)
			printf("%s: bad: %" PRIu64 " more\n", c->mirrors[i].name,
			       m->bad_blocks - m->nfaults);
	}
	if (!a->out.quiet) {
		char bb[32], sb[32];
		hfc_format_bytes(res->block_bytes, bb, sizeof(bb));
		hfc_format_bytes(res->site_bytes, sb, sizeof(sb));
		printf("%s: version %u, %" PRIu64 " block files (%s), %" PRIu64
		       " files in the site (%s); %zu mirror%s ok, %zu failed in %.2f s\n",
		       c->site, res->version, res->blocks, bb, res->site_files, sb, ok,
		       ok == 1 ? "" : "s", failed, res->seconds);
	}
	return 0;
}

static json_t *mirror_status_json(const HfcPublishMirror *pm, const HfcMirrorStatus *m)
{
	json_t *o = json_pack("{s:o, s:o, s:b, s:o}", "name", hfc_json_str(pm->name),
			      "url", hfc_json_str(pm->url), "ok", m->ok,
			      "error", msg_or_null(m->ok ? NULL : m->err.msg));
	if (!o || !m->ok)
		return o;
	char t[32];
	hfc_format_time(m->created, t, sizeof(t));
	json_object_update_new(o, json_pack("{s:o, s:o, s:o, s:b, s:I, s:I, s:I}",
					    "version", m->empty ? json_null() : json_integer(m->version),
					    "created", m->empty ? json_null() : json_string(t),
					    "label", m->empty ? json_null() : msg_or_null(m->label),
					    "current", m->current, "behind", (json_int_t)m->behind,
					    "missing_blocks", (json_int_t)m->missing_blocks,
					    "missing_bytes", (json_int_t)m->missing_bytes));
	return o;
}

static int print_status(const HfcPublishConfig *c, const Args *a, const HfcPublishStatus *st)
{
	char t[32];
	if (a->out.json) {
		hfc_format_time(st->created, t, sizeof(t));
		json_t *mirrors = json_array();
		for (size_t i = 0; mirrors && i < st->nmirrors; i++)
			if (st->mirrors[i].selected)
				json_array_append_new(mirrors, mirror_status_json(&c->mirrors[i],
										  &st->mirrors[i]));
		return hfc_json_print(stdout, json_pack("{s:o, s:I, s:s, s:o}", "site",
							hfc_json_str(c->site), "version",
							(json_int_t)st->version, "created", t,
							"mirrors", mirrors));
	}
	hfc_format_time(st->created, t, sizeof(t));
	printf("site %s: version %u, %s\n", c->site, st->version, t);
	printf("%-16s %8s %7s  %-20s  %-22s %s\n", "MIRROR", "VERSION", "BEHIND", "CHANGED",
	       "MISSING", "URL");
	for (size_t i = 0; i < st->nmirrors; i++) {
		const HfcMirrorStatus *m = &st->mirrors[i];
		if (!m->selected)
			continue;
		if (!m->ok) {
			printf("%-16s %8s %7s  %-20s  %-22s %s\n", c->mirrors[i].name, "?", "?",
			       "unreachable", "?", c->mirrors[i].url);
			continue;
		}
		char v[16], behind[24], missing[48], sz[32];
		hfc_format_bytes(m->missing_bytes, sz, sizeof(sz));
		snprintf(missing, sizeof(missing), "%" PRIu64 " (%s)", m->missing_blocks, sz);
		if (m->empty) {
			snprintf(v, sizeof(v), "-");
			snprintf(t, sizeof(t), "never");
		} else {
			snprintf(v, sizeof(v), "%u", m->version);
			hfc_format_time(m->created, t, sizeof(t));
		}
		if (m->current)
			snprintf(behind, sizeof(behind), "0");
		else if (m->behind < 0)
			snprintf(behind, sizeof(behind), "ahead");
		else
			snprintf(behind, sizeof(behind), "%" PRId64 "%s", m->behind,
				 m->behind == 0 ? "!" : "");
		printf("%-16s %8s %7s  %-20s  %-22s %s\n", c->mirrors[i].name, v, behind, t,
		       missing, c->mirrors[i].url);
	}
	return 0;
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
		r = print_status(c, a, st);
		if (r < 0)
			return hfc_log_errno(r, "stdout");
		int bad = 0;
		for (size_t i = 0; i < st->nmirrors; i++)
			if (st->mirrors[i].selected && !st->mirrors[i].ok) {
				hfc_log_error(c->mirrors[i].name, "%s", st->mirrors[i].err.msg);
				bad = -EIO;
			}
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
	r = print_report(c, a, res);
	if (r < 0)
		return hfc_log_errno(r, "stdout");
	r = hfc_stdout_flush();
	if (r < 0)
		return r;
	int bad = 0;
	for (size_t i = 0; i < res->nmirrors; i++) {
		const HfcMirrorReport *m = &res->mirrors[i];
		if (m->selected && !m->ok) {
			char where[128];
			snprintf(where, sizeof(where), "%s: %s", c->mirrors[i].name, m->failed);
			/* The step's name is already the head of a push error message. */
			const char *msg = m->err.msg;
			size_t fl = strlen(m->failed);
			if (strncmp(msg, m->failed, fl) == 0 && strncmp(msg + fl, ": ", 2) == 0)
				msg += fl + 2;
			hfc_log_error(where, "%s", msg);
			bad = -EIO;
		}
	}
	return bad;
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "mirror", required_argument, NULL, 'm' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "deep", no_argument, NULL, OPT_DEEP },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "prune", no_argument, NULL, OPT_PRUNE },
		{ "repair", no_argument, NULL, OPT_REPAIR },
		{ "status", no_argument, NULL, OPT_STATUS },
		{ "parallel", required_argument, NULL, 'p' },
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
