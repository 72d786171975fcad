/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for index.c: format/parse round trips, the canonical form, and a strict parser
 * that rejects every malformed index with -EBADMSG and "file:line: what".
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/codec.h"
#include "formats/index.h"
#include "helpers.h"

#include <inttypes.h>
#include <sys/resource.h>

/*
 * A small valid index, line by line. Tests build malformed ones by swapping lines; the comment
 * gives each line's number, which the expected messages name.
 */
#define MD5A "0123456789abcdef0123456789abcdef"
#define MD5C "fedcba9876543210fedcba9876543210"
#define SHA_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

#define L_MAGIC "hfc-index 1\n"			/* 1 */
#define L_VERSION "version 3\n"			/* 2 */
#define L_PARENT "parent none\n"		/* 3 */
#define L_CREATED "created 2026-11-27T04:30:00Z\n" /* 4 */
#define L_LABEL "label test\n"			/* 5 */
#define L_ISIZE "image-size 10000\n"		/* 6 */
#define L_BSIZE "block-size 4096\n"		/* 7 */
#define L_HASH "hash md5\n"			/* 8 */
#define L_COMP "compression zlib\n"		/* 9 */
#define L_BLOCKS "blocks 3\n"			/* 10 */
#define L_B1 MD5A " 100\n"			/* 11 */
#define L_B2 "-\n"				/* 12 */
#define L_B3 MD5C " 50\n"			/* 13 */
/* 14: end <sha256> */

#define HEAD_1_4 L_MAGIC L_VERSION L_PARENT L_CREATED
#define HEAD_6_10 L_ISIZE L_BSIZE L_HASH L_COMP L_BLOCKS
#define HEADER HEAD_1_4 L_LABEL HEAD_6_10
#define BODY L_B1 L_B2 L_B3
#define ABOVE HEADER BODY

#define SIG_KEY "0123456789abcdef"
#define SIG_EXP "2030-01-01T00:00:00Z"
#define SIG_EXP_T 1893456000
/* Canonical base64 of 64 bytes: the last digit before "==" leaves its low four bits zero. */
#define SIG_B64                                                                                    \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"                         \
	"ABCDEFGHIJKLMNOPQRSTUQ=="
#define SIG_HEAD "signature ed25519 " SIG_KEY " " SIG_EXP " "
#define L_SIG SIG_HEAD SIG_B64 "\n"

/* Appends "end <sha256 of everything above>\n": a valid trailer for any text. */
static char *with_end_n(const char *above, size_t n, size_t *ret_len)
{
	uint8_t sha[32];
	char hex[65];
	assert_int_equal(hfc_digest(HFC_HASH_SHA256, above, n, sha), 0);
	hfc_hex_encode(sha, 32, hex);
	char *s = malloc(n + 4 + 64 + 2);
	assert_non_null(s);
	memcpy(s, above, n);
	memcpy(s + n, "end ", 4);
	memcpy(s + n + 4, hex, 64);
	s[n + 68] = '\n';
	s[n + 69] = 0;
	*ret_len = n + 69;
	return s;
}

static char *with_end(const char *above)
{
	size_t len;
	return with_end_n(above, strlen(above), &len);
}

/* with_end, then more text after the end line. */
static char *with_end_then(const char *above, const char *after)
{
	char *s = with_end(above);
	size_t a = strlen(s), b = strlen(after);
	char *t = realloc(s, a + b + 1);
	assert_non_null(t);
	memcpy(t + a, after, b + 1);
	return t;
}

static void expect_bad_n(const char *buf, size_t len, unsigned line, const char *msg, int srcline)
{
	char want[600];
	snprintf(want, sizeof(want), "t.idx:%u: %s", line, msg);
	HfcErr err = { .msg = "" };
	HfcIndex *idx = NULL;
	int r = hfc_index_parse(buf, len, "t.idx", &idx, &err);
	if (r != -EBADMSG || idx != NULL || !strstr(err.msg, want)) {
		hfc_index_free(idx);
		fail_msg("case at test-index.c:%d\n  want: -EBADMSG \"%s\"\n  got:  %d \"%s\"",
			 srcline, want, r, err.msg);
	}
}

/* Parses buf (which must not be valid) and checks the error and its line. */
#define BAD(buf, line, msg) expect_bad_n(buf, strlen(buf), line, msg, __LINE__)
#define BAD_N(buf, len, line, msg) expect_bad_n(buf, len, line, msg, __LINE__)
/* Appends a correct end line to above first: the only fault is the one the case is about. */
#define BAD_END(above, line, msg)                                                                  \
	do {                                                                                       \
		char *_s = with_end(above);                                                        \
		expect_bad_n(_s, strlen(_s), line, msg, __LINE__);                                 \
		free(_s);                                                                          \
	} while (0)

/* Parses buf, which must be valid and canonical (formatting it again gives the same bytes). */
static HfcIndex *expect_ok_n(const char *buf, size_t len, int srcline)
{
	HfcErr err = { .msg = "" };
	HfcIndex *idx = NULL;
	int r = hfc_index_parse(buf, len, "t.idx", &idx, &err);
	if (r != 0)
		fail_msg("case at test-index.c:%d: parse failed: %d \"%s\"", srcline, r, err.msg);
	char *out = NULL;
	size_t olen = 0;
	assert_int_equal(hfc_index_format(idx, &out, &olen), 0);
	if (olen != len || memcmp(out, buf, len) != 0)
		fail_msg("case at test-index.c:%d: parsed, but formats to other bytes:\n%.*s\n"
			 "---- instead of ----\n%.*s",
			 srcline, (int)olen, out, (int)len, buf);
	free(out);
	return idx;
}

#define OK_END(above)                                                                              \
	do {                                                                                       \
		size_t _n;                                                                         \
		char *_s = with_end_n(above, strlen(above), &_n);                                  \
		hfc_index_free(expect_ok_n(_s, _n, __LINE__));                                     \
		free(_s);                                                                          \
	} while (0)

/* ---- round trips ---- */

static const char sig_line[] = SIG_HEAD SIG_B64;

/* Gives idx the signature line sig_line stands for. */
static void set_sig(HfcIndex *idx)
{
	idx->has_sig = true;
	assert_int_equal(hfc_hex_decode(SIG_KEY, HFC_KEY_ID_LEN, idx->sig.key_id), 0);
	idx->sig.expires = SIG_EXP_T;
	assert_int_equal(hfc_sig_b64_decode(SIG_B64, idx->sig.sig), 0);
}

