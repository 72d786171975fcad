/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Numbers and sizes written as text: the one decimal parser of the project. */

#include "base/util.h"

/*
 * Parses exactly n bytes of a canonical decimal (digits only, no sign, no leading zeros, at most
 * 20 digits, no overflow) up to max. Returns 0 or -EINVAL.
 */
int hfc_parse_canonical(const char *s, size_t n, uint64_t max, uint64_t *ret);

/* Parses a NUL-terminated decimal up to max; leading zeros are allowed. Returns 0 or -EINVAL. */
int hfc_parse_uint(const char *s, uint64_t max, uint64_t *ret);

/*
 * Parses a size: a decimal with an optional K, M, G or T suffix (powers of 1024), at most 31
 * characters, without overflow. Returns 0 or -EINVAL.
 */
int hfc_parse_size(const char *s, uint64_t *ret);

/* Parses a duration: a decimal and a unit, s, m, h, d or w ("14d", "12h"); returns 0 or -EINVAL. */
int hfc_parse_duration(const char *s, int64_t *ret_seconds);
