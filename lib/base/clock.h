/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Time: a monotonic clock for durations, and the one UTC timestamp format of the project. */

#include "base/util.h"

/* Returns a monotonic clock in seconds. */
double hfc_monotonic(void);

/*
 * Returns SOURCE_DATE_EPOCH when set and valid, else the current time (seconds, UTC): the
 * time to write into what should be reproducible (an index's `created`).
 */
int64_t hfc_now(void);

/* Returns the current time (seconds, UTC), whatever SOURCE_DATE_EPOCH says: for expiry. */
int64_t hfc_realtime(void);

/* Formats "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void hfc_format_time(int64_t t, char *out, size_t outlen);

/* Flags for hfc_parse_time(). */
#define HFC_TIME_DATE_OK 1u /* also accept "YYYY-MM-DD" (midnight UTC) */

/*
 * Parses exactly n bytes of "YYYY-MM-DDTHH:MM:SSZ" (UTC, from 1970, a day that exists), or with
 * HFC_TIME_DATE_OK also "YYYY-MM-DD". Returns 0 or -EINVAL.
 */
int hfc_parse_time(const char *s, size_t n, unsigned flags, int64_t *ret);