static void roundtrip(HfcHashAlgo algo, uint64_t isize, uint32_t bs, const char *label,
		      uint32_t parent, const char *sig)
{
	HfcIndex *idx = NULL;
	assert_int_equal(hfc_index_new(isize, bs, algo, &idx), 0);
	assert_int_equal(idx->nblocks, DIV_ROUND_UP(isize, bs));
	assert_int_equal(idx->image_size, isize);
	assert_int_equal(idx->block_size, bs);
	assert_int_equal(idx->hash, algo);
	idx->version = parent ? parent + 3 : 1;
	idx->parent = parent;
	for (int i = 0; i < 32 && parent; i++)
		idx->parent_sha256[i] = (uint8_t)(i * 37 + 1);
	idx->created = 1795753800; /* 2026-11-27T04:30:00Z */
	if (label)
		snprintf(idx->label, sizeof(idx->label), "%s", label);
	size_t hl = hfc_hash_len(algo);
	uint32_t maxs = (uint32_t)hfc_codec_bound(bs);
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		if (i % 4 == 1)
			continue; /* an all-zero block: "-" */
		uint64_t x = i * 2654435761u;
		assert_int_equal(hfc_digest(algo, &x, sizeof(x), idx->entries[i].hash), 0);
		idx->entries[i].stored = 1 + (uint32_t)(x % maxs);
	}
	if (idx->nblocks > 0)
		idx->entries[0].stored = maxs; /* the largest a parser takes */
	if (idx->nblocks > 2)
		idx->entries[2].stored = 1;
	if (sig)
		set_sig(idx);

	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(hfc_index_format(idx, &buf, &len), 0);
	assert_true(len > 0);
	assert_int_equal(buf[len - 1], '\n');
	assert_null(memchr(buf, 0, len));
	assert_memory_equal(buf, "hfc-index 1\n", 12);

	/* end_sha256 is the sha256 of every byte above the end line, and the end line says so. */
	char hex[65], endline[80];
	hfc_hex_encode(idx->end_sha256, 32, hex);
	snprintf(endline, sizeof(endline), "\nend %s\n", hex);
	const char *e = strstr(buf, endline);
	assert_non_null(e);
	uint8_t sha[32];
	assert_int_equal(hfc_digest(HFC_HASH_SHA256, buf, (size_t)(e + 1 - buf), sha), 0);
	assert_memory_equal(sha, idx->end_sha256, 32);
	size_t tail = (size_t)(len - (size_t)(e + 1 - buf));
	assert_int_equal(tail, 69 + (sig ? strlen(sig) + 1 : 0));
	if (sig)
		assert_memory_equal(buf + len - strlen(sig) - 1, sig, strlen(sig));
	assert_int_equal(strstr(buf, "\nlabel ") != NULL, label && *label);

	HfcErr err = { .msg = "" };
	HfcIndex *back = NULL;
	int r = hfc_index_parse(buf, len, "rt.idx", &back, &err);
	if (r != 0)
		fail_msg("parse of formatted index: %d %s\n%s", r, err.msg, buf);
	assert_int_equal(back->version, idx->version);
	assert_int_equal(back->parent, idx->parent);
	assert_memory_equal(back->parent_sha256, idx->parent_sha256, 32);
	assert_int_equal(back->created, idx->created);
	assert_string_equal(back->label, idx->label);
	assert_int_equal(back->image_size, idx->image_size);
	assert_int_equal(back->block_size, idx->block_size);
	assert_int_equal(back->hash, idx->hash);
	assert_int_equal(back->nblocks, idx->nblocks);
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		assert_int_equal(back->entries[i].stored, idx->entries[i].stored);
		assert_memory_equal(back->entries[i].hash, idx->entries[i].hash, hl);
	}
	assert_memory_equal(back->end_sha256, idx->end_sha256, 32);
	assert_int_equal(back->has_sig, sig != NULL);
	if (sig)
		assert_memory_equal(&back->sig, &idx->sig, sizeof(back->sig));
	if (idx->nblocks > 0)
		assert_int_equal(hfc_index_block_len(back, back->nblocks - 1),
				 isize - (back->nblocks - 1) * bs);

	/* Formatting the parsed index gives the very same bytes. */
	char *buf2 = NULL;
	size_t len2 = 0;
	assert_int_equal(hfc_index_format(back, &buf2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(buf2, buf, len);

	free(buf2);
	free(buf);
	hfc_index_free(back);
	hfc_index_free(idx);
}

static void test_roundtrip_md5_label(void **state)
{
	(void)state;
	/* Zero blocks and a short last block. */
	roundtrip(HFC_HASH_MD5, 9 * 262144 + 1000, 262144, "knoppix 9.1, security update 2", 0,
		  NULL);
}

static void test_roundtrip_md5_no_label(void **state)
{
	(void)state;
	roundtrip(HFC_HASH_MD5, 1000000, 4096, NULL, 0, NULL);
}

static void test_roundtrip_sha256_parent(void **state)
{
	(void)state;
	roundtrip(HFC_HASH_SHA256, 17 * 65536 + 512, 65536, NULL, 6, NULL);
	roundtrip(HFC_HASH_SHA256, 17 * 65536, 65536, "with parent", 1, NULL);
}

static void test_roundtrip_signature(void **state)
{
	(void)state;
	roundtrip(HFC_HASH_MD5, 5 * 4096 + 1, 4096, "signed", 2, sig_line);
	roundtrip(HFC_HASH_SHA256, 5 * 4096, 4096, NULL, 0, sig_line);
}

static void test_roundtrip_edges(void **state)
{
	(void)state;
	roundtrip(HFC_HASH_MD5, 0, 4096, NULL, 0, NULL);		 /* no blocks at all */
	roundtrip(HFC_HASH_MD5, 1, HFC_BLOCK_SIZE_MAX, "x", 0, NULL);	 /* one 1-byte block */
	roundtrip(HFC_HASH_SHA256, 4096, 4096, NULL, 0, NULL);		 /* one whole block */
	roundtrip(HFC_HASH_MD5, 3 * 4608 - 1, 4608, "odd size", 0, NULL); /* 9 * 512 */
	char lab[HFC_LABEL_MAX + 1];
	memset(lab, 'L', HFC_LABEL_MAX);
	lab[HFC_LABEL_MAX] = 0;
	roundtrip(HFC_HASH_MD5, 8192, 4096, lab, 0, NULL);
	roundtrip(HFC_HASH_MD5, 8192, 4096, "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x84\x9e", 0, NULL);
	roundtrip(HFC_HASH_MD5, 4096, 4096, NULL, HFC_VERSION_MAX - 3, NULL);
}

static void test_roundtrip_many_blocks(void **state)
{
	(void)state;
	roundtrip(HFC_HASH_SHA256, (uint64_t)200000 * 4096 - 7, 4096, "many", 0, NULL);
}

/* Version v of the index of the FORMAT.md 6.1 image: its blocks' hashes, the given sizes. */
static HfcIndex *vector_index(const uint8_t *img, uint32_t v, int64_t created,
			      const uint32_t stored[3])
{
	HfcIndex *idx = NULL;
	assert_int_equal(hfc_index_new(10000, 4096, HFC_HASH_MD5, &idx), 0);
	idx->version = v;
	idx->created = created;
	for (uint64_t i = 0; i < 3; i++) {
		if (hfc_is_zero(img + i * 4096, hfc_index_block_len(idx, i)))
			continue;
		assert_int_equal(hfc_digest(HFC_HASH_MD5, img + i * 4096,
					    hfc_index_block_len(idx, i), idx->entries[i].hash),
				 0);
		idx->entries[i].stored = stored[i];
	}
	return idx;
}

/* Formats idx: it must give exactly want (a string). */
static void expect_format(HfcIndex *idx, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(hfc_index_format(idx, &buf, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	free(buf);
}

/* FORMAT.md 6.1: the two published test vectors, byte for byte. */
static void test_format_md_vector(void **state)
{
	(void)state;
	uint8_t *img = malloc(10000);
	assert_non_null(img);
	memset(img, 'A', 4096);
	memset(img + 4096, 0, 4096);
	static const char hello[] = "hello, hfcloop\n";
	for (size_t i = 0; i < 1808; i++)
		img[8192 + i] = (uint8_t)hello[i % (sizeof(hello) - 1)];

	HfcIndex *v1 = vector_index(img, 1, 1767225600, (const uint32_t[3]){ 28, 0, 37 });
	snprintf(v1->label, sizeof(v1->label), "test vector");
	static const char want1[] =
		"hfc-index 1\n"
		"version 1\n"
		"parent none\n"
		"created 2026-01-01T00:00:00Z\n"
		"label test vector\n"
		"image-size 10000\n"
		"block-size 4096\n"
		"hash md5\n"
		"compression zlib\n"
		"blocks 3\n"
		"82a7348c2e03731109d0cf45a7325b88 28\n"
		"-\n"
		"820f8de9fdc792d625793d3a2272d2fa 37\n"
		"end 02569ebbc5dacc649e08de831cb0b1e4ff05360b0d19d8bcaf4dc5614d5831f2\n";
	expect_format(v1, want1);

	memcpy(img + 8192, "HELLO", 5);
	HfcIndex *v2 = vector_index(img, 2, 1767312000, (const uint32_t[3]){ 28, 0, 41 });
	v2->parent = 1;
	memcpy(v2->parent_sha256, v1->end_sha256, 32);
	static const char want2[] =
		"hfc-index 1\n"
		"version 2\n"
		"parent 1 02569ebbc5dacc649e08de831cb0b1e4ff05360b0d19d8bcaf4dc5614d5831f2\n"
		"created 2026-01-02T00:00:00Z\n"
		"image-size 10000\n"
		"block-size 4096\n"
		"hash md5\n"
		"compression zlib\n"
		"blocks 3\n"
		"82a7348c2e03731109d0cf45a7325b88 28\n"
		"-\n"
		"2eb4c1b45d6649831a9e59997d1f1d32 41\n"
		"end 9b75590cd014c687e9d4e7d8d02f4a34415b3a6b3b938d44bf85e49b7b6ced68\n";
	expect_format(v2, want2);

	/* And both parse back to the same bytes. */
	hfc_index_free(expect_ok_n(want1, sizeof(want1) - 1, __LINE__));
	hfc_index_free(expect_ok_n(want2, sizeof(want2) - 1, __LINE__));
	hfc_index_free(v1);
	hfc_index_free(v2);
	free(img);
}

/* A hand-written index in canonical form parses to the expected fields and formats back. */
static void test_parse_fields(void **state)
{
	(void)state;
	size_t n;
	char *s = with_end_n(ABOVE, strlen(ABOVE), &n);
	HfcIndex *idx = expect_ok_n(s, n, __LINE__);
	assert_int_equal(idx->version, 3);
	assert_int_equal(idx->parent, 0);
	assert_int_equal(idx->created, 1795753800); /* 2026-11-27T04:30:00Z */
	assert_string_equal(idx->label, "test");
	assert_int_equal(idx->image_size, 10000);
	assert_int_equal(idx->block_size, 4096);
	assert_int_equal(idx->hash, HFC_HASH_MD5);
	assert_int_equal(idx->nblocks, 3);
	uint8_t a[16], c[16], zero[16] = { 0 };
	assert_int_equal(hfc_hex_decode(MD5A, 16, a), 0);
	assert_int_equal(hfc_hex_decode(MD5C, 16, c), 0);
	assert_memory_equal(idx->entries[0].hash, a, 16);
	assert_int_equal(idx->entries[0].stored, 100);
	assert_memory_equal(idx->entries[1].hash, zero, 16);
	assert_int_equal(idx->entries[1].stored, 0);
	assert_memory_equal(idx->entries[2].hash, c, 16);
	assert_int_equal(idx->entries[2].stored, 50);
	assert_int_equal(hfc_index_block_len(idx, 0), 4096);
	assert_int_equal(hfc_index_block_len(idx, 2), 10000 - 8192);
	uint8_t sha[32];
	assert_int_equal(hfc_digest(HFC_HASH_SHA256, ABOVE, strlen(ABOVE), sha), 0);
	assert_memory_equal(idx->end_sha256, sha, 32);
	assert_false(idx->has_sig);
	hfc_index_free(idx);
	free(s);
}

static void test_parse_valid_variants(void **state)
{
	(void)state;
	/* With a signature line. */
	char *s = with_end_then(ABOVE, L_SIG);
	HfcIndex *idx = expect_ok_n(s, strlen(s), __LINE__);
	assert_true(idx->has_sig);
	assert_int_equal(idx->sig.expires, SIG_EXP_T);
	hfc_index_free(idx);
	free(s);
	/* Without a label; with a parent; sha256 names. */
	OK_END(HEAD_1_4 HEAD_6_10 BODY);
	OK_END(L_MAGIC L_VERSION "parent 2 " SHA_A "\n" L_CREATED L_LABEL HEAD_6_10 BODY);
	OK_END(L_MAGIC L_VERSION "parent 1 " SHA_A "\n" L_CREATED L_LABEL HEAD_6_10 BODY);
	OK_END(HEAD_1_4 L_ISIZE L_BSIZE "hash sha256\n" L_COMP L_BLOCKS SHA_A " 1\n-\n-\n");
	/* No blocks; all zero blocks; a block size that is 9 * 512. */
	OK_END(HEAD_1_4 "image-size 0\n" L_BSIZE L_HASH L_COMP "blocks 0\n");
	OK_END(HEADER "-\n-\n-\n");
	OK_END(HEAD_1_4 "image-size 10000\nblock-size 4608\n" L_HASH L_COMP "blocks 3\n" BODY);
	/* Limits: the largest stored size, version, image size; the extreme dates. */
	char buf[1024];
	snprintf(buf, sizeof(buf), HEADER MD5A " %zu\n-\n" MD5C " 1\n", hfc_codec_bound(4096));
	OK_END(buf);
	OK_END(L_MAGIC "version 99999999\nparent 99999998 " SHA_A "\n" L_CREATED L_LABEL HEAD_6_10
		       BODY);
	OK_END(L_MAGIC L_VERSION L_PARENT "created 2024-02-29T23:59:59Z\n" HEAD_6_10 BODY);
	OK_END(L_MAGIC L_VERSION L_PARENT "created 1970-01-01T00:00:00Z\n" HEAD_6_10 BODY);
	OK_END(L_MAGIC L_VERSION L_PARENT "created 2000-02-29T12:00:00Z\n" HEAD_6_10 BODY);
	/* A label may hold spaces and UTF-8 anywhere, up to 256 bytes. */
	OK_END(HEAD_1_4 "label  two  spaces \n" HEAD_6_10 BODY);
	OK_END(HEAD_1_4 "label caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x84\x9e\n" HEAD_6_10 BODY);
	/* The edges of well-formed UTF-8: U+00A0, U+0800, U+D7FF, U+E000, U+10000, U+10FFFF. */
	OK_END(HEAD_1_4 "label \xc2\xa0 \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xf0\x90\x80\x80 "
			"\xf4\x8f\xbf\xbf\n" HEAD_6_10 BODY);
	char lab[600];
	snprintf(lab, sizeof(lab), HEAD_1_4 "label %0256d\n" HEAD_6_10 BODY, 7);
	OK_END(lab);
}

/* ---- malformed indexes: every one -EBADMSG with file:line ---- */

static void test_bad_empty(void **state)
{
	(void)state;
	BAD("", 1, "empty file, not an hfc index");
}

static void test_bad_magic(void **state)
{
	(void)state;
	BAD_END("hfc-idx 1\n" L_VERSION, 1, "not an hfc index (first line must be 'hfc-index 1')");
	BAD_END("HFC-INDEX 1\n" L_VERSION, 1, "not an hfc index");
	BAD_END("hfc-index\n" L_VERSION, 1, "not an hfc index");
	BAD_END("\n" ABOVE, 1, "not an hfc index");
	BAD("\x7f" "ELF\x02\x01\x01\n", 1, "not an hfc index");
	BAD_END(L_VERSION L_MAGIC, 1, "not an hfc index");
}

static void test_bad_unsupported_version(void **state)
{
	(void)state;
	BAD_END("hfc-index 2\n" L_VERSION L_PARENT L_CREATED HEAD_6_10 BODY, 1,
		"unsupported index format 'hfc-index 2'");
	BAD_END("hfc-index 10\n" L_VERSION, 1, "unsupported index format 'hfc-index 10'");
	BAD_END("hfc-index 0\n" L_VERSION, 1, "unsupported index format 'hfc-index 0'");
}

static void test_bad_truncated_no_newline(void **state)
{
	(void)state;
	char *s = with_end(ABOVE);
	BAD_N(s, strlen(s) - 1, 14, "truncated: last line has no newline");
	free(s);
	BAD("hfc-index 1", 1, "truncated: last line has no newline");
	BAD(L_MAGIC "version 3", 2, "truncated: last line has no newline");
	BAD(HEADER L_B1 "-", 12, "truncated: last line has no newline");
	s = with_end_then(ABOVE, L_SIG);
	BAD_N(s, strlen(s) - 1, 15, "truncated: last line has no newline");
	free(s);
}

static void test_bad_truncated_header(void **state)
{
	(void)state;
	BAD(L_MAGIC, 1, "truncated: missing key 'version'");
	BAD(L_MAGIC L_VERSION, 2, "truncated: missing key 'parent'");
	BAD(HEAD_1_4 L_LABEL, 5, "truncated: missing key 'image-size'");
	BAD(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH L_COMP, 9, "truncated: missing key 'blocks'");
}

static void test_bad_truncated_blocks(void **state)
{
	(void)state;
	BAD(HEADER, 10, "expected 3 block lines, found 0 (truncated)");
	BAD(HEADER L_B1, 11, "expected 3 block lines, found 1 (truncated)");
	BAD(HEADER L_B1 L_B2, 12, "expected 3 block lines, found 2 (truncated)");
}

static void test_bad_missing_end(void **state)
{
	(void)state;
	BAD(ABOVE, 13, "truncated: missing end line");
	BAD(HEAD_1_4 "image-size 0\n" L_BSIZE L_HASH L_COMP "blocks 0\n", 9,
	    "truncated: missing end line");
	/* Something else where the end line belongs. */
	BAD(ABOVE "\n", 14, "expected 'end' line after 3 block lines (wrong block count?)");
	BAD(ABOVE L_SIG, 14, "expected 'end' line after 3 block lines");
	BAD(ABOVE "END " SHA_A "\n", 14, "expected 'end' line after 3 block lines");
}

static void test_bad_block_count(void **state)
{
	(void)state;
	/* Too few lines before end: the end line comes where a block line should. */
	BAD_END(HEADER L_B1 L_B2, 13, "expected 3 block lines, found 2");
	BAD_END(HEADER, 11, "expected 3 block lines, found 0");
	/* Too many. */
	BAD_END(ABOVE L_B2, 14, "expected 'end' line after 3 block lines (wrong block count?)");
	BAD_END(ABOVE L_B1 L_B2 L_B3, 14, "expected 'end' line after 3 block lines");
	BAD_END(HEAD_1_4 "image-size 0\n" L_BSIZE L_HASH L_COMP "blocks 0\n-\n", 10,
		"expected 'end' line after 0 block lines");
	/* The largest header values are taken; then the block lines are missing. */
	BAD_END(HEAD_1_4 "image-size 1125899906842624\nblock-size 67108864\n" L_HASH L_COMP
		"blocks 16777216\n" BODY, 13, "expected 16777216 block lines, found 3");
}

static void test_bad_blocks_vs_image_size(void **state)
{
	(void)state;
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH L_COMP "blocks 4\n" BODY L_B2, 10,
		"blocks 4 does not match image-size 10000 at block-size 4096");
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH L_COMP "blocks 2\n" L_B1 L_B2, 10,
		"blocks 2 does not match image-size 10000 at block-size 4096");
	BAD_END(HEAD_1_4 L_LABEL "image-size 8192\n" L_BSIZE L_HASH L_COMP L_BLOCKS BODY, 10,
		"blocks 3 does not match image-size 8192 at block-size 4096");
	BAD_END(HEAD_1_4 L_LABEL "image-size 0\n" L_BSIZE L_HASH L_COMP "blocks 1\n-\n", 10,
		"blocks 1 does not match image-size 0 at block-size 4096");
	BAD_END(HEAD_1_4 L_LABEL "image-size 4096\n" L_BSIZE L_HASH L_COMP "blocks 0\n", 10,
		"blocks 0 does not match image-size 4096 at block-size 4096");
}

#define BAD_NAME_MD5 "bad block name: expected 32 lowercase hex digits (md5) or '-'"
#define BAD_NAME_SHA256 "bad block name: expected 64 lowercase hex digits (sha256) or '-'"

static void test_bad_hex(void **state)
{
	(void)state;
	BAD_END(HEADER "0123456789abcdef0123456789abcdeg 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
	BAD_END(HEADER L_B1 L_B2 "fedcba987654321 fedcba9876543210 50\n", 13, BAD_NAME_MD5);
	BAD_END(HEADER L_B1 "0x23456789abcdef0123456789abcdef 1\n" L_B3, 12, BAD_NAME_MD5);
	BAD_END(HEADER L_B1 L_B2 "fedcba9876543210fedcba987654321\xff 50\n", 13, BAD_NAME_MD5);
}

static void test_bad_uppercase_hex(void **state)
{
	(void)state;
	BAD_END(HEADER "0123456789ABCDEF0123456789ABCDEF 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
	BAD_END(HEADER L_B1 L_B2 "Fedcba9876543210fedcba9876543210 50\n", 13, BAD_NAME_MD5);
}

static void test_bad_hash_length(void **state)
{
	(void)state;
	/* An md5 site with a sha256-sized name, and the other way round. */
	BAD_END(HEADER SHA_A " 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE "hash sha256\n" L_COMP L_BLOCKS SHA_A " 1\n" L_B2
		L_B3, 13, BAD_NAME_SHA256);
	BAD_END(HEADER "0123456789abcdef0123456789abcde 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
	BAD_END(HEADER "0123456789abcdef0123456789abcdef0 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
}

static void test_bad_name_slash(void **state)
{
	(void)state;
	/* Names become paths (blocks/ab/<name>): nothing but hex may get through. */
	BAD_END(HEADER "0123456789abcdef/123456789abcdef 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
	BAD_END(HEADER "../../../../../../../../etc/pass 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
	BAD_END(HEADER "/123456789abcdef0123456789abcdef 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
}

static void test_bad_name_dotdot(void **state)
{
	(void)state;
	BAD_END(HEADER ".. 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
	BAD_END(HEADER ". 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
	BAD_END(HEADER "..0123456789abcdef0123456789abcd 100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
}

static void test_bad_zero_block_line(void **state)
{
	(void)state;
	BAD_END(HEADER L_B1 "- 0\n" L_B3, 12, BAD_NAME_MD5);
	BAD_END(HEADER L_B1 "--\n" L_B3, 12, BAD_NAME_MD5);
	BAD_END(HEADER L_B1 " -\n" L_B3, 12, BAD_NAME_MD5);
	BAD_END(HEADER L_B1 "\n" L_B3, 12, BAD_NAME_MD5);
}

static void test_bad_stored_size(void **state)
{
	(void)state;
	char buf[1024], msg[128];
	size_t bound = hfc_codec_bound(4096);
	snprintf(msg, sizeof(msg), "stored size 0 out of range (1 to %zu)", bound);
	BAD_END(HEADER MD5A " 0\n" L_B2 L_B3, 11, msg);
	snprintf(buf, sizeof(buf), HEADER L_B1 L_B2 MD5C " %zu\n", bound + 1);
	snprintf(msg, sizeof(msg), "stored size %zu out of range (1 to %zu)", bound + 1, bound);
	BAD_END(buf, 13, msg);
	BAD_END(HEADER MD5A " 4294967295\n" L_B2 L_B3, 11, "stored size 4294967295 out of range");
	/* Not a number a block file could have. */
	BAD_END(HEADER MD5A " 4294967296\n" L_B2 L_B3, 11,
		"bad block line: expected '<name> <stored bytes>'");
	BAD_END(HEADER MD5A "\n" L_B2 L_B3, 11, "bad block line: expected '<name> <stored bytes>'");
	BAD_END(HEADER MD5A " \n" L_B2 L_B3, 11, "bad block line");
	BAD_END(HEADER MD5A "  100\n" L_B2 L_B3, 11, "bad block line");
	BAD_END(HEADER MD5A " 100 \n" L_B2 L_B3, 11, "bad block line");
	BAD_END(HEADER MD5A " 100 7\n" L_B2 L_B3, 11, "bad block line");
	BAD_END(HEADER MD5A " 0100\n" L_B2 L_B3, 11, "bad block line");
	BAD_END(HEADER MD5A " -1\n" L_B2 L_B3, 11, "bad block line");
	BAD_END(HEADER MD5A " +100\n" L_B2 L_B3, 11, "bad block line");
	BAD_END(HEADER MD5A " 1e2\n" L_B2 L_B3, 11, "bad block line");
	BAD_END(HEADER MD5A "\t100\n" L_B2 L_B3, 11, BAD_NAME_MD5);
}

static void test_bad_end_checksum(void **state)
{
	(void)state;
	/* Edit one byte of a block line after the end line was made. */
	char *s = with_end(ABOVE);
	char *p = strstr(s, MD5C " 50\n");
	assert_non_null(p);
	p[33] = '6'; /* stored 50 -> 60: still a valid line */
	BAD(s, 14, "end checksum does not match the index (edited or corrupted)");
	free(s);
	/* Or of the header. */
	s = with_end(ABOVE);
	p = strstr(s, "label test");
	assert_non_null(p);
	p[6] = 'b';
	BAD(s, 14, "end checksum does not match the index");
	free(s);
	/* Or of the end line itself. */
	s = with_end(ABOVE);
	p = strstr(s, "\nend ");
	assert_non_null(p);
	p[5 + 63] = p[5 + 63] == '0' ? '1' : '0';
	BAD(s, 14, "end checksum does not match the index");
	free(s);
	/* An end line made for other text. */
	char *other = with_end(HEADER L_B1 L_B2 MD5C " 60\n");
	char *e = strstr(other, "\nend ");
	assert_non_null(e);
	char buf[2048];
	snprintf(buf, sizeof(buf), "%s%s", ABOVE, e + 1);
	BAD(buf, 14, "end checksum does not match the index");
	free(other);
}

static void test_bad_end_hex(void **state)
{
	(void)state;
	BAD(ABOVE "end " SHA_A "0\n", 14, "bad end line: expected 64 lowercase hex digits");
	BAD(ABOVE "end 00112233445566778899aabbccddeeff00112233445566778899aabbccddeef\n", 14,
	    "bad end line: expected 64 lowercase hex digits");
	BAD(ABOVE "end \n", 14, "bad end line");
	BAD(ABOVE "end  " SHA_A "\n", 14, "bad end line");
	BAD(ABOVE "end 00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n", 14,
	    "bad end line");
	/* The right checksum in uppercase. */
	char *s = with_end(ABOVE);
	char *p = strstr(s, "\nend ");
	assert_non_null(p);
	for (char *q = p + 5; *q != '\n'; q++)
		if (*q >= 'a' && *q <= 'f')
			*q = (char)(*q - 'a' + 'A');
	BAD(s, 14, "bad end line: expected 64 lowercase hex digits");
	free(s);
}

static void test_bad_duplicate_key(void **state)
{
	(void)state;
	BAD_END(L_MAGIC L_VERSION L_VERSION L_PARENT, 3, "duplicate key 'version'");
	BAD_END(HEAD_1_4 L_LABEL "label again\n" HEAD_6_10 BODY, 6, "duplicate key 'label'");
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH L_HASH L_COMP L_BLOCKS BODY, 9,
		"duplicate key 'hash'");
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_BSIZE, 8, "duplicate key 'block-size'");
	BAD_END(L_MAGIC L_VERSION L_PARENT L_PARENT, 4, "duplicate key 'parent'");
	/* A duplicate with another value is no better. */
	BAD_END(L_MAGIC L_VERSION "version 4\n", 3, "duplicate key 'version'");
}

static void test_bad_unknown_key(void **state)
{
	(void)state;
	BAD_END(HEAD_1_4 "colour blue\n" HEAD_6_10 BODY, 5, "unknown key 'colour'");
	BAD_END(L_MAGIC "Version 3\n", 2, "unknown key 'Version'");
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH L_COMP "blocks-total 3\n", 10,
		"unknown key 'blocks-total'");
	BAD_END(HEAD_1_4 L_SIG, 5, "unknown key 'signature'");
	BAD_END(HEAD_1_4 L_LABEL "end " SHA_A "\n", 6, "unknown key 'end'");
	BAD_END(L_MAGIC " version 3\n", 2, "unknown key ''");
}

static void test_bad_missing_key(void **state)
{
	(void)state;
	BAD_END(L_MAGIC L_PARENT L_CREATED L_LABEL HEAD_6_10 BODY, 2, "missing key 'version'");
	BAD_END(L_MAGIC L_VERSION L_CREATED L_LABEL HEAD_6_10 BODY, 3, "missing key 'parent'");
	BAD_END(L_MAGIC L_VERSION L_PARENT L_LABEL HEAD_6_10 BODY, 4, "missing key 'created'");
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_COMP L_BLOCKS BODY, 8, "missing key 'hash'");
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH L_BLOCKS BODY, 9,
		"missing key 'compression'");
	/* The label is optional: the key missing after 'created' is image-size. */
	BAD_END(HEAD_1_4 L_BSIZE L_HASH L_COMP L_BLOCKS BODY, 5, "missing key 'image-size'");
	BAD_END(HEAD_1_4 L_HASH L_COMP L_BLOCKS BODY, 5, "missing key 'image-size'");
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_HASH L_COMP L_BLOCKS BODY, 7,
		"missing key 'block-size'");
	/* Without blocks the first block line is taken for a key. */
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH L_COMP BODY, 10, "unknown key '" MD5A "'");
}

/*
 * The label is optional, so an index that ends after 'created' misses image-size, not the label.
 * (A regression test: index.c once said "truncated: missing key 'label'" here.)
 */
static void test_bad_truncated_missing_key(void **state)
{
	(void)state;
	BAD(HEAD_1_4, 4, "truncated: missing key 'image-size'");
}

static void test_bad_key_order(void **state)
{
	(void)state;
	/* The label goes between created and image-size, nowhere else. */
	BAD_END(HEAD_1_4 L_ISIZE L_LABEL L_BSIZE L_HASH L_COMP L_BLOCKS BODY, 6,
		"key 'label' out of order");
	/* After the header it is a block line. */
	BAD_END(HEAD_1_4 L_ISIZE L_BSIZE L_HASH L_COMP L_BLOCKS L_LABEL BODY, 10, BAD_NAME_MD5);
	/* Any other swap leaves a key missing where it belongs. */
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_COMP L_HASH L_BLOCKS BODY, 8,
		"missing key 'hash'");
	BAD_END(L_MAGIC L_PARENT L_VERSION L_CREATED L_LABEL HEAD_6_10 BODY, 2,
		"missing key 'version'");
	BAD_END(HEAD_1_4 L_LABEL L_BSIZE L_ISIZE L_HASH L_COMP L_BLOCKS BODY, 6,
		"missing key 'image-size'");
}

static void test_bad_key_without_value(void **state)
{
	(void)state;
	BAD_END(L_MAGIC "version\n" L_PARENT, 2, "key 'version' has no value");
	BAD_END(HEAD_1_4 "label\n" HEAD_6_10 BODY, 5, "key 'label' has no value");
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH L_COMP "blocks\n" BODY, 10,
		"key 'blocks' has no value");
	BAD_END(L_MAGIC "\n" L_VERSION, 2, "empty line in header");
	BAD_END(HEAD_1_4 "\n" L_LABEL HEAD_6_10 BODY, 5, "empty line in header");
}

#define CRLF_MSG "carriage return at end of line (CRLF line endings are not allowed)"

static void test_bad_crlf(void **state)
{
	(void)state;
	/* The whole file with CRLF: the first line is already wrong. */
	char *s = with_end(ABOVE);
	size_t n = strlen(s);
	char *crlf = malloc(2 * n + 1);
	assert_non_null(crlf);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			crlf[k++] = '\r';
		crlf[k++] = s[i];
	}
	crlf[k] = 0;
	BAD(crlf, 1, CRLF_MSG);
	free(crlf);
	free(s);
	/* One CRLF line anywhere. */
	BAD_END(HEAD_1_4 "label test\r\n" HEAD_6_10 BODY, 5, CRLF_MSG);
	BAD_END(HEADER L_B1 "-\r\n" L_B3, 12, CRLF_MSG);
	s = with_end(ABOVE);
	n = strlen(s);
	s[n - 1] = '\r';
	char *t = malloc(n + 2);
	assert_non_null(t);
	memcpy(t, s, n);
	t[n] = '\n';
	t[n + 1] = 0;
	BAD(t, 14, CRLF_MSG);
	free(t);
	free(s);
	char *sig = with_end_then(ABOVE, SIG_HEAD SIG_B64 "\r\n");
	BAD(sig, 15, CRLF_MSG);
	free(sig);
	/* A lone CR inside a line is no line end; in a label it is a control character. */
	BAD_END(HEAD_1_4 "label te\rst\n" HEAD_6_10 BODY, 5, "bad label");
}

static void test_bad_nul(void **state)
{
	(void)state;
	static const char label_nul[] = HEAD_1_4 "label te\0st\n" HEAD_6_10 BODY;
	size_t n;
	char *s = with_end_n(label_nul, sizeof(label_nul) - 1, &n);
	BAD_N(s, n, 5, "NUL byte in line");
	free(s);
	static const char block_nul[] = HEADER MD5A " 10\0\n" L_B2 L_B3;
	s = with_end_n(block_nul, sizeof(block_nul) - 1, &n);
	BAD_N(s, n, 11, "NUL byte in line");
	free(s);
	static const char first[] = "hfc-index 1\0\n" L_VERSION;
	BAD_N(first, sizeof(first) - 1, 1, "NUL byte in line");
	static const char lead[] = "\0hfc-index 1\n";
	BAD_N(lead, sizeof(lead) - 1, 1, "NUL byte in line");
	/* After the end line. */
	s = with_end(ABOVE);
	n = strlen(s);
	char *t = malloc(n + 2);
	assert_non_null(t);
	memcpy(t, s, n);
	t[n] = 0;
	t[n + 1] = '\n';
	BAD_N(t, n + 2, 15, "NUL byte in line");
	free(t);
	free(s);
}

#define BAD_VERSION_MSG "bad version: must be a number from 1 to 99999999"
#define BAD_ISIZE_MSG "bad image-size: must be a number up to 1125899906842624"

static void test_bad_numbers(void **state)
{
	(void)state;
	BAD_END(HEAD_1_4 L_LABEL "image-size 1234567890123456789012345\n" L_BSIZE, 6,
		BAD_ISIZE_MSG);
	BAD_END(HEAD_1_4 L_LABEL "image-size 18446744073709551616\n" L_BSIZE, 6, BAD_ISIZE_MSG);
	BAD_END(HEAD_1_4 L_LABEL "image-size 18446744073709551615\n" L_BSIZE, 6, BAD_ISIZE_MSG);
	BAD_END(HEAD_1_4 L_LABEL "image-size 1125899906842625\n" L_BSIZE, 6, BAD_ISIZE_MSG);
	BAD_END(HEAD_1_4 L_LABEL "image-size 010000\n" L_BSIZE, 6, BAD_ISIZE_MSG);
	BAD_END(HEAD_1_4 L_LABEL "image-size -1\n" L_BSIZE, 6, BAD_ISIZE_MSG);
	BAD_END(HEAD_1_4 L_LABEL "image-size 10000 \n" L_BSIZE, 6, BAD_ISIZE_MSG);
	BAD_END(HEAD_1_4 L_LABEL "image-size 0x2710\n" L_BSIZE, 6, BAD_ISIZE_MSG);
	BAD_END(HEAD_1_4 L_LABEL "image-size \n" L_BSIZE, 6, BAD_ISIZE_MSG);
	BAD_END(L_MAGIC "version 0\n" L_PARENT, 2, BAD_VERSION_MSG);
	BAD_END(L_MAGIC "version 03\n" L_PARENT, 2, BAD_VERSION_MSG);
	BAD_END(L_MAGIC "version 00\n" L_PARENT, 2, BAD_VERSION_MSG);
	BAD_END(L_MAGIC "version 100000000\n" L_PARENT, 2, BAD_VERSION_MSG);
	BAD_END(L_MAGIC "version 4294967299\n" L_PARENT, 2, BAD_VERSION_MSG);
	BAD_END(L_MAGIC "version 99999999999999999999999\n" L_PARENT, 2, BAD_VERSION_MSG);
	BAD_END(L_MAGIC "version -3\n" L_PARENT, 2, BAD_VERSION_MSG);
	BAD_END(L_MAGIC "version +3\n" L_PARENT, 2, BAD_VERSION_MSG);
	BAD_END(L_MAGIC "version 3.0\n" L_PARENT, 2, BAD_VERSION_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH L_COMP "blocks 03\n" BODY, 10,
		"bad blocks: must be a number up to 16777216");
	BAD_END(HEAD_1_4 L_LABEL "image-size 1125899906842624\nblock-size 4096\n" L_HASH L_COMP
		"blocks 274877906944\n", 10, "bad blocks: must be a number up to 16777216");
	BAD_END(HEAD_1_4 L_LABEL "image-size 1125899906842624\nblock-size 4096\n" L_HASH L_COMP
		"blocks 16777216\n", 10,
		"blocks 16777216 does not match image-size 1125899906842624 at block-size 4096");
}

#define BAD_BS_MSG "bad block-size: a multiple of 512 from 4096 to 67108864 expected"

static void test_bad_block_size(void **state)
{
	(void)state;
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE "block-size 4097\n" L_HASH, 7, BAD_BS_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE "block-size 4100\n" L_HASH, 7, BAD_BS_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE "block-size 2048\n" L_HASH, 7, BAD_BS_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE "block-size 512\n" L_HASH, 7, BAD_BS_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE "block-size 0\n" L_HASH, 7, BAD_BS_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE "block-size 67109376\n" L_HASH, 7, BAD_BS_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE "block-size 134217728\n" L_HASH, 7, BAD_BS_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE "block-size 04096\n" L_HASH, 7, BAD_BS_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE "block-size 4k\n" L_HASH, 7, BAD_BS_MSG);
}

