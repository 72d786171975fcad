/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for pipeline.c: the sink sees every item once and strictly in order, never more
 * than `window` items are in flight, and the first error (from work or from sink) stops the run
 * and is what it returns.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "base/pipeline.h"

typedef struct Item {
	uint64_t i, check;
	unsigned worker;
} Item;

typedef struct Ctx {
	uint64_t n;
	unsigned jobs, window; /* window as the pipeline uses it: at least jobs */
	uint64_t fail_work_at, fail_sink_at; /* UINT64_MAX: never */
	int work_error, sink_error;

	atomic_uint_fast64_t sunk;   /* sink calls completed */
	atomic_uint_fast64_t worked; /* work calls started */
	atomic_uint_fast64_t max_work_i;
	atomic_int bad;		     /* a check inside a callback failed */
	atomic_uchar *work_count;    /* per item */
	uint64_t next_sink;	     /* only the sink thread touches it */
} Ctx;

static void note_bad(Ctx *c, const char *what, uint64_t i)
{
	/* cmocka's asserts are not for other threads: record, and fail on the main thread. */
	if (atomic_fetch_add(&c->bad, 1) == 0)
		print_error("pipeline check failed: %s (item %ju)\n", what, (uintmax_t)i);
}

static void jitter(uint64_t i)
{
	/* Let items finish out of order now and then. */
	if (i % 7 == 3)
		sched_yield();
	if (i % 29 == 5)
		nanosleep(&(struct timespec){ .tv_nsec = 50000 }, NULL);
}

static int work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	Ctx *c = ctx;
	if (worker >= c->jobs)
		note_bad(c, "worker id out of range", i);
	if (i >= c->n)
		note_bad(c, "work beyond n", i);
	/* i < next_sink + window <= sunk + window: the window bounds memory. */
	if (i >= atomic_load(&c->sunk) + c->window)
		note_bad(c, "more than window items in flight", i);
	if (i < c->n && atomic_fetch_add(&c->work_count[i], 1) != 0)
		note_bad(c, "item worked twice", i);
	atomic_fetch_add(&c->worked, 1);
	uint64_t m = atomic_load(&c->max_work_i);
	while (i > m && !atomic_compare_exchange_weak(&c->max_work_i, &m, i))
		;
	jitter(i);
	Item *it = slot;
	it->i = i;
	it->check = ~i * 0x9e3779b97f4a7c15u;
	it->worker = worker;
	if (i == c->fail_work_at)
		return c->work_error;
	return 0;
}

static int sink(void *ctx, uint64_t i, void *slot)
{
	Ctx *c = ctx;
	const Item *it = slot;
	if (i != c->next_sink)
		note_bad(c, "sink out of order", i);
	if (it->i != i || it->check != ~i * 0x9e3779b97f4a7c15u || it->worker >= c->jobs)
		note_bad(c, "slot does not hold the item's work", i);
	if (i < c->n && atomic_load(&c->work_count[i]) != 1)
		note_bad(c, "sink before work", i);
	c->next_sink = i + 1;
	atomic_fetch_add(&c->sunk, 1);
	if (i == c->fail_sink_at)
		return c->sink_error;
	return 0;
}

static void ctx_init(Ctx *c, uint64_t n, unsigned jobs, unsigned window)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->jobs = jobs ? jobs : 1;
	c->window = window < c->jobs ? c->jobs : window;
	c->fail_work_at = c->fail_sink_at = UINT64_MAX;
	c->work_count = calloc(n ? n : 1, sizeof(atomic_uchar));
	assert_non_null(c->work_count);
}

static void run_ok(uint64_t n, unsigned jobs, unsigned window)
{
	Ctx c;
	ctx_init(&c, n, jobs, window);
	int r = hfc_pipeline_run(n, jobs, window, sizeof(Item), work, sink, &c);
	if (r != 0 || c.bad || c.next_sink != n || atomic_load(&c.worked) != n)
		fail_msg("n=%ju jobs=%u window=%u: r=%d bad=%d sunk=%ju worked=%ju", (uintmax_t)n,
			 jobs, window, r, (int)c.bad, (uintmax_t)c.next_sink,
			 (uintmax_t)atomic_load(&c.worked));
	free(c.work_count);
}

static void test_in_order(void **state)
{
	(void)state;
	static const unsigned jobs[] = { 1, 2, 8 };
	static const unsigned windows[] = { 1, 2, 3, 8, 16, 64 };
	for (size_t j = 0; j < ELEMENTSOF(jobs); j++)
		for (size_t w = 0; w < ELEMENTSOF(windows); w++) {
			run_ok(1, jobs[j], windows[w]);
			run_ok(2, jobs[j], windows[w]);
			run_ok(1000, jobs[j], windows[w]);
		}
}

static void test_zero_items(void **state)
{
	(void)state;
	static const unsigned jobs[] = { 0, 1, 2, 8 };
	for (size_t j = 0; j < ELEMENTSOF(jobs); j++) {
		run_ok(0, jobs[j], 1);
		run_ok(0, jobs[j], 16);
	}
	/* Nothing is called at all. */
	assert_int_equal(hfc_pipeline_run(0, 4, 4, 16, NULL, NULL, NULL), 0);
}

