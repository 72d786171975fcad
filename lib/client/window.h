/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The window of background fetches (prefetch and readahead): how many requests to keep in
 * flight so that they fill bandwidth x RTT. Pure arithmetic on samples the caller feeds in
 * (no clock, no lock): each finished transfer gives its bytes and its round trip, and the
 * window is recomputed at the end of each interval from the throughput of that interval.
 */

#include <stdbool.h>
#include <stdint.h>

/* The hard bound of any window: requests in flight at once, whatever the options say. */
#define HFC_WINDOW_MAX 64

typedef struct HfcWindow {
	unsigned min, max, cur;
	double start;          /* the interval's start (seconds, the caller's clock); 0: none yet */
	uint64_t bytes;        /* bytes completed in this interval */
	bool limited;          /* work waited for room in the window during this interval */
	bool idle;             /* ... and the window had room with no work to fill it */
	double rtt, rtt_prev;  /* the smallest round trip of this interval and of the last one */
	double mean_block;     /* bytes per transfer, a running average; 0 before any */
	double rate;           /* the last interval's throughput, bytes per second */
} HfcWindow;

/*
 * The window for a measured throughput (bytes/s), round trip (s) and mean transfer (bytes):
 * twice the transfers that fill rate x rtt, plus a margin, within [min, max] (max at most
 * HFC_WINDOW_MAX). Twice: while the window limits the throughput, the rate it measures is its
 * own, and doubling is how it finds out there is more; once the link is full, the rate stops
 * growing and so does the window.
 */
unsigned hfc_window_compute(double rate, double rtt, double mean_block, unsigned min,
			    unsigned max);

/* Starts a window of min..max (clamped to 1..HFC_WINDOW_MAX), at max. */
void hfc_window_init(HfcWindow *w, unsigned min, unsigned max);

/*
 * Notes that work waited because the window was full, or that the window had room and no work
 * to fill it. Only an interval that was limited and never idle measured the window itself: only
 * then does the window change.
 */
void hfc_window_limited(HfcWindow *w);
void hfc_window_idle(HfcWindow *w);

/*
 * A transfer of `bytes` finished at `now` (seconds) after a round trip of rtt seconds (from
 * the request sent to the last byte: what one request costs a place in the window; < 0 when
 * unknown). Ends the interval when it is long enough (a round trip, at least 50 ms) and then
 * recomputes the window, when work waited for it all along.
 */
void hfc_window_sample(HfcWindow *w, double now, double rtt, uint64_t bytes);

/* The window now: requests to keep in flight. */
static inline unsigned hfc_window_size(const HfcWindow *w)
{
	return w->cur;
}

/* The round trip the window uses (seconds; < 0 before any sample). */
double hfc_window_rtt(const HfcWindow *w);
