/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the tree source (fs/tree.c, the archive and directory sources), the ext2
 * writer (fs/ext2-write.c: deterministic output, read back through the ext2 adapter, an update
 * that changes nothing writes nothing) and the cloop header parser (formats/cloop.c).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/fileio.h"
#include "formats/cloop.h"
#include "fs/ext2.h"
#include "fs/tar.h"
#include "fs/tree.h"
#include "helpers.h"

/* ---- names ---- */

static void test_norm(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
		int r;
	} cases[] = {
		{ "./usr/bin/ls", "usr/bin/ls", 0 },
		{ "usr//lib/", "usr/lib", 0 },
		{ ".", "", 0 },
		{ "./", "", 0 },
		{ "a/./b", "a/b", 0 },
		{ "/etc/passwd", NULL, -EINVAL },
		{ "a/../b", NULL, -EINVAL },
		{ "..", NULL, -EINVAL },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *out = NULL;
		HfcErr err = { "" };
		int r = hfc_tree_norm(cases[i].in, "in", &out, &err);
		assert_int_equal(r, cases[i].r);
		if (r == 0)
			assert_string_equal(out, cases[i].out);
		else
			assert_true(strncmp(err.msg, "in: ", 4) == 0);
		free(out);
	}
	char longname[300];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[299] = 0;
	char *out = NULL;
	HfcErr err = { "" };
	assert_int_equal(hfc_tree_norm(longname, "in", &out, &err), -ENAMETOOLONG);
	assert_non_null(strstr(err.msg, "299 bytes"));
}

static HfcTreeEntry *add(HfcTree *t, const char *path, HfcTreeType type)
{
	HfcTreeEntry *e = hfc_tree_add(t);
	assert_non_null(e);
	e->path = strdup(path);
	e->type = type;
	e->perm = 0644;
	return e;
}

/* Sorting, the last entry of a path winning, parents made, hard-link groups led by the smallest
 * path (which takes the data). */
static void test_finish(void **state)
{
	(void)state;
	HfcTree *t;
	HfcErr err = { "" };
	assert_int_equal(hfc_tree_new("t", &t), 0);
	add(t, "z/file", HFC_TREE_REG)->size = 1;
	add(t, "a/link", HFC_TREE_REG)->link_path = strdup("z/file");
	add(t, "m", HFC_TREE_REG)->size = 5;
	add(t, "m", HFC_TREE_LNK)->target = strdup("target");
	assert_int_equal(hfc_tree_finish(t, &err), 0);
	const char *want[] = { "", "a", "a/link", "m", "z", "z/file" };
	assert_int_equal(t->n, ELEMENTSOF(want));
	for (size_t i = 0; i < t->n; i++)
		assert_string_equal(t->e[i].path, want[i]);
	assert_int_equal(t->e[0].type, HFC_TREE_DIR);
	assert_int_equal(t->e[1].type, HFC_TREE_DIR);
	assert_int_equal(t->e[1].perm, 0755);
	/* a/link leads: it has the data, z/file points at it */
	assert_int_equal(t->e[2].link, HFC_TREE_NOLINK);
	assert_int_equal(t->e[2].size, 1);
	assert_int_equal(t->e[2].nlink, 2);
	assert_int_equal(t->e[5].link, 2);
	assert_int_equal(t->e[3].type, HFC_TREE_LNK); /* the later "m" won */
	hfc_tree_free(t);

	assert_int_equal(hfc_tree_new("t", &t), 0);
	add(t, "f", HFC_TREE_REG);
	add(t, "f/x", HFC_TREE_REG);
	assert_int_equal(hfc_tree_finish(t, &err), -ENOTDIR);
	assert_non_null(strstr(err.msg, "f/x: below a regular file"));
	hfc_tree_free(t);

	assert_int_equal(hfc_tree_new("t", &t), 0);
	add(t, "l", HFC_TREE_REG)->link_path = strdup("missing");
	assert_int_equal(hfc_tree_finish(t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not in the input"));
	hfc_tree_free(t);
}

/* ---- an archive in memory, the writer into memory ---- */

/* File i of a tar write_tar() makes: its name (at most 63 bytes) and its data (malloc'd). */
typedef uint8_t *(*MakeFile)(size_t i, uint64_t seed, char name[64], size_t *len);

/* Writes DIR/NAME, a tar of nfiles files that make() gives; returns its path (malloc'd). */
static char *write_tar(const char *dir, const char *name, size_t nfiles, uint64_t seed,
		       MakeFile make)
{
	char *path;
	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	HfcTarWriter *w;
	HfcErr err = { "" };
	assert_int_equal(hfc_tar_writer_new(fd, 1700000000, name, &w, &err), 0);
	for (size_t i = 0; i < nfiles; i++) {
		char fname[64];
		size_t len;
		uint8_t *data = make(i, seed, fname, &len);
		assert_int_equal(hfc_tar_writer_add(w, fname, data, len, &err), 0);
		free(data);
	}
	assert_int_equal(hfc_tar_writer_close(w, &err), 0);
	hfc_tar_writer_free(w);
	close(fd);
	return path;
}

static uint8_t *random_file(size_t i, uint64_t seed, char name[64], size_t *len)
{
	*len = 1000 + i * 7919 % 300000;
	uint8_t *data = malloc(*len);
	fill_random(data, *len, seed + i);
	snprintf(name, 64, "dir%zu/file%zu", i % 5, i);
	return data;
}

static char *make_tar(const char *dir, size_t nfiles, uint64_t seed)
{
	return write_tar(dir, "in.tar", nfiles, seed, random_file);
}

typedef struct Mem {
	uint8_t *p;
	uint64_t size;
	uint64_t writes, changed;
} Mem;

static ssize_t mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	Mem *m = ctx;
	if (off >= m->size)
		return 0;
	len = (size_t)MIN((uint64_t)len, m->size - off);
	memcpy(buf, m->p + off, len);
	return (ssize_t)len;
}

static int mem_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	Mem *m = ctx;
	if (off > m->size || len > m->size - off)
		return -ENOSPC;
	m->writes++;
	if (memcmp(m->p + off, buf, len)) {
		m->changed++;
		memcpy(m->p + off, buf, len);
	}
	return 0;
}

