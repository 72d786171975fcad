/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for window.c: the window of background fetches from throughput and round trip
 * samples. hfc_window_compute on its own (the bandwidth x RTT arithmetic, its bounds, odd
 * input), then a window fed by a simulated link: it starts at its bound and a short path takes
 * it down, it grows while it limits the throughput,
 * settles near bandwidth x RTT once the link is full, shrinks when the link slows, keeps its
 * size while no work waits for it, and never leaves its bounds.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "client/window.h"
#include "helpers.h"

#define BLOCK 262144.0

static void test_compute(void **state)
{
	(void)state;
	/* 10 MB/s at 100 ms over 256 KiB blocks: 1 MB in flight, 4 blocks; twice, plus 2. */
	assert_int_equal(hfc_window_compute(10e6, 0.1, BLOCK, 1, 64), 10);
	/* A long fat pipe: 1 GB/s at 100 ms wants more than the bound. */
	assert_int_equal(hfc_window_compute(1e9, 0.1, BLOCK, 8, 64), 64);
	/* The hard bound holds whatever max says. */
	assert_int_equal(hfc_window_compute(1e9, 0.1, BLOCK, 8, 1000), HFC_WINDOW_MAX);
	/* A LAN: the minimum. */
	assert_int_equal(hfc_window_compute(300e6, 0.0002, BLOCK, 8, 64), 8);
	/* Nothing measured yet, or nonsense: the minimum. */
	assert_int_equal(hfc_window_compute(0, 0.1, BLOCK, 8, 64), 8);
	assert_int_equal(hfc_window_compute(10e6, -1, BLOCK, 8, 64), 8);
	assert_int_equal(hfc_window_compute(10e6, 0.1, 0, 8, 64), 8);
	assert_int_equal(hfc_window_compute(NAN, 0.1, BLOCK, 8, 64), 8);
	assert_int_equal(hfc_window_compute(10e6, INFINITY, BLOCK, 8, 64), 64);
	assert_int_equal(hfc_window_compute(1e300, 1e300, 1, 8, 64), 64);
	/* min above max, zero bounds: still a window of at least one. */
	assert_int_equal(hfc_window_compute(10e6, 0.1, BLOCK, 20, 4), 4);
	assert_int_equal(hfc_window_compute(10e6, 0.1, BLOCK, 0, 0), 1);
	/* Monotonic in the rate and in the round trip. */
	unsigned last = 0;
	for (double rate = 1e5; rate < 1e9; rate *= 1.5) {
		unsigned w = hfc_window_compute(rate, 0.05, BLOCK, 2, 64);
		assert_true(w >= last);
		last = w;
	}
	last = 0;
	for (double rtt = 1e-4; rtt < 1; rtt *= 1.5) {
		unsigned w = hfc_window_compute(20e6, rtt, BLOCK, 2, 64);
		assert_true(w >= last);
		last = w;
	}
}

static void test_init(void **state)
{
	(void)state;
	HfcWindow w;
	hfc_window_init(&w, 8, 64);
	assert_int_equal(hfc_window_size(&w), 64);
	hfc_window_init(&w, 8, 20);
	assert_int_equal(hfc_window_size(&w), 20);
	assert_true(hfc_window_rtt(&w) < 0);
	hfc_window_init(&w, 8, 10);
	assert_int_equal(hfc_window_size(&w), 10);
	hfc_window_init(&w, 0, 500);
	assert_int_equal(w.max, HFC_WINDOW_MAX);
	assert_true(hfc_window_size(&w) >= 1);
}

/*
 * A link of bw bytes/s and round trip rtt: a transfer takes rtt plus its share of the link.
 * Runs the window for secs from *now with work always waiting (when busy) and returns the
 * window at the end; *ret_max is the largest it was on the way.
 */
static unsigned simulate(HfcWindow *w, double *now, double secs, double bw, double rtt, bool busy,
			 unsigned *ret_max)
{
	double end = *now + secs, step = rtt / 8, owed = 0;
	unsigned max = 0;
	while (*now < end) {
		unsigned win = hfc_window_size(w);
		assert_true(win >= w->min && win <= w->max && win <= HFC_WINDOW_MAX);
		max = win > max ? win : max;
		/* In flight win transfers: the rate is the smaller of the link and what the window
		 * lets through in a round trip (one transfer takes rtt and its own bytes' time). */
		double rate = win * BLOCK / (rtt + BLOCK / bw);
		rate = rate < bw ? rate : bw;
		if (busy)
			hfc_window_limited(w);
		else
			hfc_window_idle(w);
		if (!busy)
			rate = rate < 2 * BLOCK / rtt ? rate : 2 * BLOCK / rtt; /* a trickle of work */
		owed += rate * step;
		*now += step;
		while (owed >= BLOCK) {
			owed -= BLOCK;
			/* The first byte comes after the round trip, and the queue ahead of it. */
			hfc_window_sample(w, *now, rtt + BLOCK / bw, (uint64_t)BLOCK);
		}
	}
	if (ret_max)
		*ret_max = max;
	return hfc_window_size(w);
}

