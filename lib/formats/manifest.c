/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "formats/manifest.h"

#include "formats/index.h"
#include "formats/text.h"

#include <stdio.h>
#include <string.h>

/* The lines between the magic line and the end line, each "key value", in this order. */
enum {
	K_KIND,
	K_BASE,
	K_TARGET,
	K_HASH,
	K_BLOCK_SIZE,
	K_INDEX_BYTES,
	K_PROFILE_BYTES,
	K_BASES,
	K_RECIPES,
	K_DELTA_BYTES,
	K_RAW_BLOCKS,
	K_COUNT,
};

static const char *const keys[K_COUNT] = {
	[K_KIND] = "kind",
	[K_BASE] = "base",
	[K_TARGET] = "target",
	[K_HASH] = "hash",
	[K_BLOCK_SIZE] = "block-size",
	[K_INDEX_BYTES] = "index-bytes",
	[K_PROFILE_BYTES] = "profile-bytes",
	[K_BASES] = "bases",
	[K_RECIPES] = "recipes",
	[K_DELTA_BYTES] = "delta-bytes",
	[K_RAW_BLOCKS] = "raw-blocks",
};

uint64_t hfc_bundle_delta_max(const HfcBundleManifest *m)
{
	/* The longest record: its fixed part, then a literal op and 4096 bytes for every page. */
	uint64_t pages = DIV_ROUND_UP((uint64_t)m->block_size, HFC_PAGE_SIZE);
	uint64_t rec = HFC_DELTA_REC_FIXED(hfc_hash_len(m->hash)) + pages * (1 + HFC_PAGE_SIZE);
	uint64_t l = m->recipes * rec;
	/* Framing: every frame but the last is at least HFC_DELTA_FRAME_MIN bytes inflated. */
	uint64_t frames = l / HFC_DELTA_FRAME_MIN + 1;
	return l + l / 512 + frames * (HFC_DELTA_FRAME_HDR + 128);
}

/* "N SHA256HEX" with 1 <= N <= HFC_VERSION_MAX; returns 0 or -EINVAL. */
static int parse_version_sha(const char *v, size_t n, uint32_t *ret, uint8_t sha[32])
{
	const char *sp = memchr(v, ' ', n);
	uint64_t x;
	if (!sp || hfc_parse_canonical(v, (size_t)(sp - v), HFC_VERSION_MAX, &x) < 0 || x == 0)
		return -EINVAL;
	if (n - (size_t)(sp - v) - 1 != 64 || hfc_hex_decode(sp + 1, 32, sha) < 0)
		return -EINVAL;
	*ret = (uint32_t)x;
	return 0;
}

/* A canonical number from 1 (or 0 when zero_ok) to max; returns 0 or -EINVAL. */
static int parse_count(const char *v, size_t n, uint64_t max, bool zero_ok, uint64_t *ret)
{
	if (hfc_parse_canonical(v, n, max, ret) < 0 || (*ret == 0 && !zero_ok))
		return -EINVAL;
	return 0;
}

/*
 * The claims that need several lines: checked on delta-bytes, the last line they depend on, so
 * that the message names it. Returns 0 or -EBADMSG.
 */
static int check_delta(HfcLines *l, const HfcBundleManifest *m)
{
	if (m->delta_bytes > hfc_bundle_delta_max(m))
		return hfc_lines_fail(l, "delta-bytes %llu is more than %llu recipes can need",
				      (unsigned long long)m->delta_bytes,
				      (unsigned long long)m->recipes);
	if (m->kind == HFC_BUNDLE_FULL && (m->bases || m->recipes || m->delta_bytes))
		return hfc_lines_fail(l, "a full bundle has no recipes");
	if ((m->recipes == 0) != (m->delta_bytes == 0))
		return hfc_lines_fail(l, "recipes and delta-bytes disagree");
	return 0;
}

