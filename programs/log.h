/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Messages of the tools: "prog: where: what" on stderr, with control characters escaped (\x1b,
 * as ls -b shows them). Only programs print; lib/ returns.
 */

#include "base/util.h"

#include <stdarg.h>
#include <stdio.h>

/* Sets the program name used as the prefix of every message. */
void hfc_log_set_program(const char *name);

/* Returns the program name set by hfc_log_set_program(). */
const char *hfc_log_program(void);

/* Prints "prog: where: what" to stderr; returns -1 for `return hfc_log_error(...)`. */
int hfc_log_error(const char *where, const char *fmt, ...) _printf_(2, 3);

/* Prints "prog: where: strerror(-r)" and returns r. */
int hfc_log_errno(int r, const char *where);

/* Prints "prog: err->msg", or strerror(-r) when the message is empty; returns r. */
int hfc_log_err(int r, const HfcErr *err);

/* Prints "prog: note: ..." to stderr, used for warnings that do not fail the command. */
void hfc_log_warn(const char *fmt, ...) _printf_(1, 2);

/*
 * Prints "prog: where: what" (without "where: " when it is NULL), what formatted from fmt and
 * ap, then suffix, escaped as every message is. The one writer of messages.
 */
void hfc_log_vline(const char *where, const char *suffix, const char *fmt, va_list ap)
	_printf_(3, 0);

/*
 * Writes s to f with what is not printable UTF-8 escaped as \xNN, and a backslash as two
 * (hfc_escape): for names and text from outside, which must not reach a terminal raw.
 */
void hfc_fputs_escaped(const char *s, FILE *f);
