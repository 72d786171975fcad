/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/lines.h"

#include "base/digest.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void hfc_lines_init(HfcLines *p, const char *buf, size_t len, const char *fname, HfcErr *err)
{
	*p = (HfcLines){ .buf = buf, .len = len, .fname = fname, .err = err };
}

int hfc_lines_fail(HfcLines *p, const char *fmt, ...)
{
	if (p->err) {
		char what[400];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(p->err->msg, sizeof(p->err->msg), "%s:%u: %s", p->fname, p->line, what);
	}
	return -EBADMSG;
}

int hfc_lines_next(HfcLines *p)
{
	if (p->pos >= p->len)
		return 0;
	p->line++;
	const char *start = p->buf + p->pos;
	const char *nl = memchr(start, '\n', p->len - p->pos);
	if (!nl)
		return hfc_lines_fail(p, "truncated: last line has no newline");
	p->cur = start;
	p->curlen = (size_t)(nl - start);
	p->pos += p->curlen + 1;
	if (memchr(p->cur, 0, p->curlen))
		return hfc_lines_fail(p, "NUL byte in line");
	if (p->curlen > 0 && p->cur[p->curlen - 1] == '\r')
		return hfc_lines_fail(p, "carriage return at end of line (CRLF line endings are not allowed)");
	if (p->curlen > 1024)
		return hfc_lines_fail(p, "line too long");
	return 1;
}

bool hfc_lines_is(const HfcLines *p, const char *s)
{
	size_t n = strlen(s);
	return p->curlen == n && memcmp(p->cur, s, n) == 0;
}

int hfc_lines_key(HfcLines *p, const char *key, const char **ret_val, size_t *ret_len)
{
	size_t k = strlen(key);
	if (p->curlen <= k + 1 || memcmp(p->cur, key, k) != 0 || p->cur[k] != ' ')
		return hfc_lines_fail(p, "expected '%s'", key);
	*ret_val = p->cur + k + 1;
	*ret_len = p->curlen - k - 1;
	return 0;
}

int hfc_lines_check_end(HfcLines *p, size_t above, const char *what, uint8_t ret_sha256[32])
{
	uint8_t want[32];
	if (p->curlen < 4 || memcmp(p->cur, "end ", 4) != 0)
		return hfc_lines_fail(p, "expected the 'end' line");
	if (p->curlen != 4 + 64 || hfc_hex_decode(p->cur + 4, 32, want) < 0)
		return hfc_lines_fail(p, "bad end line: expected 64 lowercase hex digits");
	int r = hfc_digest(HFC_HASH_SHA256, p->buf, above, ret_sha256);
	if (r < 0)
		return r;
	if (memcmp(want, ret_sha256, 32) != 0)
		return hfc_lines_fail(p, "end checksum does not match the %s (edited or corrupted)",
				      what);
	return 0;
}
