/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for bufpool.c: buffers come back for reuse up to the pool's keep, the rest are
 * freed; small sizes are malloc()ed, large ones mapped whole pages; many threads at once.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/bufpool.h"
#include "helpers.h"

#include <pthread.h>
#include <string.h>

/* A buffer given back is the next one taken; only `keep` stay; the others are made fresh. */
static void test_reuse_and_keep(void **state)
{
	size_t size = *(size_t *)*state;
	HfcBufPool p;
	assert_int_equal(hfc_bufpool_init(&p, size, 2), 0);
	assert_true(p.size >= size);
	void *b[3];
	for (int i = 0; i < 3; i++) {
		b[i] = hfc_bufpool_get(&p);
		assert_non_null(b[i]);
		memset(b[i], i + 1, size); /* every byte is the caller's */
	}
	assert_int_equal(p.fresh, 3);
	for (int i = 0; i < 3; i++)
		hfc_bufpool_put(&p, b[i]);
	assert_int_equal(p.nfree, 2); /* the third was freed */
	void *c = hfc_bufpool_get(&p);
	assert_ptr_equal(c, b[1]); /* the last kept, first out */
	void *d = hfc_bufpool_get(&p);
	assert_ptr_equal(d, b[0]);
	assert_int_equal(p.fresh, 3);
	void *e = hfc_bufpool_get(&p); /* none left: a fresh one */
	assert_non_null(e);
	assert_int_equal(p.fresh, 4);
	hfc_bufpool_put(&p, c);
	hfc_bufpool_put(&p, d);
	hfc_bufpool_put(&p, e);
	hfc_bufpool_put(&p, NULL);
	assert_int_equal(p.nfree, 2);
	hfc_bufpool_destroy(&p);
}

/* Large buffers are mapped in whole pages; keep 0 frees every buffer given back. */
static void test_mapped_keep_none(void **state)
{
	(void)state;
	HfcBufPool p;
	assert_int_equal(hfc_bufpool_init(&p, (256u << 10) + 1, 0), 0);
	assert_true(p.mapped);
	assert_int_equal(p.size % 4096, 0);
	assert_true(p.size > 256u << 10);
	void *b = hfc_bufpool_get(&p);
	assert_non_null(b);
	memset(b, 0xa5, p.size);
	hfc_bufpool_put(&p, b);
	assert_int_equal(p.nfree, 0);
	hfc_bufpool_destroy(&p);
	assert_int_equal(hfc_bufpool_init(&p, 1000, 4), 0);
	assert_false(p.mapped);
	assert_int_equal(p.size, 1000);
	hfc_bufpool_destroy(&p);
}

#define THREADS 4
#define ROUNDS 2000

static void *churn(void *arg)
{
	HfcBufPool *p = arg;
	uint8_t *held[3];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < 3; i++) {
			held[i] = hfc_bufpool_get(p);
			if (!held[i])
				return (void *)1;
			memset(held[i], (uint8_t)(uintptr_t)held[i], 64);
		}
		for (int i = 0; i < 3; i++) {
			/* Nobody else wrote into a buffer this thread holds. */
			for (int j = 0; j < 64; j++)
				if (held[i][j] != (uint8_t)(uintptr_t)held[i])
					return (void *)2;
			hfc_bufpool_put(p, held[i]);
		}
	}
	return NULL;
}

/* Threads take and give back at once: no buffer is ever held by two. */
static void test_threads(void **state)
{
	(void)state;
	HfcBufPool p;
	assert_int_equal(hfc_bufpool_init(&p, 128u << 10, 5), 0);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, &p), 0);
	for (int i = 0; i < THREADS; i++) {
		void *ret;
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_true(p.nfree <= 5);
	/* Most takes found a free buffer: far fewer made than taken. */
	assert_true(p.fresh < (uint64_t)THREADS * ROUNDS * 3);
	hfc_bufpool_destroy(&p);
}

int main(void)
{
	static size_t small = 4096, large = 256u << 10;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_reuse_and_keep, &small),
		cmocka_unit_test_prestate(test_reuse_and_keep, &large),
		cmocka_unit_test(test_mapped_keep_none),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
