/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for hashset.c: put/get/set/iterate/remove, growth to 100k keys, colliding buckets
 * and probe chains that wrap around the table.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/hashset.h"
#include "helpers.h"

#define NKEYS 100000

/* n distinct random keys of key_len bytes, back to back. */
static uint8_t *random_keys(size_t n, size_t key_len, uint64_t seed)
{
	uint8_t *k = malloc(n * key_len);
	assert_non_null(k);
	fill_random(k, n * key_len, seed);
	/* Make them distinct for sure: the index in the last four bytes. */
	for (size_t i = 0; i < n; i++)
		memcpy(k + i * key_len + key_len - 4, &(uint32_t){ (uint32_t)i }, 4);
	return k;
}

/* 100k random keys of the length in *state: put, get, set, iterate, across every growth. */
static void test_many_keys(void **state)
{
	const size_t key_len = *(const size_t *)*state;
	HfcHashMap *m = NULL;
	assert_int_equal(hfc_hashmap_new(key_len, &m), 0);
	assert_int_equal(hfc_hashmap_size(m), 0);
	uint8_t *keys = random_keys(NKEYS, key_len, key_len);

	for (size_t i = 0; i < NKEYS; i++) {
		uint64_t old = 777;
		assert_int_equal(hfc_hashmap_put(m, keys + i * key_len, i * 3, &old), 1);
		assert_int_equal(old, 777); /* untouched on insert */
		assert_int_equal(hfc_hashmap_size(m), i + 1);
		/* Earlier keys survive every growth. */
		if ((i & (i + 1)) == 0 || i % 9973 == 0) {
			for (size_t j = 0; j <= i; j++) {
				uint64_t v;
				assert_int_equal(hfc_hashmap_get(m, keys + j * key_len, &v), 1);
				assert_int_equal(v, j * 3);
			}
		}
	}

	/* put of a present key: 0, the stored value, no change. */
	for (size_t i = 0; i < NKEYS; i++) {
		uint64_t old = 0;
		assert_int_equal(hfc_hashmap_put(m, keys + i * key_len, 42, &old), 0);
		assert_int_equal(old, i * 3);
		assert_int_equal(hfc_hashmap_put(m, keys + i * key_len, 42, NULL), 0);
	}
	assert_int_equal(hfc_hashmap_size(m), NKEYS);

	for (size_t i = 0; i < NKEYS; i++)
		assert_int_equal(hfc_hashmap_set(m, keys + i * key_len, UINT64_MAX - i), 0);
	for (size_t i = 0; i < NKEYS; i++) {
		uint64_t v = 0;
		assert_int_equal(hfc_hashmap_get(m, keys + i * key_len, &v), 1);
		assert_int_equal(v, UINT64_MAX - i);
		assert_int_equal(hfc_hashmap_get(m, keys + i * key_len, NULL), 1);
	}

	/* Keys never put: not found, not settable, size unchanged. */
	uint8_t *other = random_keys(1000, key_len, 999 + key_len);
	for (size_t i = 0; i < 1000; i++) {
		uint64_t v = 5;
		other[i * key_len] ^= 0x80; /* differs from keys[i] even if the rng repeated */
		assert_int_equal(hfc_hashmap_get(m, other + i * key_len, &v), 0);
		assert_int_equal(v, 5);
		assert_int_equal(hfc_hashmap_set(m, other + i * key_len, 1), -ENOENT);
	}
	assert_int_equal(hfc_hashmap_size(m), NKEYS);

	/* Iteration: every key exactly once, with its value. */
	uint8_t *seen = calloc(NKEYS, 1);
	assert_non_null(seen);
	size_t iter = 0, count = 0;
	const uint8_t *k;
	uint64_t v;
	while (hfc_hashmap_next(m, &iter, &k, &v)) {
		uint64_t i = UINT64_MAX - v;
		assert_true(i < NKEYS);
		assert_memory_equal(k, keys + i * key_len, key_len);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		count++;
	}
	assert_int_equal(count, NKEYS);
	/* At the end it stays at the end. */
	assert_false(hfc_hashmap_next(m, &iter, &k, &v));
	/* ret_value may be NULL. */
	iter = 0;
	count = 0;
	while (hfc_hashmap_next(m, &iter, &k, NULL))
		count++;
	assert_int_equal(count, NKEYS);

	free(seen);
	free(other);
	free(keys);
	hfc_hashmap_free(m);
}

