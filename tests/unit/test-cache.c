/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for cache.c: the client's bounded LRU cache of block files. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client/cache.h"
#include "helpers.h"
#include "site/store.h"

#define KB 1024u

static void key(uint8_t h[16], unsigned i)
{
	memset(h, 0, 16);
	/* Spread keys over fan-out directories and the map's buckets. */
	for (unsigned k = 0; k < 16; k++)
		h[k] = (uint8_t)(i * 37 + k * 11 + (i >> 3));
	h[15] = (uint8_t)i;
	h[14] = (uint8_t)(i >> 8);
}

static void test_bounded_lru(void **state)
{
	const char *dir = *state;
	HfcCache *c;
	HfcErr err = { "" };
	/* 1 MiB, evict above 80% down to 60%. */
	assert_int_equal(hfc_cache_open(dir, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), 0);
	static uint8_t data[100 * KB], back[100 * KB];
	uint8_t h[16];
	for (unsigned i = 0; i < 30; i++) {
		key(h, i);
		fill_random(data, sizeof(data), i + 1);
		assert_int_equal(hfc_cache_put(c, h, data, sizeof(data)), 0);
		/* Block 0 is read after every insert: the most recently used, never evicted. */
		key(h, 0);
		assert_int_equal(hfc_cache_get(c, h, sizeof(back), back), 0);
		uint64_t bytes, files, evicted;
		hfc_cache_usage(c, &bytes, &files, &evicted);
		assert_true(bytes <= 1024 * KB * 80 / 100);
	}
	fill_random(data, sizeof(data), 1);
	key(h, 0);
	assert_int_equal(hfc_cache_get(c, h, sizeof(back), back), 0);
	assert_memory_equal(back, data, sizeof(data));
	key(h, 1); /* long evicted */
	assert_int_equal(hfc_cache_get(c, h, sizeof(back), back), -ENOENT);
	key(h, 29); /* the newest */
	assert_int_equal(hfc_cache_get(c, h, sizeof(back), back), 0);
	/* A wrong expected size is caught. */
	assert_int_equal(hfc_cache_get(c, h, 10, back), -EBADMSG);
	uint64_t bytes, files, evicted;
	hfc_cache_usage(c, &bytes, &files, &evicted);
	assert_true(evicted > 0);
	hfc_cache_free(c);

	/* Reopening indexes what is on disk; a left-over temporary file is removed. */
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s/blocks/00", dir);
	mkdir(tmp, 0755);
	scratch_write(tmp, ".0011.tmp.1.2", "x", 1);
	snprintf(tmp, sizeof(tmp), "%s/blocks/00/.0011.tmp.1.2", dir);
	assert_int_equal(hfc_cache_open(dir, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), 0);
	uint64_t bytes2, files2;
	hfc_cache_usage(c, &bytes2, &files2, NULL);
	assert_int_equal(bytes2, bytes);
	assert_int_equal(files2, files);
	assert_int_equal(access(tmp, F_OK), -1);
	key(h, 0);
	assert_int_equal(hfc_cache_get(c, h, sizeof(back), back), 0);
	hfc_cache_drop(c, h);
	assert_int_equal(hfc_cache_get(c, h, sizeof(back), back), -ENOENT);
	hfc_cache_free(c);
}

static void test_indexes(void **state)
{
	const char *dir = *state;
	HfcCache *c;
	assert_int_equal(hfc_cache_open(dir, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, NULL), 0);
	assert_int_equal(hfc_cache_put_index(c, "index.idx", "abc", 3), 0);
	assert_int_equal(hfc_cache_put_index(c, "000007.idx", "defg", 4), 0);
	char *buf;
	size_t len;
	assert_int_equal(hfc_cache_get_index(c, "index.idx", 100, &buf, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "abc", 3);
	free(buf);
	assert_int_equal(hfc_cache_get_index(c, "000008.idx", 100, &buf, &len), -ENOENT);
	/* Names become paths only after a check. */
	assert_int_equal(hfc_cache_put_index(c, "../evil", "x", 1), -EINVAL);
	assert_int_equal(hfc_cache_put_index(c, "1.idx", "x", 1), -EINVAL);
	assert_int_equal(hfc_cache_get_index(c, "../../etc/passwd", 100, &buf, &len), -EINVAL);
	hfc_cache_free(c);
}

static void test_bad_marks(void **state)
{
	const char *dir = *state;
	HfcCache *c;
	HfcErr err = { "" };
	assert_int_equal(hfc_cache_open(dir, 1024 * KB, 60, 60, HFC_HASH_MD5, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "low-water"));
	assert_int_equal(hfc_cache_open(dir, 1024 * KB, 101, 60, HFC_HASH_MD5, &c, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bounded_lru, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_indexes, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_bad_marks, scratch_setup, scratch_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
