/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for formats/trace.c: the client, blkparse and sectors trace formats, their
 * detection, the errors (each naming "file:line"), coverage, and merging runs into a profile.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "formats/trace.h"

#define BS 4096u
/* Traces are read for an image of 20 blocks. */
#define IMG (20u * BS)
#define CLIENT_HDR "# hfc-trace 1 version 4 image-size 81920 block-size 4096\n"

/* Parses text, which must succeed; returns the run. */
static HfcTraceRun parse(const char *text, HfcTraceFormat fmt, uint32_t *version)
{
	HfcTraceRun run;
	HfcErr err = { "" };
	int r = hfc_trace_parse(text, strlen(text), "t", fmt, IMG, BS, &run, version, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	return run;
}

/* Parses text, which must be refused with "t:LINE: " and msg in the message. */
static void refused(const char *text, HfcTraceFormat fmt, unsigned line, const char *msg)
{
	HfcTraceRun run;
	uint32_t v;
	HfcErr err = { "" };
	char want[32];
	snprintf(want, sizeof(want), "t:%u: ", line);
	assert_int_equal(hfc_trace_parse(text, strlen(text), "t", fmt, IMG, BS, &run, &v, &err),
			 -EBADMSG);
	if (strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, msg))
		fail_msg("got '%s', want '%s...%s'", err.msg, want, msg);
}

static void assert_blocks(const HfcTraceRun *run, size_t n, const uint64_t *blocks)
{
	assert_int_equal(run->n, n);
	for (size_t i = 0; i < n; i++)
		if (run->blocks[i] != blocks[i])
			fail_msg("block %zu: %llu, want %llu", i, (unsigned long long)run->blocks[i],
				 (unsigned long long)blocks[i]);
}

static void test_names(void **state)
{
	(void)state;
	HfcTraceFormat f;
	assert_int_equal(hfc_trace_format_from_name("blkparse", &f), 0);
	assert_int_equal(f, HFC_TRACE_BLKPARSE);
	assert_int_equal(hfc_trace_format_from_name("auto", &f), 0);
	assert_int_equal(f, HFC_TRACE_AUTO);
	assert_int_equal(hfc_trace_format_from_name("Sectors", &f), -EINVAL);
	assert_int_equal(hfc_trace_version(CLIENT_HDR, strlen(CLIENT_HDR)), 4);
	assert_int_equal(hfc_trace_version("0 8\n", 4), 0);
	const char *v0 = "# hfc-trace 1 version 0 image-size 81920 block-size 4096\n";
	assert_int_equal(hfc_trace_version(v0, strlen(v0)), 0);
}

static void test_client(void **state)
{
	(void)state;
	uint32_t v;
	/* Block 3's time is its first line's; lines are not sorted, the earliest read counts. */
	HfcTraceRun run = parse(CLIENT_HDR "100 3 miss 80 40\n200 1 hit 0 3\n300 3 hit 0 1\n"
					   "50 7 hit 0 0\n",
				HFC_TRACE_AUTO, &v);
	assert_int_equal(v, 4);
	assert_blocks(&run, 3, (const uint64_t[]){ 1, 3, 7 });
	assert_true(run.first[0] > 0.00019 && run.first[0] < 0.00021);
	assert_true(run.first[1] > 0.000099 && run.first[1] < 0.000101);
	assert_true(run.first[2] > 0.000049 && run.first[2] < 0.000051);
	hfc_trace_run_done(&run);
	/* A cut-off last line (a killed client) is left out. */
	run = parse(CLIENT_HDR "100 3 miss 80 40\n200 9 hi", HFC_TRACE_CLIENT, &v);
	assert_blocks(&run, 1, (const uint64_t[]){ 3 });
	hfc_trace_run_done(&run);

	refused("# hfc-trace 1 version 4 image-size 999 block-size 4096\n", HFC_TRACE_AUTO, 1,
		"trace of another image (999 bytes, block size 4096)");
	refused("# hfc-trace 1 version 4 image-size 81920\n", HFC_TRACE_AUTO, 1,
		"bad client trace header");
	refused("0 8\n", HFC_TRACE_CLIENT, 1, "bad client trace header");
	refused(CLIENT_HDR "1 99 hit 0 0\n", HFC_TRACE_AUTO, 2, "block 99 beyond the image");
	refused(CLIENT_HDR "1 2 hit 0 0\n1 2 got 0 0\n", HFC_TRACE_AUTO, 3,
		"expected '<µs> <block> hit|miss <bytes> <µs>'");
	refused(CLIENT_HDR "1 2 hit 0\n", HFC_TRACE_AUTO, 2, "expected '<µs>");
	refused(CLIENT_HDR "1 02 hit 0 0\n", HFC_TRACE_AUTO, 2, "expected '<µs>");
	refused(CLIENT_HDR "1 2 hit 0 0\r\n", HFC_TRACE_AUTO, 2, "carriage return");
}

