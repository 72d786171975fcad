/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-index: list, show, print, verify, extract, roll back and prune the versions of a site. */

#include "base/parse.h"
#include "programs/cli.h"
#include "base/hashset.h"
#include "site/history.h"
#include "site/image.h"
#include "programs/log.h"
#include "base/pipeline.h"
#include "programs/json.h"
#include "programs/progress.h"
#include "site/store.h"
#include "site/verify.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct Args {
	HfcOutArgs out;
	unsigned jobs;
	uint32_t version; /* 0: current */
	HfcPruneOptions prune;
	bool keep_set;
	const char *key;      /* sign, rollback: the private key to sign with */
	const char *output;   /* keygen: where the key goes */
	HfcKeyring trusted;   /* verify: --pubkey */
	int64_t now, expires; /* sign, rollback: the signature's expiry (0: 30 days) */
	int64_t renew_within; /* sign --renew: re-sign when less than this is left (0: a third) */
	bool renew, all;
} Args;

/* A signature's term when --expires is not given. */
#define DEFAULT_TERM (30 * 86400)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-index COMMAND [OPTIONS] SITE [ARGS]\n"
		"List, show, print, verify, extract, roll back and prune the versions of a site.\n"
		"\n"
		"Commands:\n"
		"  list SITE                 every version: number, date, blocks, new bytes, label\n"
		"  show SITE [N]             one version in detail (default: the current one)\n"
		"  cat SITE [N]              print an index file, after checking it\n"
		"  verify SITE               check every index and every block file; report orphans\n"
		"  extract SITE [-v N] OUT   rebuild the image, checking each block (OUT - is stdout)\n"
		"  rollback SITE N           publish a new version whose blocks are version N's\n"
		"  keygen -o KEY             make an Ed25519 signing key KEY (mode 0600) and KEY.pub\n"
		"  sign SITE --key KEY       sign the current version again (-v N: version N, --all:\n"
		"                            every version), until --expires\n"
		"  prune SITE --keep K       remove old versions and the block files only they name\n"
		"        [--keep-since DATE] [--yes]   (a dry run without --yes)\n"
		"\n"
		"Options:\n"
		"  -v, --version N   the version to use (extract; show and cat also take N)\n"
		"  -j, --jobs N      threads (default: all cores)\n"
		"      --json        machine-readable output (list, show, verify, rollback, prune)\n"
		"      --keep K      prune: keep the K newest versions (and always the current one)\n"
		"      --keep-since DATE  prune: also keep versions created at or after DATE\n"
		"                    (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)\n"
		"      --yes         prune: delete (without it, only show what would go)\n"
		"  -k, --key KEY     sign: the private key; rollback --sign-key KEY signs the rollback\n"
		"      --expires WHEN  sign, rollback: the signature's expiry, a time\n"
		"                    (YYYY-MM-DDTHH:MM:SSZ) or a duration (14d, 12h; default 30d)\n"
		"      --renew       sign: only when less than a third of the term is left (for a\n"
		"                    timer; --within D sets how much)\n"
		"      --all         sign: every version\n"
		"      --pubkey PUB  verify: every version must be signed by a trusted key\n"
		"                    (repeatable)\n"
		"  -o, --output KEY  keygen: the private key file (KEY.pub is its public key)\n"
		"  -q, --quiet       no progress bar, no summary\n"
		"  -h, --help        show this help\n");
}

