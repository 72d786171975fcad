/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for ext2.c: a real tree (empty, small, > 1 MiB random, nested, symlinks, a name
 * with a space) made into ext2 images by `mke2fs -d` at 1, 2 and 4 KiB blocks and ext4 ones
 * (extents, inline data, hashed directories); every directory listed and every file read
 * through the callback and compared with the tree; the listing's inode fields; errors with their
 * messages; truncated, foreign and failing images; several file systems open at once on several
 * threads.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fs/ext2.h"
#include "base/fileio.h"
#include "helpers.h"

#define BIG_SIZE (1536 * 1024 + 123)
#define MEDIUM_SIZE (300 * 1024 + 7)
#define NMANY 300
/* 74 bytes: more than fits in the inode, so a slow symlink (a block, an extent or inline data) */
#define LONG_TARGET "dir/./././././././././././././././././././././././././././././sub/deep.txt"

typedef struct Kind {
	const char *name;
	const char *mkfs; /* mke2fs options before -d */
	bool htree;       /* index the directories afterwards (e2fsck -D) */
} Kind;

static const Kind kinds[] = {
	{ "ext2-1k", "-t ext2 -b 1024" },
	{ "ext2-2k", "-t ext2 -b 2048" },
	{ "ext2-4k", "-t ext2 -b 4096" },
	/* extents, inline-data files, directories and symlinks, metadata_csum */
	{ "ext4-inline", "-t ext4 -b 4096 -O inline_data" },
	/* extents, hashed directories ("many" spans several 1 KiB blocks), metadata_csum */
	{ "ext4-htree", "-t ext4 -b 1024", true },
};
#define NKINDS ELEMENTSOF(kinds)

static char tmpdir[PATH_MAX], tree[PATH_MAX + 16];
static char images[NKINDS][PATH_MAX + 32];
static time_t small_mtime;

/* ---- a reader over a file or a memory copy, counting what it is asked for ---- */

typedef struct Img {
	int fd;
	uint8_t *mem; /* when set, the image lives only here */
	uint64_t size;
	uint64_t calls, bytes, max_end, max_len;
	uint64_t fail_from;  /* reads reaching past this offset fail with -EIO */
	uint64_t fail_after; /* calls after this many fail with -EIO */
} Img;

static ssize_t img_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	Img *im = ctx;
	im->calls++;
	im->max_end = MAX(im->max_end, offset + len);
	im->max_len = MAX(im->max_len, (uint64_t)len);
	if (offset + len > im->fail_from || im->calls > im->fail_after)
		return -EIO;
	ssize_t n;
	if (im->mem) {
		n = offset >= im->size ? 0 : (ssize_t)MIN((uint64_t)len, im->size - offset);
		memcpy(buf, im->mem + offset, (size_t)n);
	} else {
		n = hfc_pread_all(im->fd, buf, len, (off_t)offset);
	}
	if (n > 0)
		im->bytes += (uint64_t)n;
	return n;
}

static void img_open(Img *im, const char *path)
{
	*im = (Img){ .fail_from = UINT64_MAX, .fail_after = UINT64_MAX };
	im->fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(im->fd >= 0);
	struct stat st;
	assert_int_equal(fstat(im->fd, &st), 0);
	im->size = (uint64_t)st.st_size;
}

static void img_close(Img *im)
{
	if (im->fd >= 0)
		close(im->fd);
	free(im->mem);
	im->fd = -1;
	im->mem = NULL;
}

static HfcExt2 *fs_open(Img *im, const char *path)
{
	img_open(im, path);
	HfcExt2 *fs = NULL;
	HfcErr err = { "" };
	int r = hfc_ext2_open(img_read, im, im->size, path, &fs, &err);
	if (r < 0)
		fail_msg("open %s: %d %s", path, r, err.msg);
	assert_non_null(fs);
	return fs;
}

/* ---- the tree ---- */