#define BAD_HASH_MSG "bad hash: 'md5' or 'sha256' expected"

static void test_bad_hash_name(void **state)
{
	(void)state;
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE "hash sha1\n" L_COMP, 8, BAD_HASH_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE "hash MD5\n" L_COMP, 8, BAD_HASH_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE "hash md5 \n" L_COMP, 8, BAD_HASH_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE "hash sha256sum\n" L_COMP, 8, BAD_HASH_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE "hash sha2567\n" L_COMP, 8, BAD_HASH_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE "hash \n" L_COMP, 8, BAD_HASH_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE "hash md\n" L_COMP, 8, BAD_HASH_MSG);
}

#define BAD_COMP_MSG "bad compression: only 'zlib' is supported"

static void test_bad_compression(void **state)
{
	(void)state;
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH "compression gzip\n" L_BLOCKS, 9,
		BAD_COMP_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH "compression ZLIB\n" L_BLOCKS, 9,
		BAD_COMP_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH "compression zlib2\n" L_BLOCKS, 9,
		BAD_COMP_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH "compression none\n" L_BLOCKS, 9,
		BAD_COMP_MSG);
	BAD_END(HEAD_1_4 L_LABEL L_ISIZE L_BSIZE L_HASH "compression zlib \n" L_BLOCKS, 9,
		BAD_COMP_MSG);
}