static int open_site(const char *path, HfcSite **ret)
{
	HfcErr err = { "" };
	int r = hfc_site_open(path, false, ret, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	r = hfc_site_lock(*ret, false, &err);
	if (r < 0) {
		hfc_site_free(*ret);
		*ret = NULL;
		return hfc_log_err(r, &err);
	}
	return 0;
}

static int load(HfcSite *s, uint32_t v, HfcIndex **ret)
{
	HfcErr err = { "" };
	int r = hfc_site_load_index(s, v, ret, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	return 0;
}

/* Opens the site (shared lock) and loads version v (0: the current one); -1 with a message. */
static int open_version(const char *path, uint32_t v, HfcSite **ret_site, HfcIndex **ret_idx)
{
	if (open_site(path, ret_site) < 0)
		return -1;
	return load(*ret_site, v, ret_idx);
}

static int cmd_list(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	if (open_site(path, &s) < 0)
		return -1;
	_cleanup_free_ uint32_t *vs = NULL;
	size_t n;
	int r = hfc_site_versions(s, &vs, &n);
	if (r < 0)
		return hfc_log_errno(r, path);
	_cleanup_(hfc_index_freep) HfcIndex *cur = NULL;
	uint32_t current = 0;
	if (n && hfc_site_load_index(s, 0, &cur, NULL) >= 0)
		current = cur->version;
	_cleanup_(hfc_hashmap_freep) HfcHashMap *seen = NULL;
	json_t *list = a->out.json ? json_array() : NULL;
	if (a->out.json && !list)
		return hfc_log_errno(-ENOMEM, "list");
	if (!a->out.json)
		printf("%-8s %-20s %8s %12s  %s\n", "VERSION", "CREATED", "BLOCKS", "NEW", "LABEL");
	for (size_t k = 0; k < n; k++) {
		_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
		if (load(s, vs[k], &idx) < 0) {
			json_decref(list);
			return -1;
		}
		uint64_t nb, bytes;
		if ((!seen && hfc_hashmap_new(hfc_hash_len(idx->hash), &seen) < 0) ||
		    hfc_index_account(idx, seen, &nb, &bytes) < 0) {
			json_decref(list);
			return hfc_log_errno(-ENOMEM, "list");
		}
		char t[32], sz[32];
		hfc_format_time(idx->created, t, sizeof(t));
		if (a->out.json) {
			json_t *o = json_pack("{s:I, s:b, s:s, s:s, s:I, s:I, s:I, s:I}",
					      "version", (json_int_t)idx->version,
					      "current", idx->version == current, "created", t,
					      "label", idx->label, "blocks", (json_int_t)idx->nblocks,
					      "image_size", (json_int_t)idx->image_size,
					      "new_blocks", (json_int_t)nb, "new_bytes", (json_int_t)bytes);
			if (json_array_append_new(list, o) < 0) {
				json_decref(list);
				return hfc_log_errno(-ENOMEM, "list");
			}
		} else {
			hfc_format_bytes(bytes, sz, sizeof(sz));
			printf("%-8u %-20s %8" PRIu64 " %12s  %s%s\n", idx->version, t, idx->nblocks, sz,
			       idx->version == current ? "* " : "", idx->label);
		}
	}
	if (a->out.json && hfc_json_print(stdout, list) < 0)
		return hfc_log_errno(-EIO, "stdout");
	return 0;
}

static int cmd_show(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	if (open_version(path, a->version, &s, &idx) < 0)
		return -1;
	/* New bytes: block files this version names that no earlier version named. */
	_cleanup_(hfc_hashmap_freep) HfcHashMap *seen = NULL;
	if (hfc_hashmap_new(hfc_hash_len(idx->hash), &seen) < 0)
		return hfc_log_errno(-ENOMEM, "show");
	_cleanup_free_ uint32_t *vs = NULL;
	size_t n;
	int r = hfc_site_versions(s, &vs, &n);
	if (r < 0)
		return hfc_log_errno(r, path);
	for (size_t k = 0; k < n && vs[k] < idx->version; k++) {
		_cleanup_(hfc_index_freep) HfcIndex *old = NULL;
		if (load(s, vs[k], &old) < 0)
			return -1;
		if (old->hash == idx->hash && hfc_index_account(old, seen, NULL, NULL) < 0)
			return hfc_log_errno(-ENOMEM, "show");
	}
	uint64_t zero = 0, stored = 0, new_blocks, new_bytes;
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		if (!idx->entries[i].stored)
			zero++;
	}
	_cleanup_(hfc_hashmap_freep) HfcHashMap *mine = NULL;
	if (hfc_hashmap_new(hfc_hash_len(idx->hash), &mine) < 0)
		return hfc_log_errno(-ENOMEM, "show");
	uint64_t distinct;
	if (hfc_index_account(idx, mine, &distinct, &stored) < 0 ||
	    hfc_index_account(idx, seen, &new_blocks, &new_bytes) < 0)
		return hfc_log_errno(-ENOMEM, "show");
	char t[32], end[65], parent[65] = "";
	hfc_format_time(idx->created, t, sizeof(t));
	hfc_hex_encode(idx->end_sha256, 32, end);
	if (idx->parent)
		hfc_hex_encode(idx->parent_sha256, 32, parent);
	if (a->out.json) {
		json_t *o = json_pack("{s:I}", "version", (json_int_t)idx->version);
		if (o && idx->parent)
			json_object_update_new(o, json_pack("{s:I, s:s}", "parent",
							    (json_int_t)idx->parent,
							    "parent_sha256", parent));
		else if (o)
			json_object_set_new(o, "parent", json_null());
		if (o)
			json_object_update_new(
				o, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:b}",
					     "created", t, "label", idx->label,
					     "image_size", (json_int_t)idx->image_size,
					     "block_size", (json_int_t)idx->block_size,
					     "hash", hfc_hash_name(idx->hash), "compression", "zlib",
					     "blocks", (json_int_t)idx->nblocks,
					     "zero_blocks", (json_int_t)zero,
					     "distinct_blocks", (json_int_t)distinct,
					     "stored_bytes", (json_int_t)stored,
					     "new_blocks", (json_int_t)new_blocks,
					     "new_bytes", (json_int_t)new_bytes, "end_sha256", end,
					     "signed", idx->has_sig));
		if (o && idx->has_sig) {
			char id[2 * HFC_KEY_ID_LEN + 1], exp[32];
			hfc_hex_encode(idx->sig.key_id, HFC_KEY_ID_LEN, id);
			hfc_format_time(idx->sig.expires, exp, sizeof(exp));
			json_object_update_new(o, json_pack("{s:s, s:s}", "key_id", id, "expires", exp));
		}
		return hfc_json_print(stdout, o) < 0 ? hfc_log_errno(-EIO, "stdout") : 0;
	}
	char a1[32], a2[32], a3[32];
	hfc_format_bytes(idx->image_size, a1, sizeof(a1));
	hfc_format_bytes(stored, a2, sizeof(a2));
	hfc_format_bytes(new_bytes, a3, sizeof(a3));
	printf("version:      %u\n", idx->version);
	if (idx->parent)
		printf("parent:       %u (sha256 %s)\n", idx->parent, parent);
	else
		printf("parent:       none\n");
	printf("created:      %s\n", t);
	printf("label:        %s\n", idx->label);
	printf("image size:   %" PRIu64 " bytes (%s)\n", idx->image_size, a1);
	printf("block size:   %u\n", idx->block_size);
	printf("hash:         %s\n", hfc_hash_name(idx->hash));
	printf("compression:  zlib\n");
	printf("blocks:       %" PRIu64 " (%" PRIu64 " zero, %" PRIu64 " distinct files, %s)\n",
	       idx->nblocks, zero, distinct, a2);
	printf("new:          %" PRIu64 " block files, %s (not in any earlier version)\n",
	       new_blocks, a3);
	printf("end sha256:   %s\n", end);
	if (idx->has_sig) {
		char id[2 * HFC_KEY_ID_LEN + 1], exp[32];
		hfc_hex_encode(idx->sig.key_id, HFC_KEY_ID_LEN, id);
		hfc_format_time(idx->sig.expires, exp, sizeof(exp));
		printf("signature:    ed25519, key %s, expires %s\n", id, exp);
	} else {
		printf("signature:    none\n");
	}
	return 0;
}

