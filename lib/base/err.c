/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/util.h"

#include <stdarg.h>
#include <stdio.h>

int hfc_err_set(HfcErr *err, int r, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return r;
}
