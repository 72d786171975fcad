/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Text that came from outside (an index's lines, file names in an image, URLs): what of it is
 * printable UTF-8, and an escaped form that is safe to show on a terminal.
 */

#include "base/util.h"

/*
 * Returns the length (1 to 4) of the printable character at s (n > 0 bytes left): a printable
 * ASCII byte, or a well-formed UTF-8 sequence (RFC 3629: no overlong forms, surrogates or code
 * points above U+10FFFF) that is not a C1 control. Returns 0 for a control character (C0, DEL,
 * C1) and for a byte that does not begin such a sequence.
 */
size_t hfc_utf8_printable_len(const char *s, size_t n);

/*
 * Writes the n bytes of s into out (outlen bytes, NUL-terminated, cut short when too small)
 * with every byte that is not part of a printable character as \xNN and a backslash as \\,
 * as ls -b does. Returns the length of the whole escaped form (without its NUL), so a caller
 * can size out: at most 4 * n.
 */
size_t hfc_escape(const char *s, size_t n, char *out, size_t outlen);
