/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Shared by the unit tests: scratch directories, small file helpers, child processes and one
 * reproducible random generator. Include after cmocka. Helpers that assert fail the running
 * test; a child made by in_child() must not assert (a failed assert there would go on with
 * cmocka's next test in the child), so it reports through its exit status instead.
 */

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"

/* ---- scratch directories ---- */

/* Makes "$TMPDIR/hfc-unit-NAME.XXXXXX" (/tmp without TMPDIR) in buf; returns 0 or -1. */
static inline int scratch_mkdtemp(const char *name, char *buf, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(buf, len, "%s/hfc-unit-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	return n >= 0 && (size_t)n < len && mkdtemp(buf) ? 0 : -1;
}

/* Makes a scratch directory (scratch_mkdtemp) in buf; fails the test otherwise. */
static inline void scratch_dir(const char *name, char *buf, size_t len)
{
	if (scratch_mkdtemp(name, buf, len) < 0)
		fail_msg("scratch directory for %s: %s", name, strerror(errno));
}

/* The nftw() callback of scratch_rm(): removes one entry. */
static inline int scratch_rm_entry(const char *path, const struct stat *st, int flag,
				   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes a scratch directory tree (links are removed, not followed); returns 0 or -1. */
static inline int scratch_rm(const char *dir)
{
	return nftw(dir, scratch_rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* A test's scratch directory: its path, an O_DIRECTORY fd of it, room for a file's path. */
typedef struct Scratch {
	char path[PATH_MAX];
	int fd;
	char file[PATH_MAX + 256]; /* scratch_file()'s result */
} Scratch;

/* Makes and opens a scratch directory; returns 0, or -1 with a message (for cmocka setups). */
static inline int scratch_open(Scratch *s, const char *name)
{
	s->fd = -1;
	if (scratch_mkdtemp(name, s->path, sizeof(s->path)) < 0) {
		print_error("scratch directory for %s: %s\n", name, strerror(errno));
		s->path[0] = 0;
		return -1;
	}
	s->fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->fd < 0) {
		print_error("%s: %s\n", s->path, strerror(errno));
		(void)scratch_rm(s->path);
		s->path[0] = 0;
		return -1;
	}
	return 0;
}

/* Closes and removes a scratch directory; returns 0, or -1 when some of it stayed (teardowns). */
static inline int scratch_close(Scratch *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	int r = s->path[0] ? scratch_rm(s->path) : 0;
	s->path[0] = 0;
	return r;
}

/* ---- files ---- */

/* Writes len bytes to path below dirfd (made or truncated, 0644); fails the test otherwise. */
static inline void write_at(int dirfd, const char *path, const void *data, size_t len)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_msg("creating %s: %s", path, strerror(errno));
	assert_int_equal(hfc_write_all(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

/* write_at() of a string, without its NUL. */
static inline void put_at(int dirfd, const char *path, const char *s)
{
	write_at(dirfd, path, s, strlen(s));
}

/* Writes a whole file; fails the test otherwise. */
static inline void write_file(const char *path, const void *data, size_t len)
{
	write_at(AT_FDCWD, path, data, len);
}

/* Reads a whole file below dirfd (not followed) with plain read(2), NUL-terminated; malloc'd. */
static inline char *slurp_at(int dirfd, const char *path, size_t *ret_len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		fail_msg("reading %s: %s", path, strerror(errno));
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (len + 1 == cap) {
			buf = realloc(buf, cap *= 2);
			assert_non_null(buf);
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			fail_msg("reading %s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	if (ret_len)
		*ret_len = len;
	return buf;
}

/* Checks that path (relative to dirfd) holds exactly len bytes of want. */
static inline void assert_file_at(int dirfd, const char *path, const void *want, size_t len)
{
	size_t got_len;
	char *got = slurp_at(dirfd, path, &got_len);
	if (got_len != len || memcmp(got, want, len) != 0)
		fail_msg("%s: %zu bytes, not the %zu expected (or other bytes)", path, got_len, len);
	free(got);
}

/* True when path (relative to dirfd) exists; a link is not followed. */
static inline bool exists_at(int dirfd, const char *path)
{
	struct stat st;
	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* True when path (relative to dirfd) is a directory, not a link to one. */
static inline bool is_dir_at(int dirfd, const char *path)
{
	struct stat st;
	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Counts the entries of directory sub (below dirfd) that match (NULL: all); 0 when missing. */
static inline int count_at(int dirfd, const char *sub, bool (*match)(const char *name))
{
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	DIR *d = fdopendir(fd);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    (!match || match(de->d_name)))
			n++;
	closedir(d);
	return n;
}

/* Counts the temporary names (hfc_is_tmp_name) in directory sub below dirfd. */
static inline int count_tmp_at(int dirfd, const char *sub)
{
	return count_at(dirfd, sub, hfc_is_tmp_name);
}

/* ---- child processes ---- */

/* Runs fn(arg) in a child: its exit status (99: fn returned), 128 + signal, -1: killed after ms. */
static inline int in_child(void (*fn)(void *), void *arg, unsigned ms /* 0: no limit */)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(99);
	}
	int st = 0;
	pid_t w = waitpid(pid, &st, ms ? WNOHANG : 0);
	for (unsigned i = 0; w == 0 && i < ms; i++) {
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		w = waitpid(pid, &st, WNOHANG);
	}
	if (w == 0) {
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		return -1;
	}
	assert_int_equal(w, pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- reproducible randomness ---- */

/* The next number of the splitmix64 sequence in *state: any seed, the same numbers every run. */
static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Fills buf with reproducible pseudo-random bytes (rng_next, 8 bytes a number) from seed. */
static inline void fill_random(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t x = rng_next(&seed);
		memcpy(p + i, &x, len - i < 8 ? len - i : 8);
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

/* For a cmocka setup: makes a scratch directory (a Scratch) as *state; returns 0 or -1. */
static inline int scratch_new(const char *name, void **state)
{
	Scratch *s = calloc(1, sizeof(*s));
	if (!s || scratch_open(s, name) < 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* For a cmocka teardown: removes the scratch directory of *state and frees it; returns 0/-1. */
static inline int scratch_free(void **state)
{
	Scratch *s = *state;
	int r = scratch_close(s);
	free(s);
	return r;
}

/* Returns "DIR/name" in s->file, valid until the next call. */
static inline char *scratch_file(Scratch *s, const char *name)
{
	snprintf(s->file, sizeof(s->file), "%s/%s", s->path, name);
	return s->file;
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

/* ---- added for publish tests ---- */

#include <signal.h>

/*
 * Returns what a mirror gets of the tree under dir: a line "path hash size" (tree_sum's) per
 * regular file, the path relative to dir, sorted, leaving out dot files and whatever is below a
 * dot directory (locks, caches, temporary names). Counts the files and their bytes (either may
 * be NULL). Two trees hold the same published files when their texts are the same.
 */
static inline char *tree_published(const char *dir, uint64_t *ret_files, uint64_t *ret_bytes)
{
	char *sum = tree_sum(dir);
	char *out = calloc(1, strlen(sum) + 1);
	assert_non_null(out);
	size_t dl = strlen(dir), len = 0;
	uint64_t files = 0, bytes = 0;
	char *save = NULL;
	for (char *line = strtok_r(sum, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *path = strchr(line, ' ');
		assert_non_null(path);
		if (strtoul(line, NULL, 8) != S_IFREG)
			continue;
		const char *rel = path + 1 + dl + 1;
		if (rel[0] == '.' || strstr(rel, "/."))
			continue;
		len += (size_t)sprintf(out + len, "%s\n", rel);
		files++;
		bytes += strtoull(strrchr(line, ' ') + 1, NULL, 10);
	}
	free(sum);
	if (ret_files)
		*ret_files = files;
	if (ret_bytes)
		*ret_bytes = bytes;
	return out;
}

/* Kills the test program after seconds (0: never): a test that hangs fails instead. */
static inline void test_deadline(unsigned seconds)
{
	signal(SIGALRM, SIG_DFL);
	alarm(seconds);
}