#define BAD_TIME_MSG "bad created time: expected YYYY-MM-DDTHH:MM:SSZ"

/* Puts value in the one %s of fmt, appends a correct end line, and expects the error. */
static void bad_value(const char *fmt, const char *value, unsigned line, const char *msg,
		      int srcline)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), fmt, value);
	char *s = with_end(buf);
	expect_bad_n(s, strlen(s), line, msg, srcline);
	free(s);
}

static void bad_created(const char *t, int srcline)
{
	bad_value(L_MAGIC L_VERSION L_PARENT "created %s\n" L_LABEL HEAD_6_10 BODY, t, 4,
		  BAD_TIME_MSG, srcline);
}

static void test_bad_created(void **state)
{
	(void)state;
	bad_created("2026-02-30T00:00:00Z", __LINE__);
	bad_created("2025-02-29T12:00:00Z", __LINE__); /* not a leap year */
	bad_created("2100-02-29T12:00:00Z", __LINE__); /* nor is 2100 */
	bad_created("2026-04-31T12:00:00Z", __LINE__);
	bad_created("2026-13-01T12:00:00Z", __LINE__);
	bad_created("2026-00-10T12:00:00Z", __LINE__);
	bad_created("2026-11-00T12:00:00Z", __LINE__);
	bad_created("2026-11-32T12:00:00Z", __LINE__);
	bad_created("2026-11-27T24:00:00Z", __LINE__);
	bad_created("2026-11-27T04:60:00Z", __LINE__);
	bad_created("2026-11-27T04:30:61Z", __LINE__);
	bad_created("2026-11-27T04:30:99Z", __LINE__);
	bad_created("2026-11-27 04:30:00Z", __LINE__);
	bad_created("2026-11-27T04:30:00", __LINE__);
	bad_created("2026-11-27T04:30:00z", __LINE__);
	bad_created("2026-11-27T04:30:00+00:00", __LINE__);
	bad_created("2026-11-27T04:30:00.5Z", __LINE__);
	bad_created("2026-1-27T04:30:00Z", __LINE__);
	bad_created("+026-11-27T04:30:00Z", __LINE__);
	bad_created("2026-11-2aT04:30:00Z", __LINE__);
	bad_created("1969-12-31T23:59:59Z", __LINE__);
	bad_created("1795753800", __LINE__);
	/* A second of 60 is an error, leap second or not (FORMAT.md 4.4). */
	bad_created("2026-11-27T04:30:60Z", __LINE__);
	bad_created("2026-11-27T12:00:60Z", __LINE__);
	bad_created("2016-12-31T23:59:60Z", __LINE__);
	bad_created("", __LINE__);
}

