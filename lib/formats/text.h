/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the text formats of formats/ (profile, manifest) share beyond base/lines.h. (The index
 * parser ends the same way but for its optional signature line.)
 */

#include "base/lines.h"

/*
 * Reads the last lines of a text format: "end <sha256>" over every byte above it, then nothing.
 * `what` names the format in messages ("profile"). Returns 0 or -EBADMSG.
 */
static inline int hfc_text_end(HfcLines *l, const char *what)
{
	size_t above = l->pos;
	uint8_t sha[32];
	int r = hfc_lines_next(l);
	if (r == 0)
		return hfc_lines_fail(l, "truncated: missing end line");
	if (r > 0)
		r = hfc_lines_check_end(l, above, what, sha);
	if (r >= 0 && (r = hfc_lines_next(l)) > 0)
		return hfc_lines_fail(l, "unexpected data after the end of the %s", what);
	return r;
}