static void test_grows_on_a_long_fat_pipe(void **state)
{
	(void)state;
	HfcWindow w;
	hfc_window_init(&w, 8, 64);
	double now = 1;
	/* It starts at its bound; a LAN takes it down to the minimum. */
	assert_int_equal(hfc_window_size(&w), 64);
	assert_int_equal(simulate(&w, &now, 1, 1e9, 0.0002, true, NULL), 8);
	/* 1 Gbit/s at 100 ms: 12.5 MB in flight, far past 64 blocks: the window goes back to its
	 * bound within a second or two, doubling as it measures its own throughput. */
	unsigned got = simulate(&w, &now, 2, 125e6, 0.1, true, NULL);
	assert_int_equal(got, 64);
	/* And stays there. */
	unsigned max;
	got = simulate(&w, &now, 5, 125e6, 0.1, true, &max);
	assert_int_equal(got, 64);
	assert_int_equal(max, 64);
	/* The round trip is the path's, not the queue's. */
	assert_true(fabs(hfc_window_rtt(&w) - (0.1 + BLOCK / 125e6)) < 1e-6);
}

static void test_settles_at_bandwidth_times_rtt(void **state)
{
	(void)state;
	HfcWindow w;
	hfc_window_init(&w, 2, 64);
	double now = 1;
	/* 20 MB/s at 100 ms: 2 MB, about 8 blocks, fill the pipe. */
	unsigned got = simulate(&w, &now, 10, 20e6, 0.1, true, NULL);
	double bdp = 20e6 * 0.1 / BLOCK;
	assert_true(got >= bdp);         /* enough to fill it */
	assert_true(got <= 3 * bdp + 4); /* but not the bound: the link is full */
	assert_true(got < 64);
	/* The link slows to 2 MB/s: the window follows it down. */
	unsigned slow = simulate(&w, &now, 10, 2e6, 0.1, true, NULL);
	assert_true(slow < got);
	assert_true(slow <= 8);
	assert_true(slow >= 2);
	/* And back up when the link is fast again. */
	unsigned fast = simulate(&w, &now, 10, 20e6, 0.1, true, NULL);
	assert_true(fast >= bdp);
}

static void test_lan_stays_small(void **state)
{
	(void)state;
	HfcWindow w;
	hfc_window_init(&w, 8, 64);
	double now = 1;
	/* 1 GB/s at 0.2 ms: a block and a bit fill it; the minimum keeps the decoders fed. */
	unsigned got = simulate(&w, &now, 2, 1e9, 0.0002, true, NULL);
	assert_int_equal(got, 8);
}

static void test_idle_keeps_size(void **state)
{
	(void)state;
	HfcWindow w;
	hfc_window_init(&w, 8, 64);
	double now = 1;
	unsigned got = simulate(&w, &now, 2, 125e6, 0.1, true, NULL);
	assert_int_equal(got, 64);
	/* A trickle of work that never fills the window says nothing about the link. */
	unsigned idle = simulate(&w, &now, 5, 125e6, 0.1, false, NULL);
	assert_int_equal(idle, 64);
}

static void test_unknown_rtt(void **state)
{
	(void)state;
	HfcWindow w;
	hfc_window_init(&w, 4, 32);
	/* Samples without a round trip: nothing says the path is long, the window is its minimum. */
	for (int i = 0; i < 1000; i++) {
		hfc_window_limited(&w);
		hfc_window_sample(&w, 1 + i * 0.01, -1, 262144);
	}
	assert_int_equal(hfc_window_size(&w), 4);
	assert_true(hfc_window_rtt(&w) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compute),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_grows_on_a_long_fat_pipe),
		cmocka_unit_test(test_settles_at_bandwidth_times_rtt),
		cmocka_unit_test(test_lan_stays_small),
		cmocka_unit_test(test_idle_keeps_size),
		cmocka_unit_test(test_unknown_rtt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
