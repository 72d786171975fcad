/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for profile.c: the profile format, the three trace formats, merging and carry. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "formats/profile.h"
#include "formats/trace.h"

#define BS 4096u

/* An index of n blocks: block i named by bytes (i+1), every 5th block zero. */
static HfcIndex *make_index(uint64_t n, uint32_t version, uint8_t salt)
{
	HfcIndex *idx;
	assert_int_equal(hfc_index_new(n * BS, BS, HFC_HASH_MD5, &idx), 0);
	idx->version = version;
	for (uint64_t i = 0; i < n; i++) {
		if (i % 5 == 4)
			continue;
		memset(idx->entries[i].hash, (int)(i + 1), 16);
		idx->entries[i].hash[0] = salt;
		idx->entries[i].stored = 100 + (uint32_t)i;
	}
	return idx;
}

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
	HfcIndex *idx = make_index(20, 3, 7);
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

static HfcTraceRun parse_trace(const char *text, HfcTraceFormat fmt, uint32_t *version)
{
	HfcTraceRun run;
	HfcErr err = { "" };
	int r = hfc_trace_parse(text, strlen(text), "t", fmt, 20 * BS, BS, &run, version, &err);
	if (r < 0)
		print_error("%s\n", err.msg);
	assert_int_equal(r, 0);
	return run;
}

static void test_traces(void **state)
{
	(void)state;
	uint32_t v;
	HfcTraceRun run = parse_trace("# hfc-trace 1 version 4 image-size 81920 block-size 4096\n"
				      "100 3 miss 80 40\n200 1 hit 0 3\n300 3 hit 0 1\n",
				      HFC_TRACE_AUTO, &v);
	assert_int_equal(v, 4);
	assert_int_equal(run.n, 2);
	assert_int_equal(run.blocks[0], 1);
	assert_true(run.first[0] > 0.00019 && run.first[0] < 0.00021);
	assert_true(run.first[1] > 0.000099 && run.first[1] < 0.000101); /* block 3's first read */
	hfc_trace_run_done(&run);

	/* blkparse: Q events of reads; writes, completions and summaries are skipped. */
	const char *blk = "  7,0    1        1     0.000000000  4162  Q   R 16 + 8 [qemu]\n"
			  "  7,0    1        2     0.000100000  4162  C   R 16 + 8 [0]\n"
			  "  7,0    1        3     0.010000000  4162  Q   W 40 + 8 [qemu]\n"
			  "  7,0    1        4     0.020000000  4162  Q  RA 56 + 24 [qemu]\n"
			  "CPU1 (7,0):\n Reads Queued:           2,       16KiB\n";
	run = parse_trace(blk, HFC_TRACE_AUTO, &v);
	assert_int_equal(v, 0);
	/* Sector 16 = byte 8192 = block 2; sectors 56..79 = bytes 28672..40959 = blocks 7..9. */
	assert_int_equal(run.n, 4);
	assert_int_equal(run.blocks[0], 2);
	assert_int_equal(run.blocks[1], 7);
	assert_int_equal(run.blocks[3], 9);
	hfc_trace_run_done(&run);

	/* Sector 160 is the image's end: beyond it nothing counts. */
	run = parse_trace("8 8\n0 1\n\n144 8\n160 8\n", HFC_TRACE_SECTORS, &v);
	assert_int_equal(run.n, 3);
	assert_int_equal(run.blocks[0], 0);
	assert_int_equal(run.blocks[1], 1);
	assert_int_equal(run.blocks[2], 18);
	assert_true(run.first[1] < run.first[0]); /* block 1 came first */
	hfc_trace_run_done(&run);

	HfcErr err = { "" };
	const char *other = "# hfc-trace 1 version 4 image-size 999 block-size 4096\n";
	assert_int_equal(hfc_trace_parse(other, strlen(other), "t", HFC_TRACE_AUTO, 20 * BS, BS,
					 &run, &v, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "t:1: trace of another image"));
	const char *junk = "# hfc-trace 1 version 4 image-size 81920 block-size 4096\n1 99 hit 0 0\n";
	assert_int_equal(hfc_trace_parse(junk, strlen(junk), "t", HFC_TRACE_AUTO, 20 * BS, BS, &run,
					 &v, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "t:2: block 99 beyond the image"));
	assert_int_equal(hfc_trace_parse("1 x\n", 4, "t", HFC_TRACE_SECTORS, 20 * BS, BS, &run, &v,
					 &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "t:1: expected '<sector> <count>'"));
}

static void test_merge_and_carry(void **state)
{
	(void)state;
	HfcIndex *idx = make_index(20, 1, 1);
	/* Three runs: block 2 in all, block 3 in two, block 6 in one. */
	uint64_t b1[] = { 2, 3, 6 }, b2[] = { 2, 3 }, b3[] = { 2 };
	double t1[] = { 1.0, 0.5, 0.1 }, t2[] = { 3.0, 0.2 }, t3[] = { 2.0 };
	HfcTraceRun runs[3] = { { 3, b1, t1 }, { 2, b2, t2 }, { 1, b3, t3 } };
	HfcProfile *p;
	assert_int_equal(hfc_profile_from_runs(runs, 3, 0.5, idx, &p), 0);
	/* Kept: blocks in >= 1.5 runs (2 and 3); block 3's median 0.35 precedes block 2's 2.0. */
	assert_int_equal(p->n, 2);
	assert_int_equal(p->e[0].block, 3);
	assert_int_equal(p->e[1].block, 2);
	hfc_profile_free(p);
	assert_int_equal(hfc_profile_from_runs(runs, 3, 0.3, idx, &p), 0);
	assert_int_equal(p->n, 3);
	hfc_profile_free(p);
	assert_int_equal(hfc_profile_from_runs(runs, 3, 0.5, idx, &p), 0);

	/* Version 2: block 3 changed, block 2 the same; block 9 became zero in another case. */
	HfcIndex *v2 = make_index(20, 2, 1);
	v2->entries[3].hash[5] ^= 1;
	size_t same, changed, zero;
	assert_int_equal(hfc_profile_match(p, v2, &same, &changed, &zero, NULL), 0);
	assert_int_equal(same, 1);
	assert_int_equal(changed, 1);
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

	/* Another image: refused with a message. */
	HfcIndex *other;
	assert_int_equal(hfc_index_new(30 * BS, BS, HFC_HASH_MD5, &other), 0);
	HfcErr err = { "" };
	assert_int_equal(hfc_profile_match(p, other, &same, &changed, &zero, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "profile of another image"));
	hfc_index_free(other);
	hfc_index_free(v2);
	hfc_profile_free(p);
	hfc_index_free(idx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_traces),
		cmocka_unit_test(test_merge_and_carry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