static void test_bad_after_end(void **state)
{
	(void)state;
	char *s = with_end_then(ABOVE, "x\n");
	BAD(s, 15, "unexpected data after the end of the index");
	free(s);
	s = with_end_then(ABOVE, "\n");
	BAD(s, 15, "unexpected data after the end of the index");
	free(s);
	s = with_end(ABOVE);
	char *twice = with_end_then(ABOVE, strstr(s, "\nend ") + 1);
	BAD(twice, 15, "unexpected data after the end of the index");
	free(twice);
	free(s);
	s = with_end_then(ABOVE, L_SIG "x\n");
	BAD(s, 16, "unexpected data after the end of the index");
	free(s);
	s = with_end_then(ABOVE, L_SIG L_SIG);
	BAD(s, 16, "unexpected data after the end of the index");
	free(s);
	s = with_end_then(ABOVE, "x");
	BAD(s, 15, "truncated: last line has no newline");
	free(s);
}

static void test_bad_signature(void **state)
{
	(void)state;
	static const struct {
		const char *line, *msg;
	} cases[] = {
		{ "signature ed25519 short\n", "bad signature line" },
		{ "signature \n", "bad signature line" },
		{ "signature rsa " SIG_KEY " " SIG_EXP " " SIG_B64 "xxxx\n", "bad signature line" },
		{ SIG_HEAD SIG_B64 "A\n", "bad signature line" },
		{ "signature ed25519 " SIG_KEY "  " SIG_EXP " " SIG_B64 "\n", "bad signature line" },
		{ "signature ed25519 " SIG_KEY "x" SIG_EXP " " SIG_B64 "\n", "bad signature line" },
		/* Revision 1's reserved form, without the expiry, is refused. */
		{ "signature ed25519 " SIG_KEY " " SIG_B64 "\n", "bad signature line" },
		{ "signature ed25519 0123456789ABCDEF " SIG_EXP " " SIG_B64 "\n",
		  "bad signature line: key id is not 16 lowercase hex digits" },
		{ "signature ed25519 0123456789abcdeg " SIG_EXP " " SIG_B64 "\n",
		  "bad signature line: key id is not 16 lowercase hex digits" },
		{ "signature ed25519 " SIG_KEY " 2030-02-30T00:00:00Z " SIG_B64 "\n",
		  "bad signature line: expiry is not YYYY-MM-DDTHH:MM:SSZ" },
		{ "signature ed25519 " SIG_KEY " 2030-01-01 00:00:00Z " SIG_B64 "\n",
		  "bad signature line: expiry is not YYYY-MM-DDTHH:MM:SSZ" },
		/* 64 bytes in base64: 86 digits, then "==" and nowhere else; unused bits zero. */
		{ SIG_HEAD SIG_B64 "\n", NULL },
		{ SIG_HEAD "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			   "ABCDEFGHIJKLMNOPQRSTUVWX\n",
		  "bad signature line: signature is not canonical base64" },
		{ SIG_HEAD "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			   "ABCDEFGHIJ=LMNOPQRSTUQ==\n",
		  "bad signature line: signature is not canonical base64" },
		{ SIG_HEAD "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			   "ABCDEFGHIJKLMNOPQRSTUVW=\n",
		  "bad signature line: signature is not canonical base64" },
		{ SIG_HEAD "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			   "ABCDEFGHIJKLMNOPQRSTUV==\n",
		  "bad signature line: signature is not canonical base64" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = with_end_then(ABOVE, cases[i].line);
		if (cases[i].msg) {
			expect_bad_n(s, strlen(s), 15, cases[i].msg, __LINE__);
		} else {
			hfc_index_free(expect_ok_n(s, strlen(s), __LINE__));
		}
		free(s);
	}
	/* One character that is not base64, anywhere in the signature. */
	static const char bad_chars[] = "!-_.* \t\x80";
	for (size_t i = 0; i < sizeof(bad_chars) - 1; i++) {
		for (size_t at = 0; at < 88; at += 29) {
			char line[200];
			snprintf(line, sizeof(line), "%s%s\n", SIG_HEAD, SIG_B64);
			line[strlen(SIG_HEAD) + at] = bad_chars[i];
			char *s = with_end_then(ABOVE, line);
			expect_bad_n(s, strlen(s), 15,
				     "bad signature line: signature is not canonical base64", __LINE__);
			free(s);
		}
	}
}

static void test_bad_parent(void **state)
{
	(void)state;
#define BAD_PARENT "bad parent: expected 'none' or an earlier version and its sha256"
#define BAD_PARENT_SUM "bad parent: checksum is not 64 lowercase hex digits"
	BAD_END(L_MAGIC L_VERSION "parent 3 " SHA_A "\n" L_CREATED, 3, BAD_PARENT);
	BAD_END(L_MAGIC L_VERSION "parent 4 " SHA_A "\n" L_CREATED, 3, BAD_PARENT);
	BAD_END(L_MAGIC L_VERSION "parent 0 " SHA_A "\n" L_CREATED, 3, BAD_PARENT);
	BAD_END(L_MAGIC L_VERSION "parent 02 " SHA_A "\n" L_CREATED, 3, BAD_PARENT);
	BAD_END(L_MAGIC L_VERSION "parent 2\n" L_CREATED, 3, BAD_PARENT);
	BAD_END(L_MAGIC L_VERSION "parent None\n" L_CREATED, 3, BAD_PARENT);
	BAD_END(L_MAGIC L_VERSION "parent none " SHA_A "\n" L_CREATED, 3, BAD_PARENT);
	BAD_END(L_MAGIC "version 1\nparent 1 " SHA_A "\n" L_CREATED, 3, BAD_PARENT);
	BAD_END(L_MAGIC L_VERSION "parent 2 0011\n" L_CREATED, 3, BAD_PARENT_SUM);
	BAD_END(L_MAGIC L_VERSION "parent 2 " SHA_A "0\n" L_CREATED, 3, BAD_PARENT_SUM);
	BAD_END(L_MAGIC L_VERSION "parent 2 " SHA_A " \n" L_CREATED, 3, BAD_PARENT_SUM);
	BAD_END(L_MAGIC L_VERSION
		"parent 2 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n"
		L_CREATED, 3, BAD_PARENT_SUM);
	BAD_END(L_MAGIC L_VERSION "parent 2 \n" L_CREATED, 3, BAD_PARENT_SUM);
}

#define BAD_LABEL_MSG "bad label: 1 to 256 printable UTF-8 bytes"

static void bad_label(const char *label, int srcline)
{
	bad_value(HEAD_1_4 "label %s\n" HEAD_6_10 BODY, label, 5, BAD_LABEL_MSG, srcline);
}

static void test_bad_label(void **state)
{
	(void)state;
	bad_label("", __LINE__);
	bad_label("a\x01" "b", __LINE__);
	bad_label("tab\there", __LINE__);
	bad_label("esc\x1b[31m", __LINE__);
	bad_label("del\x7f", __LINE__);
	bad_label("\xff", __LINE__);
	bad_label("\xfe\xff", __LINE__);
	bad_label("caf\xc3", __LINE__);	     /* cut short at the end */
	bad_label("caf\xc3 x", __LINE__);    /* continuation byte missing */
	bad_label("\x80", __LINE__);	     /* lone continuation byte */
	bad_label("\xc0\xaf", __LINE__);     /* overlong '/' */
	bad_label("\xc1\xbf", __LINE__);     /* overlong */
	bad_label("\xf5\x80\x80\x80", __LINE__);
	bad_label("\xe2\x9c", __LINE__);
	/* Well-formed UTF-8 only (RFC 3629), and no C1 controls. */
	bad_label("\xe0\x80\xaf", __LINE__);	 /* overlong '/' in three bytes */
	bad_label("\xe0\x9f\xbf", __LINE__);	 /* overlong U+07FF */
	bad_label("\xed\xa0\x80", __LINE__);	 /* U+D800, a surrogate */
	bad_label("\xed\xbf\xbf", __LINE__);	 /* U+DFFF */
	bad_label("\xf0\x80\x80\xaf", __LINE__); /* overlong in four bytes */
	bad_label("\xf4\x90\x80\x80", __LINE__); /* U+110000 */
	bad_label("\xc2\x80", __LINE__);		 /* U+0080, a C1 control */
	bad_label("\xc2\x9b[31m", __LINE__);	 /* CSI */
	assert_false(hfc_label_valid("\xed\xa0\x80"));
	char lab[300];
	memset(lab, 'x', HFC_LABEL_MAX + 1);
	lab[HFC_LABEL_MAX + 1] = 0;
	bad_label(lab, __LINE__);
}

static void test_bad_line_too_long(void **state)
{
	(void)state;
	char *buf = malloc(4096);
	assert_non_null(buf);
	char lab[2001];
	memset(lab, 'x', 2000);
	lab[2000] = 0;
	snprintf(buf, 4096, HEAD_1_4 "label %s\n" HEAD_6_10 BODY, lab);
	BAD_END(buf, 5, "line too long");
	lab[1100] = 0;
	snprintf(buf, 4096, HEADER MD5A " 100%s\n" L_B2 L_B3, lab);
	BAD_END(buf, 11, "line too long");
	free(buf);
}

/* ---- the rest of the API ---- */

static void test_index_new(void **state)
{
	(void)state;
	HfcIndex *idx = NULL;
	assert_int_equal(hfc_index_new(10000, 4096, HFC_HASH_MD5, &idx), 0);
	assert_int_equal(idx->nblocks, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(idx->entries[i].stored, 0);
	assert_int_equal(idx->parent, 0);
	assert_false(idx->has_sig);
	assert_string_equal(idx->label, "");
	assert_int_equal(hfc_index_block_len(idx, 0), 4096);
	assert_int_equal(hfc_index_block_len(idx, 1), 4096);
	assert_int_equal(hfc_index_block_len(idx, 2), 1808);
	hfc_index_free(idx);
	hfc_index_free(NULL);

	idx = NULL;
	assert_int_equal(hfc_index_new(10000, 4095, HFC_HASH_MD5, &idx), -EINVAL);
	assert_int_equal(hfc_index_new(10000, 2048, HFC_HASH_MD5, &idx), -EINVAL);
	assert_int_equal(hfc_index_new(10000, 0, HFC_HASH_MD5, &idx), -EINVAL);
	assert_int_equal(hfc_index_new(10000, HFC_BLOCK_SIZE_MAX + 512, HFC_HASH_MD5, &idx),
			 -EINVAL);
	assert_int_equal(hfc_index_new(HFC_IMAGE_SIZE_MAX + 1, HFC_BLOCK_SIZE_MAX, HFC_HASH_MD5,
				       &idx),
			 -EINVAL);
	assert_int_equal(hfc_index_new(HFC_IMAGE_SIZE_MAX, 4096, HFC_HASH_MD5, &idx), -EFBIG);
	uint64_t too_many = (uint64_t)HFC_INDEX_MAX_BLOCKS * 4096 + 1;
	assert_int_equal(hfc_index_new(too_many, 4096, HFC_HASH_MD5, &idx), -EFBIG);
	assert_null(idx);
	assert_int_equal(hfc_index_new(0, 4096, HFC_HASH_SHA256, &idx), 0);
	assert_int_equal(idx->nblocks, 0);
	hfc_index_free(idx);
}

static void test_block_size_valid(void **state)
{
	(void)state;
	assert_true(hfc_block_size_valid(4096));
	assert_true(hfc_block_size_valid(4608));
	assert_true(hfc_block_size_valid(262144));
	assert_true(hfc_block_size_valid(64u << 20));
	assert_false(hfc_block_size_valid(0));
	assert_false(hfc_block_size_valid(512));
	assert_false(hfc_block_size_valid(3584));
	assert_false(hfc_block_size_valid(4097));
	assert_false(hfc_block_size_valid(4352));
	assert_false(hfc_block_size_valid((64u << 20) + 512));
	assert_false(hfc_block_size_valid(UINT64_C(1) << 32 | 4096));
}

static void test_label_valid(void **state)
{
	(void)state;
	assert_true(hfc_label_valid("a"));
	assert_true(hfc_label_valid("knoppix 9.1, security update 2"));
	assert_true(hfc_label_valid("caf\xc3\xa9"));
	assert_false(hfc_label_valid(""));
	assert_false(hfc_label_valid("a\nb"));
	assert_false(hfc_label_valid("\xc3"));
	char lab[HFC_LABEL_MAX + 2];
	memset(lab, 'y', sizeof(lab));
	lab[HFC_LABEL_MAX] = 0;
	assert_true(hfc_label_valid(lab));
	lab[HFC_LABEL_MAX] = 'y';
	lab[HFC_LABEL_MAX + 1] = 0;
	assert_false(hfc_label_valid(lab));
}

static void test_format_time(void **state)
{
	(void)state;
	char t[32];
	hfc_format_time(0, t, sizeof(t));
	assert_string_equal(t, "1970-01-01T00:00:00Z");
	hfc_format_time(1700000000, t, sizeof(t));
	assert_string_equal(t, "2023-11-14T22:13:20Z");
	hfc_format_time(951782400, t, sizeof(t));
	assert_string_equal(t, "2000-02-29T00:00:00Z");
	hfc_format_time(1795753800, t, sizeof(t));
	assert_string_equal(t, "2026-11-27T04:30:00Z");
	hfc_format_time(253402300799, t, sizeof(t));
	assert_string_equal(t, "9999-12-31T23:59:59Z");
}

static void test_now(void **state)
{
	(void)state;
	const char *saved = getenv("SOURCE_DATE_EPOCH");
	char *copy = saved ? strdup(saved) : NULL;
	assert_int_equal(setenv("SOURCE_DATE_EPOCH", "1234567", 1), 0);
	assert_int_equal(hfc_now(), 1234567);
	assert_int_equal(setenv("SOURCE_DATE_EPOCH", "0", 1), 0);
	assert_int_equal(hfc_now(), 0);
	static const char *const bad[] = { "abc", "-1", "12x", "253402300800", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv("SOURCE_DATE_EPOCH", bad[i], 1), 0);
		int64_t now = hfc_now(), t = (int64_t)time(NULL);
		assert_true(now >= t - 5 && now <= t + 5);
	}
	if (copy)
		setenv("SOURCE_DATE_EPOCH", copy, 1);
	else
		unsetenv("SOURCE_DATE_EPOCH");
	free(copy);
}

static void test_load_at(void **state)
{
	(void)state;
	Scratch d;
	assert_int_equal(scratch_open(&d, "index"), 0);
	char *s = with_end(ABOVE);
	put_at(d.fd, "v.idx", s);

	HfcErr err = { .msg = "" };
	HfcIndex *idx = NULL;
	assert_int_equal(hfc_index_load_at(d.fd, "v.idx", "site/v.idx", &idx, &err), 0);
	assert_int_equal(idx->nblocks, 3);
	HfcIndex *parsed = expect_ok_n(s, strlen(s), __LINE__);
	assert_memory_equal(idx->end_sha256, parsed->end_sha256, 32);
	hfc_index_free(parsed);
	hfc_index_free(idx);
	idx = NULL;

	assert_int_equal(hfc_index_load_at(d.fd, "missing.idx", "site/missing.idx", &idx, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "site/missing.idx"));
	assert_null(idx);

	/* Errors name the display name given, with the line. */
	put_at(d.fd, "bad.idx", L_MAGIC "version 0\n");
	assert_int_equal(hfc_index_load_at(d.fd, "bad.idx", "site/bad.idx", &idx, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "site/bad.idx:2: bad version"));
	assert_null(idx);

	/* A symlink is not followed. */
	assert_int_equal(symlinkat("v.idx", d.fd, "link.idx"), 0);
	assert_true(hfc_index_load_at(d.fd, "link.idx", "site/link.idx", &idx, &err) < 0);
	assert_null(idx);

	free(s);
	assert_int_equal(scratch_close(&d), 0);
}

/* A header claiming 2^24 blocks of 4 KiB (a 64 GiB image), then `lines` zero blocks. */
static char *claim_max_blocks(unsigned lines, size_t *ret_len)
{
	size_t n = strlen(HEAD_1_4) + 200 + 2 * (size_t)lines;
	char *s = malloc(n);
	assert_non_null(s);
	int k = snprintf(s, n,
			 HEAD_1_4 "image-size %" PRIu64 "\nblock-size 4096\nhash md5\n"
				  "compression zlib\nblocks %u\n",
			 (uint64_t)HFC_INDEX_MAX_BLOCKS * 4096, HFC_INDEX_MAX_BLOCKS);
	for (unsigned i = 0; i < lines; i++)
		k += snprintf(s + k, n - (size_t)k, "-\n");
	*ret_len = (size_t)k;
	return s;
}

#if !defined(__SANITIZE_ADDRESS__)
/* In a child, with the address space limited: the small index must fail as such, not -ENOMEM. */
static void parse_small_claim_limited(void *arg)
{
	(void)arg;
	size_t len;
	char *s = claim_max_blocks(3, &len);
	/* What the process has now, and 256 MiB more: far less than 2^24 entries would need. */
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%lu", &pages) != 1)
		_exit(2);
	fclose(f);
	rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)256 << 20);
	struct rlimit rl = { lim, lim };
	if (setrlimit(RLIMIT_AS, &rl) < 0)
		_exit(3);
	HfcIndex *idx = NULL;
	HfcErr err = { "" };
	int r = hfc_index_parse(s, len, "t.idx", &idx, &err);
	_exit(r == -EBADMSG && strstr(err.msg, "expected 16777216 block lines, found 3") ? 0 : 1);
}
#endif

