/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for text.c: which bytes are printable UTF-8, and the escaped form that every
 * message and listing shows instead of raw bytes from outside.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/text.h"

static void expect_escape(const char *in, size_t n, const char *want)
{
	char out[256];
	size_t len = hfc_escape(in, n, out, sizeof(out));
	if (len != strlen(want) || strcmp(out, want) != 0)
		fail_msg("escape of %zu bytes: got \"%s\" (%zu), want \"%s\"", n, out, len, want);
}

#define ESC(in, want) expect_escape(in, sizeof(in) - 1, want)

static void test_escape(void **state)
{
	(void)state;
	ESC("plain name.txt", "plain name.txt");
	ESC("", "");
	/* A terminal escape sequence, as an index line or a file name could carry it. */
	ESC("a\x1b[31mred\x1b[0m", "a\\x1b[31mred\\x1b[0m");
	ESC("tab\there\nnew\rcr\x7f", "tab\\x09here\\x0anew\\x0dcr\\x7f");
	ESC("nul\0in", "nul\\x00in");
	ESC("back\\slash", "back\\\\slash");
	/* Printable UTF-8 stays; C1 controls (also as CSI, 0x9b) and broken sequences do not. */
	ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	ESC("\xc2\x9b" "2J", "\\xc2\\x9b2J");
	ESC("\x9b" "2J", "\\x9b2J");
	ESC("\xc3", "\\xc3");
	ESC("\xc0\xaf", "\\xc0\\xaf");
	ESC("\xed\xa0\x80", "\\xed\\xa0\\x80");
	ESC("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	ESC("\xff", "\\xff");
}

static void test_escape_sizes(void **state)
{
	(void)state;
	/* The length of the whole form comes back whatever fits; what fits is cut, NUL-ended. */
	char out[6];
	assert_int_equal(hfc_escape("\x01\x02\x03", 3, out, sizeof(out)), 12);
	assert_string_equal(out, "\\x01\\");
	assert_int_equal(hfc_escape("\x01", 1, NULL, 0), 4);
	char big[4 * 256 + 1];
	char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	size_t len = hfc_escape(all, sizeof(all), big, sizeof(big));
	assert_true(len <= 4 * sizeof(all));
	assert_int_equal(strlen(big), len);
	/* Nothing below 0x20, no DEL and no byte above 0x7f is left raw. */
	for (size_t i = 0; i < len; i++)
		assert_true(big[i] >= 0x20 && big[i] < 0x7f);
}

static void test_printable_len(void **state)
{
	(void)state;
	assert_int_equal(hfc_utf8_printable_len("a", 1), 1);
	assert_int_equal(hfc_utf8_printable_len("\x1b", 1), 0);
	assert_int_equal(hfc_utf8_printable_len("\xc3\xa9", 2), 2);
	assert_int_equal(hfc_utf8_printable_len("\xc3\xa9", 1), 0);
	assert_int_equal(hfc_utf8_printable_len("\xe2\x82\xac", 3), 3);
	assert_int_equal(hfc_utf8_printable_len("\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(hfc_utf8_printable_len("\xc2\x85", 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_sizes),
		cmocka_unit_test(test_printable_len),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