/* Writes the file rel of the tree with its mode. */
static void tree_file(const char *rel, const void *data, size_t len, mode_t mode)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	write_file(p, data, len);
	assert_int_equal(chmod(p, mode), 0);
}

static void tree_random(const char *rel, size_t len, uint64_t seed)
{
	uint8_t *b = malloc(len);
	assert_non_null(b);
	fill_random(b, len, seed);
	tree_file(rel, b, len, 0644);
	free(b);
}

static void make_dir(const char *rel)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void make_link(const char *target, const char *rel)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	assert_int_equal(symlink(target, p), 0);
}

/* The whole file at the tree-relative path rel (following symlinks on the host). */
static uint8_t *slurp(const char *rel, size_t *len)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	return scratch_read(p, len);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the tree's directory rel, sorted by bytes, one per line (what ls should print). */
static char *expected_names(const char *rel, bool root)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	DIR *d = opendir(p);
	assert_non_null(d);
	char *names[1024];
	size_t n = 0;
	if (root)
		names[n++] = strdup("lost+found"); /* mke2fs makes it */
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		assert_true(n < ELEMENTSOF(names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\n", names[i]);
		free(names[i]);
	}
	fclose(f);
	return out;
}

/* Lists path into a string of names, one per line; returns the result, *out the text. */
static int ls_names(HfcExt2 *fs, const char *path, unsigned flags, char **out, HfcErr *err)
{
	HfcExt2Listing l;
	int r = hfc_ext2_list(fs, path, flags, &l, err);
	size_t len = 0;
	FILE *f = open_memstream(out, &len);
	assert_non_null(f);
	for (size_t i = 0; i < l.n; i++)
		fprintf(f, "%s\n", l.entries[i].name);
	fclose(f);
	hfc_ext2_listing_free(&l);
	return r;
}

/* The entry of l named name; fails the test when there is none. */
static const HfcExt2Entry *entry_named(const HfcExt2Listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->entries[i].name, name))
			return &l->entries[i];
	fail_msg("no entry %s in the listing", name);
	return NULL;
}

/* Runs cat into a memfd; returns its result, *out the bytes. */
static int cat_bytes(HfcExt2 *fs, const char *path, uint8_t **out, size_t *len, HfcErr *err)
{
	int fd = memfd_create("cat", MFD_CLOEXEC);
	assert_true(fd >= 0);
	int r = hfc_ext2_cat(fs, path, fd, err);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	*out = malloc(*len + 1);
	assert_non_null(*out);
	assert_int_equal(hfc_pread_all(fd, *out, *len, 0), (ssize_t)*len);
	close(fd);
	return r;
}

static void assert_cat_equals(HfcExt2 *fs, const char *path, const char *rel)
{
	HfcErr err = { "" };
	uint8_t *got;
	size_t glen, wlen;
	int r = cat_bytes(fs, path, &got, &glen, &err);
	if (r < 0)
		fail_msg("cat %s: %d %s", path, r, err.msg);
	uint8_t *want = slurp(rel, &wlen);
	if (glen != wlen || memcmp(got, want, wlen) != 0)
		fail_msg("cat %s: %zu bytes differ from %s (%zu bytes)", path, glen, rel, wlen);
	free(got);
	free(want);
}

/* ---- the fixture: one tree, an image of each kind ---- */

