/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the unit tests: scratch directories and small file helpers. Include after cmocka. */

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Makes a scratch directory "$TMPDIR/hfc-unit-NAME.XXXXXX" in buf; fails the test otherwise. */
static inline void scratch_dir(const char *name, char *buf, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(buf, len, "%s/hfc-unit-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	assert_non_null(mkdtemp(buf));
}

static inline int scratch_rm_entry(const char *path, const struct stat *st, int flag,
				   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes a scratch directory tree. */
static inline void scratch_rm(const char *dir)
{
	nftw(dir, scratch_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes a whole file; fails the test otherwise. */
static inline void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Fills buf with reproducible pseudo-random bytes (xorshift) from seed. */
static inline void fill_random(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t x = seed ? seed : 88172645463325252ull;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

/* ---- added for delta tests ---- */

#include "formats/index.h"

/* The main of a test program: runs the tests given as cmocka_unit_test...() entries. */
#define TEST_MAIN(...)                                                                             \
	int main(void)                                                                             \
	{                                                                                          \
		const struct CMUnitTest tests[] = { __VA_ARGS__ };                                 \
		return cmocka_run_group_tests(tests, NULL, NULL);                                  \
	}

/*
 * Returns an index of n blocks of bs bytes for version: block i is named by bytes i + 1 after
 * a first byte `salt`, with stored size 100 + i; every fifth block is zero.
 */
static inline HfcIndex *index_pattern(uint64_t n, uint32_t bs, uint32_t version, uint8_t salt)
{
	HfcIndex *idx;
	assert_int_equal(hfc_index_new(n * bs, bs, HFC_HASH_MD5, &idx), 0);
	idx->version = version;
	for (uint64_t i = 0; i < n; i++) {
		if (i % 5 == 4)
			continue;
		memset(idx->entries[i].hash, (int)(i + 1), 16);
		idx->entries[i].hash[0] = salt;
		idx->entries[i].stored = 100 + (uint32_t)i;
	}
	return idx;
}

/* A test's scratch directory, as the state of a cmocka setup, with room for a path in it. */
typedef struct Scratch {
	char dir[256];
	char path[512];
} Scratch;

/* For a cmocka setup: makes a scratch directory (see scratch_dir) as *state; returns 0. */
static inline int scratch_new(const char *name, void **state)
{
	Scratch *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	scratch_dir(name, s->dir, sizeof(s->dir));
	*state = s;
	return 0;
}

/* For a cmocka teardown: removes the scratch directory of *state and frees it; returns 0. */
static inline int scratch_free(void **state)
{
	Scratch *s = *state;
	scratch_rm(s->dir);
	free(s);
	return 0;
}

/* Returns "DIR/name" in s->path, valid until the next call. */
static inline char *scratch_file(Scratch *s, const char *name)
{
	snprintf(s->path, sizeof(s->path), "%s/%s", s->dir, name);
	return s->path;
}

/* Copies a directory tree with everything in it (cp -a); fails the test otherwise. */
static inline void copy_tree(const char *from, const char *to)
{
	char cmd[1100];
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

/* The lines tree_sum() collects while it walks (nftw passes no context). */
static char *tree_sum_text;
static size_t tree_sum_len;

static inline int tree_sum_entry(const char *path, const struct stat *st, int flag,
				 struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	/* FNV-1a of the file's bytes: enough to see that a file changed. */
	uint64_t h = 0xcbf29ce484222325ULL;
	if (S_ISREG(st->st_mode)) {
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		for (int c; (c = getc(f)) != EOF;)
			h = (h ^ (uint8_t)c) * 0x100000001b3ULL;
		fclose(f);
	}
	char line[4200];
	int n = snprintf(line, sizeof(line), "%o %s %016llx %lld\n", st->st_mode & S_IFMT, path,
			 (unsigned long long)h, (long long)st->st_size);
	tree_sum_text = realloc(tree_sum_text, tree_sum_len + (size_t)n + 1);
	assert_non_null(tree_sum_text);
	memcpy(tree_sum_text + tree_sum_len, line, (size_t)n + 1);
	tree_sum_len += (size_t)n;
	return 0;
}

static inline int tree_sum_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Returns a malloc'd description of the tree under dir: a line per entry with its type, path,
 * size and a hash of its bytes, sorted (readdir's order is not stable). Two trees are the same
 * when their descriptions are.
 */
static inline char *tree_sum(const char *dir)
{
	tree_sum_text = NULL;
	tree_sum_len = 0;
	assert_int_equal(nftw(dir, tree_sum_entry, 16, FTW_PHYS), 0);
	size_t n = 0;
	for (size_t i = 0; i < tree_sum_len; i++)
		n += tree_sum_text[i] == '\n';
	char **lines = calloc(n + 1, sizeof(char *));
	char *out = calloc(1, tree_sum_len + 1);
	assert_true(lines && out);
	char *p = tree_sum_text;
	for (size_t i = 0; i < n; i++) {
		lines[i] = p;
		p = strchr(p, '\n');
		*p++ = 0;
	}
	qsort(lines, n, sizeof(char *), tree_sum_cmp);
	for (size_t i = 0, len = 0; i < n; i++)
		len += (size_t)sprintf(out + len, "%s\n", lines[i]);
	free(lines);
	free(tree_sum_text);
	tree_sum_text = NULL;
	return out;
}
