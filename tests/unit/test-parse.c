/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for base/parse.c (numbers, sizes), base/clock.c (times) and programs/json.c. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/parse.h"
#include "programs/json.h"

static void ok_uint(const char *s, uint64_t max, uint64_t want)
{
	uint64_t v = 12345;
	int r = hfc_parse_uint(s, max, &v);
	if (r != 0 || v != want)
		fail_msg("hfc_parse_uint(\"%s\", %ju): r=%d v=%ju, want %ju", s, (uintmax_t)max, r,
			 (uintmax_t)v, (uintmax_t)want);
}

static void bad_uint(const char *s, uint64_t max)
{
	uint64_t v = 12345;
	int r = hfc_parse_uint(s, max, &v);
	if (r != -EINVAL || v != 12345)
		fail_msg("hfc_parse_uint(\"%s\", %ju): r=%d v=%ju, want -EINVAL and no value", s,
			 (uintmax_t)max, r, (uintmax_t)v);
}

static void ok_size(const char *s, uint64_t want)
{
	uint64_t v = 12345;
	int r = hfc_parse_size(s, &v);
	if (r != 0 || v != want)
		fail_msg("hfc_parse_size(\"%s\"): r=%d v=%ju, want %ju", s, r, (uintmax_t)v,
			 (uintmax_t)want);
}

static void bad_size(const char *s)
{
	uint64_t v = 12345;
	int r = hfc_parse_size(s, &v);
	if (r != -EINVAL || v != 12345)
		fail_msg("hfc_parse_size(\"%s\"): r=%d v=%ju, want -EINVAL and no value", s, r,
			 (uintmax_t)v);
}

static void test_parse_uint(void **state)
{
	(void)state;
	ok_uint("0", 10, 0);
	ok_uint("7", 10, 7);
	ok_uint("10", 10, 10);
	ok_uint("4096", UINT64_MAX, 4096);
	ok_uint("18446744073709551615", UINT64_MAX, UINT64_MAX);
	ok_uint("4294967295", UINT32_MAX, UINT32_MAX);
}

static void test_parse_uint_range(void **state)
{
	(void)state;
	bad_uint("11", 10);
	bad_uint("4294967296", UINT32_MAX);
	bad_uint("1", 0);
	ok_uint("0", 0, 0);
}

static void test_parse_uint_overflow(void **state)
{
	(void)state;
	bad_uint("18446744073709551616", UINT64_MAX);
	bad_uint("99999999999999999999", UINT64_MAX);
	bad_uint("1000000000000000000000000", UINT64_MAX);
}

static void test_parse_uint_junk(void **state)
{
	(void)state;
	static const char *const junk[] = { "", " ", "-1", "+1", " 1", "1 ", "1x", "x1", "0x10",
					    "1e3", "1.0", "1,000", "١", "\t1", "1\n", "--1", "K" };
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		bad_uint(junk[i], UINT64_MAX);
}

static void test_parse_size_plain(void **state)
{
	(void)state;
	ok_size("0", 0);
	ok_size("1", 1);
	ok_size("4096", 4096);
	ok_size("262144", 262144);
	ok_size("18446744073709551615", UINT64_MAX);
}

static void test_parse_size_suffixes(void **state)
{
	(void)state;
	ok_size("1K", 1024);
	ok_size("1k", 1024);
	ok_size("4K", 4096);
	ok_size("256K", 262144);
	ok_size("0K", 0);
	ok_size("1M", 1048576);
	ok_size("64m", UINT64_C(64) << 20);
	ok_size("1G", UINT64_C(1) << 30);
	ok_size("6g", UINT64_C(6) << 30);
	/* The largest values each suffix can express. */
	ok_size("18014398509481983K", (UINT64_MAX >> 10) << 10);
	ok_size("17592186044415M", (UINT64_MAX >> 20) << 20);
	ok_size("17179869183G", (UINT64_MAX >> 30) << 30);
}

static void test_parse_size_overflow(void **state)
{
	(void)state;
	bad_size("18446744073709551616");
	bad_size("18014398509481984K");
	bad_size("17592186044416M");
	bad_size("17179869184G");
	bad_size("99999999999999999999G");
}

