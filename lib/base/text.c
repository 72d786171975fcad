/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/text.h"

#include <stdio.h>

size_t hfc_utf8_printable_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c = s[0];
	if (c < 0x20 || c == 0x7f)
		return 0;
	if (c < 0x80)
		return 1;
	size_t k;
	if (c >= 0xc2 && c <= 0xdf)
		k = 1;
	else if (c >= 0xe0 && c <= 0xef)
		k = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 3;
	else
		return 0;
	if (k >= n)
		return 0;
	unsigned char c1 = s[1];
	/* No overlong forms, no surrogates, nothing above U+10FFFF, no C1 controls. */
	if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) ||
	    (c == 0xf4 && c1 >= 0x90) || (c == 0xc2 && c1 < 0xa0))
		return 0;
	for (size_t j = 1; j <= k; j++)
		if ((s[j] & 0xc0) != 0x80)
			return 0;
	return k + 1;
}

size_t hfc_escape(const char *s, size_t n, char *out, size_t outlen)
{
	size_t len = 0;
	/* Writes the piece p (m bytes) as far as it fits, keeping room for the NUL. */
#define PUT(p, m)                                                                                  \
	do {                                                                                       \
		for (size_t j_ = 0; j_ < (m); j_++, len++)                                         \
			if (len + 1 < outlen)                                                      \
				out[len] = (p)[j_];                                                \
	} while (0)
	for (size_t i = 0; i < n;) {
		size_t k = s[i] == '\\' ? 0 : hfc_utf8_printable_len(s + i, n - i);
		if (k) {
			PUT(s + i, k);
			i += k;
		} else if (s[i] == '\\') {
			PUT("\\\\", 2);
			i++;
		} else {
			char hex[5];
			snprintf(hex, sizeof(hex), "\\x%02x", (unsigned char)s[i]);
			PUT(hex, 4);
			i++;
		}
	}
#undef PUT
	if (outlen)
		out[MIN(len, outlen - 1)] = 0;
	return len;
}
