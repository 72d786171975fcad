/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "programs/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int hfc_json_print(FILE *f, json_t *v)
{
	if (!v)
		return -ENOMEM;
	int r = json_dumpf(v, f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
				 JSON_REAL_PRECISION(15));
	json_decref(v);
	if (r < 0 || fputc('\n', f) == EOF)
		return -EIO;
	return 0;
}

json_t *hfc_json_seconds(double s)
{
	return json_real(round(s * 1000) / 1000);
}

json_t *hfc_json_rate(double mb_per_s)
{
	return json_real(round(mb_per_s * 10) / 10);
}

json_t *hfc_json_string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* True when the k bytes at s are one well-formed UTF-8 sequence. */
static bool utf8_seq_ok(const char *s, size_t k)
{
	json_t *t = json_stringn(s, k);
	json_decref(t);
	return t != NULL;
}

json_t *hfc_json_str(const char *s)
{
	json_t *v = json_string(s);
	if (v)
		return v;
	/* Not UTF-8 (a path, say): each byte that does not fit becomes U+FFFD. */
	size_t n = strlen(s);
	char *buf = malloc(3 * n + 1);
	if (!buf)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = 1;
		unsigned char c = (unsigned char)s[i];
		if (c >= 0xc2 && c <= 0xf4) {
			k = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
			if (i + k > n || !utf8_seq_ok(s + i, k))
				k = 0;
		} else if (c >= 0x80) {
			k = 0;
		}
		if (k == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(buf + o, s + i, k);
			o += k;
			i += k;
		}
	}
	v = json_stringn(buf, o);
	free(buf);
	return v;
}
