/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small pieces every tool's main uses: option values and JSON output. */

#include "util.h"

#include <stdio.h>

/* Parses a plain decimal up to max; returns 0 or -EINVAL. */
int hfc_parse_uint(const char *s, uint64_t max, uint64_t *ret);

/* Parses a size with an optional K, M, G or T suffix (powers of 1024); returns 0 or -EINVAL. */
int hfc_parse_size(const char *s, uint64_t *ret);

/* Writes s as a JSON string literal (quotes and escapes). */
void hfc_json_string(FILE *f, const char *s);