static void test_blkparse(void **state)
{
	(void)state;
	uint32_t v;
	/* Q events of reads; writes, completions and summaries are skipped. */
	const char *q = "  7,0    1        1     0.000000000  4162  Q   R 16 + 8 [qemu]\n"
			"  7,0    1        2     0.000100000  4162  C   R 16 + 8 [0]\n"
			"  7,0    1        3     0.010000000  4162  Q   W 40 + 8 [qemu]\n"
			"  7,0    1        4     0.020000000  4162  Q  RA 56 + 24 [qemu]\n"
			"  7,0    1        5     0.030000000  4162  D   R 0 + 8 [qemu]\n"
			"  7,0    1        6     0.040000000  4162  Q   R 152 + 800 [qemu]\n"
			"CPU1 (7,0):\n Reads Queued:           2,       16KiB\n";
	HfcTraceRun run = parse(q, HFC_TRACE_AUTO, &v);
	assert_int_equal(v, 0);
	/* Sector 16 = block 2; sectors 56..79 = blocks 7..9; 152.. is clipped to block 19. */
	assert_blocks(&run, 5, (const uint64_t[]){ 2, 7, 8, 9, 19 });
	assert_true(run.first[4] > 0.039 && run.first[4] < 0.041);
	hfc_trace_run_done(&run);
	/* Without Q events, the issued (D) ones count. */
	const char *d = "  7,0    1        1     0.500000000  4162  D   R 8 + 8 [qemu]\n"
			"  7,0    1        2     0.600000000  4162  C   R 8 + 8 [0]\n";
	run = parse(d, HFC_TRACE_AUTO, &v);
	assert_blocks(&run, 1, (const uint64_t[]){ 1 });
	hfc_trace_run_done(&run);
	/* Anything else in a blkparse trace is passed over, never an error. */
	run = parse("junk\n\n  7,0 1 1 x 4162 Q R 8 + 8\n", HFC_TRACE_BLKPARSE, &v);
	assert_int_equal(run.n, 0);
	hfc_trace_run_done(&run);
}

static void test_sectors(void **state)
{
	(void)state;
	uint32_t v;
	/* Sector 160 is the image's end: beyond it nothing counts; empty reads neither. */
	HfcTraceRun run = parse("8 8\n0 1\n\n144 8\n160 8\n40 0\n", HFC_TRACE_SECTORS, &v);
	assert_blocks(&run, 3, (const uint64_t[]){ 0, 1, 18 });
	assert_true(run.first[1] < run.first[0]); /* block 1 came first */
	hfc_trace_run_done(&run);
	/* Tabs and runs of spaces separate fields. */
	run = parse("8\t8\n0   1\n", HFC_TRACE_AUTO, &v);
	assert_blocks(&run, 2, (const uint64_t[]){ 0, 1 });
	hfc_trace_run_done(&run);
	refused("1 x\n", HFC_TRACE_SECTORS, 1, "expected '<sector> <count>' (512-byte sectors)");
	refused("8 8\n1 2 3\n", HFC_TRACE_SECTORS, 2, "expected '<sector> <count>'");
	refused("8 8\n36028797018963968 1\n", HFC_TRACE_SECTORS, 2, "expected '<sector> <count>'");
}

