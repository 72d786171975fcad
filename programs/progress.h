/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The progress bar of the tools: an HfcProgressFn (base/progress.h) that draws on stderr when it
 * is a terminal, at most ten times a second, and restarts when the phase's name changes.
 */

#include "base/progress.h"

typedef struct HfcProgressBar {
	bool enabled;
	const char *what;
	uint64_t total;
	double start, last;
	int width;
} HfcProgressBar;

/*
 * Sets up a bar, drawn only when want and stderr is a terminal, and returns the callback to hand
 * to the library (its fn is NULL when nothing will be drawn).
 */
HfcProgress hfc_progress_bar(HfcProgressBar *bar, bool want);

/* Clears the bar's line; call after the work returns. */
void hfc_progress_bar_end(HfcProgressBar *bar);

/* Formats a byte count as "123 B" or "123.4 MiB" into out. */
void hfc_format_bytes(uint64_t n, char *out, size_t outlen);