static HfcTree *load(const char *path)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	HfcTree *t = NULL;
	HfcErr err = { "" };
	int r = hfc_tree_from_archive(fd, NULL, NULL, path, NULL, &t, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	close(fd);
	return t;
}

static ssize_t fd_stream(void *ctx, void *buf, size_t len)
{
	ssize_t n = read(*(int *)ctx, buf, len);
	return n < 0 ? -errno : n;
}

/* The archive as a stream (a pipe's way): its data goes through the spool file. */
static HfcTree *load_stream(const char *path)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	HfcTree *t = NULL;
	HfcErr err = { "" };
	int r = hfc_tree_from_archive(-1, fd_stream, &fd, path, NULL, &t, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	close(fd);
	return t;
}

static void mkfs(HfcTree *t, Mem *m, uint64_t files)
{
	HfcExt2MkOptions o = { .size = m->size, .created = 1700000000, .align = 262144 };
	HfcExt2MkResult res;
	HfcErr err = { "" };
	int r = hfc_ext2_mkfs(t, &o, mem_read, mem_write, m, &res, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(res.written, files);
	hfc_ext2_mk_result_free(&res);
}

static void test_writer(void **state)
{
	(void)state;
	char dir[1024];
	scratch_dir("tree", dir, sizeof(dir));
	char *tar = make_tar(dir, 40, 11);
	Mem a = { .size = 32 << 20 }, b = { .size = 32 << 20 };
	a.p = calloc(1, a.size);
	b.p = calloc(1, b.size);
	HfcTree *t = load(tar);
	assert_int_equal(t->n, 1 + 5 + 40);
	/* The archive source hashes every file on all CPUs: the same hash as one read back. */
	size_t nhashed = 0;
	for (size_t i = 0; i < t->n; i++) {
		HfcTreeEntry *e = &t->e[i];
		if (e->type != HFC_TREE_REG)
			continue;
		assert_true(e->hashed);
		nhashed++;
		uint8_t got[32], want[32];
		memcpy(got, e->sha256, 32);
		e->hashed = false;
		HfcErr herr = { "" };
		assert_int_equal(hfc_tree_content_hash(t, e, want, &herr), 0);
		assert_memory_equal(got, want, 32);
		e->hashed = true;
	}
	assert_int_equal(nhashed, 40);
	/* The file's data read in place (a regular file) and through the spool (a stream) are
	 * the same entries with the same bytes. */
	HfcTree *ts = load_stream(tar);
	assert_int_equal(ts->n, t->n);
	for (size_t i = 0; i < t->n; i++) {
		assert_string_equal(ts->e[i].path, t->e[i].path);
		assert_int_equal(ts->e[i].hashed, t->e[i].hashed);
		assert_memory_equal(ts->e[i].sha256, t->e[i].sha256, 32);
	}
	mkfs(ts, &b, 40);
	hfc_tree_free(ts);
	mkfs(t, &a, 40);
	assert_memory_equal(a.p, b.p, a.size);
	memset(a.p, 0, a.size);
	memset(b.p, 0, b.size);
	mkfs(t, &a, 40);
	hfc_tree_free(t);
	t = load(tar);
	mkfs(t, &b, 40);
	assert_memory_equal(a.p, b.p, a.size); /* deterministic */

	/* Read back through the ext2 adapter: every file, byte for byte. */
	HfcExt2 *fs;
	HfcErr err = { "" };
	assert_int_equal(hfc_ext2_open(mem_read, &a, a.size, "mem", &fs, &err), 0);
	for (size_t i = 0; i < t->n; i++) {
		const HfcTreeEntry *e = &t->e[i];
		if (e->type != HFC_TREE_REG)
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/out", dir);
		int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
		char abs[300];
		snprintf(abs, sizeof(abs), "/%s", e->path);
		assert_int_equal(hfc_ext2_cat(fs, abs, fd, &err), 0);
		uint8_t *want = malloc(e->size + 1), *got = malloc(e->size + 1);
		assert_int_equal(hfc_tree_read(t, e, 0, want, e->size, &err), 0);
		assert_int_equal(pread(fd, got, e->size + 1, 0), (ssize_t)e->size);
		assert_memory_equal(want, got, e->size);
		free(want);
		free(got);
		close(fd);
	}
	hfc_ext2_close(fs);

	/* An update with the same tree and the base's hashes changes no byte. */
	HfcExt2MkOptions o = { .created = 1700000000, .align = 262144 };
	HfcExt2MkResult res;
	hfc_tree_free(t);
	t = load(tar);
	HfcExt2MkOptions o0 = { .size = b.size, .created = 1700000000, .align = 262144 };
	memset(b.p, 0, b.size);
	assert_int_equal(hfc_ext2_mkfs(t, &o0, mem_read, mem_write, &b, &res, &err), 0);
	HfcExt2Hashes h = res.hashes;
	o.base = &h;
	b.changed = 0;
	HfcExt2MkResult res2;
	int r = hfc_ext2_update(t, &o, b.size, mem_read, mem_write, &b, &res2, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(res2.kept, 40);
	assert_int_equal(res2.written, 0);
	assert_int_equal(b.changed, 0);
	assert_memory_equal(a.p, b.p, a.size);
	hfc_ext2_mk_result_free(&res);
	hfc_ext2_mk_result_free(&res2);

	/* Too small an image: one message with what is missing. */
	Mem s = { .size = 2 << 20 };
	s.p = calloc(1, s.size);
	HfcExt2MkOptions small = { .size = s.size, .created = 1, .align = 262144 };
	assert_int_equal(hfc_ext2_mkfs(t, &small, mem_read, mem_write, &s, &res, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "MiB missing"));
	free(s.p);
	hfc_tree_free(t);
	free(a.p);
	free(b.p);
	free(tar);
	scratch_rm(dir);
}

/* ---- reading a file's range, its nonzero map, the writer handing data over by reference ---- */

static const uint8_t *mem_src; /* what mem_tree_read reads: extent src is an offset into it */

static int mem_tree_read(HfcTree *t, const HfcTreeEntry *e, uint64_t off, void *buf, size_t len,
			 HfcErr *err)
{
	(void)t;
	(void)err;
	for (size_t k = 0; k < e->nextents; k++) {
		const HfcTreeExtent *x = &e->extents[k];
		if (off >= x->off && off + len <= x->off + x->len) {
			memcpy(buf, mem_src + x->src + (off - x->off), len);
			return 0;
		}
	}
	fail_msg("read outside the extents: %llu+%zu", (unsigned long long)off, len);
	return -EINVAL;
}

static void test_read_range(void **state)
{
	(void)state;
	/* A sparse file of 5 blocks and a bit: data in block 0 (100 bytes), a zero run inside
	 * data at block 2, data at the end of block 3; block 1 and the tail are holes. */
	uint64_t size = 5 * 4096 + 10;
	uint8_t *src = malloc(3 * 4096);
	fill_random(src, 3 * 4096, 5);
	memset(src + 100, 0, 4096); /* extent 2's first block: zeros in the archive */
	mem_src = src;
	HfcTree *t;
	assert_int_equal(hfc_tree_new("mem", &t), 0);
	t->read = mem_tree_read;
	t->read_shared = true;
	HfcTreeEntry *e = add(t, "f", HFC_TREE_REG);
	e->size = size;
	e->extents = calloc(2, sizeof(*e->extents));
	e->extents[0] = (HfcTreeExtent){ .off = 0, .len = 100, .src = 0 };
	e->extents[1] = (HfcTreeExtent){ .off = 2 * 4096, .len = 2 * 4096, .src = 100 };
	e->nextents = 2;
	HfcErr err = { "" };
	assert_int_equal(hfc_tree_finish(t, &err), 0);
	e = &t->e[hfc_tree_find(t, "f")];

	/* Every range reads as the file would: data where the extents are, zeros elsewhere. */
	uint8_t *want = calloc(1, size + 4096), *got = malloc(size + 4096);
	memcpy(want, src, 100);
	memcpy(want + 2 * 4096, src + 100, 2 * 4096);
	uint64_t cuts[] = { 0, 1, 99, 100, 101, 4096, 8191, 8192, 8193, 12288, 16383, 16384,
			    size - 1, size, size + 100 };
	for (size_t a = 0; a < sizeof(cuts) / sizeof(cuts[0]); a++)
		for (size_t b = a; b < sizeof(cuts) / sizeof(cuts[0]); b++) {
			memset(got, 0xa5, size + 4096);
			size_t len = (size_t)(cuts[b] - cuts[a]);
			assert_int_equal(hfc_tree_read_range(t, e, cuts[a], got, len, &err), 0);
			assert_memory_equal(got, want + cuts[a], len);
			assert_int_equal(got[len], 0xa5); /* nothing past len */
		}

	/* The hash of all files notes which 4 KiB blocks hold data: 0 and 3 (2 is zeros). */
	assert_int_equal(hfc_tree_hash_all(t, 2, &err), 0);
	assert_true(e->hashed);
	assert_non_null(e->nonzero);
	assert_int_equal(e->nonzero[0], 0x9);
	uint8_t h[32];
	e->hashed = false;
	assert_int_equal(hfc_tree_content_hash(t, e, h, &err), 0);
	assert_memory_equal(h, e->sha256, 32);
	e->hashed = true;
	hfc_tree_free(t);
	free(src);
	free(want);
	free(got);
}

/* The writer's data_ref, resolved at once: the image must be the one written without it. */
static HfcTree *ref_tree;
static uint64_t ref_count;

static int mem_ref(void *ctx, size_t entry, uint64_t foff, uint64_t len, uint64_t off)
{
	Mem *m = ctx;
	assert_true(off <= m->size && len <= m->size - off);
	assert_true(entry < ref_tree->n);
	HfcErr err = { "" };
	ref_count++;
	return hfc_tree_read_range(ref_tree, &ref_tree->e[entry], foff, m->p + off, (size_t)len,
				   &err);
}

/* Every other 4 KiB block zero; file 5 all zeros; file 3 ends on a block edge. */
static uint8_t *zeros_file(size_t i, uint64_t seed, char name[64], size_t *len)
{
	*len = 4096 * (i % 7) + 37 * i + (i == 3 ? 0 : 1);
	uint8_t *data = malloc(*len + 1);
	fill_random(data, *len, seed + i);
	for (size_t b = 1; b * 4096 < *len; b += 2)
		memset(data + b * 4096, 0, MIN((size_t)4096, *len - b * 4096));
	if (i == 5)
		memset(data, 0, *len);
	snprintf(name, 64, "z/f%zu", i);
	return data;
}

static void test_by_reference(void **state)
{
	(void)state;
	char dir[1024];
	scratch_dir("tree", dir, sizeof(dir));
	/* Files with zero blocks inside (holes in the image), an all-zero file, a partial tail. */
	char *tar = write_tar(dir, "z.tar", 12, 100, zeros_file);
	HfcErr err = { "" };

	Mem a = { .size = 16 << 20 }, b = { .size = 16 << 20 };
	a.p = calloc(1, a.size);
	b.p = calloc(1, b.size);
	HfcTree *t = load(tar);
	mkfs(t, &a, 12);
	HfcExt2MkOptions o = { .size = b.size, .created = 1700000000, .align = 262144,
			       .data_ref = mem_ref };
	HfcExt2MkResult res;
	ref_tree = t;
	ref_count = 0;
	int r = hfc_ext2_mkfs(t, &o, mem_read, mem_write, &b, &res, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	assert_true(ref_count > 0);
	assert_memory_equal(a.p, b.p, a.size);
	hfc_ext2_mk_result_free(&res);
	/* A source whose read is not shared (a directory) gets its data written, not referred to. */
	t->read_shared = false;
	ref_count = 0;
	memset(b.p, 0, b.size);
	assert_int_equal(hfc_ext2_mkfs(t, &o, mem_read, mem_write, &b, &res, &err), 0);
	assert_int_equal(ref_count, 0);
	assert_memory_equal(a.p, b.p, a.size);
	hfc_ext2_mk_result_free(&res);
	hfc_tree_free(t);
	free(a.p);
	free(b.p);
	free(tar);
	scratch_rm(dir);
}

/* The directory source: the same files as the archive source, sorted, with their data. */
static void test_dir_source(void **state)
{
	(void)state;
	char dir[1024];
	scratch_dir("dirtree", dir, sizeof(dir));
	char p[PATH_MAX], q[PATH_MAX];
	snprintf(p, sizeof(p), "%s/b", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	scratch_write(dir, "b/two", "22", 2);
	scratch_write(dir, "a", "1", 1);
	snprintf(p, sizeof(p), "%s/b/two", dir);
	snprintf(q, sizeof(q), "%s/b/also", dir);
	assert_int_equal(link(p, q), 0);
	HfcTree *t;
	HfcErr err = { "" };
	assert_int_equal(hfc_tree_from_dir(dir, &t, &err), 0);
	const char *want[] = { "", "a", "b", "b/also", "b/two" };
	assert_int_equal(t->n, ELEMENTSOF(want));
	for (size_t i = 0; i < t->n; i++)
		assert_string_equal(t->e[i].path, want[i]);
	assert_int_equal(t->e[3].nlink, 2);
	assert_int_equal(t->e[4].link, 3);
	char buf[2];
	assert_int_equal(hfc_tree_read(t, &t->e[3], 0, buf, 2, &err), 0);
	assert_memory_equal(buf, "22", 2);
	hfc_tree_free(t);
	scratch_rm(dir);
}

/* ---- cloop ---- */

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void test_cloop(void **state)
{
	(void)state;
	uint8_t f[HFC_CLOOP_HEADER + 8 + 3 * 8 + 100];
	memset(f, 0, sizeof(f));
	memcpy(f, "#!/bin/sh\n#V2.0 Format\n", 23);
	be32(f + HFC_CLOOP_HEADER, 4096);
	be32(f + HFC_CLOOP_HEADER + 4, 2);
	uint64_t end = hfc_cloop_table_end(2);
	uint64_t offs[3] = { end, end + 40, end + 100 };
	for (int i = 0; i < 3; i++) {
		be32(f + HFC_CLOOP_HEADER + 8 + 8 * i, (uint32_t)(offs[i] >> 32));
		be32(f + HFC_CLOOP_HEADER + 12 + 8 * i, (uint32_t)offs[i]);
	}
	HfcCloop c;
	HfcErr err = { "" };
	assert_int_equal(hfc_cloop_parse_header(f, sizeof(f), "c", &c, &err), 0);
	assert_int_equal(c.block_size, 4096);
	assert_int_equal(c.nblocks, 2);
	const uint8_t *tab = f + HFC_CLOOP_HEADER + 8;
	assert_int_equal(hfc_cloop_parse_table(&c, tab, 24, sizeof(f), "c", &err), 0);
	assert_int_equal(c.offsets[2], end + 100);
	hfc_cloop_clear(&c);
	/* past the file, a truncated table */
	assert_int_equal(hfc_cloop_parse_header(f, sizeof(f), "c", &c, &err), 0);
	assert_int_equal(hfc_cloop_parse_table(&c, tab, 24, sizeof(f) - 1, "c", &err), -EINVAL);
	assert_null(c.offsets);
	assert_int_equal(hfc_cloop_parse_table(&c, tab, 23, sizeof(f), "c", &err), -EINVAL);
	/* another version, a block size that is no multiple of 512, not cloop */
	memcpy(f + 10, "#V4.0", 5);
	assert_int_equal(hfc_cloop_parse_header(f, sizeof(f), "c", &c, &err), -EOPNOTSUPP);
	memcpy(f + 10, "#V2.0", 5);
	be32(f + HFC_CLOOP_HEADER, 1000);
	assert_int_equal(hfc_cloop_parse_header(f, sizeof(f), "c", &c, &err), -EINVAL);
	assert_int_equal(hfc_cloop_parse_header("hello", 5, "c", &c, &err), -EINVAL);
	assert_string_equal(err.msg, "c: not a cloop file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_norm),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_read_range),
		cmocka_unit_test(test_by_reference),
		cmocka_unit_test(test_dir_source),
		cmocka_unit_test(test_cloop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