static int cmd_cat(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	if (open_version(path, a->version, &s, &idx) < 0)
		return -1;
	/* Print what was checked, re-serialised from the parsed index: byte-identical. */
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = hfc_index_format(idx, &buf, &len);
	if (r < 0)
		return hfc_log_errno(r, "cat");
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
		return hfc_log_errno(-errno, "stdout");
	return 0;
}

static void report(void *ud, bool fault, const char *msg)
{
	(void)ud;
	if (fault)
		fprintf(stderr, "%s: %s\n", hfc_log_program(), msg);
	else
		hfc_log_warn("%s", msg);
}

static int cmd_verify(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	if (open_site(path, &s) < 0)
		return -1;
	double t0 = hfc_monotonic();
	HfcVerifyResult res;
	HfcProgressBar bar;
	HfcProgress progress = hfc_progress_bar(&bar, !a->out.quiet && !a->out.json);
	HfcVerifyKeys keys = { .keys = a->trusted.keys, .nkeys = a->trusted.n, .now = a->now };
	int r = hfc_site_verify(s, a->jobs, &keys, &progress, report, NULL, &res);
	hfc_progress_bar_end(&bar);
	if (r < 0)
		return hfc_log_errno(r, path);
	double sec = hfc_monotonic() - t0;
	if (a->out.json) {
		r = hfc_json_print(stdout, json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o}",
						     "site", hfc_json_str(path),
						     "versions", (json_int_t)res.versions,
						     "signed_ok", (json_int_t)res.signed_ok,
						     "blocks_checked", (json_int_t)res.blocks_checked,
						     "bytes_checked", (json_int_t)res.bytes_checked,
						     "faults", (json_int_t)res.faults,
						     "orphans", (json_int_t)res.orphans,
						     "orphan_bytes", (json_int_t)res.orphan_bytes,
						     "ok", res.faults == 0,
						     "seconds", hfc_json_seconds(sec)));
		if (r < 0)
			return hfc_log_errno(r, "stdout");
	} else if (!a->out.quiet) {
		char b1[32], b2[32];
		hfc_format_bytes(res.bytes_checked, b1, sizeof(b1));
		hfc_format_bytes(res.orphan_bytes, b2, sizeof(b2));
		char sigs[64] = "";
		if (a->trusted.n)
			snprintf(sigs, sizeof(sigs), " (%u signed by a trusted key)", res.signed_ok);
		printf("%s: %s: %u versions%s, %" PRIu64 " block files checked (%s), %" PRIu64
		       " faults, %" PRIu64 " orphans (%s) in %.2f s\n",
		       path, res.faults ? "FAILED" : "ok", res.versions, sigs, res.blocks_checked, b1,
		       res.faults, res.orphans, b2, sec);
	}
	return res.faults ? -1 : 0;
}

