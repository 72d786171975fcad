/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A progress bar on stderr, drawn only when stderr is a terminal, at most ten times a second. */

#include "util.h"

typedef struct HfcProgress {
	bool enabled;
	const char *what;
	uint64_t total;
	double start, last;
	int width;
} HfcProgress;

/* Starts a bar for `total` units (bytes); enabled only when `want` and stderr is a tty. */
void hfc_progress_start(HfcProgress *p, const char *what, uint64_t total, bool want);

/* Redraws the bar for `done` units when due. */
void hfc_progress_update(HfcProgress *p, uint64_t done);

/* Clears the bar line. */
void hfc_progress_end(HfcProgress *p);

/* Returns a monotonic clock in seconds. */
double hfc_monotonic(void);

/* Formats a byte count as "123.4 MiB" into out. */
void hfc_format_bytes(uint64_t n, char *out, size_t outlen);
