/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for formats/manifest.c: the bundle manifest round trip, the bound on delta-bytes,
 * and every way a manifest is refused, each naming "file:line".
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "formats/manifest.h"

static const HfcBundleManifest sample = {
	.kind = HFC_BUNDLE_DELTA,
	.base = 6,
	.base_sha256 = { 1, 2, 3 },
	.target = 7,
	.target_sha256 = { 4, 5, 6 },
	.hash = HFC_HASH_MD5,
	.block_size = 262144,
	.index_bytes = 180000,
	.profile_bytes = 0,
	.bases = 12,
	.recipes = 30,
	.delta_bytes = 123456,
	.raw_blocks = 2,
};

static void format(const HfcBundleManifest *m, char **ret_buf, size_t *ret_len)
{
	assert_int_equal(hfc_bundle_manifest_format(m, ret_buf, ret_len), 0);
}

static void test_roundtrip(void **state)
{
	(void)state;
	size_t len;
	char *buf;
	format(&sample, &buf, &len);
	assert_true(strncmp(buf, "hfc-bundle 1\nkind delta\nbase 6 0102030000", 40) == 0);
	HfcBundleManifest m;
	HfcErr err = { "" };
	assert_int_equal(hfc_bundle_manifest_parse(buf, len, "m", &m, &err), 0);
	assert_memory_equal(&m, &sample, sizeof(m));
	size_t alen;
	char *again;
	format(&m, &again, &alen);
	assert_int_equal(alen, len);
	assert_memory_equal(again, buf, len);
	free(again);
	free(buf);

	/* A full bundle: no base, no recipes. */
	HfcBundleManifest full;
	memcpy(&full, &sample, sizeof(full)); /* padding too: the structs are compared whole */
	full.kind = HFC_BUNDLE_FULL;
	full.base = 0;
	memset(full.base_sha256, 0, 32);
	full.bases = full.recipes = full.delta_bytes = 0;
	full.hash = HFC_HASH_SHA256;
	format(&full, &buf, &len);
	assert_non_null(strstr(buf, "\nkind full\nbase none\n"));
	assert_int_equal(hfc_bundle_manifest_parse(buf, len, "m", &m, &err), 0);
	assert_memory_equal(&m, &full, sizeof(m));
	free(buf);
}

/* Replaces the first `from` in the sample's text with `to`; fix_end makes the end line right. */
static char *edited(const char *from, const char *to, bool fix_end, size_t *ret_len)
{
	size_t len;
	char *buf;
	format(&sample, &buf, &len);
	char *p = strstr(buf, from);
	assert_non_null(p);
	char *out = calloc(1, len + strlen(to) + 80);
	memcpy(out, buf, (size_t)(p - buf));
	strcat(out, to);
	strcat(out, p + strlen(from));
	if (fix_end) {
		char *e = strstr(out, "end ");
		uint8_t sha[32];
		char hex[65];
		assert_int_equal(hfc_digest(HFC_HASH_SHA256, out, (size_t)(e - out), sha), 0);
		hfc_hex_encode(sha, 32, hex);
		sprintf(e, "end %s\n", hex);
	}
	free(buf);
	*ret_len = strlen(out);
	return out;
}

/* Parses len bytes of buf, which must be refused with "m:LINE: " and msg in the message. */
static void refused(const char *buf, size_t len, unsigned line, const char *msg)
{
	HfcBundleManifest m;
	HfcErr err = { "" };
	char want[32];
	snprintf(want, sizeof(want), "m:%u: ", line);
	assert_int_equal(hfc_bundle_manifest_parse(buf, len, "m", &m, &err), -EBADMSG);
	if (strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, msg))
		fail_msg("got '%s', want '%s...%s'", err.msg, want, msg);
}