static void test_parse_size_junk(void **state)
{
	(void)state;
	static const char *const junk[] = { "", "K", "M", "G", "k", "1KB", "1KiB", "1 K", " 1K",
					    "1K ", "-1K", "+1K", "1.5M", "1KK", "K1", "1B", "1P",
					    "1X", "0x1K", "1e3", "1,5G", "1\n" };
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		bad_size(junk[i]);
	/* Far longer than any size: refused without overflowing anything. */
	char lng[200];
	memset(lng, '1', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = 0;
	bad_size(lng);
	memset(lng, '0', sizeof(lng) - 2);
	lng[sizeof(lng) - 2] = '1';
	bad_size(lng);
}

static char *json(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(hfc_json_print(f, hfc_json_str(s)), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_json_string(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "\"\"\n" },
		{ "plain", "\"plain\"\n" },
		{ "a\"b", "\"a\\\"b\"\n" },
		{ "back\\slash", "\"back\\\\slash\"\n" },
		{ "nl\ntab\t", "\"nl\\ntab\\t\"\n" },
		{ "\x01\x1f ", "\"\\u0001\\u001F \"\n" },
		{ "caf\xc3\xa9", "\"caf\xc3\xa9\"\n" },
		/* Bytes that are not UTF-8 (a path): each becomes U+FFFD, the rest stays. */
		{ "a\xff" "b\xc3", "\"a\xef\xbf\xbd" "b\xef\xbf\xbd\"\n" },
		{ "\xe2\x82", "\"\xef\xbf\xbd\xef\xbf\xbd\"\n" },
		{ "knoppix 9.1, security update 2", "\"knoppix 9.1, security update 2\"\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = json(cases[i].in);
		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

static void test_json_numbers(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(hfc_json_print(f, json_pack("{s:o, s:o, s:I}", "seconds",
						      hfc_json_seconds(0.1224), "mb_per_s",
						      hfc_json_rate(1298.46), "big",
						      (json_int_t)(UINT64_C(1) << 50))),
			 0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(buf, "{\"seconds\":0.122,\"mb_per_s\":1298.5,\"big\":1125899906842624}\n");
	free(buf);
	/* A failed json_pack (NULL) is an error, not a crash. */
	assert_int_equal(hfc_json_print(stdout, NULL), -ENOMEM);
}

static void test_parse_time(void **state)
{
	(void)state;
	int64_t t;
	assert_int_equal(hfc_parse_time("1970-01-02", 10, HFC_TIME_DATE_OK, &t), 0);
	assert_int_equal(t, 86400);
	assert_int_equal(hfc_parse_time("2024-02-29T23:59:59Z", 20, HFC_TIME_DATE_OK, &t), 0);
	assert_int_equal(t, 1709251199);
	assert_int_equal(hfc_parse_time("2024-02-29T23:59:59Z", 20, 0, &t), 0);
	/* A date alone is a full time only where the caller says so. */
	assert_int_equal(hfc_parse_time("1970-01-02", 10, 0, &t), -EINVAL);
	static const char *const bad[] = {
		"2023-02-29", "1970-1-02", "1970-13-01", "1970-01-02T24:00:00Z", "1970-01-02T00:00:00",
		"1969-12-31", "", "1970-01-02 ", "1970-01-02T00:00:60Z", "2023-04-31",
		"2023-04-30t00:00:00Z", "2023-04-30T00:00:00z", "2023-04-30T00-00:00Z",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (hfc_parse_time(bad[i], strlen(bad[i]), HFC_TIME_DATE_OK, &t) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	char out[32];
	hfc_format_time(1709251199, out, sizeof(out));
	assert_string_equal(out, "2024-02-29T23:59:59Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_parse_uint_range),
		cmocka_unit_test(test_parse_uint_overflow),
		cmocka_unit_test(test_parse_uint_junk),
		cmocka_unit_test(test_parse_size_plain),
		cmocka_unit_test(test_parse_size_suffixes),
		cmocka_unit_test(test_parse_size_overflow),
		cmocka_unit_test(test_parse_size_junk),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_parse_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