static int cmd_extract(const char *path, const char *out_path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	if (open_version(path, a->version, &s, &idx) < 0)
		return -1;
	HfcOutput out;
	int r = hfc_output_open(out_path, &out);
	if (r < 0) {
		hfc_output_discard(&out);
		return hfc_log_errno(r, out_path);
	}
	double t0 = hfc_monotonic();
	HfcErr err = { "" };
	unsigned jobs = a->jobs ? a->jobs : hfc_cpu_count();
	_cleanup_(hfc_site_reader_freep) HfcSiteReader *sr = NULL;
	r = hfc_site_reader_new(s, idx, jobs, &sr);
	if (r < 0) {
		hfc_output_discard(&out);
		return hfc_log_errno(r, "extract");
	}
	HfcProgressBar bar;
	HfcProgress progress = hfc_progress_bar(&bar, !a->out.quiet);
	r = hfc_image_write(idx, hfc_site_reader_block, sr, &out, jobs, &progress, &err);
	hfc_progress_bar_end(&bar);
	if (r < 0) {
		hfc_output_discard(&out);
		return hfc_log_err(r, &err);
	}
	r = hfc_output_commit(&out, idx->image_size);
	if (r < 0) {
		hfc_output_discard(&out);
		return hfc_log_errno(r, out_path);
	}
	hfc_output_discard(&out);
	double sec = hfc_monotonic() - t0;
	if (!a->out.quiet && strcmp(out_path, "-") != 0) {
		char sz[32];
		hfc_format_bytes(idx->image_size, sz, sizeof(sz));
		printf("%s: version %u, %" PRIu64 " blocks, %s in %.2f s (%.1f MB/s)\n", out_path,
		       idx->version, idx->nblocks, sz, sec,
		       sec > 0 ? (double)idx->image_size / sec / 1e6 : 0);
	}
	return 0;
}

