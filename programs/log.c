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
_printf_(1, 0) static void emit(const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	hfc_fputs_escaped(program, stderr);
	fputs(": ", stderr);
	hfc_fputs_escaped(msg ? msg : "(out of memory)", stderr);
	fputc('\n', stderr);
	free(msg);
}

_printf_(1, 2) static void emitf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}

int hfc_log_error(const char *where, const char *fmt, ...)
{
	char *what = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	emitf("%s: %s", where, what ? what : "(out of memory)");
	free(what);
	return -1;
}

int hfc_log_errno(int r, const char *where)
{
	emitf("%s: %s", where, strerror(r < 0 ? -r : r));
	return r;
}

int hfc_log_err(int r, const HfcErr *err)
{
	if (err && err->msg[0])
		emitf("%s", err->msg);
	else
		emitf("%s", strerror(r < 0 ? -r : EIO));
	return r;
}

void hfc_log_warn(const char *fmt, ...)
{
	char *what = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	emitf("note: %s", what ? what : "(out of memory)");
	free(what);
}