static int setup(void **state _unused_)
{
	scratch_dir("ext2", tmpdir, sizeof(tmpdir));
	snprintf(tree, sizeof(tree), "%s/tree", tmpdir);
	if (mkdir(tree, 0755) < 0)
		return -1;

	tree_file("empty", "", 0, 0644);
	tree_file("small.txt", "hello, ext2\n", 12, 0640);
	tree_file("with space.txt", "a name with a space\n", 20, 0600);
	tree_random("big.bin", BIG_SIZE, 1);
	tree_random("medium.bin", MEDIUM_SIZE, 2);
	tree_random("exact-4k", 4096, 3);
	tree_file("script.sh", "#!/bin/sh\necho hi\n", 18, 04755);
	make_dir("dir");
	make_dir("dir/sub");
	make_dir("dir/empty-dir");
	tree_file("dir/sub/deep.txt", "deep inside\n", 12, 0644);
	tree_random("dir/sub/random-1", 5000, 4);
	tree_file("dir/file-in-dir", "x", 1, 0644);
	make_dir("tiny");
	tree_file("tiny/a", "A", 1, 0644);
	tree_file("tiny/b", "BB", 2, 0644);
	make_dir("many");
	for (int i = 0; i < NMANY; i++) {
		char name[64];
		snprintf(name, sizeof(name), "many/entry-%03d-with-a-longer-name", i);
		tree_file(name, name, strlen(name), 0644);
	}
	make_link("dir/sub/deep.txt", "link");
	make_link("/small.txt", "abslink");
	make_link("dir", "dirlink");
	make_link("nowhere", "dangling");
	make_link("loop", "loop");
	/* > 60 bytes: a slow symlink, stored in a block (or extent, or inline data). */
	make_link(LONG_TARGET, "longlink");
	/* Chains: c1 -> ... -> c8 -> the file (8 levels), d1 -> ... -> d9 -> the file (9). */
	make_dir("chain");
	for (int i = 1; i <= 9; i++) {
		char t[32], l[32];
		if (i < 8) {
			snprintf(t, sizeof(t), "c%d", i + 1);
			snprintf(l, sizeof(l), "chain/c%d", i);
			make_link(t, l);
		}
		snprintf(t, sizeof(t), i < 9 ? "d%d" : "../small.txt", i + 1);
		snprintf(l, sizeof(l), "chain/d%d", i);
		make_link(t, l);
	}
	make_link("../small.txt", "chain/c8");

	struct tm tm = { .tm_year = 2021 - 1900, .tm_mon = 2, .tm_mday = 4, .tm_hour = 5,
			 .tm_min = 6, .tm_sec = 7 };
	small_mtime = timegm(&tm);
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/small.txt", tree);
	struct timespec ts[2] = { { .tv_sec = small_mtime }, { .tv_sec = small_mtime } };
	if (utimensat(AT_FDCWD, p, ts, 0) < 0)
		return -1;

	for (size_t k = 0; k < NKINDS; k++) {
		snprintf(images[k], sizeof(images[k]), "%s/%s.img", tmpdir, kinds[k].name);
		char cmd[PATH_MAX * 8];
		snprintf(cmd, sizeof(cmd), "mke2fs -q -F %s -d '%s' '%s' 16M >/dev/null", kinds[k].mkfs,
			 tree, images[k]);
		if (system(cmd) != 0) {
			fprintf(stderr, "failed: %s\n", cmd);
			return -1;
		}
		if (kinds[k].htree) {
			/* e2fsck exits 1 when it changed something, which is the point here. */
			snprintf(cmd, sizeof(cmd), "e2fsck -fyD '%s' >/dev/null 2>&1", images[k]);
			int st = system(cmd);
			if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) > 1) {
				fprintf(stderr, "failed: %s\n", cmd);
				return -1;
			}
		}
	}
	return 0;
}

static int teardown(void **state _unused_)
{
	scratch_rm(tmpdir);
	return 0;
}

/* ---- tests ---- */

/* Lists every directory of the tree and reads every regular file, comparing with the tree. */
static void walk(HfcExt2 *fs, const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/%s", rel);

	char *want = expected_names(rel, rel[0] == 0), *got;
	HfcErr err = { "" };
	int r = ls_names(fs, path, HFC_EXT2_LIST_FOLLOW, &got, &err);
	if (r < 0)
		fail_msg("ls %s: %d %s", path, r, err.msg);
	assert_string_equal(got, want);
	free(got);
	free(want);

	char p[PATH_MAX * 3];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	DIR *d = opendir(p);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", tree, sub);
		assert_int_equal(lstat(p, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			walk(fs, sub);
		} else if (S_ISREG(st.st_mode)) {
			char ipath[PATH_MAX + 1];
			snprintf(ipath, sizeof(ipath), "/%s", sub);
			assert_cat_equals(fs, ipath, sub);
		}
	}
	closedir(d);
}