static int cmd_rollback(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	HfcErr err = { "" };
	_cleanup_(hfc_key_freep) HfcKey *key = NULL;
	int r = a->key ? hfc_key_load(a->key, true, &key, &err) : 0;
	if (r >= 0)
		r = hfc_site_open(path, false, &s, &err);
	HfcRollbackResult res;
	if (r >= 0 && key)
		hfc_site_set_signer(s, key, a->expires);
	if (r >= 0)
		r = hfc_site_rollback(s, a->version, &res, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	if (a->out.json) {
		r = hfc_json_print(stdout, json_pack("{s:o, s:I, s:I, s:I, s:I}", "site",
						     hfc_json_str(path), "version", (json_int_t)res.version,
						     "target", (json_int_t)res.target,
						     "from", (json_int_t)res.from,
						     "blocks", (json_int_t)res.blocks));
		if (r < 0)
			return hfc_log_errno(r, "stdout");
	} else if (!a->out.quiet) {
		printf("%s: version %u published: rollback to %u (was version %u)\n", path,
		       res.version, res.target, res.from);
	}
	return 0;
}

static int cmd_keygen(const Args *a)
{
	_cleanup_(hfc_key_freep) HfcKey *key = NULL;
	HfcErr err = { "" };
	int r = hfc_key_generate(&key);
	if (r < 0)
		return hfc_log_errno(r, "keygen");
	r = hfc_key_save(key, a->output, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	uint8_t id[HFC_KEY_ID_LEN];
	char hex[2 * HFC_KEY_ID_LEN + 1];
	hfc_key_id(key, id);
	hfc_hex_encode(id, sizeof(id), hex);
	if (a->out.json)
		return hfc_json_print(stdout, json_pack("{s:o, s:s}", "key", hfc_json_str(a->output),
							"key_id", hex));
	if (!a->out.quiet)
		printf("%s: Ed25519 key %s (public key in %s.pub)\n", a->output, hex, a->output);
	return 0;
}

/* Signs one version; with --renew only when its signature by this key ends within the window. */
static int sign_one(HfcSite *s, const char *path, uint32_t v, const HfcKey *key, const Args *a,
		    json_t *list)
{
	HfcErr err = { "" };
	uint8_t id[HFC_KEY_ID_LEN];
	char hex[2 * HFC_KEY_ID_LEN + 1], t[32];
	hfc_key_id(key, id);
	hfc_hex_encode(id, sizeof(id), hex);
	if (a->renew) {
		_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
		int r = hfc_site_load_index(s, v, &idx, &err);
		if (r < 0)
			return hfc_log_err(r, &err);
		int64_t within = a->renew_within ? a->renew_within : (a->expires - a->now) / 3;
		if (idx->has_sig && memcmp(idx->sig.key_id, id, sizeof(id)) == 0 &&
		    idx->sig.expires - a->now > within) {
			hfc_format_time(idx->sig.expires, t, sizeof(t));
			if (list)
				return json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:b}", "version",
								   (json_int_t)idx->version, "key_id", hex,
								   "expires", t, "renewed", false));
			if (!a->out.quiet)
				printf("%s: version %u: signature by %s valid until %s; not renewed\n",
				       path, idx->version, hex, t);
			return 0;
		}
	}
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	int r = hfc_site_resign(s, v, key, a->expires, &idx, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	hfc_format_time(idx->sig.expires, t, sizeof(t));
	if (list)
		return json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:b}", "version",
							   (json_int_t)idx->version, "key_id", hex,
							   "expires", t, "renewed", true));
	if (!a->out.quiet)
		printf("%s: version %u signed by %s until %s\n", path, idx->version, hex, t);
	return 0;
}

