/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for fileio.c: whole and positioned reads and writes, bounded file reads that refuse
 * what is not a regular file, temporary names, mkdir -p, and outputs that appear whole or not at
 * all. (The crash test of hfc_write_atomic_at is in test-store.c, with the site cleanup.)
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include "base/fileio.h"
#include "helpers.h"

static int setup(void **state)
{
	Scratch *t = calloc(1, sizeof(*t));
	if (!t || scratch_open(t, "fileio") < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	Scratch *t = *state;
	int r = scratch_close(t);
	free(t);
	return r;
}

static void test_write_pread_pwrite(void **state)
{
	Scratch *t = *state;
	int fd = openat(t->fd, "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	static uint8_t big[300000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	assert_int_equal(hfc_write_all(fd, big, sizeof(big)), 0);
	assert_int_equal(hfc_write_all(fd, big, 0), 0);
	static uint8_t back[300000];
	assert_int_equal(hfc_pread_all(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, big, sizeof(big));
	/* Short only at end of file. */
	assert_int_equal(hfc_pread_all(fd, back, 100, sizeof(big) - 10), 10);
	assert_memory_equal(back, big + sizeof(big) - 10, 10);
	assert_int_equal(hfc_pread_all(fd, back, 100, sizeof(big) + 5), 0);
	/* pwrite past the end leaves a hole of zeros. */
	assert_int_equal(hfc_pwrite_all(fd, "xyz", 3, sizeof(big) + 100), 0);
	assert_int_equal(hfc_pread_all(fd, back, 103, sizeof(big)), 103);
	for (int i = 0; i < 100; i++)
		assert_int_equal(back[i], 0);
	assert_memory_equal(back + 100, "xyz", 3);
	assert_int_equal(hfc_pwrite_all(fd, "AB", 2, 1), 0);
	assert_int_equal(hfc_pread_all(fd, back, 4, 0), 4);
	assert_int_equal(back[0], big[0]);
	assert_memory_equal(back + 1, "AB", 2);
	assert_int_equal(back[3], big[3]);
	close(fd);
	/* Errors come back as -errno. */
	assert_int_equal(hfc_write_all(-1, "x", 1), -EBADF);
	assert_int_equal(hfc_pread_all(-1, back, 1, 0), -EBADF);
	assert_int_equal(hfc_pwrite_all(-1, "x", 1, 0), -EBADF);
	assert_int_equal(hfc_fsync_fd(-1), -EBADF);
}

/* Writes data as name and reads it back with at most max bytes: it comes back whole. */
static void expect_read(int dirfd, const char *name, const void *data, size_t len, size_t max)
{
	write_at(dirfd, name, data, len);
	char *buf = NULL;
	size_t got = len + 1;
	int r = hfc_read_file_at(dirfd, name, max, &buf, &got);
	if (r != 0)
		fail_msg("reading %zu bytes of %s with max %zu: %d", len, name, max, r);
	assert_int_equal(got, len);
	assert_memory_equal(buf, data, len);
	assert_int_equal(buf[len], 0); /* NUL-terminated */
	free(buf);
}

static void test_read_file_at(void **state)
{
	Scratch *t = *state;
	expect_read(t->fd, "f", "hello\0world", 11, 100);
	char *buf = NULL;
	size_t len = 0;
	/* Larger than max. */
	assert_int_equal(hfc_read_file_at(t->fd, "f", 10, &buf, &len), -EFBIG);
	assert_int_equal(hfc_read_file_at(t->fd, "f", 0, &buf, &len), -EFBIG);
	assert_null(buf);
	/* ret_len may be NULL; an empty file is an empty string. */
	write_at(t->fd, "empty", "", 0);
	assert_int_equal(hfc_read_file_at(t->fd, "empty", 10, &buf, NULL), 0);
	assert_string_equal(buf, "");
	free(buf);
	buf = NULL;
	/* A large file, read to its end. */
	static char big[200000];
	memset(big, 'b', sizeof(big));
	expect_read(t->fd, "big", big, sizeof(big), sizeof(big) * 2);
	/* Absolute paths ignore dirfd. */
	char abs[PATH_MAX + 8];
	snprintf(abs, sizeof(abs), "%s/f", t->path);
	assert_int_equal(hfc_read_file_at(AT_FDCWD, abs, 100, &buf, &len), 0);
	assert_int_equal(len, 11);
	assert_memory_equal(buf, "hello\0world", 11);
	free(buf);
}

static void test_read_file_at_refuses(void **state)
{
	Scratch *t = *state;
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(hfc_read_file_at(t->fd, "missing", 100, &buf, &len), -ENOENT);
	assert_int_equal(mkdirat(t->fd, "d", 0755), 0);
	assert_int_equal(hfc_read_file_at(t->fd, "d", 100, &buf, &len), -EISDIR);
	write_at(t->fd, "f", "x", 1);
	assert_int_equal(symlinkat("f", t->fd, "link"), 0);
	assert_int_equal(hfc_read_file_at(t->fd, "link", 100, &buf, &len), -ELOOP);
	/* Only the last component is not followed. */
	assert_int_equal(symlinkat("d", t->fd, "dlink"), 0);
	write_at(t->fd, "d/g", "y", 1);
	assert_int_equal(hfc_read_file_at(t->fd, "dlink/g", 100, &buf, &len), 0);
	free(buf);
	buf = NULL;
	/* A character device. */
	assert_int_equal(hfc_read_file_at(AT_FDCWD, "/dev/null", 100, &buf, &len), -EINVAL);
	assert_null(buf);
}

/*
 * "At most max bytes": a file of exactly max bytes is read. (A regression test: fileio.c once
 * filled its buffer of max + 1 bytes and then, before the read that would see end of file,
 * returned -EFBIG, so an index of exactly HFC_INDEX_MAX_BYTES, which FORMAT.md allows, was
 * refused.)
 */
static void test_read_file_at_exactly_max(void **state)
{
	Scratch *t = *state;
	expect_read(t->fd, "f", "hello world", 11, 11);
	expect_read(t->fd, "one", "x", 1, 1);
	expect_read(t->fd, "empty", "", 0, 0);
}

static void read_fifo(void *arg)
{
	Scratch *t = arg;
	char *buf = NULL;
	size_t len;
	_exit(hfc_read_file_at(t->fd, "fifo", 100, &buf, &len) == -EINVAL ? 0 : 1);
}

/*
 * A FIFO where a file is expected (say a site's index.idx, made by a hostile mirror) is refused
 * like any other non-regular file, and at once. (A regression test: fileio.c once opened without
 * O_NONBLOCK, so open(2) waited forever for a writer and the tool hung before its S_ISREG check.)
 */
static void test_read_file_at_fifo(void **state)
{
	Scratch *t = *state;
	assert_int_equal(mkfifoat(t->fd, "fifo", 0644), 0);
	int st = in_child(read_fifo, t, 1000);
	if (st < 0)
		fail_msg("hfc_read_file_at on a FIFO still blocked after 1 s");
	assert_int_equal(st, 0);
}

static void test_tmp_names(void **state)
{
	(void)state;
	char a[NAME_MAX + 1], b[NAME_MAX + 1], want[64];
	hfc_tmp_name("index.idx", a, sizeof(a));
	hfc_tmp_name("index.idx", b, sizeof(b));
	assert_string_not_equal(a, b);
	snprintf(want, sizeof(want), ".index.idx.tmp.%ld.", (long)getpid());
	assert_memory_equal(a, want, strlen(want));
	assert_true(hfc_is_tmp_name(a));
	assert_true(hfc_is_tmp_name(b));

	assert_true(hfc_is_tmp_name(".000007.idx.tmp.4711.2"));
	assert_true(hfc_is_tmp_name(".ab34ef.tmp.4711"));
	assert_false(hfc_is_tmp_name("index.idx"));
	assert_false(hfc_is_tmp_name("000001.idx"));
	assert_false(hfc_is_tmp_name(".lock"));
	assert_false(hfc_is_tmp_name("x.tmp.1.2"));
	assert_false(hfc_is_tmp_name(".x.tmp"));
	assert_false(hfc_is_tmp_name("."));
	assert_false(hfc_is_tmp_name(".."));
	assert_false(hfc_is_tmp_name(""));
	assert_false(hfc_is_tmp_name("ab34ef"));
}

static void test_mkdir_p(void **state)
{
	Scratch *t = *state;
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/a/b/c/d", t->path);
	assert_int_equal(hfc_mkdir_p(p), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(hfc_mkdir_p(p), 0); /* again: fine */
	snprintf(p, sizeof(p), "%s/a/b/", t->path);
	assert_int_equal(hfc_mkdir_p(p), 0);
	snprintf(p, sizeof(p), "%s/a//x", t->path);
	assert_int_equal(hfc_mkdir_p(p), 0);
	assert_int_equal(hfc_mkdir_p("/"), 0);
	/* A file in the way. */
	write_at(t->fd, "file", "x", 1);
	snprintf(p, sizeof(p), "%s/file", t->path);
	assert_int_equal(hfc_mkdir_p(p), -ENOTDIR);
	snprintf(p, sizeof(p), "%s/file/sub", t->path);
	assert_int_equal(hfc_mkdir_p(p), -ENOTDIR);
	assert_true(hfc_mkdir_p("") < 0);
	char *lng = malloc(PATH_MAX + 10);
	assert_non_null(lng);
	memset(lng, 'a', PATH_MAX + 9);
	lng[PATH_MAX + 9] = 0;
	assert_int_equal(hfc_mkdir_p(lng), -ENAMETOOLONG);
	free(lng);
}

static void test_output_file(void **state)
{
	Scratch *t = *state;
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/out.img", t->path);
	HfcOutput o;
	assert_int_equal(hfc_output_open(p, &o), 0);
	assert_true(o.seekable);
	assert_true(o.is_tmp);
	assert_string_equal(o.display, p);
	/* Nothing under the final name until commit. */
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(hfc_pwrite_all(o.fd, "head", 4, 0), 0);
	assert_int_equal(hfc_pwrite_all(o.fd, "mid", 3, 65536), 0);
	assert_int_equal(access(p, F_OK), -1);
	/* commit sets the size: a trailing hole. */
	assert_int_equal(hfc_output_commit(&o, 1 << 20), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 1 << 20);
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(hfc_read_file_at(t->fd, "out.img", 2 << 20, &buf, &len), 0);
	assert_int_equal(len, 1 << 20);
	assert_memory_equal(buf, "head", 4);
	assert_memory_equal(buf + 65536, "mid", 3);
	for (size_t i = 65539; i < len; i += 4096)
		assert_int_equal(buf[i], 0);
	free(buf);
	hfc_output_discard(&o); /* after commit: only frees */
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(count_at(t->fd, ".", NULL), 1);

	/* A discarded output leaves nothing, and an existing file keeps its content. */
	assert_int_equal(hfc_output_open(p, &o), 0);
	assert_int_equal(hfc_pwrite_all(o.fd, "new", 3, 0), 0);
	hfc_output_discard(&o);
	assert_int_equal(o.fd, -1);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 1 << 20);
	assert_int_equal(count_at(t->fd, ".", NULL), 1);
	hfc_output_discard(&o); /* twice: fine */
}

static void test_output_relative_and_errors(void **state)
{
	Scratch *t = *state;
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t->path), 0);
	HfcOutput o;
	assert_int_equal(hfc_output_open("rel.img", &o), 0);
	assert_int_equal(hfc_output_commit(&o, 10), 0);
	hfc_output_discard(&o);
	struct stat st;
	assert_int_equal(stat("rel.img", &st), 0);
	assert_int_equal(st.st_size, 10);
	assert_int_equal(chdir(cwd), 0);

	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/", t->path);
	assert_int_equal(hfc_output_open(p, &o), -EISDIR);
	hfc_output_discard(&o);
	snprintf(p, sizeof(p), "%s/no/such/dir/x.img", t->path);
	assert_int_equal(hfc_output_open(p, &o), -ENOENT);
	hfc_output_discard(&o);
}

static void test_output_links(void **state)
{
	Scratch *t = *state;
	/* A link to a file under the output's name: the link is replaced, its target untouched. */
	put_at(t->fd, "target", "keep me");
	assert_int_equal(symlinkat("target", t->fd, "out.img"), 0);
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/out.img", t->path);
	HfcOutput o;
	assert_int_equal(hfc_output_open(p, &o), 0);
	assert_true(o.is_tmp);
	assert_int_equal(hfc_write_all(o.fd, "image", 5), 0);
	assert_int_equal(hfc_output_commit(&o, 5), 0);
	hfc_output_discard(&o);
	assert_file_at(t->fd, "target", "keep me", 7);
	assert_file_at(t->fd, "out.img", "image", 5);
	struct stat st;
	assert_int_equal(fstatat(t->fd, "out.img", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));

	/* A link to a device is refused; the device named itself is written in place. */
	assert_int_equal(symlinkat("/dev/null", t->fd, "null"), 0);
	snprintf(p, sizeof(p), "%s/null", t->path);
	assert_int_equal(hfc_output_open(p, &o), -ELOOP);
	hfc_output_discard(&o);
	assert_int_equal(fstatat(t->fd, "null", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(count_tmp_at(t->fd, "."), 0);
	assert_int_equal(hfc_output_open("/dev/null", &o), 0);
	assert_false(o.is_tmp);
	assert_int_equal(hfc_write_all(o.fd, "x", 1), 0);
	assert_int_equal(hfc_output_commit(&o, 1), 0);
	hfc_output_discard(&o);
}

static void test_output_stdout(void **state)
{
	(void)state;
	HfcOutput o;
	assert_int_equal(hfc_output_open("-", &o), 0);
	assert_int_equal(o.fd, STDOUT_FILENO);
	assert_false(o.is_tmp);
	assert_string_equal(o.display, "stdout");
	assert_int_equal(hfc_output_commit(&o, 0), 0);
	hfc_output_discard(&o);
	/* stdout is still open. */
	assert_true(fcntl(STDOUT_FILENO, F_GETFD) >= 0);
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T_(test_write_pread_pwrite),
		T_(test_read_file_at),
		T_(test_read_file_at_refuses),
		T_(test_tmp_names),
		T_(test_mkdir_p),
		T_(test_output_file),
		T_(test_output_relative_and_errors),
		T_(test_output_stdout),
		T_(test_output_links),
		T_(test_read_file_at_exactly_max),
		T_(test_read_file_at_fifo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
