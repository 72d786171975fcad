/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for formats/profile.c: the profile format, matching, checking and carrying. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "formats/profile.h"
#include "formats/trace.h"

#define BS 4096u

static HfcProfile *parse_ok(const char *text)
{
	HfcProfile *p = NULL;
	HfcErr err = { "" };
	int r = hfc_profile_parse(text, strlen(text), "p.prof", &p, &err);
	if (r < 0)
		print_error("%s\n", err.msg);
	assert_int_equal(r, 0);
	return p;
}

static void test_round_trip(void **state)
{
	(void)state;
	HfcIndex *idx = index_pattern(20, BS, 3, 7);
	HfcTraceRun run = { .n = 4 };
	uint64_t blocks[] = { 1, 2, 4, 8 };
	double first[] = { 0.5, 0.1, 0.2, 0.3 };
	run.blocks = blocks;
	run.first = first;
	HfcProfile *p;
	assert_int_equal(hfc_profile_from_runs(&run, 1, 0.5, idx, &p), 0);
	/* Ordered by first read; block 4 is zero in the index and left out. */
	assert_int_equal(p->n, 3);
	assert_int_equal(p->e[0].block, 2);
	assert_int_equal(p->e[1].block, 8);
	assert_int_equal(p->e[2].block, 1);
	char *buf;
	size_t len;
	assert_int_equal(hfc_profile_format(p, &buf, &len), 0);
	assert_non_null(strstr(buf, "hfc-profile 1\nversion 3\nimage-size 81920\nblock-size 4096\n"
				    "hash md5\nblocks 3\n2 "));
	HfcProfile *q = parse_ok(buf);
	assert_int_equal(q->n, 3);
	assert_int_equal(q->version, 3);
	assert_memory_equal(q->e, p->e, 3 * sizeof(HfcProfileEntry));
	char *buf2;
	size_t len2;
	assert_int_equal(hfc_profile_format(q, &buf2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	size_t same, changed, zero;
	assert_int_equal(hfc_profile_match(q, idx, &same, &changed, &zero, NULL), 0);
	assert_int_equal(same, 3);
	free(buf);
	free(buf2);
	hfc_profile_free(p);
	hfc_profile_free(q);
	hfc_index_free(idx);
}

/* Builds a profile text with a correct end line from the lines above it. */
static char *with_end(const char *body)
{
	uint8_t sha[32];
	char hex[65];
	assert_int_equal(hfc_digest(HFC_HASH_SHA256, body, strlen(body), sha), 0);
	hfc_hex_encode(sha, 32, hex);
	char *s = malloc(strlen(body) + 80);
	sprintf(s, "%send %s\n", body, hex);
	return s;
}

static void bad(const char *body, bool fix_end, unsigned line, const char *msg)
{
	char *text = fix_end ? with_end(body) : strdup(body);
	HfcProfile *p = NULL;
	HfcErr err = { "" };
	assert_int_equal(hfc_profile_parse(text, strlen(text), "p.prof", &p, &err), -EBADMSG);
	assert_null(p);
	char want[64];
	snprintf(want, sizeof(want), "p.prof:%u: ", line);
	if (strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, msg))
		print_error("got '%s', want '%s%s'\n", err.msg, want, msg);
	assert_int_equal(strncmp(err.msg, want, strlen(want)), 0);
	assert_non_null(strstr(err.msg, msg));
	free(text);
}

#define HDR "hfc-profile 1\nversion 2\nimage-size 40960\nblock-size 4096\nhash md5\n"
#define NAME "0123456789abcdef0123456789abcdef"

static void test_malformed(void **state)
{
	(void)state;
	bad("", false, 1, "not an hfc profile");
	bad("hfc-index 1\n", false, 1, "not an hfc profile");
	bad(HDR "blocks 2\n3 " NAME "\n", true, 8, "expected 2 block lines, found 1");
	bad(HDR "blocks 1\n3 " NAME "\nend 00\n", false, 8, "bad end line");
	bad(HDR "blocks 1\n10 " NAME "\n", true, 7, "block 10 beyond the image");
	bad(HDR "blocks 2\n3 " NAME "\n3 " NAME "\n", true, 8, "block 3 listed twice");
	bad(HDR "blocks 1\n3 0123456789ABCDEF0123456789abcdef\n", true, 7, "lowercase hex");
	bad(HDR "blocks 1\n03 " NAME "\n", true, 7, "expected '<block number>");
	bad(HDR "blocks 1\n3 " NAME " 7\n", true, 7, "expected '<block number>");
	bad(HDR "blocks 11\n", true, 6, "bad blocks");
	bad("hfc-profile 1\nversion 0\n", false, 2, "bad version");
	bad("hfc-profile 1\nversion 2\nimage-size 40960\nblock-size 1000\n", false, 4, "bad block-size");
	bad("hfc-profile 1\nversion 2\nimage-size 40960\nblock-size 4096\nhash sha1\n", false, 5,
	    "expected 'hash md5' or 'hash sha256'");
	bad("hfc-profile 1\nimage-size 40960\n", false, 2, "expected 'version'");
	bad(HDR "blocks 1\r\n", false, 6, "carriage return");
	bad(HDR "blocks 0\n", false, 6, "truncated: missing end line");
	/* An edited line behind a stale end checksum. */
	char *good = with_end(HDR "blocks 1\n3 " NAME "\n");
	good[strlen(HDR) + 9] = '4';
	HfcProfile *p = NULL;
	HfcErr err = { "" };
	assert_int_equal(hfc_profile_parse(good, strlen(good), "p.prof", &p, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "p.prof:8: end checksum does not match the profile"));
	free(good);
	char *extra = with_end(HDR "blocks 0\n");
	extra = realloc(extra, strlen(extra) + 8);
	strcat(extra, "more\n");
	assert_int_equal(hfc_profile_parse(extra, strlen(extra), "p.prof", &p, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "unexpected data after the end"));
	free(extra);
}

/* A profile of idx's version listing blocks 3 then 2, with their names there. */
static HfcProfile *profile_of(const HfcIndex *idx)
{
	HfcProfile *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->e = calloc(2, sizeof(*p->e));
	assert_non_null(p->e);
	*p = (HfcProfile){ .version = idx->version, .image_size = idx->image_size,
			   .block_size = idx->block_size, .hash = idx->hash, .n = 2, .e = p->e };
	p->e[0].block = 3;
	p->e[1].block = 2;
	memcpy(p->e[0].hash, idx->entries[3].hash, 16);
	memcpy(p->e[1].hash, idx->entries[2].hash, 16);
	return p;
}

static void test_match_and_carry(void **state)
{
	(void)state;
	HfcIndex *idx = index_pattern(20, BS, 1, 1);
	HfcProfile *p = profile_of(idx);
	assert_int_equal(hfc_profile_fetch_bytes(p, idx), 103 + 102);

	/* Version 2: block 3 changed, block 2 the same; block 9 became zero in another case. */
	HfcIndex *v2 = index_pattern(20, BS, 2, 1);
	v2->entries[3].hash[5] ^= 1;
	size_t same, changed, zero;
	assert_int_equal(hfc_profile_match(p, v2, &same, &changed, &zero, NULL), 0);
	assert_int_equal(same, 1);
	assert_int_equal(changed, 1);
	/* What a prefetch at version 2 downloads: the blocks whose names are still right. */
	assert_int_equal(hfc_profile_fetch_bytes(p, v2), 102);
	/* Half the names is enough for a client to use it; fewer is another site's profile. */
	size_t n;
	HfcErr err = { "" };
	assert_int_equal(hfc_profile_check(p, v2, "p.prof", &n, &err), 0);
	assert_int_equal(n, 1);
	v2->entries[2].hash[5] ^= 1;
	assert_int_equal(hfc_profile_check(p, v2, "p.prof", &n, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "p.prof: profile does not match version 2 of this site (0 of 2 blocks)");
	v2->entries[2].hash[5] ^= 1;
	HfcProfile *q;
	assert_int_equal(hfc_profile_carry(p, v2, &q, NULL), 0);
	assert_int_equal(q->version, 2);
	assert_int_equal(q->n, 2);
	assert_int_equal(q->e[0].block, 3);
	assert_memory_equal(q->e[0].hash, v2->entries[3].hash, 16);
	hfc_profile_free(q);
	v2->entries[3].stored = 0;
	assert_int_equal(hfc_profile_carry(p, v2, &q, NULL), 0);
	assert_int_equal(q->n, 1);
	hfc_profile_free(q);

	/* Another image: refused with a message, which check prefixes with the profile's name. */
	HfcIndex *other;
	assert_int_equal(hfc_index_new(30 * BS, BS, HFC_HASH_MD5, &other), 0);
	assert_int_equal(hfc_profile_match(p, other, &same, &changed, &zero, &err), -EINVAL);
	assert_true(strncmp(err.msg, "profile of another image: ", 26) == 0);
	assert_int_equal(hfc_profile_check(p, other, "p.prof", NULL, &err), -EINVAL);
	assert_true(strncmp(err.msg, "p.prof: profile of another image: ", 34) == 0);
	hfc_index_free(other);
	hfc_index_free(v2);
	hfc_profile_free(p);
	hfc_index_free(idx);
}

TEST_MAIN(cmocka_unit_test(test_round_trip), cmocka_unit_test(test_malformed),
	  cmocka_unit_test(test_match_and_carry))
