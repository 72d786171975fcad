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

/*
 * Parses the value of option `name` as a number from min to max; on error prints
 * "prog: name: 'arg' is not a number from min to max" and returns -EINVAL (exit 2).
 */
int hfc_opt_uint(const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *ret);

/* Like hfc_opt_uint for a size with an optional K, M, G or T suffix, at least min bytes. */
int hfc_opt_size(const char *name, const char *arg, uint64_t min, uint64_t *ret);

/*
 * Splits "URL[,URL...]" in place into out (at most max); returns the count, or -EINVAL (and an
 * error printed) when there are none or too many.
 */
int hfc_split_urls(char *s, const char **out, int max);