static int cmd_sign(const char *path, const Args *a)
{
	_cleanup_(hfc_key_freep) HfcKey *key = NULL;
	HfcErr err = { "" };
	int r = hfc_key_load(a->key, true, &key, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	r = hfc_site_open(path, false, &s, &err);
	if (r >= 0)
		r = hfc_site_lock(s, true, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	_cleanup_free_ uint32_t *vs = NULL;
	size_t n = 0;
	uint32_t one = a->version;
	if (a->all) {
		r = hfc_site_versions(s, &vs, &n);
		if (r < 0)
			return hfc_log_errno(r, path);
	} else if (!one) {
		_cleanup_(hfc_index_freep) HfcIndex *cur = NULL;
		r = hfc_site_load_index(s, 0, &cur, &err);
		if (r < 0)
			return hfc_log_err(r, &err);
		one = cur->version;
	}
	json_t *list = a->out.json ? json_array() : NULL;
	for (size_t i = 0; r >= 0 && i < (a->all ? n : 1); i++)
		r = sign_one(s, path, a->all ? vs[i] : one, key, a, list);
	if (list)
		return r < 0 ? (json_decref(list), r) : hfc_json_print(stdout, list);
	return r;
}

/* Prints versions as ranges: "1-3, 7". */
static void print_versions(const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		printf("%s%u", i ? ", " : "", v[i]);
		if (j > i)
			printf("-%u", v[j]);
		i = j + 1;
	}
	if (n == 0)
		printf("none");
}

static int cmd_prune(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	HfcErr err = { "" };
	int r = hfc_site_open(path, false, &s, &err);
	HfcPruneResult res = { 0 };
	if (r >= 0)
		r = hfc_site_prune(s, &a->prune, &res, &err);
	if (r < 0) {
		hfc_prune_result_done(&res);
		return hfc_log_err(r, &err);
	}
	uint64_t freed = res.block_bytes + res.index_bytes;
	if (a->out.json) {
		json_t *removed = json_array(), *kept = json_array();
		for (size_t i = 0; removed && i < res.n_removed; i++)
			json_array_append_new(removed, json_integer(res.removed[i]));
		for (size_t i = 0; kept && i < res.n_kept; i++)
			json_array_append_new(kept, json_integer(res.kept[i]));
		r = hfc_json_print(stdout, json_pack("{s:o, s:b, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I}",
						     "site", hfc_json_str(path), "dry_run", !res.deleted,
						     "current", (json_int_t)res.current,
						     "removed_versions", removed, "kept_versions", kept,
						     "blocks_removed", (json_int_t)res.blocks_removed,
						     "block_bytes", (json_int_t)res.block_bytes,
						     "index_bytes", (json_int_t)res.index_bytes,
						     "freed_bytes", (json_int_t)freed,
						     "blocks_kept", (json_int_t)res.blocks_kept,
						     "kept_bytes", (json_int_t)res.kept_bytes));
		if (r < 0) {
			hfc_prune_result_done(&res);
			return hfc_log_errno(r, "stdout");
		}
	} else if (!a->out.quiet) {
		char f[32], k[32];
		hfc_format_bytes(freed, f, sizeof(f));
		hfc_format_bytes(res.kept_bytes, k, sizeof(k));
		printf("%s: %s %zu versions (", path, res.deleted ? "removed" : "would remove",
		       res.n_removed);
		print_versions(res.removed, res.n_removed);
		printf(") and %" PRIu64 " block files: %s %s (%" PRIu64 " bytes); kept %zu versions (",
		       res.blocks_removed, res.deleted ? "freed" : "would free", f, freed, res.n_kept);
		print_versions(res.kept, res.n_kept);
		printf(", current %u) and %" PRIu64 " block files (%s)\n", res.current,
		       res.blocks_kept, k);
		if (!res.deleted)
			printf("dry run: nothing was deleted (--yes deletes)\n");
	}
	hfc_prune_result_done(&res);
	return 0;
}

static int parse_version(const char *s, uint32_t *ret)
{
	uint64_t v;
	if (hfc_parse_uint(s, HFC_VERSION_MAX, &v) < 0 || v == 0) {
		hfc_log_error("version", "'%s' is not a version number", s);
		return HFC_USAGE;
	}
	*ret = (uint32_t)v;
	return 0;
}

/* A command: its name, its arguments after SITE (min..max), what it takes. */
typedef struct Command {
	HfcCommand head; /* the arguments count SITE */
	bool version_ok; /* -v N, or N as the argument after SITE */
	int (*fn)(const char *site, char **args, Args *a);
} Command;

static int do_list(const char *site, char **args, Args *a)
{
	(void)args;
	return cmd_list(site, a);
}

static int do_show(const char *site, char **args, Args *a)
{
	int r = args[0] ? parse_version(args[0], &a->version) : 0;
	return r < 0 ? r : cmd_show(site, a);
}

static int do_cat(const char *site, char **args, Args *a)
{
	int r = args[0] ? parse_version(args[0], &a->version) : 0;
	return r < 0 ? r : cmd_cat(site, a);
}

static int do_verify(const char *site, char **args, Args *a)
{
	(void)args;
	return cmd_verify(site, a);
}

static int do_extract(const char *site, char **args, Args *a)
{
	return cmd_extract(site, args[0], a);
}

static int do_rollback(const char *site, char **args, Args *a)
{
	int r = args[0] ? parse_version(args[0], &a->version) : 0;
	if (r >= 0 && !a->version)
		r = hfc_usage_error("rollback needs the version to roll back to");
	return r < 0 ? r : cmd_rollback(site, a);
}

static int do_keygen(const char *site, char **args, Args *a)
{
	(void)site, (void)args;
	if (!a->output)
		return hfc_usage_error("keygen needs -o KEY");
	return cmd_keygen(a);
}

static int do_sign(const char *site, char **args, Args *a)
{
	(void)args;
	if (!a->key)
		return hfc_usage_error("sign needs --key KEY");
	if (a->all && a->version)
		return hfc_usage_error("--all and --version exclude each other");
	return cmd_sign(site, a);
}

static int do_prune(const char *site, char **args, Args *a)
{
	(void)args;
	if (!a->keep_set)
		return hfc_usage_error("prune needs --keep K or --keep-since DATE");
	return cmd_prune(site, a);
}

static const Command commands[] = {
	{ { "list", 1, 1 }, false, do_list },	     { { "show", 1, 2 }, true, do_show },
	{ { "cat", 1, 2 }, true, do_cat },	     { { "verify", 1, 1 }, false, do_verify },
	{ { "extract", 2, 2 }, true, do_extract }, { { "rollback", 1, 2 }, true, do_rollback },
	{ { "prune", 1, 1 }, false, do_prune },	     { { "keygen", 0, 0 }, false, do_keygen },
	{ { "sign", 1, 1 }, true, do_sign },
};

enum { OPT_PUBKEY = 256, OPT_EXPIRES, OPT_RENEW, OPT_WITHIN, OPT_ALL };

static int on_option(void *userdata, int c, const char *arg)
{
	Args *a = userdata;
	uint64_t v;
	int r;
	switch (c) {
	case 'v':
		return parse_version(arg, &a->version);
	case 'j':
		return hfc_opt_jobs(arg, &a->jobs);
	case 'K':
		r = hfc_opt_uint("--keep", arg, 1, HFC_VERSION_MAX, &v);
		a->prune.keep = (uint32_t)v;
		a->keep_set = true;
		return r;
	case 'S':
		if (hfc_parse_time(arg, strlen(arg), HFC_TIME_DATE_OK, &a->prune.since) < 0) {
			hfc_log_error("--keep-since", "'%s' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
				      arg);
			return HFC_USAGE;
		}
		a->prune.since_set = true;
		a->keep_set = true;
		return 0;
	case 'y':
		a->prune.yes = true;
		return 0;
	case 'k':
		a->key = arg;
		return 0;
	case 'o':
		a->output = arg;
		return 0;
	case OPT_PUBKEY:
		return hfc_keyring_add(&a->trusted, arg); /* a key that cannot be read: 1, not a usage error */
	case OPT_EXPIRES:
		return hfc_opt_expires("--expires", arg, a->now, &a->expires);
	case OPT_RENEW:
		a->renew = true;
		return 0;
	case OPT_WITHIN:
		r = hfc_parse_duration(arg, &a->renew_within) < 0 ? HFC_USAGE : 0;
		if (r < 0)
			hfc_log_error("--within", "'%s' is not a duration (14d, 12h)", arg);
		return r;
	case OPT_ALL:
		a->all = true;
		return 0;
	}
	return HFC_OPT_UNKNOWN;
}

/* Runs the command in args (COMMAND SITE [ARGS]) after checking what goes with it. */
static int run(int nargs, char **args, Args *a)
{
	const Command *cmd = hfc_cli_command(nargs, args, commands, ELEMENTSOF(commands),
					     sizeof(Command));
	if (!cmd)
		return HFC_USAGE;
	const char *name = cmd->head.name;
	if (a->version && !cmd->version_ok)
		return hfc_usage_error("'%s' takes no version", name);
	if (strcmp(name, "prune") != 0 && (a->keep_set || a->prune.yes))
		return hfc_usage_error("--keep, --keep-since and --yes go with 'prune'");
	bool signs = strcmp(name, "sign") == 0 || strcmp(name, "rollback") == 0;
	if (!signs && (a->key || a->expires))
		return hfc_usage_error("--key and --expires go with 'sign' and 'rollback'");
	if (strcmp(name, "sign") != 0 && (a->renew || a->all || a->renew_within))
		return hfc_usage_error("--renew, --within and --all go with 'sign'");
	if (a->renew_within && !a->renew)
		return hfc_usage_error("--within goes with --renew");
	if (strcmp(name, "verify") != 0 && a->trusted.n)
		return hfc_usage_error("--pubkey goes with 'verify'");
	if (strcmp(name, "keygen") != 0 && a->output)
		return hfc_usage_error("--output goes with 'keygen'");
	if (!a->expires)
		a->expires = a->now + DEFAULT_TERM;
	char *rest[2] = { nargs > 2 ? args[2] : NULL, NULL };
	int r = cmd->fn(args[1], rest, a);
	if (r >= 0)
		r = hfc_stdout_flush();
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "keep", required_argument, NULL, 'K' },
		{ "keep-since", required_argument, NULL, 'S' },
		{ "yes", no_argument, NULL, 'y' },
		{ "key", required_argument, NULL, 'k' },
		{ "sign-key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "pubkey", required_argument, NULL, OPT_PUBKEY },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "renew", no_argument, NULL, OPT_RENEW },
		{ "within", required_argument, NULL, OPT_WITHIN },
		{ "all", no_argument, NULL, OPT_ALL },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	Args a = { .now = hfc_realtime() };
	const HfcCli cli = { "hfc-index", usage, "v:j:k:o:" HFC_COMMON_SHORT, opts, on_option, &a,
			     &a.out, 1, 3, "a command and SITE" };
	int r = hfc_cli_parse(&cli, argc, argv);
	if (r >= 0)
		r = run(argc - r, argv + r, &a);
	hfc_keyring_done(&a.trusted);
	return hfc_exit_status(r);
}