/* Parses the value of key k into m; returns 0, -EINVAL (a bad value) or -EBADMSG (err set). */
static int parse_value(HfcLines *l, unsigned k, const char *v, size_t n, HfcBundleManifest *m)
{
	/* The words a value may be are short: a longer value is none of them. */
	char word[8] = "";
	if (n < sizeof(word))
		memcpy(word, v, n);
	uint64_t x;
	switch (k) {
	case K_KIND:
		if (strcmp(word, "delta") != 0 && strcmp(word, "full") != 0)
			return -EINVAL;
		m->kind = word[0] == 'f' ? HFC_BUNDLE_FULL : HFC_BUNDLE_DELTA;
		return 0;
	case K_BASE:
		if (strcmp(word, "none") != 0 &&
		    parse_version_sha(v, n, &m->base, m->base_sha256) < 0)
			return -EINVAL;
		if ((m->kind == HFC_BUNDLE_FULL) != (m->base == 0))
			return hfc_lines_fail(l, "a %s bundle must have %s base",
					      m->kind == HFC_BUNDLE_FULL ? "full" : "delta",
					      m->kind == HFC_BUNDLE_FULL ? "no" : "a");
		return 0;
	case K_TARGET:
		return parse_version_sha(v, n, &m->target, m->target_sha256);
	case K_HASH:
		return hfc_hash_from_name(word, &m->hash);
	case K_BLOCK_SIZE:
		if (parse_count(v, n, HFC_BLOCK_SIZE_MAX, false, &x) < 0 ||
		    !hfc_block_size_valid(x))
			return -EINVAL;
		m->block_size = (uint32_t)x;
		return 0;
	case K_INDEX_BYTES:
		return parse_count(v, n, HFC_INDEX_MAX_BYTES, false, &m->index_bytes);
	case K_PROFILE_BYTES:
		return parse_count(v, n, HFC_BUNDLE_PROFILE_MAX, true, &m->profile_bytes);
	case K_BASES:
		return parse_count(v, n, HFC_INDEX_MAX_BLOCKS, true, &m->bases);
	case K_RECIPES:
		return parse_count(v, n, HFC_INDEX_MAX_BLOCKS, true, &m->recipes);
	case K_DELTA_BYTES:
		if (parse_count(v, n, UINT64_MAX, true, &m->delta_bytes) < 0)
			return -EINVAL;
		return check_delta(l, m);
	case K_RAW_BLOCKS:
		if (parse_count(v, n, HFC_INDEX_MAX_BLOCKS, true, &m->raw_blocks) < 0 ||
		    m->recipes + m->raw_blocks > HFC_INDEX_MAX_BLOCKS)
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

/* The next line, which must be there: the line of `key`. Returns 1 or -EBADMSG. */
static int next_line(HfcLines *l, const char *key)
{
	int r = hfc_lines_next(l);
	if (r == 0)
		return hfc_lines_fail(l, "truncated: missing '%s'", key);
	return r;
}

int hfc_bundle_manifest_parse(const char *buf, size_t len, const char *fname,
			      HfcBundleManifest *ret, HfcErr *err)
{
	if (len > HFC_BUNDLE_MANIFEST_MAX)
		return hfc_err_set(err, -EBADMSG, "%s: manifest longer than %u bytes", fname,
				   HFC_BUNDLE_MANIFEST_MAX);
	HfcLines l;
	hfc_lines_init(&l, buf, len, fname, err);
	int r = hfc_lines_next(&l);
	if (r < 0)
		return r;
	if (r == 0 || !hfc_lines_is(&l, HFC_BUNDLE_MAGIC)) {
		l.line = 1;
		return hfc_lines_fail(&l, "not a bundle manifest (expected '%s')", HFC_BUNDLE_MAGIC);
	}
	HfcBundleManifest m = { 0 };
	const char *v = NULL;
	size_t n = 0;
	for (unsigned k = 0; k < K_COUNT; k++) {
		r = next_line(&l, keys[k]);
		if (r >= 0)
			r = hfc_lines_key(&l, keys[k], &v, &n);
		if (r >= 0)
			r = parse_value(&l, k, v, n, &m);
		if (r == -EINVAL)
			return hfc_lines_fail(&l, "bad value for '%s'", keys[k]);
		if (r < 0)
			return r;
	}
	r = hfc_text_end(&l, "manifest");
	if (r >= 0)
		*ret = m;
	return r;
}

int hfc_bundle_manifest_format(const HfcBundleManifest *m, char **ret_buf, size_t *ret_len)
{
	char *buf = malloc(HFC_BUNDLE_MANIFEST_MAX);
	if (!buf)
		return -ENOMEM;
	char bsha[65] = "", tsha[65], base[96];
	if (m->base) {
		hfc_hex_encode(m->base_sha256, 32, bsha);
		snprintf(base, sizeof(base), "%u %s", m->base, bsha);
	} else {
		snprintf(base, sizeof(base), "none");
	}
	hfc_hex_encode(m->target_sha256, 32, tsha);
	int n = snprintf(buf, HFC_BUNDLE_MANIFEST_MAX,
			 "%s\nkind %s\nbase %s\ntarget %u %s\nhash %s\nblock-size %u\n"
			 "index-bytes %llu\nprofile-bytes %llu\nbases %llu\nrecipes %llu\n"
			 "delta-bytes %llu\nraw-blocks %llu\n",
			 HFC_BUNDLE_MAGIC, m->kind == HFC_BUNDLE_FULL ? "full" : "delta", base,
			 m->target, tsha, hfc_hash_name(m->hash), m->block_size,
			 (unsigned long long)m->index_bytes, (unsigned long long)m->profile_bytes,
			 (unsigned long long)m->bases, (unsigned long long)m->recipes,
			 (unsigned long long)m->delta_bytes, (unsigned long long)m->raw_blocks);
	uint8_t sha[32];
	char hex[65];
	if (n < 0 || n + 70 > (int)HFC_BUNDLE_MANIFEST_MAX ||
	    hfc_digest(HFC_HASH_SHA256, buf, (size_t)n, sha) < 0) {
		free(buf);
		return -EINVAL;
	}
	hfc_hex_encode(sha, 32, hex);
	n += snprintf(buf + n, HFC_BUNDLE_MANIFEST_MAX - (size_t)n, "end %s\n", hex);
	*ret_buf = buf;
	*ret_len = (size_t)n;
	return 0;
}