/* A test's file system: the first image, opened before the test and closed after it. */
typedef struct Opened {
	Img im;
	HfcExt2 *fs;
} Opened;

static int open_first(void **state)
{
	Opened *o = calloc(1, sizeof(*o));
	assert_non_null(o);
	o->fs = fs_open(&o->im, images[0]);
	*state = o;
	return 0;
}

static int close_first(void **state)
{
	Opened *o = *state;
	hfc_ext2_close(o->fs);
	img_close(&o->im);
	free(o);
	return 0;
}

/* Runs check on the open file system of every kind of image. */
static void each_kind(void (*check)(HfcExt2 *fs, Img *im))
{
	for (size_t k = 0; k < NKINDS; k++) {
		print_message("%s\n", kinds[k].name);
		Img im;
		HfcExt2 *fs = fs_open(&im, images[k]);
		check(fs, &im);
		hfc_ext2_close(fs);
		img_close(&im);
	}
}

static void check_walk(HfcExt2 *fs, Img *im)
{
	walk(fs, "");
	/* Every byte came through the callback, never past the image's end. */
	assert_true(im->calls > 0);
	assert_true(im->bytes >= BIG_SIZE + MEDIUM_SIZE);
	assert_true(im->max_end <= im->size);
}

static void test_walk_every_kind(void **state _unused_)
{
	each_kind(check_walk);
}