static void test_jobs_zero_means_one(void **state)
{
	(void)state;
	run_ok(100, 0, 0);
	run_ok(100, 0, 4);
}

static int count_sink(void *ctx, uint64_t i, void *slot)
{
	(void)slot;
	uint64_t *next = ctx;
	if (i != *next)
		return -EPROTO;
	(*next)++;
	return 0;
}

static int nop_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	(void)ctx;
	(void)worker;
	(void)i;
	(void)slot;
	return 0;
}

static int counting_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	(void)worker;
	(void)i;
	(void)slot;
	atomic_fetch_add((atomic_uint_fast64_t *)ctx, 1);
	return 1; /* >= 0 is success */
}

static void test_no_sink_and_no_slots(void **state)
{
	(void)state;
	atomic_uint_fast64_t calls = 0;
	assert_int_equal(hfc_pipeline_run(500, 4, 8, 0, counting_work, NULL, &calls), 0);
	assert_int_equal(atomic_load(&calls), 500);
	uint64_t next = 0;
	assert_int_equal(hfc_pipeline_run(300, 3, 5, 1, nop_work, count_sink, &next), 0);
	assert_int_equal(next, 300);
}

/*
 * Item k fails, in work (-EIO) or in sink (-ENOSPC): the run returns that error, the sink sees
 * nothing after the failed item, and nothing past the window open at the failure is started.
 */
static void run_error(bool in_sink, uint64_t n, unsigned jobs, unsigned window, uint64_t k)
{
	const char *where = in_sink ? "sink" : "work";
	int want = in_sink ? -ENOSPC : -EIO;
	Ctx c;
	ctx_init(&c, n, jobs, window);
	if (in_sink) {
		c.fail_sink_at = k;
		c.sink_error = want;
	} else {
		c.fail_work_at = k;
		c.work_error = want;
	}
	int r = hfc_pipeline_run(n, jobs, window, sizeof(Item), work, sink, &c);
	if (r != want || c.bad)
		fail_msg("%s error at %ju (n=%ju jobs=%u window=%u): r=%d bad=%d", where,
			 (uintmax_t)k, (uintmax_t)n, jobs, window, r, (int)c.bad);
	/* A failed work item never reaches the sink; a failed sink call is the last one. */
	if (in_sink ? c.next_sink != k + 1 : c.next_sink > k)
		fail_msg("%s error at %ju: sink reached item %ju", where, (uintmax_t)k,
			 (uintmax_t)c.next_sink - 1);
	/* It stops: nothing past the window that was open when item k failed is started. */
	uint64_t open_from = in_sink ? k + 1 : k;
	if (atomic_load(&c.max_work_i) >= open_from + c.window)
		fail_msg("%s error at %ju (window %u): item %ju was started", where, (uintmax_t)k,
			 c.window, (uintmax_t)atomic_load(&c.max_work_i));
	if (!in_sink && jobs <= 1 && atomic_load(&c.worked) != k + 1)
		fail_msg("work error at %ju with one job: %ju items worked", (uintmax_t)k,
			 (uintmax_t)atomic_load(&c.worked));
	free(c.work_count);
}

/* run_error() at every combination of jobs, window and failing item; in sink when *state. */
static void test_error(void **state)
{
	const bool in_sink = *(const bool *)*state;
	static const unsigned jobs[] = { 1, 2, 8 };
	static const unsigned windows[] = { 1, 2, 16 };
	static const uint64_t at[] = { 0, 1, 37, 999 };
	for (size_t j = 0; j < ELEMENTSOF(jobs); j++)
		for (size_t w = 0; w < ELEMENTSOF(windows); w++)
			for (size_t a = 0; a < ELEMENTSOF(at); a++)
				run_error(in_sink, 1000, jobs[j], windows[w], at[a]);
}

/* A positive result from work or sink is success, not an error. */
static int positive_sink(void *ctx, uint64_t i, void *slot)
{
	(void)slot;
	(void)i;
	(*(uint64_t *)ctx)++;
	return 7;
}

static void test_positive_results(void **state)
{
	(void)state;
	atomic_uint_fast64_t calls = 0;
	assert_int_equal(hfc_pipeline_run(50, 2, 4, 0, counting_work, NULL, &calls), 0);
	assert_int_equal(atomic_load(&calls), 50); /* work's 1 did not stop the run */
	uint64_t sunk = 0;
	assert_int_equal(hfc_pipeline_run(50, 2, 4, 8, nop_work, positive_sink, &sunk), 0);
	assert_int_equal(sunk, 50);
}

static void test_cpu_count(void **state)
{
	(void)state;
	unsigned n = hfc_cpu_count();
	assert_true(n >= 1);
	assert_true(n <= 65536);
}

int main(void)
{
	static bool in_sink[] = { false, true };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_zero_items),
		cmocka_unit_test(test_jobs_zero_means_one),
		cmocka_unit_test(test_no_sink_and_no_slots),
		{ "test_work_error", test_error, NULL, NULL, &in_sink[0] },
		{ "test_sink_error", test_error, NULL, NULL, &in_sink[1] },
		cmocka_unit_test(test_positive_results),
		cmocka_unit_test(test_cpu_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
