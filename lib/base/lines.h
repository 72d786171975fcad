/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A strict reader of line-based text formats (indexes, profiles): LF only, no NUL, bounded
 * lines, canonical numbers, and errors that name "file:line". Input is treated as hostile.
 */

#include "base/parse.h"
#include "base/util.h"

typedef struct HfcLines {
	const char *buf, *fname;
	size_t len, pos;
	unsigned line;
	const char *cur; /* the current line, not NUL-terminated */
	size_t curlen;
	HfcErr *err;
} HfcLines;

/* Starts reading buf (len bytes) named fname in messages; err may be NULL. */
void hfc_lines_init(HfcLines *p, const char *buf, size_t len, const char *fname, HfcErr *err);

/* Fills err with "fname:line: what" and returns -EBADMSG. */
int hfc_lines_fail(HfcLines *p, const char *fmt, ...) _printf_(2, 3);

/* Advances to the next line; returns 1, 0 at end of input, or -EBADMSG (no newline, NUL, CR). */
int hfc_lines_next(HfcLines *p);

/* True when the current line is exactly s. */
bool hfc_lines_is(const HfcLines *p, const char *s);

/*
 * Expects the current line to be "key value" with this key; sets the value. Returns 0 or
 * -EBADMSG ("expected 'key'").
 */
int hfc_lines_key(HfcLines *p, const char *key, const char **ret_val, size_t *ret_len);

/*
 * Checks that the current line is "end <64 hex>" and equals the sha256 of the input's first
 * `above` bytes (every byte above the end line); stores that sha256. `what` names the file's
 * kind in the message ("index"). Returns 0 or -EBADMSG.
 */
int hfc_lines_check_end(HfcLines *p, size_t above, const char *what, uint8_t ret_sha256[32]);