static void test_ls_paths(void **state)
{
	Opened *o = *state;
	HfcExt2 *fs = o->fs;
	HfcErr err = { "" };
	char *got;

	/* Trailing and doubled slashes, "." and "..", which never leave the root. */
	const char *same[] = { "/dir/sub", "/dir/sub/", "//dir///sub", "/dir/./sub",
			       "/dir/empty-dir/../sub", "/../../dir/sub", "/dirlink/sub" };
	char *want = expected_names("dir/sub", false);
	for (size_t i = 0; i < ELEMENTSOF(same); i++) {
		assert_int_equal(ls_names(fs, same[i], HFC_EXT2_LIST_FOLLOW, &got, &err), 0);
		assert_string_equal(got, want);
		free(got);
	}
	free(want);

	/* An empty directory lists nothing; a file lists its path as given. */
	assert_int_equal(ls_names(fs, "/dir/empty-dir", 0, &got, &err), 0);
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(ls_names(fs, "/dir//sub/deep.txt", 0, &got, &err), 0);
	assert_string_equal(got, "/dir//sub/deep.txt\n");
	free(got);

	/* A symlink to a directory: the directory with FOLLOW, else the link (as ls and ls -l). */
	want = expected_names("dir", false);
	assert_int_equal(ls_names(fs, "/dirlink", HFC_EXT2_LIST_FOLLOW, &got, &err), 0);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(ls_names(fs, "/dirlink/", HFC_EXT2_LIST_STAT, &got, &err), 0);
	assert_string_equal(got, want);
	free(got);
	free(want);
	HfcExt2Listing l;
	assert_int_equal(hfc_ext2_list(fs, "/dirlink", HFC_EXT2_LIST_STAT, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.entries[0].name, "/dirlink");
	assert_true(S_ISLNK(l.entries[0].mode));
	assert_string_equal(l.entries[0].target, "dir");
	hfc_ext2_listing_free(&l);

	/* A dangling link and a loop are listed as themselves. */
	assert_int_equal(ls_names(fs, "/dangling", HFC_EXT2_LIST_FOLLOW, &got, &err), 0);
	assert_string_equal(got, "/dangling\n");
	free(got);
	assert_int_equal(hfc_ext2_list(fs, "/loop", HFC_EXT2_LIST_STAT | HFC_EXT2_LIST_FOLLOW, &l,
				       &err),
			 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.entries[0].target, "loop");
	hfc_ext2_listing_free(&l);
	hfc_ext2_listing_free(&l); /* an emptied listing is fine */

}

static void check_ls_stat(HfcExt2 *fs, Img *im _unused_)
{
	HfcErr err = { "" };
	struct stat st;
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/small.txt", tree);
	assert_int_equal(stat(p, &st), 0);

	/* The same names, in the same order, as without the inode fields. */
	HfcExt2Listing l;
	assert_int_equal(hfc_ext2_list(fs, "/", HFC_EXT2_LIST_STAT, &l, &err), 0);
	char *names = expected_names("", true), *c = names;
	for (size_t i = 0; i < l.n; i++) {
		size_t n = strlen(l.entries[i].name);
		assert_memory_equal(c, l.entries[i].name, n);
		assert_int_equal(c[n], '\n');
		c += n + 1;
	}
	assert_int_equal(*c, 0);
	free(names);

	const HfcExt2Entry *e = entry_named(&l, "small.txt");
	assert_int_equal(e->mode, S_IFREG | 0640);
	assert_int_equal(e->links, 1);
	assert_int_equal(e->uid, st.st_uid);
	assert_int_equal(e->gid, st.st_gid);
	assert_int_equal(e->size, 12);
	assert_int_equal(e->mtime, small_mtime);
	assert_null(e->target);
	assert_true(e->ino > 0);
	assert_int_equal(entry_named(&l, "big.bin")->size, BIG_SIZE);
	assert_int_equal(entry_named(&l, "empty")->size, 0);
	assert_int_equal(entry_named(&l, "script.sh")->mode, S_IFREG | 04755);
	assert_int_equal(entry_named(&l, "with space.txt")->mode, S_IFREG | 0600);
	e = entry_named(&l, "dir");
	assert_int_equal(e->mode & S_IFMT, S_IFDIR);
	assert_int_equal(e->links, 4); /* ".", its name, and the ".." of sub and empty-dir */
	e = entry_named(&l, "link");
	assert_int_equal(e->mode & S_IFMT, S_IFLNK);
	assert_string_equal(e->target, "dir/sub/deep.txt");
	assert_int_equal(e->size, strlen("dir/sub/deep.txt"));
	assert_string_equal(entry_named(&l, "abslink")->target, "/small.txt");
	assert_string_equal(entry_named(&l, "longlink")->target, LONG_TARGET);
	hfc_ext2_listing_free(&l);

	/* Without HFC_EXT2_LIST_STAT, names alone: no inode is read for them. */
	assert_int_equal(hfc_ext2_list(fs, "/", 0, &l, &err), 0);
	assert_int_equal(entry_named(&l, "link")->mode, 0);
	assert_null(entry_named(&l, "link")->target);
	hfc_ext2_listing_free(&l);

	/* A single file: one entry, named as the path. */
	assert_int_equal(hfc_ext2_list(fs, "/dir/sub/deep.txt", HFC_EXT2_LIST_STAT, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.entries[0].name, "/dir/sub/deep.txt");
	assert_int_equal(l.entries[0].mode & S_IFMT, S_IFREG);
	assert_int_equal(l.entries[0].size, 12);
	hfc_ext2_listing_free(&l);
}

static void test_ls_stat(void **state _unused_)
{
	each_kind(check_ls_stat);
}

static void check_cat_symlinks(HfcExt2 *fs, Img *im _unused_)
{
	assert_cat_equals(fs, "/link", "dir/sub/deep.txt");
	assert_cat_equals(fs, "/abslink", "small.txt");
	assert_cat_equals(fs, "/longlink", "dir/sub/deep.txt");
	assert_cat_equals(fs, "/dirlink/sub/random-1", "dir/sub/random-1");
	assert_cat_equals(fs, "/chain/c1", "small.txt"); /* 8 levels: fine */

	HfcErr err = { "" };
	uint8_t *got;
	size_t len;
	assert_int_equal(cat_bytes(fs, "/chain/d1", &got, &len, &err), -ELOOP);
	assert_string_equal(err.msg, "/chain/d1: Too many levels of symbolic links");
	assert_int_equal(len, 0);
	free(got);
	assert_int_equal(cat_bytes(fs, "/loop", &got, &len, &err), -ELOOP);
	free(got);
	assert_int_equal(cat_bytes(fs, "/dangling", &got, &len, &err), -ENOENT);
	assert_string_equal(err.msg, "/dangling: No such file or directory");
	free(got);
}

static void test_cat_symlinks(void **state _unused_)
{
	each_kind(check_cat_symlinks);
}

static void test_errors(void **state)
{
	Opened *o = *state;
	HfcExt2 *fs = o->fs;
	HfcErr err = { "" };
	char *text;
	uint8_t *got;
	size_t len;

	assert_int_equal(ls_names(fs, "/nope", HFC_EXT2_LIST_FOLLOW, &text, &err), -ENOENT);
	assert_string_equal(err.msg, "/nope: No such file or directory");
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(ls_names(fs, "/dir/nope/deeper", HFC_EXT2_LIST_STAT, &text, &err), -ENOENT);
	assert_string_equal(err.msg, "/dir/nope/deeper: No such file or directory");
	free(text);
	assert_int_equal(cat_bytes(fs, "/nope", &got, &len, &err), -ENOENT);
	assert_string_equal(err.msg, "/nope: No such file or directory");
	free(got);

	assert_int_equal(cat_bytes(fs, "/dir", &got, &len, &err), -EISDIR);
	assert_string_equal(err.msg, "/dir: Is a directory");
	assert_int_equal(len, 0);
	free(got);
	assert_int_equal(cat_bytes(fs, "/", &got, &len, &err), -EISDIR);
	assert_string_equal(err.msg, "/: Is a directory");
	free(got);
	assert_int_equal(cat_bytes(fs, "/dirlink", &got, &len, &err), -EISDIR);
	free(got);

	assert_int_equal(cat_bytes(fs, "small.txt", &got, &len, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "small.txt: not an absolute path (paths in the image start with '/')");
	free(got);
	assert_int_equal(ls_names(fs, "dir/sub", 0, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "dir/sub: not an absolute path"));
	free(text);
	assert_int_equal(ls_names(fs, "", 0, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "empty path"));
	free(text);

	assert_int_equal(cat_bytes(fs, "/small.txt/x", &got, &len, &err), -ENOTDIR);
	assert_string_equal(err.msg, "/small.txt/x: Not a directory");
	free(got);
	assert_int_equal(cat_bytes(fs, "/small.txt/", &got, &len, &err), -ENOTDIR);
	free(got);
	assert_int_equal(ls_names(fs, "/link/", 0, &text, &err), -ENOTDIR);
	free(text);

	char longname[300];
	memset(longname, 'n', sizeof(longname));
	longname[0] = '/';
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(cat_bytes(fs, longname, &got, &len, &err), -ENAMETOOLONG);
	free(got);

	/* An output that cannot be written: the write's error, named. */
	int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	assert_int_equal(hfc_ext2_cat(fs, "/small.txt", ro, &err), -EBADF);
	assert_string_equal(err.msg, "/small.txt: writing the output: Bad file descriptor");
	close(ro);

	/* The handle still works after errors. */
	assert_cat_equals(fs, "/small.txt", "small.txt");
	hfc_ext2_close(NULL);
}

static void test_not_ext2(void **state _unused_)
{
	/* Random bytes: no superblock magic. */
	Img im = { .fd = -1, .fail_from = UINT64_MAX, .fail_after = UINT64_MAX, .size = 4 << 20 };
	im.mem = malloc(im.size);
	assert_non_null(im.mem);
	fill_random(im.mem, im.size, 99);
	HfcExt2 *fs = (HfcExt2 *)&im; /* must be left alone on failure */
	HfcErr err = { "" };
	assert_int_equal(hfc_ext2_open(img_read, &im, im.size, "random.img", &fs, &err), -EINVAL);
	assert_string_equal(err.msg, "random.img: not an ext2 file system");
	assert_ptr_equal(fs, (HfcExt2 *)&im);
	assert_true(im.calls > 0);

	/* Zeros, and too few bytes to hold a superblock. */
	memset(im.mem, 0, im.size);
	assert_int_equal(hfc_ext2_open(img_read, &im, im.size, "zero.img", &fs, &err), -EINVAL);
	assert_string_equal(err.msg, "zero.img: not an ext2 file system");
	assert_int_equal(hfc_ext2_open(img_read, &im, 1500, "tiny.img", &fs, &err), -EINVAL);
	assert_string_equal(err.msg, "tiny.img: not an ext2 file system (1500 bytes is too small)");
	assert_int_equal(hfc_ext2_open(NULL, &im, im.size, "x", &fs, &err), -EINVAL);
	img_close(&im);
}

static void test_truncated(void **state _unused_)
{
	/* The first 8 MiB of a 16 MiB file system: refused at open, not in the middle of a read. */
	Img im;
	img_open(&im, images[0]);
	HfcExt2 *fs = NULL;
	HfcErr err = { "" };
	assert_int_equal(hfc_ext2_open(img_read, &im, 8 << 20, "half.img", &fs, &err), -EINVAL);
	assert_string_equal(err.msg, "half.img: the file system (16384 blocks of 1024 bytes) is "
				     "larger than the image (8388608 bytes); truncated image?");
	assert_null(fs);
	assert_true(im.max_end <= 8 << 20);

	/* So short that the group descriptors are missing: a short read, named. */
	im.max_end = 0;
	assert_int_equal(hfc_ext2_open(img_read, &im, 2048, "stub.img", &fs, &err), -EIO);
	assert_non_null(strstr(err.msg, "stub.img: "));
	assert_non_null(strstr(err.msg, "past the end of the image"));
	assert_true(im.max_end <= 2048);
	img_close(&im);
}

static void test_read_errors(void **state)
{
	Opened *o = *state;
	HfcExt2 *fs = o->fs;
	HfcErr err = { "" };
	uint8_t *got;
	size_t len;

	/* The remote side fails from now on: the error and the failed read are reported. */
	o->im.fail_from = 0;
	assert_int_equal(cat_bytes(fs, "/big.bin", &got, &len, &err), -EIO);
	assert_non_null(strstr(err.msg, "/big.bin: reading "));
	assert_non_null(strstr(err.msg, "Input/output error"));
	free(got);

	/* ... and it recovers: the same handle reads again. */
	o->im.fail_from = UINT64_MAX;
	assert_cat_equals(fs, "/big.bin", "big.bin");

	/* A failure in the middle of a file (1 KiB blocks: ~1500 reads): some bytes out, then
	 * the error with the offset that failed. */
	o->im.fail_after = o->im.calls + 300;
	assert_int_equal(cat_bytes(fs, "/big.bin", &got, &len, &err), -EIO);
	assert_true(len > 0 && len < BIG_SIZE);
	size_t wlen;
	uint8_t *want = slurp("big.bin", &wlen);
	assert_memory_equal(got, want, len);
	free(want);
	free(got);
	assert_non_null(strstr(err.msg, "/big.bin: reading 1024 bytes at offset "));
	o->im.fail_after = UINT64_MAX;
	assert_cat_equals(fs, "/big.bin", "big.bin");

	/* A failing read while resolving a path or listing is named the same way. */
	o->im.fail_from = 0;
	char *text;
	assert_int_equal(ls_names(fs, "/dir/sub", HFC_EXT2_LIST_STAT, &text, &err), -EIO);
	assert_non_null(strstr(err.msg, ": /dir/sub: reading "));
	free(text);
	o->im.fail_from = UINT64_MAX;
}

static void test_reads_only_through_callback(void **state _unused_)
{
	/* The image is copied into memory and its file removed: libext2fs has nothing to open. */
	char copy[PATH_MAX * 2];
	snprintf(copy, sizeof(copy), "%s/copy.img", tmpdir);
	scratch_copy_file(images[0], copy);
	Img im;
	img_open(&im, copy);
	im.mem = malloc(im.size);
	assert_non_null(im.mem);
	assert_int_equal(hfc_pread_all(im.fd, im.mem, im.size, 0), (ssize_t)im.size);
	close(im.fd);
	im.fd = -1;
	assert_int_equal(unlink(copy), 0);

	HfcExt2 *fs = NULL;
	HfcErr err = { "" };
	assert_int_equal(hfc_ext2_open(img_read, &im, im.size, copy, &fs, &err), 0);
	uint64_t calls_open = im.calls;
	assert_true(calls_open > 0);
	/* libext2fs reads the superblock as 1024 bytes and a 1 KiB file system block by block. */
	assert_true(im.max_len <= 64 * 1024);

	uint64_t before = im.bytes;
	assert_cat_equals(fs, "/big.bin", "big.bin");
	assert_true(im.bytes - before >= BIG_SIZE);
	assert_true(im.calls - calls_open >= BIG_SIZE / 1024);
	assert_true(im.max_end <= im.size);
	hfc_ext2_close(fs);
	img_close(&im);
}

typedef struct Worker {
	size_t kind;
	int failures;
} Worker;

static void *worker(void *arg)
{
	Worker *w = arg;
	Img im;
	img_open(&im, images[w->kind]);
	HfcExt2 *fs = NULL;
	HfcErr err = { "" };
	if (hfc_ext2_open(img_read, &im, im.size, images[w->kind], &fs, &err) < 0) {
		w->failures++;
		img_close(&im);
		return NULL;
	}
	size_t wlen;
	uint8_t *want = slurp("big.bin", &wlen);
	for (int round = 0; round < 3; round++) {
		int fd = memfd_create("cat", MFD_CLOEXEC);
		if (fd < 0 || hfc_ext2_cat(fs, "/big.bin", fd, &err) < 0) {
			w->failures++;
		} else {
			uint8_t *got = malloc(wlen);
			if (!got || hfc_pread_all(fd, got, wlen, 0) != (ssize_t)wlen ||
			    memcmp(got, want, wlen) != 0 || lseek(fd, 0, SEEK_END) != (off_t)wlen)
				w->failures++;
			free(got);
		}
		if (fd >= 0)
			close(fd);
	}
	free(want);
	hfc_ext2_close(fs);
	img_close(&im);
	return NULL;
}

static void test_many_open_at_once(void **state _unused_)
{
	/* Interleaved on one thread: each handle reads its own image. */
	Img a, b;
	HfcExt2 *fa = fs_open(&a, images[0]), *fb = fs_open(&b, images[2]);
	uint64_t ca = a.calls, cb = b.calls;
	assert_cat_equals(fa, "/medium.bin", "medium.bin");
	assert_true(a.calls > ca);
	assert_int_equal(b.calls, cb);
	assert_cat_equals(fb, "/medium.bin", "medium.bin");
	assert_true(b.calls > cb);
	hfc_ext2_close(fa);
	assert_cat_equals(fb, "/dir/sub/deep.txt", "dir/sub/deep.txt");
	hfc_ext2_close(fb);
	img_close(&a);
	img_close(&b);

	/* And on threads, each opening while the others open and read. */
	Worker w[8];
	pthread_t t[8];
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		w[i] = (Worker){ .kind = i % NKINDS };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_every_kind),
		cmocka_unit_test_setup_teardown(test_ls_paths, open_first, close_first),
		cmocka_unit_test(test_ls_stat),
		cmocka_unit_test(test_cat_symlinks),
		cmocka_unit_test_setup_teardown(test_errors, open_first, close_first),
		cmocka_unit_test(test_not_ext2),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test_setup_teardown(test_read_errors, open_first, close_first),
		cmocka_unit_test(test_reads_only_through_callback),
		cmocka_unit_test(test_many_open_at_once),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
