/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-publish's output: the report of a run and the status table, as text or JSON. */

#include "publish/hfc-publish-report.h"

#include "programs/json.h"
#include "programs/log.h"
#include "programs/progress.h"

#include <inttypes.h>
#include <string.h>

/* A message, or null when there is none. */
static json_t *msg_or_null(const char *s)
{
	return s && *s ? hfc_json_str(s) : json_null();
}

/* {"state", "key_id", "expires"}: an index's signature. */
static json_t *sig_json(const HfcSigInfo *sig)
{
	if (sig->state == HFC_SIG_NONE)
		return json_pack("{s:s, s:n, s:n}", "state", hfc_sig_state_name(sig->state),
				 "key_id", "expires");
	char id[2 * HFC_KEY_ID_LEN + 1], t[32];
	hfc_hex_encode(sig->key_id, HFC_KEY_ID_LEN, id);
	hfc_format_time(sig->expires, t, sizeof(t));
	return json_pack("{s:s, s:s, s:s}", "state", hfc_sig_state_name(sig->state), "key_id", id,
			 "expires", t);
}

/*
 * A note when a signature is one clients refuse or soon will: expired, bad, untrusted, or
 * expiring within the configuration's expiry-warning. what names the index ("mirror 'a'").
 */
static void sig_warn(const HfcPublishConfig *c, const char *what, const HfcSigInfo *sig,
		     int64_t now)
{
	if (sig->state == HFC_SIG_NONE) {
		if (c->npubkeys)
			hfc_log_warn("%s: index.idx is not signed; clients with --pubkey refuse it",
				     what);
		return;
	}
	char id[2 * HFC_KEY_ID_LEN + 1], t[32];
	hfc_hex_encode(sig->key_id, HFC_KEY_ID_LEN, id);
	hfc_format_time(sig->expires, t, sizeof(t));
	if (sig->state == HFC_SIG_UNTRUSTED || sig->state == HFC_SIG_BAD)
		hfc_log_warn("%s: signature by key %s is %s; clients with --pubkey refuse it", what,
			     id, sig->state == HFC_SIG_BAD ? "bad" : "by a key not in pubkey");
	else if (sig->expires <= now)
		hfc_log_warn("%s: signature by key %s expired at %s; clients with --pubkey refuse "
			     "it: renew with hfc-index sign --renew, then hfc-publish",
			     what, id, t);
	else if (sig->expires - now <= c->expiry_warning)
		hfc_log_warn("%s: signature by key %s expires at %s, in %.1f days: renew with "
			     "hfc-index sign --renew, then hfc-publish",
			     what, id, t, (double)(sig->expires - now) / 86400);
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

int publish_print_report(const HfcPublishConfig *c, const HfcPublishOptions *o,
			 const HfcOutArgs *out, const HfcPublishResult *res)
{
	if (!o->verify_only)
		sig_warn(c, "site", &res->sig, hfc_realtime());
	if (out->json) {
		json_t *mirrors = json_array();
		for (size_t i = 0; mirrors && i < res->nmirrors; i++)
			if (res->mirrors[i].selected)
				json_array_append_new(mirrors,
						      mirror_report_json(c->mirrors[i].name,
									 &res->mirrors[i]));
		return hfc_json_print(stdout,
			json_pack("{s:o, s:I, s:o, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:b, s:o, s:o}",
				  "site", hfc_json_str(c->site), "version", (json_int_t)res->version,
				  "signature", sig_json(&res->sig),
				  "blocks", (json_int_t)res->blocks,
				  "block_bytes", (json_int_t)res->block_bytes,
				  "site_files", (json_int_t)res->site_files,
				  "site_bytes", (json_int_t)res->site_bytes, "dry_run", o->dry_run,
				  "verify_only", o->verify_only, "deep", o->deep, "prune", o->prune,
				  "seconds", hfc_json_seconds(res->seconds), "mirrors", mirrors));
	}
	size_t ok = 0, failed = 0;
	for (size_t i = 0; i < res->nmirrors; i++) {
		const HfcMirrorReport *m = &res->mirrors[i];
		if (!m->selected)
			continue;
		m->ok ? ok++ : failed++;
		if (out->quiet)
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
		if (o->dry_run)
			printf("version %s; would send %" PRIu64 " files, %s", before, m->sent.files,
			       sent);
		else if (m->pushed)
			printf("version %u (was %s): sent %" PRIu64 " files, %s (%s on the wire) "
			       "in %.2f s",
			       m->verified ? res->version : m->version, before, m->sent.files, sent,
			       wire, m->sent.seconds);
		else if (o->verify_only)
			printf("version %u", m->version);
		else
			printf("version %s", before);
		if (m->repaired)
			printf("; repaired %" PRIu64 " block files", m->repaired);
		if (m->verified)
			printf("; verified %" PRIu64 " block files%s in %.2f s", m->blocks_checked,
			       o->deep ? " (deep)" : "", m->verify_seconds);
		if (m->pruned)
			printf("; %s %" PRIu64 " files", o->dry_run ? "would prune" : "pruned",
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
	if (!out->quiet) {
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

/* "unsigned", or "KEYID until DATE" and the state when it is not plain good. */
static void sig_column(const HfcSigInfo *sig, char *out, size_t outlen)
{
	if (sig->state == HFC_SIG_NONE) {
		snprintf(out, outlen, "unsigned");
		return;
	}
	char id[2 * HFC_KEY_ID_LEN + 1], t[32];
	hfc_hex_encode(sig->key_id, HFC_KEY_ID_LEN, id);
	hfc_format_time(sig->expires, t, sizeof(t));
	snprintf(out, outlen, "%s until %s%s%s", id, t,
		 sig->state == HFC_SIG_GOOD || sig->state == HFC_SIG_UNCHECKED ? "" : " ",
		 sig->state == HFC_SIG_GOOD || sig->state == HFC_SIG_UNCHECKED
			 ? ""
			 : hfc_sig_state_name(sig->state));
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
	if (!m->empty)
		json_object_set_new(o, "signature", sig_json(&m->sig));
	return o;
}

int publish_print_status(const HfcPublishConfig *c, const HfcOutArgs *out,
			 const HfcPublishStatus *st)
{
	char t[32];
	if (out->json) {
		hfc_format_time(st->created, t, sizeof(t));
		json_t *mirrors = json_array();
		for (size_t i = 0; mirrors && i < st->nmirrors; i++)
			if (st->mirrors[i].selected)
				json_array_append_new(mirrors, mirror_status_json(&c->mirrors[i],
										  &st->mirrors[i]));
		return hfc_json_print(stdout, json_pack("{s:o, s:I, s:s, s:o, s:o}", "site",
							hfc_json_str(c->site), "version",
							(json_int_t)st->version, "created", t,
							"signature", sig_json(&st->sig),
							"mirrors", mirrors));
	}
	hfc_format_time(st->created, t, sizeof(t));
	char signer[80];
	sig_column(&st->sig, signer, sizeof(signer));
	printf("site %s: version %u, %s, signature %s\n", c->site, st->version, t, signer);
	printf("%-16s %8s %7s  %-20s  %-22s %-52s %s\n", "MIRROR", "VERSION", "BEHIND", "CHANGED",
	       "MISSING", "SIGNATURE", "URL");
	for (size_t i = 0; i < st->nmirrors; i++) {
		const HfcMirrorStatus *m = &st->mirrors[i];
		if (!m->selected)
			continue;
		if (!m->ok) {
			printf("%-16s %8s %7s  %-20s  %-22s %-52s %s\n", c->mirrors[i].name, "?",
			       "?", "unreachable", "?", "?", c->mirrors[i].url);
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
		if (m->empty)
			snprintf(signer, sizeof(signer), "-");
		else
			sig_column(&m->sig, signer, sizeof(signer));
		printf("%-16s %8s %7s  %-20s  %-22s %-52s %s\n", c->mirrors[i].name, v, behind, t,
		       missing, signer, c->mirrors[i].url);
	}
	return 0;
}

int publish_log_report_failures(const HfcPublishConfig *c, const HfcPublishResult *res)
{
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

int publish_log_status_failures(const HfcPublishConfig *c, const HfcPublishStatus *st)
{
	int bad = 0;
	sig_warn(c, "site", &st->sig, st->now);
	for (size_t i = 0; i < st->nmirrors; i++) {
		const HfcMirrorStatus *m = &st->mirrors[i];
		if (m->selected && !m->ok) {
			hfc_log_error(c->mirrors[i].name, "%s", m->err.msg);
			bad = -EIO;
		} else if (m->selected && !m->empty && !m->current) {
			/* A current mirror's signature is the site's, noted once above. */
			char what[96];
			snprintf(what, sizeof(what), "mirror '%s'", c->mirrors[i].name);
			sig_warn(c, what, &m->sig, st->now);
		}
	}
	return bad;
}
