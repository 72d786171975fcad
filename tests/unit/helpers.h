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
