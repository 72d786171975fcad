/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "programs/log.h"

#include "base/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *program = "hfc";

void hfc_log_set_program(const char *name)
{
	program = name;
}

const char *hfc_log_program(void)
{
	return program;
}

void hfc_fputs_escaped(const char *s, FILE *f)
{
	char small[1024];
	size_t n = strlen(s);
	size_t need = hfc_escape(s, n, small, sizeof(small));
	char *big = need < sizeof(small) ? NULL : malloc(need + 1);
	if (big)
		hfc_escape(s, n, big, need + 1);
	/* Out of memory: the escaped form cut short is still safe to show. */
	fputs(big ? big : small, f);
	free(big);
}

/*
 * Every message goes out escaped: it may quote bytes of an index, a URL, a file name in an
 * image, and an escape sequence among them would reach the terminal.
 */
void hfc_log_vline(const char *where, const char *suffix, const char *fmt, va_list ap)
{
	char *what = NULL;
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	hfc_fputs_escaped(program, stderr);
	fputs(": ", stderr);
	if (where) {
		hfc_fputs_escaped(where, stderr);
		fputs(": ", stderr);
	}
	hfc_fputs_escaped(what ? what : "(out of memory)", stderr);
	fputs(suffix, stderr);
	fputc('\n', stderr);
	free(what);
}

_printf_(2, 3) static void line(const char *where, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hfc_log_vline(where, "", fmt, ap);
	va_end(ap);
}

int hfc_log_error(const char *where, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hfc_log_vline(where, "", fmt, ap);
	va_end(ap);
	return -1;
}

int hfc_log_errno(int r, const char *where)
{
	line(where, "%s", strerror(r < 0 ? -r : r));
	return r;
}

int hfc_log_err(int r, const HfcErr *err)
{
	if (err && err->msg[0])
		line(NULL, "%s", err->msg);
	else
		line(NULL, "%s", strerror(r < 0 ? -r : EIO));
	return r;
}

void hfc_log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hfc_log_vline("note", "", fmt, ap);
	va_end(ap);
}