static void test_detect(void **state)
{
	(void)state;
	uint32_t v;
	/* A blkparse event in the first 50 lines makes a blkparse trace ... */
	char text[2000] = "";
	for (int i = 0; i < 49; i++)
		strcat(text, "x\n");
	strcat(text, "  7,0    1        1     0.0  4162  Q   R 16 + 8 [qemu]\n");
	HfcTraceRun run = parse(text, HFC_TRACE_AUTO, &v);
	assert_blocks(&run, 1, (const uint64_t[]){ 2 });
	hfc_trace_run_done(&run);
	/* ... one later does not: the trace is read as sectors. */
	memmove(text + 2, text, strlen(text) + 1);
	refused(text, HFC_TRACE_AUTO, 1, "expected '<sector> <count>'");
	/* Bounded before anything is read. */
	HfcErr err = { "" };
	assert_int_equal(hfc_trace_parse("", HFC_TRACE_MAX_BYTES + 1, "t", HFC_TRACE_AUTO, IMG, BS,
					 &run, &v, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "trace larger than"));
}

static void test_merge(void **state)
{
	(void)state;
	HfcIndex *idx = index_pattern(20, BS, 1, 1);
	/* Three runs: block 2 in all, block 3 in two, block 6 in one; block 4 is zero. */
	uint64_t b1[] = { 2, 3, 4, 6 }, b2[] = { 2, 3, 4 }, b3[] = { 2 };
	double t1[] = { 1.0, 0.5, 0.0, 0.1 }, t2[] = { 3.0, 0.2, 0.0 }, t3[] = { 2.0 };
	HfcTraceRun runs[3] = { { 4, b1, t1 }, { 3, b2, t2 }, { 1, b3, t3 } };
	HfcProfile *p;
	assert_int_equal(hfc_profile_from_runs(runs, 3, 0.5, idx, &p), 0);
	/* Kept: blocks in >= 1.5 runs (2 and 3); block 3's median 0.35 precedes block 2's 2.0. */
	assert_int_equal(p->version, 1);
	assert_int_equal(p->n, 2);
	assert_int_equal(p->e[0].block, 3);
	assert_int_equal(p->e[1].block, 2);
	assert_memory_equal(p->e[0].hash, idx->entries[3].hash, 16);
	hfc_profile_free(p);
	assert_int_equal(hfc_profile_from_runs(runs, 3, 0.3, idx, &p), 0);
	assert_int_equal(p->n, 3);
	hfc_profile_free(p);
	assert_int_equal(hfc_profile_from_runs(runs, 0, 0.5, idx, &p), 0);
	assert_int_equal(p->n, 0);
	hfc_profile_free(p);
	hfc_index_free(idx);
}

static void test_coverage(void **state)
{
	(void)state;
	HfcIndex *idx = index_pattern(20, BS, 1, 1);
	HfcProfileEntry e[] = { { .block = 1 }, { .block = 2 }, { .block = 7 } };
	HfcProfile p = { .version = 1, .image_size = IMG, .block_size = BS, .n = 3, .e = e };
	/* The run read 1, 2, 3 and 4 (zero: not counted with an index). */
	uint64_t blocks[] = { 1, 2, 3, 4 };
	double first[] = { 0, 1, 2, 3 };
	HfcTraceRun run = { 4, blocks, first };
	size_t read, covered;
	assert_int_equal(hfc_trace_coverage(&run, &p, idx, &read, &covered), 0);
	assert_int_equal(read, 3);
	assert_int_equal(covered, 2);
	assert_int_equal(hfc_trace_coverage(&run, &p, NULL, &read, &covered), 0);
	assert_int_equal(read, 4);
	assert_int_equal(covered, 2);
	hfc_index_free(idx);
}

TEST_MAIN(cmocka_unit_test(test_names), cmocka_unit_test(test_client),
	  cmocka_unit_test(test_blkparse), cmocka_unit_test(test_sectors),
	  cmocka_unit_test(test_detect), cmocka_unit_test(test_merge),
	  cmocka_unit_test(test_coverage))