static void test_entries_grow_with_lines(void **state)
{
	(void)state;
	/* A few lines claiming the most blocks there may be: refused for its lines, found 3. */
	size_t len;
	char *s = claim_max_blocks(3, &len);
	BAD_N(s, len, 12, "expected 16777216 block lines, found 3 (truncated)");
	free(s);
#if !defined(__SANITIZE_ADDRESS__)
	/* ... without allocating for blocks it never saw (ASan reserves too much for a limit). */
	assert_int_equal(in_child(parse_small_claim_limited, NULL, 30000), 0);
#endif
	/* Many lines, the entries grown along: every one of them parsed right. */
	roundtrip(HFC_HASH_MD5, (uint64_t)5000 * 4096 + 5, 4096, "grown", 0, NULL);
}

static void test_peek_header(void **state)
{
	(void)state;
	char *s = with_end(ABOVE);
	size_t full = strlen(s), head = strlen(HEADER);
	HfcIndex h;
	size_t max = 0;
	/* Until the blocks line has come whole: more is needed. */
	for (size_t n = 0; n < head; n++)
		assert_int_equal(hfc_index_peek_header(s, n, &h, &max), 0);
	/* Then the header's values, and the bound: header, 3 x the longest md5 line, trailer. */
	for (size_t n = head; n <= full; n++) {
		assert_int_equal(hfc_index_peek_header(s, n, &h, &max), 1);
		assert_int_equal(h.nblocks, 3);
		assert_int_equal(h.image_size, 10000);
		assert_int_equal(h.block_size, 4096);
		assert_null(h.entries);
		assert_int_equal(max, head + 3 * (32 + 1 + 4 + 1) + 69 + HFC_SIG_LINE_LEN + 1);
	}
	assert_true(full <= max);
	free(s);

	/* What cannot begin an index is known from its first line. */
	const char *html = "<html><body>Not here</body></html>\n";
	assert_int_equal(hfc_index_peek_header(html, strlen(html), &h, &max), -EBADMSG);
	assert_int_equal(hfc_index_peek_header(L_MAGIC "version 0\n", 22, &h, &max), -EBADMSG);
	/* A header that has not ended within HFC_INDEX_HEADER_MAX bytes never will. */
	char *junk = malloc(HFC_INDEX_HEADER_MAX);
	assert_non_null(junk);
	memset(junk, 'x', HFC_INDEX_HEADER_MAX);
	assert_int_equal(hfc_index_peek_header(junk, HFC_INDEX_HEADER_MAX - 1, &h, &max), 0);
	assert_int_equal(hfc_index_peek_header(junk, HFC_INDEX_HEADER_MAX, &h, &max), -EBADMSG);
	free(junk);

	/* Real indexes of every shape stay within their bound. */
	const HfcHashAlgo algos[] = { HFC_HASH_MD5, HFC_HASH_SHA256 };
	const uint32_t sizes[] = { 4096, 262144, HFC_BLOCK_SIZE_MAX };
	for (size_t a = 0; a < ELEMENTSOF(algos); a++) {
		for (size_t b = 0; b < ELEMENTSOF(sizes); b++) {
			HfcIndex *idx = NULL;
			assert_int_equal(hfc_index_new((uint64_t)sizes[b] * 100 - 1, sizes[b],
						       algos[a], &idx),
					 0);
			idx->version = 7;
			snprintf(idx->label, sizeof(idx->label), "%s", "x");
			for (uint64_t i = 0; i < idx->nblocks; i++) {
				memset(idx->entries[i].hash, (int)i + 1, HFC_HASH_MAX);
				idx->entries[i].stored = (uint32_t)hfc_codec_bound(sizes[b]);
			}
			set_sig(idx);
			char *buf;
			size_t len;
			assert_int_equal(hfc_index_format(idx, &buf, &len), 0);
			assert_int_equal(hfc_index_peek_header(buf, len, &h, &max), 1);
			assert_int_equal(max, len);
			free(buf);
			hfc_index_free(idx);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries_grow_with_lines),
		cmocka_unit_test(test_peek_header),
		cmocka_unit_test(test_roundtrip_md5_label),
		cmocka_unit_test(test_roundtrip_md5_no_label),
		cmocka_unit_test(test_roundtrip_sha256_parent),
		cmocka_unit_test(test_roundtrip_signature),
		cmocka_unit_test(test_roundtrip_edges),
		cmocka_unit_test(test_roundtrip_many_blocks),
		cmocka_unit_test(test_format_md_vector),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_valid_variants),
		cmocka_unit_test(test_bad_empty),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_unsupported_version),
		cmocka_unit_test(test_bad_truncated_no_newline),
		cmocka_unit_test(test_bad_truncated_header),
		cmocka_unit_test(test_bad_truncated_blocks),
		cmocka_unit_test(test_bad_missing_end),
		cmocka_unit_test(test_bad_block_count),
		cmocka_unit_test(test_bad_blocks_vs_image_size),
		cmocka_unit_test(test_bad_hex),
		cmocka_unit_test(test_bad_uppercase_hex),
		cmocka_unit_test(test_bad_hash_length),
		cmocka_unit_test(test_bad_name_slash),
		cmocka_unit_test(test_bad_name_dotdot),
		cmocka_unit_test(test_bad_zero_block_line),
		cmocka_unit_test(test_bad_stored_size),
		cmocka_unit_test(test_bad_end_checksum),
		cmocka_unit_test(test_bad_end_hex),
		cmocka_unit_test(test_bad_duplicate_key),
		cmocka_unit_test(test_bad_unknown_key),
		cmocka_unit_test(test_bad_missing_key),
		cmocka_unit_test(test_bad_truncated_missing_key),
		cmocka_unit_test(test_bad_key_order),
		cmocka_unit_test(test_bad_key_without_value),
		cmocka_unit_test(test_bad_crlf),
		cmocka_unit_test(test_bad_nul),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_bad_block_size),
		cmocka_unit_test(test_bad_hash_name),
		cmocka_unit_test(test_bad_compression),
		cmocka_unit_test(test_bad_created),
		cmocka_unit_test(test_bad_after_end),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_bad_parent),
		cmocka_unit_test(test_bad_label),
		cmocka_unit_test(test_bad_line_too_long),
		cmocka_unit_test(test_index_new),
		cmocka_unit_test(test_block_size_valid),
		cmocka_unit_test(test_label_valid),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_now),
		cmocka_unit_test(test_load_at),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
