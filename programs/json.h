/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * JSON output of the tools (--json): objects built with jansson (json_pack and friends) and
 * written by this one writer, compact, in insertion order, one object per line.
 */

#include "base/util.h"

#include <jansson.h>
#include <stdio.h>

/*
 * Writes v to f as one line and releases it (NULL, from a failed json_pack, is -ENOMEM).
 * Returns 0 or -errno.
 */
int hfc_json_print(FILE *f, json_t *v);

/* A number of seconds, rounded to milliseconds (so that 0.122 prints as 0.122). */
json_t *hfc_json_seconds(double s);

/* A rate in MB/s, rounded to one decimal. */
json_t *hfc_json_rate(double mb_per_s);

/* A string, or null when s is NULL. */
json_t *hfc_json_string_or_null(const char *s);

/* A string from any bytes: UTF-8 as it is, every other byte as U+FFFD (paths, names). */
json_t *hfc_json_str(const char *s);
