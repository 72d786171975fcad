/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-publish: push a site to its mirrors with rsync in a safe order, and check them over HTTP. */

#include "cli.h"
#include "log.h"
#include "progress.h"
#include "publish.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* run() returns this for a usage error found only once the settings are read. */
#define USAGE_ERROR (-100000)

typedef struct Args {
	const char *config;
	bool status, verify, dry_run, deep, prune, repair, json, quiet;
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

static void json_str_or_null(const char *s)
{
	if (s && *s)
		hfc_json_string(stdout, s);
	else
		fputs("null", stdout);
}

static void print_report(const HfcPublishConfig *c, const Args *a, const HfcPublishResult *res)
{
	if (a->json) {
		printf("{\"site\":");
		hfc_json_string(stdout, c->site);
		printf(",\"version\":%u,\"blocks\":%" PRIu64 ",\"block_bytes\":%" PRIu64
		       ",\"site_files\":%" PRIu64 ",\"site_bytes\":%" PRIu64
		       ",\"dry_run\":%s,\"verify_only\":%s,\"deep\":%s,\"prune\":%s"
		       ",\"seconds\":%.3f,\"mirrors\":[",
		       res->version, res->blocks, res->block_bytes, res->site_files,
		       res->site_bytes, a->dry_run ? "true" : "false", a->verify ? "true" : "false",
		       a->deep ? "true" : "false", a->prune ? "true" : "false", res->seconds);
		bool first = true;
		for (size_t i = 0; i < res->nmirrors; i++) {
			const HfcMirrorReport *m = &res->mirrors[i];
			if (!m->selected)
				continue;
			printf("%s{\"name\":", first ? "" : ",");
			first = false;
			hfc_json_string(stdout, c->mirrors[i].name);
			printf(",\"ok\":%s,\"failed\":", m->ok ? "true" : "false");
			json_str_or_null(m->failed);
			printf(",\"error\":");
			json_str_or_null(m->ok ? NULL : m->err.msg);
			if (m->before_known)
				printf(",\"version_before\":%u", m->version_before);
			else
				printf(",\"version_before\":null");
			printf(",\"version\":%u,\"pushed\":%s,\"verified\":%s,\"pruned\":%s"
			       ",\"files_sent\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
			       ",\"wire_bytes_sent\":%" PRIu64 ",\"wire_bytes_received\":%" PRIu64
			       ",\"files_deleted\":%" PRIu64 ",\"files_repaired\":%" PRIu64
			       ",\"blocks_checked\":%" PRIu64
			       ",\"bad_blocks\":%" PRIu64 ",\"faults\":[",
			       m->version, m->pushed ? "true" : "false",
			       m->verified ? "true" : "false", m->pruned ? "true" : "false",
			       m->sent.files, m->sent.bytes, m->sent.sent, m->sent.received,
			       m->deleted, m->repaired, m->blocks_checked, m->bad_blocks);
			for (size_t k = 0; k < m->nfaults; k++) {
				if (k)
					putchar(',');
				hfc_json_string(stdout, m->faults[k]);
			}
			printf("],\"rsync_seconds\":%.3f,\"verify_seconds\":%.3f,\"seconds\":%.3f}",
			       m->sent.seconds, m->verify_seconds, m->seconds);
		}
		printf("]}\n");
		return;
	}
	size_t ok = 0, failed = 0;
	for (size_t i = 0; i < res->nmirrors; i++) {
		const HfcMirrorReport *m = &res->mirrors[i];
		if (!m->selected)
			continue;
		m->ok ? ok++ : failed++;
		if (a->quiet)
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
	if (!a->quiet) {
		char bb[32], sb[32];
		hfc_format_bytes(res->block_bytes, bb, sizeof(bb));
		hfc_format_bytes(res->site_bytes, sb, sizeof(sb));
		printf("%s: version %u, %" PRIu64 " block files (%s), %" PRIu64
		       " files in the site (%s); %zu mirror%s ok, %zu failed in %.2f s\n",
		       c->site, res->version, res->blocks, bb, res->site_files, sb, ok,
		       ok == 1 ? "" : "s", failed, res->seconds);
	}
}

static void print_status(const HfcPublishConfig *c, const Args *a, const HfcPublishStatus *st)
{
	char t[32];
	if (a->json) {
		hfc_format_time(st->created, t, sizeof(t));
		printf("{\"site\":");
		hfc_json_string(stdout, c->site);
		printf(",\"version\":%u,\"created\":\"%s\",\"mirrors\":[", st->version, t);
		bool first = true;
		for (size_t i = 0; i < st->nmirrors; i++) {
			const HfcMirrorStatus *m = &st->mirrors[i];
			if (!m->selected)
				continue;
			printf("%s{\"name\":", first ? "" : ",");
			first = false;
			hfc_json_string(stdout, c->mirrors[i].name);
			printf(",\"url\":");
			hfc_json_string(stdout, c->mirrors[i].url);
			printf(",\"ok\":%s,\"error\":", m->ok ? "true" : "false");
			json_str_or_null(m->ok ? NULL : m->err.msg);
			if (!m->ok) {
				printf("}");
				continue;
			}
			if (m->empty) {
				printf(",\"version\":null,\"created\":null,\"label\":null");
			} else {
				hfc_format_time(m->created, t, sizeof(t));
				printf(",\"version\":%u,\"created\":\"%s\",\"label\":", m->version, t);
				json_str_or_null(m->label);
			}
			printf(",\"current\":%s,\"behind\":%" PRId64 ",\"missing_blocks\":%" PRIu64
			       ",\"missing_bytes\":%" PRIu64 "}",
			       m->current ? "true" : "false", m->behind, m->missing_blocks,
			       m->missing_bytes);
		}
		printf("]}\n");
		return;
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
			return USAGE_ERROR;
		}
		selected[k] = true;
	}
	const bool *sel = a->nonly ? selected : NULL;

	if (a->status) {
		_cleanup_(hfc_publish_status_freep) HfcPublishStatus *st = NULL;
		r = hfc_publish_status(c, sel, &st, &err);
		if (r < 0)
			return hfc_log_err(r, &err);
		print_status(c, a, st);
		int bad = 0;
		for (size_t i = 0; i < st->nmirrors; i++)
			if (st->mirrors[i].selected && !st->mirrors[i].ok) {
				hfc_log_error(c->mirrors[i].name, "%s", st->mirrors[i].err.msg);
				bad = -EIO;
			}
		if (fflush(stdout) != 0)
			return hfc_log_errno(-errno, "stdout");
		return bad;
	}

	HfcPublishOptions o = { .dry_run = a->dry_run, .verify_only = a->verify, .deep = a->deep,
				.prune = a->prune, .repair = a->repair,
				.progress = !a->quiet && !a->json,
				.parallel = a->parallel, .selected = sel };
	_cleanup_(hfc_publish_result_freep) HfcPublishResult *res = NULL;
	r = hfc_publish_run(c, &o, &res, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	print_report(c, a, res);
	if (fflush(stdout) != 0)
		return hfc_log_errno(-errno, "stdout");
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

int main(int argc, char **argv)
{
	enum { OPT_DEEP = 256, OPT_VERIFY, OPT_PRUNE, OPT_REPAIR, OPT_STATUS, OPT_JSON };
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
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	hfc_log_set_program("hfc-publish");
	Args a = { .config = "publish.yaml" };
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "c:m:np:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a.config = optarg;
			break;
		case 'm':
			if (a.nonly == HFC_PUBLISH_MAX_MIRRORS) {
				hfc_log_error("--mirror", "at most %d", HFC_PUBLISH_MAX_MIRRORS);
				return 2;
			}
			a.only[a.nonly++] = optarg;
			break;
		case 'n':
			a.dry_run = true;
			break;
		case OPT_DEEP:
			a.deep = true;
			break;
		case OPT_VERIFY:
			a.verify = true;
			break;
		case OPT_PRUNE:
			a.prune = true;
			break;
		case OPT_REPAIR:
			a.repair = true;
			break;
		case OPT_STATUS:
			a.status = true;
			break;
		case 'p':
			if (hfc_parse_uint(optarg, HFC_PUBLISH_MAX_MIRRORS, &v) < 0 || v == 0) {
				hfc_log_error("--parallel", "'%s' is not a number from 1 to %d", optarg,
					      HFC_PUBLISH_MAX_MIRRORS);
				return 2;
			}
			a.parallel = (unsigned)v;
			break;
		case OPT_JSON:
			a.json = true;
			break;
		case 'q':
			a.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		hfc_log_error("usage", "unexpected argument '%s' (see --help)", argv[optind]);
		return 2;
	}
	if (a.status && (a.verify || a.dry_run || a.deep || a.prune || a.repair)) {
		hfc_log_error("usage", "--status goes alone (with --config, --mirror, --json)");
		return 2;
	}
	if (a.verify && a.dry_run) {
		hfc_log_error("usage", "--verify and --dry-run exclude each other");
		return 2;
	}
	if ((a.deep || a.repair) && a.dry_run) {
		hfc_log_error("usage", "%s checks mirrors, which --dry-run does not",
			      a.deep ? "--deep" : "--repair");
		return 2;
	}
	int r = run(&a);
	if (r == USAGE_ERROR)
		return 2;
	return r < 0 ? 1 : 0;
}
