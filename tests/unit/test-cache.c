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

/* The permission bits of dir/rel (a link is not followed). */
static unsigned mode_of(const char *dir, const char *rel)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

static void test_private(void **state)
{
	const char *dir = *state;
	/*
	 * An older cache, open to all: what holds its bytes becomes the user's alone, and so does
	 * what comes; the directory named, which may be the user's home, is left as it is.
	 */
	char sub[600];
	snprintf(sub, sizeof(sub), "%s/blocks", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	HfcCache *c;
	HfcErr err = { "" };
	assert_int_equal(hfc_cache_open(dir, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), 0);
	uint8_t h[16], data[100] = { 1 };
	key(h, 3);
	assert_int_equal(hfc_cache_put(c, h, data, sizeof(data)), 0);
	assert_int_equal(hfc_cache_put_index(c, "index.idx", "abc", 3), 0);
	char fan[32], file[80];
	snprintf(fan, sizeof(fan), "blocks/%02x", h[0]);
	snprintf(file, sizeof(file), "%s/", fan);
	hfc_hex_encode(h, 16, file + strlen(file));
	assert_int_equal(mode_of(dir, "."), 0755);
	assert_int_equal(mode_of(dir, "blocks"), 0700);
	assert_int_equal(mode_of(dir, "indexes"), 0700);
	assert_int_equal(mode_of(dir, fan), 0700);
	assert_int_equal(mode_of(dir, file), 0600);
	assert_int_equal(mode_of(dir, "indexes/index.idx"), 0600);
	assert_int_equal(mode_of(dir, ".lock"), 0600);
	hfc_cache_free(c);
	/* A cache directory the cache makes is private from the start. */
	snprintf(sub, sizeof(sub), "%s/new/cache", dir);
	assert_int_equal(hfc_cache_open(sub, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), 0);
	hfc_cache_free(c);
	assert_int_equal(mode_of(dir, "new/cache"), 0700);
	assert_int_equal(mode_of(dir, "new"), 0755);
}

/* Makes dir/victim, an empty directory outside the cache's layout, and returns its path. */
static char *victim_dir(const char *dir)
{
	char *v = malloc(600);
	assert_non_null(v);
	snprintf(v, 600, "%s/victim", dir);
	assert_int_equal(mkdir(v, 0755), 0);
	return v;
}

static void test_links_refused(void **state)
{
	const char *dir = *state;
	char cache[600], p[700];
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	char *victim = victim_dir(dir);
	HfcCache *c;
	HfcErr err = { "" };
	uint8_t h[16], data[100] = { 2 }, back[100];
	key(h, 5);
	char name[33];
	hfc_hex_encode(h, 16, name);

	/* A fan-out directory that is a link: the cache is refused, nothing lands in the victim. */
	assert_int_equal(hfc_cache_open(cache, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), 0);
	hfc_cache_free(c);
	snprintf(p, sizeof(p), "%s/blocks/%02x", cache, h[0]);
	assert_int_equal(symlink(victim, p), 0);
	assert_int_equal(hfc_cache_open(cache, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "a symbolic link in the cache"));
	assert_non_null(strstr(err.msg, p + strlen(cache)));
	assert_int_equal(unlink(p), 0);

	/* One planted after the cache was opened is not followed either: no write, no read, no
	 * deletion through it. */
	assert_int_equal(hfc_cache_open(cache, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), 0);
	assert_int_equal(hfc_cache_put(c, h, data, sizeof(data)), 0);
	snprintf(p, sizeof(p), "%s/blocks/%02x/%s", cache, h[0], name);
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/blocks/%02x", cache, h[0]);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(symlink(victim, p), 0);
	scratch_write(victim, name, data, sizeof(data));
	assert_true(hfc_cache_get(c, h, sizeof(back), back) < 0);
	hfc_cache_drop(c, h);
	uint8_t h2[16];
	key(h2, 5);
	h2[15] ^= 1; /* another block of the same fan-out */
	assert_true(hfc_cache_put(c, h2, data, sizeof(data)) < 0);
	hfc_cache_free(c);
	assert_int_equal(count_at(AT_FDCWD, victim, NULL), 1);
	snprintf(p, sizeof(p), "%s/%s", victim, name);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/blocks/%02x", cache, h[0]);
	assert_int_equal(unlink(p), 0);

	/* A link in indexes/, or indexes/ or blocks/ themselves links: refused too. */
	snprintf(p, sizeof(p), "%s/indexes/index.idx", cache);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_int_equal(hfc_cache_open(cache, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "indexes/index.idx: a symbolic link in the cache"));
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/blocks", cache);
	assert_int_equal(scratch_rm(p), 0);
	assert_int_equal(symlink(victim, p), 0);
	assert_true(hfc_cache_open(cache, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "blocks: not a directory (a symbolic link?)"));
	assert_int_equal(count_at(AT_FDCWD, victim, NULL), 1);
	free(victim);
}

static void test_indexes_counted(void **state)
{
	const char *dir = *state;
	HfcCache *c;
	HfcErr err = { "" };
	/* 1 MiB, evict above 80% down to 60%: indexes count in the bound, and are not evicted. */
	assert_int_equal(hfc_cache_open(dir, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), 0);
	static uint8_t data[500 * KB];
	fill_random(data, sizeof(data), 9);
	assert_int_equal(hfc_cache_put_index(c, "index.idx", data, 400 * KB), 0);
	uint64_t bytes, files;
	hfc_cache_usage(c, &bytes, &files, NULL);
	assert_int_equal(bytes, 400 * KB);
	assert_int_equal(files, 0);
	uint8_t h[16];
	for (unsigned i = 0; i < 8; i++) {
		key(h, i);
		assert_int_equal(hfc_cache_put(c, h, data, 100 * KB), 0);
		hfc_cache_usage(c, &bytes, &files, NULL);
		assert_true(bytes <= 1024 * KB * 80 / 100);
	}
	/* Replacing it counts the new size, not both. */
	assert_int_equal(hfc_cache_put_index(c, "index.idx", data, 300 * KB), 0);
	assert_int_equal(hfc_cache_put_index(c, "000002.prof", data, 100 * KB), 0);
	/* One that alone would fill the cache is not kept. */
	assert_int_equal(hfc_cache_put_index(c, "000003.idx", data, 500 * KB), -EFBIG);
	hfc_cache_usage(c, &bytes, &files, NULL);
	assert_true(bytes <= 1024 * KB * 80 / 100);
	hfc_cache_free(c);
	/* Counted again when the cache is opened again. */
	assert_int_equal(hfc_cache_open(dir, 1024 * KB, 80, 60, HFC_HASH_MD5, &c, &err), 0);
	uint64_t bytes2;
	hfc_cache_usage(c, &bytes2, NULL, NULL);
	assert_int_equal(bytes2, bytes);
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

/* Each test in an empty scratch directory of its own. */
#define T_(f) cmocka_unit_test_setup_teardown(f, scratch_setup, scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T_(test_bounded_lru), T_(test_indexes), T_(test_bad_marks),
		T_(test_private), T_(test_links_refused), T_(test_indexes_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