static void test_empty(void **state)
{
	(void)state;
	HfcHashMap *m = NULL;
	assert_int_equal(hfc_hashmap_new(16, &m), 0);
	uint8_t key[16] = { 0 };
	size_t iter = 0;
	const uint8_t *k = NULL;
	assert_false(hfc_hashmap_next(m, &iter, &k, NULL));
	assert_int_equal(hfc_hashmap_get(m, key, NULL), 0);
	assert_int_equal(hfc_hashmap_set(m, key, 1), -ENOENT);
	/* The all-zero key is a key like any other (no "empty" marker value). */
	assert_int_equal(hfc_hashmap_put(m, key, 9, NULL), 1);
	uint64_t v = 0;
	assert_int_equal(hfc_hashmap_get(m, key, &v), 1);
	assert_int_equal(v, 9);
	assert_int_equal(hfc_hashmap_size(m), 1);
	hfc_hashmap_free(m);
	hfc_hashmap_free(NULL);
}

static void test_bad_key_len(void **state)
{
	(void)state;
	HfcHashMap *m = NULL;
	assert_int_equal(hfc_hashmap_new(0, &m), -EINVAL);
	assert_int_equal(hfc_hashmap_new(HFC_HASH_MAX + 1, &m), -EINVAL);
	assert_null(m);
}

/* Keys that agree in the bytes the bucket is taken from: long probe chains, across growth. */
static void test_colliding_keys(void **state)
{
	(void)state;
	for (size_t key_len = 16; key_len <= 32; key_len += 16) {
		HfcHashMap *m = NULL;
		assert_int_equal(hfc_hashmap_new(key_len, &m), 0);
		enum { N = 3000 };
		uint8_t key[32];
		for (uint32_t i = 0; i < N; i++) {
			memset(key, 0xab, sizeof(key));
			memcpy(key + key_len - 4, &i, 4);
			assert_int_equal(hfc_hashmap_put(m, key, i, NULL), 1);
		}
		for (uint32_t i = 0; i < N; i++) {
			uint64_t v;
			memset(key, 0xab, sizeof(key));
			memcpy(key + key_len - 4, &i, 4);
			assert_int_equal(hfc_hashmap_get(m, key, &v), 1);
			assert_int_equal(v, i);
		}
		/* Differs only in the last byte from a present key. */
		memset(key, 0xab, sizeof(key));
		uint32_t x = N + 5;
		memcpy(key + key_len - 4, &x, 4);
		assert_int_equal(hfc_hashmap_get(m, key, NULL), 0);
		assert_int_equal(hfc_hashmap_size(m), N);
		hfc_hashmap_free(m);
	}
}

/* A key is compared over key_len bytes only: what follows it in the caller's buffer is ignored. */
static void test_key_len_respected(void **state)
{
	(void)state;
	HfcHashMap *m = NULL;
	assert_int_equal(hfc_hashmap_new(16, &m), 0);
	uint8_t a[32], b[32];
	memset(a, 1, sizeof(a));
	memset(b, 1, sizeof(b));
	b[20] = 2;
	assert_int_equal(hfc_hashmap_put(m, a, 1, NULL), 1);
	uint64_t v = 0;
	assert_int_equal(hfc_hashmap_put(m, b, 2, &v), 0);
	assert_int_equal(v, 1);
	b[15] = 2;
	assert_int_equal(hfc_hashmap_put(m, b, 2, NULL), 1);
	size_t iter = 0;
	const uint8_t *k;
	while (hfc_hashmap_next(m, &iter, &k, &v))
		assert_memory_equal(k, v == 1 ? a : b, 16);
	hfc_hashmap_free(m);
}

/* Removes every other key of 100k, then checks all of them and puts the removed ones back. */
static void test_remove_many(void **state)
{
	(void)state;
	const size_t key_len = 16;
	HfcHashMap *m = NULL;
	assert_int_equal(hfc_hashmap_new(key_len, &m), 0);
	uint8_t *keys = random_keys(NKEYS, key_len, 4242);
	for (size_t i = 0; i < NKEYS; i++)
		assert_int_equal(hfc_hashmap_put(m, keys + i * key_len, i, NULL), 1);
	/* In a scrambled order, so removals hit chains at every position. */
	for (size_t k = 0; k < NKEYS; k++) {
		size_t i = (k * 7919) % NKEYS;
		if (i % 2 == 0)
			assert_int_equal(hfc_hashmap_remove(m, keys + i * key_len), 1);
	}
	assert_int_equal(hfc_hashmap_size(m), NKEYS / 2);
	for (size_t i = 0; i < NKEYS; i++) {
		uint64_t v = UINT64_MAX;
		int r = hfc_hashmap_get(m, keys + i * key_len, &v);
		if (r != (i % 2 == 1) || (r == 1 && v != i))
			fail_msg("key %zu after removals: get=%d value=%ju", i, r, (uintmax_t)v);
	}
	/* Removing what is not there: 0, nothing changes. */
	for (size_t i = 0; i < NKEYS; i += 2)
		assert_int_equal(hfc_hashmap_remove(m, keys + i * key_len), 0);
	assert_int_equal(hfc_hashmap_size(m), NKEYS / 2);
	size_t iter = 0, count = 0;
	const uint8_t *k;
	uint64_t v;
	while (hfc_hashmap_next(m, &iter, &k, &v)) {
		assert_int_equal(v % 2, 1);
		assert_memory_equal(k, keys + v * key_len, key_len);
		count++;
	}
	assert_int_equal(count, NKEYS / 2);
	for (size_t i = 0; i < NKEYS; i += 2)
		assert_int_equal(hfc_hashmap_put(m, keys + i * key_len, i + 1, NULL), 1);
	for (size_t i = 0; i < NKEYS; i++) {
		assert_int_equal(hfc_hashmap_get(m, keys + i * key_len, &v), 1);
		assert_int_equal(v, i % 2 ? i : i + 1);
	}
	/* Everything, down to an empty map. */
	for (size_t i = 0; i < NKEYS; i++)
		assert_int_equal(hfc_hashmap_remove(m, keys + i * key_len), 1);
	assert_int_equal(hfc_hashmap_size(m), 0);
	iter = 0;
	assert_false(hfc_hashmap_next(m, &iter, &k, &v));
	free(keys);
	hfc_hashmap_free(m);
}

