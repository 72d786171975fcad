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

/* ---- added for client tests ---- */

#include <errno.h>
#include <limits.h>

/* Writes the whole file dir/rel (mode 0644); fails the test otherwise. */
static inline void scratch_write(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	write_file(path, data, len);
}

/* Reads the whole file at path into a new NUL-terminated buffer, its size in *len (may be NULL). */
static inline uint8_t *scratch_read(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	size_t done = 0;
	while (done < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + done, (size_t)st.st_size - done, (off_t)done);
		assert_true(n > 0);
		done += (size_t)n;
	}
	close(fd);
	buf[done] = 0;
	if (len)
		*len = done;
	return buf;
}

/* Copies the file src to dst (replaced), with src's permission bits. */
static inline void scratch_copy_file(const char *src, const char *dst)
{
	size_t len;
	uint8_t *data = scratch_read(src, &len);
	struct stat st;
	assert_int_equal(stat(src, &st), 0);
	write_file(dst, data, len);
	assert_int_equal(chmod(dst, st.st_mode & 07777), 0);
	free(data);
}

/* nftw() has no argument for its callback: the copy in progress (one at a time). */
static const char *scratch_copy_from, *scratch_copy_to;

static inline int scratch_copy_entry(const char *path, const struct stat *st, int flag,
				     struct FTW *ftw)
{
	(void)ftw;
	char dst[PATH_MAX];
	snprintf(dst, sizeof(dst), "%s%s", scratch_copy_to, path + strlen(scratch_copy_from));
	if (flag == FTW_D)
		return mkdir(dst, st->st_mode & 07777) < 0 && errno != EEXIST ? -1 : 0;
	if (flag == FTW_SL) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			return -1;
		target[n] = 0;
		return symlink(target, dst);
	}
	if (flag != FTW_F)
		return -1;
	scratch_copy_file(path, dst);
	return 0;
}

/* Copies the tree src to dst (directories, files, symlinks); fails the test otherwise. */
static inline void scratch_copy_tree(const char *src, const char *dst)
{
	scratch_copy_from = src;
	scratch_copy_to = dst;
	assert_int_equal(nftw(src, scratch_copy_entry, 16, FTW_PHYS), 0);
}

/* Flips the bits of the byte at off of the file at path: corrupts it in place. */
static inline void scratch_flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0xff;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	assert_int_equal(close(fd), 0);
}

/*
 * A cmocka setup and teardown for tests that want an empty scratch directory each: *state is
 * its path (a new string), removed with all it holds afterwards.
 */
static inline int scratch_setup(void **state)
{
	char *dir = malloc(PATH_MAX);
	if (!dir)
		return -1;
	scratch_dir("test", dir, PATH_MAX);
	*state = dir;
	return 0;
}

static inline int scratch_teardown(void **state)
{
	scratch_rm(*state);
	free(*state);
	return 0;
}
