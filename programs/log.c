/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "programs/log.h"

#include <stdarg.h>
#include <stdio.h>
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

int hfc_log_error(const char *where, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: %s: ", program, where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

int hfc_log_errno(int r, const char *where)
{
	fprintf(stderr, "%s: %s: %s\n", program, where, strerror(r < 0 ? -r : r));
	return r;
}

int hfc_log_err(int r, const HfcErr *err)
{
	if (err && err->msg[0])
		fprintf(stderr, "%s: %s\n", program, err->msg);
	else
		fprintf(stderr, "%s: %s\n", program, strerror(r < 0 ? -r : EIO));
	return r;
}

void hfc_log_warn(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: note: ", program);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