/*
 * Removal with backward shifting, checked against a plain array: keys whose home buckets are
 * the last and first few slots, so probe chains wrap around the end of the table, with random
 * puts and removes.
 */
static void removal_model(size_t universe, uint64_t seed)
{
	enum { KL = 16, MAXU = 256 };
	assert_true(universe <= MAXU);
	uint8_t keys[MAXU][KL];
	bool present[MAXU] = { false };
	uint64_t value[MAXU] = { 0 };
	uint64_t rs = seed;
	for (size_t i = 0; i < universe; i++) {
		/* The bucket is (h ^ h >> 29) & (cap - 1) of the first 8 bytes: small h is home. */
		static const uint64_t homes[] = { 60, 61, 62, 63, 0, 1, 2, 124, 125, 126, 127,
						  255 };
		uint64_t h = homes[i % (sizeof(homes) / sizeof(homes[0]))];
		memcpy(keys[i], &h, 8);
		uint64_t tail = rng_next(&rs) ^ i;
		memcpy(keys[i] + 8, &tail, 8);
	}
	HfcHashMap *m = NULL;
	assert_int_equal(hfc_hashmap_new(KL, &m), 0);
	size_t n = 0;
	for (int step = 0; step < 20000; step++) {
		size_t i = rng_next(&rs) % universe;
		switch (rng_next(&rs) % 3) {
		case 0: {
			uint64_t v = rng_next(&rs);
			int r = hfc_hashmap_put(m, keys[i], v, NULL);
			assert_int_equal(r, present[i] ? 0 : 1);
			if (!present[i]) {
				present[i] = true;
				value[i] = v;
				n++;
			}
			break;
		}
		case 1:
			assert_int_equal(hfc_hashmap_remove(m, keys[i]), present[i] ? 1 : 0);
			if (present[i]) {
				present[i] = false;
				n--;
			}
			break;
		default:
			if (present[i]) {
				value[i] = rng_next(&rs);
				assert_int_equal(hfc_hashmap_set(m, keys[i], value[i]), 0);
			} else {
				assert_int_equal(hfc_hashmap_set(m, keys[i], 1), -ENOENT);
			}
		}
		assert_int_equal(hfc_hashmap_size(m), n);
		/* Every key, present or not, is found exactly when it should be. */
		if (step % 7 == 0 || universe < 40) {
			for (size_t j = 0; j < universe; j++) {
				uint64_t v = 0;
				int r = hfc_hashmap_get(m, keys[j], &v);
				if (r != (int)present[j] || (r && v != value[j]))
					fail_msg("universe %zu step %d: key %zu: get=%d, want %d",
						 universe, step, j, r, (int)present[j]);
			}
		}
	}
	hfc_hashmap_free(m);
}

static void test_remove_wraparound(void **state)
{
	(void)state;
	removal_model(28, 1);	/* stays at 64 slots: chains wrap from slot 63 to 0 */
	removal_model(28, 2);
	removal_model(60, 3);	/* grows to 128 slots */
	removal_model(250, 4);	/* and further */
}

int main(void)
{
	static size_t key_lens[] = { 16, 32 };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_bad_key_len),
		{ "test_many_md5_keys", test_many_keys, NULL, NULL, &key_lens[0] },
		{ "test_many_sha256_keys", test_many_keys, NULL, NULL, &key_lens[1] },
		cmocka_unit_test(test_colliding_keys),
		cmocka_unit_test(test_key_len_respected),
		cmocka_unit_test(test_remove_many),
		cmocka_unit_test(test_remove_wraparound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