static void test_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *from, *to;
		bool fix;
		unsigned line;
		const char *msg;
	} cases[] = {
		{ "hfc-bundle 1", "hfc-bundle 2", true, 1, "not a bundle manifest" },
		{ "kind delta", "kind other", true, 2, "bad value for 'kind'" },
		{ "kind delta", "kind", true, 2, "expected 'kind'" },
		{ "kind delta", "kind full", true, 3, "a full bundle must have no base" },
		{ "base 6 ", "base none\nx ", true, 3, "a delta bundle must have a base" },
		{ "base 6", "base 0", true, 3, "bad value for 'base'" },
		{ "target 7", "target 07", true, 4, "bad value for 'target'" },
		{ "target 7 04", "target 7 4", true, 4, "bad value for 'target'" },
		{ "target 7 04", "target 7 0A", true, 4, "bad value for 'target'" },
		{ "hash md5", "hash MD5", true, 5, "bad value for 'hash'" },
		{ "block-size 262144", "block-size 1000", true, 6, "bad value for 'block-size'" },
		{ "index-bytes 180000", "index-bytes 0", true, 7, "bad value for 'index-bytes'" },
		{ "profile-bytes 0", "profile-bytes 67108865", true, 8, "bad value for 'profile-bytes'" },
		{ "bases 12", "recipes 12", true, 9, "expected 'bases'" },
		{ "bases 12", "bases 16777217", true, 9, "bad value for 'bases'" },
		{ "delta-bytes 123456", "delta-bytes 99999999999999", true, 11,
		  "delta-bytes 99999999999999 is more than 30 recipes can need" },
		{ "delta-bytes 123456", "delta-bytes 0", true, 11, "recipes and delta-bytes disagree" },
		{ "raw-blocks 2", "raw-blocks 16777200", true, 12, "bad value for 'raw-blocks'" },
		{ "raw-blocks 2", "raw-blocks 2 ", true, 12, "bad value for 'raw-blocks'" },
		{ "raw-blocks 2", "raw-blocks 3", false, 13, "end checksum does not match the manifest" },
		{ "raw-blocks 2\n", "raw-blocks 2\nextra 1\n", false, 13, "expected the 'end' line" },
		{ "raw-blocks 2\nend ", "raw-blocks 2\nend 00", false, 13, "bad end line" },
		{ "kind delta\n", "kind delta\r\n", false, 2, "carriage return" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		size_t len;
		char *buf = edited(cases[i].from, cases[i].to, cases[i].fix, &len);
		refused(buf, len, cases[i].line, cases[i].msg);
		free(buf);
	}
	size_t len;
	char *buf;
	format(&sample, &buf, &len);
	strstr(buf, "hash md5")[6] = 0;
	refused(buf, len, 5, "NUL byte in line");
	free(buf);
}

static void test_truncated(void **state)
{
	(void)state;
	static const char *const keys[] = {
		"kind",	      "base",	 "target",  "hash",	   "block-size", "index-bytes",
		"profile-bytes", "bases", "recipes", "delta-bytes", "raw-blocks",
	};
	size_t len;
	char *buf;
	format(&sample, &buf, &len);
	refused(buf, 0, 1, "not a bundle manifest");
	/* Cut after each whole line: the next key is missing. */
	size_t cut = 0;
	for (unsigned line = 1; line <= ELEMENTSOF(keys) + 1; line++) {
		cut = (size_t)(strchr(buf + cut, '\n') - buf) + 1;
		char want[64] = "truncated: missing end line";
		if (line <= ELEMENTSOF(keys))
			snprintf(want, sizeof(want), "truncated: missing '%s'", keys[line - 1]);
		refused(buf, cut, line, want);
	}
	/* Cut inside the last line, and data after the end. */
	refused(buf, len - 1, 13, "truncated: last line has no newline");
	buf = realloc(buf, len + 2);
	memcpy(buf + len, "x\n", 2);
	refused(buf, len + 2, 14, "unexpected data after the end of the manifest");
	/* Longer than any manifest: refused on its length, before a byte is read. */
	HfcBundleManifest m;
	HfcErr err = { "" };
	assert_int_equal(hfc_bundle_manifest_parse(buf, HFC_BUNDLE_MANIFEST_MAX + 1, "m", &m, &err),
			 -EBADMSG);
	assert_string_equal(err.msg, "m: manifest longer than 4096 bytes");
	free(buf);
}

static void test_delta_max(void **state)
{
	(void)state;
	HfcBundleManifest m = sample;
	/* md5, 64 pages a block: each record at most 16 + 41 + 64 * 4097 bytes. */
	uint64_t l = 30 * (16 + 41 + 64 * 4097);
	assert_int_equal(hfc_bundle_delta_max(&m), l + l / 512 + (l / 65536 + 1) * 136);
	m.recipes = 0;
	assert_int_equal(hfc_bundle_delta_max(&m), 136);
	/* The bound itself is accepted, one byte more is not. */
	m = sample;
	m.delta_bytes = hfc_bundle_delta_max(&m);
	size_t len;
	char *buf;
	format(&m, &buf, &len);
	HfcErr err = { "" };
	HfcBundleManifest got;
	assert_int_equal(hfc_bundle_manifest_parse(buf, len, "m", &got, &err), 0);
	free(buf);
	m.delta_bytes++;
	format(&m, &buf, &len);
	refused(buf, len, 11, "is more than 30 recipes can need");
	free(buf);
}

TEST_MAIN(cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_rejects),
	  cmocka_unit_test(test_truncated), cmocka_unit_test(test_delta_max))
