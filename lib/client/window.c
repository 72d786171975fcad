/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "client/window.h"


#define MARGIN 2
#define INTERVAL_MIN 0.05

/* No libm: the library links without it. */
static double dmin(double a, double b)
{
	return a < b ? a : b;
}

static double dmax(double a, double b)
{
	return a > b ? a : b;
}

static unsigned clampu(double v, unsigned min, unsigned max)
{
	if (!(v >= (double)min)) /* NaN too */
		return min;
	return v >= (double)max ? max : (unsigned)v;
}

unsigned hfc_window_compute(double rate, double rtt, double mean_block, unsigned min,
			    unsigned max)
{
	if (max > HFC_WINDOW_MAX)
		max = HFC_WINDOW_MAX;
	if (max < 1)
		max = 1;
	if (min < 1)
		min = 1;
	if (min > max)
		min = max;
	if (!(rate > 0) || !(rtt > 0) || !(mean_block > 0))
		return min;
	double fill = rate * rtt / mean_block;
	if (fill > 4.0 * HFC_WINDOW_MAX) /* no overflow on the way to the bound */
		return max;
	return clampu(2.0 * (double)(unsigned)(fill + 0.999999) + MARGIN, min, max);
}

void hfc_window_init(HfcWindow *w, unsigned min, unsigned max)
{
	max = max < 1 ? 1 : max > HFC_WINDOW_MAX ? HFC_WINDOW_MAX : max;
	min = min < 1 ? 1 : min > max ? max : min;
	/*
	 * At the bound: a profile is known work, and the first round trips are the dearest on a
	 * long path (each of them, a new connection's handshake and slow start); a short path
	 * takes the window down after its first interval.
	 */
	*w = (HfcWindow){ .min = min, .max = max, .cur = max,
			  .rtt = -1, .rtt_prev = -1 };
}

void hfc_window_limited(HfcWindow *w)
{
	w->limited = true;
}

void hfc_window_idle(HfcWindow *w)
{
	w->idle = true;
}

double hfc_window_rtt(const HfcWindow *w)
{
	if (w->rtt < 0)
		return w->rtt_prev;
	if (w->rtt_prev < 0)
		return w->rtt;
	return dmin(w->rtt, w->rtt_prev);
}

void hfc_window_sample(HfcWindow *w, double now, double rtt, uint64_t bytes)
{
	if (w->start <= 0) {
		/* The first transfer opens the first interval: nothing before it is measured. */
		w->start = now;
		w->limited = w->idle = false;
	}
	w->bytes += bytes;
	if (bytes)
		w->mean_block = w->mean_block > 0 ? 0.9 * w->mean_block + 0.1 * (double)bytes
						  : (double)bytes;
	/* The smallest round trip is the path's; the larger ones waited behind other transfers. */
	if (rtt >= 0 && (w->rtt < 0 || rtt < w->rtt))
		w->rtt = rtt;
	double r = hfc_window_rtt(w);
	double len = dmax(r, INTERVAL_MIN);
	if (now - w->start < len)
		return;
	w->rate = (double)w->bytes / (now - w->start);
	/* Only a window that held work back has measured itself; an idle one keeps its size. */
	if (w->limited && !w->idle)
		w->cur = hfc_window_compute(w->rate, r, w->mean_block, w->min, w->max);
	w->start = now;
	w->bytes = 0;
	w->limited = w->idle = false;
	w->rtt_prev = w->rtt;
	w->rtt = -1;
}
