/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for delta bundles (delta.c, delta-make.c, delta-apply.c), the tar adapter (tar.c)
 * and history.c (diff figures, rollback, prune), each in a fresh mkdtemp directory with small
 * sites built by hfc_build from images whose pages are laid out to exercise every recipe op.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "site/build.h"
#include "delta/delta.h"
#include "delta/pagemap.h"
#include "base/digest.h"
#include "base/fileio.h"
#include "site/history.h"
#include "site/image.h"
#include "fs/tar.h"
#include "site/verify.h"

#define BS 16384u
#define PAGE 4096u
/* Five full blocks and a short one that ends inside a page: 5000 = 4096 + 904. */
#define IMG_SIZE (5u * BS + 5000u)

typedef struct T {
	char dir[64];
	char path[256];
} T;

static char *tpath(T *t, const char *name)
{
	snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, name);
	return t->path;
}

static int setup(void **state)
{
	T *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/hfc-unit-delta.XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	*state = t;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	T *t = *state;
	int r = nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return r;
}

/* ---- helpers ---- */

static uint64_t rng_state;

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = (uint8_t)(rng_state >> 56);
	}
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(hfc_write_all(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

static void build(const char *img, const char *site)
{
	HfcBuildOptions o = { .block_size = BS, .jobs = 2 };
	HfcBuildResult res;
	HfcErr err = { "" };
	int r = hfc_build(img, site, &o, &res, &err);
	if (r < 0)
		fail_msg("hfc_build %s: %s", img, err.msg);
}

/*
 * v1: 21 distinct random pages and the short tail. v2: block 0 unchanged; block 1 holds v1's
 * pages 7, 6, 5, 4 (moved); block 2 a zero page, a new page twice and v1's page 0; block 3 two
 * new pages and v1's pages 12, 13 (a NEXT run); block 4 as in v1; the tail changed in its
 * short page only.
 */
static void make_images(uint8_t *v1, uint8_t *v2)
{
	rng_state = 42;
	fill_random(v1, IMG_SIZE);
	memcpy(v2, v1, IMG_SIZE);
	uint8_t *b1 = v2 + BS, *b2 = v2 + 2 * BS, *b3 = v2 + 3 * BS;
	for (unsigned k = 0; k < 4; k++)
		memcpy(b1 + k * PAGE, v1 + (7 - k) * PAGE, PAGE);
	memset(b2, 0, PAGE);
	fill_random(b2 + PAGE, PAGE);
	memcpy(b2 + 2 * PAGE, b2 + PAGE, PAGE);
	memcpy(b2 + 3 * PAGE, v1, PAGE);
	fill_random(b3, 2 * PAGE);
	memcpy(b3 + 2 * PAGE, v1 + 12 * PAGE, 2 * PAGE);
	fill_random(v2 + 5 * BS + PAGE, 904);
}

/* A checksum of a whole tree: every path and type, every file's bytes. */
typedef struct Sum {
	char *text;
	size_t len;
} Sum;

static Sum *sum_ctx;

static int sum_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	char line[4200];
	uint8_t h[32] = { 0 };
	if (S_ISREG(st->st_mode)) {
		char *buf = NULL;
		size_t len;
		assert_int_equal(hfc_read_file_at(AT_FDCWD, path, 1u << 30, &buf, &len), 0);
		assert_int_equal(hfc_digest(HFC_HASH_SHA256, buf, len, h), 0);
		free(buf);
	}
	char hex[65];
	hfc_hex_encode(h, 32, hex);
	int n = snprintf(line, sizeof(line), "%o %s %s\n", st->st_mode & S_IFMT, path, hex);
	sum_ctx->text = realloc(sum_ctx->text, sum_ctx->len + (size_t)n + 1);
	memcpy(sum_ctx->text + sum_ctx->len, line, (size_t)n + 1);
	sum_ctx->len += (size_t)n;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns a malloc'd, order-independent description of the tree (sorted lines). */
static char *tree_sum(const char *dir)
{
	Sum s = { 0 };
	sum_ctx = &s;
	assert_int_equal(nftw(dir, sum_entry, 16, FTW_PHYS), 0);
	/* nftw's order follows readdir; sort the lines so two walks compare. */
	size_t n = 0;
	for (size_t i = 0; i < s.len; i++)
		n += s.text[i] == '\n';
	char **lines = calloc(n, sizeof(char *));
	char *p = s.text;
	for (size_t i = 0; i < n; i++) {
		lines[i] = p;
		p = strchr(p, '\n');
		*p++ = 0;
	}
	qsort(lines, n, sizeof(char *), cmp_str);
	char *out = calloc(1, s.len + n + 1);
	for (size_t i = 0; i < n; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
	}
	free(lines);
	free(s.text);
	return out;
}

static void copy_tree(const char *from, const char *to)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

/* Extracts the current version of site and compares it with want. */
static void assert_extracts(const char *site, const uint8_t *want, size_t len)
{
	HfcSite *s;
	HfcErr err = { "" };
	assert_int_equal(hfc_site_open(site, false, &s, &err), 0);
	HfcIndex *idx;
	assert_int_equal(hfc_site_load_index(s, 0, &idx, &err), 0);
	assert_int_equal(idx->image_size, len);
	HfcSiteReader *sr;
	assert_int_equal(hfc_site_reader_new(s, idx, 1, &sr), 0);
	uint8_t *buf = malloc(BS);
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		size_t n = hfc_index_block_len(idx, i);
		if (!idx->entries[i].stored) {
			assert_true(hfc_is_zero(want + i * BS, n));
			continue;
		}
		int r = hfc_site_reader_block(sr, 0, i, buf, &err);
		if (r < 0)
			fail_msg("block %llu: %s", (unsigned long long)i, err.msg);
		assert_memory_equal(buf, want + i * BS, n);
	}
	free(buf);
	hfc_site_reader_free(sr);
	hfc_index_free(idx);
	hfc_site_free(s);
}

static void verify_ok(const char *site)
{
	HfcSite *s;
	HfcErr err = { "" };
	assert_int_equal(hfc_site_open(site, false, &s, &err), 0);
	HfcVerifyResult res;
	assert_int_equal(hfc_site_verify(s, 1, false, NULL, NULL, &res), 0);
	assert_int_equal(res.faults, 0);
	hfc_site_free(s);
}

/* Makes site (v1, v2) and mirror (v1) in t's directory; returns the images (malloc'd). */
static void make_sites(T *t, uint8_t **ret_v1, uint8_t **ret_v2)
{
	uint8_t *v1 = malloc(IMG_SIZE), *v2 = malloc(IMG_SIZE);
	make_images(v1, v2);
	char img1[256], img2[256], site[256], mirror[256];
	snprintf(img1, sizeof(img1), "%s/v1.img", t->dir);
	snprintf(img2, sizeof(img2), "%s/v2.img", t->dir);
	snprintf(site, sizeof(site), "%s/site", t->dir);
	snprintf(mirror, sizeof(mirror), "%s/mirror", t->dir);
	write_file(img1, v1, IMG_SIZE);
	write_file(img2, v2, IMG_SIZE);
	build(img1, site);
	copy_tree(site, mirror);
	build(img2, site);
	*ret_v1 = v1;
	*ret_v2 = v2;
}

static int make_bundle(T *t, bool full, const char *out, HfcBundleResult *res, HfcErr *err)
{
	HfcSite *s;
	assert_int_equal(hfc_site_open(tpath(t, "site"), false, &s, err), 0);
	HfcIndex *a = NULL, *b;
	if (!full)
		assert_int_equal(hfc_site_load_index(s, 1, &a, err), 0);
	assert_int_equal(hfc_site_load_index(s, 2, &b, err), 0);
	HfcBundleOptions o = { .full = full, .jobs = 2 };
	int r = hfc_bundle_make(s, a, b, tpath(t, out), &o, res, err);
	hfc_index_free(a);
	hfc_index_free(b);
	hfc_site_free(s);
	return r;
}

/* ---- manifest ---- */

static const HfcBundleManifest sample = {
	.kind = HFC_BUNDLE_DELTA,
	.base = 6,
	.base_sha256 = { 1, 2, 3 },
	.target = 7,
	.target_sha256 = { 4, 5, 6 },
	.hash = HFC_HASH_MD5,
	.block_size = 262144,
	.index_bytes = 180000,
	.profile_bytes = 0,
	.bases = 12,
	.recipes = 30,
	.delta_bytes = 123456,
	.raw_blocks = 2,
};

static void test_manifest_roundtrip(void **state)
{
	(void)state;
	char *buf;
	size_t len;
	assert_int_equal(hfc_bundle_manifest_format(&sample, &buf, &len), 0);
	assert_true(strncmp(buf, "hfc-bundle 1\nkind delta\nbase 6 0102030000", 40) == 0);
	HfcBundleManifest m;
	HfcErr err = { "" };
	assert_int_equal(hfc_bundle_manifest_parse(buf, len, "m", &m, &err), 0);
	assert_memory_equal(&m, &sample, sizeof(m));
	char *again;
	size_t alen;
	assert_int_equal(hfc_bundle_manifest_format(&m, &again, &alen), 0);
	assert_int_equal(alen, len);
	assert_memory_equal(again, buf, len);
	free(again);
	free(buf);
}

/* Replaces the first `from` in the manifest text with `to` and fixes the end line. */
static char *edited(const char *from, const char *to, bool fix_end, size_t *ret_len)
{
	char *buf;
	size_t len;
	assert_int_equal(hfc_bundle_manifest_format(&sample, &buf, &len), 0);
	char *p = strstr(buf, from);
	assert_non_null(p);
	char *out = calloc(1, len + strlen(to) + 80);
	memcpy(out, buf, (size_t)(p - buf));
	strcat(out, to);
	strcat(out, p + strlen(from));
	if (fix_end) {
		char *e = strstr(out, "end ");
		uint8_t sha[32];
		char hex[65];
		assert_int_equal(hfc_digest(HFC_HASH_SHA256, out, (size_t)(e - out), sha), 0);
		hfc_hex_encode(sha, 32, hex);
		sprintf(e, "end %s\n", hex);
	}
	free(buf);
	*ret_len = strlen(out);
	return out;
}

static void test_manifest_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *from, *to, *msg;
		bool fix;
	} cases[] = {
		{ "hfc-bundle 1", "hfc-bundle 2", "m:1: not a bundle manifest", true },
		{ "kind delta", "kind other", "m:2: bad value for 'kind'", true },
		{ "kind delta", "kind full", "m:3: a full bundle must have no base", true },
		{ "target 7", "target 07", "m:4: bad value for 'target'", true },
		{ "hash md5", "hash MD5", "m:5: bad value for 'hash'", true },
		{ "block-size 262144", "block-size 1000", "m:6: bad value", true },
		{ "index-bytes 180000", "index-bytes 0", "m:7: bad value", true },
		{ "bases 12", "recipes 12", "m:9: expected 'bases'", true },
		{ "delta-bytes 123456", "delta-bytes 99999999999999",
		  "m:11: delta-bytes 99999999999999 is more than 30 recipes can need", true },
		{ "delta-bytes 123456", "delta-bytes 0", "m:11: recipes and delta-bytes disagree", true },
		{ "raw-blocks 2", "raw-blocks 3", "m:13: end checksum does not match", false },
		{ "raw-blocks 2\n", "raw-blocks 2\nextra 1\n", "m:13: expected the 'end' line", false },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		size_t len;
		char *buf = edited(cases[i].from, cases[i].to, cases[i].fix, &len);
		HfcBundleManifest m;
		HfcErr err = { "" };
		assert_int_equal(hfc_bundle_manifest_parse(buf, len, "m", &m, &err), -EBADMSG);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' does not contain '%s'", i, err.msg, cases[i].msg);
		free(buf);
	}
	/* Trailing data and truncation. */
	char *buf;
	size_t len;
	assert_int_equal(hfc_bundle_manifest_format(&sample, &buf, &len), 0);
	HfcBundleManifest m;
	HfcErr err = { "" };
	buf = realloc(buf, len + 2);
	memcpy(buf + len, "x\n", 2);
	assert_int_equal(hfc_bundle_manifest_parse(buf, len + 2, "m", &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "data after the end"));
	assert_int_equal(hfc_bundle_manifest_parse(buf, len - 1, "m", &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "truncated"));
	free(buf);
}

static void test_page_key(void **state)
{
	(void)state;
	uint8_t a[PAGE], b[PAGE];
	rng_state = 7;
	fill_random(a, PAGE);
	memcpy(b, a, PAGE);
	assert_true(hfc_page_key(a, PAGE) == hfc_page_key(b, PAGE));
	b[4095] ^= 1;
	assert_true(hfc_page_key(a, PAGE) != hfc_page_key(b, PAGE));
	/* A short page is another key than its prefix in a full page would make. */
	assert_true(hfc_page_key(a, 904) != hfc_page_key(a, 905));
	assert_true(hfc_page_key(a, 0) != hfc_page_key(a, 1));
}

/* ---- tar adapter ---- */

/* A raw ustar header (our writer only writes regular files). */
static void ustar(uint8_t h[512], const char *name, char type, const char *link, uint64_t size)
{
	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	memcpy(h + 136, "00000000000", 11);
	h[156] = (uint8_t)type;
	if (link)
		snprintf((char *)h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

static void test_tar(void **state)
{
	T *t = *state;
	HfcErr err = { "" };
	int fd = open(tpath(t, "a.tar"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	HfcTarWriter *w;
	assert_int_equal(hfc_tar_writer_new(fd, 1000, "a.tar", &w, &err), 0);
	assert_int_equal(hfc_tar_writer_add(w, "one", "hello", 5, &err), 0);
	assert_int_equal(hfc_tar_writer_begin(w, "two", 6, &err), 0);
	assert_int_equal(hfc_tar_writer_data(w, "wor", 3, &err), 0);
	assert_int_equal(hfc_tar_writer_data(w, "ld!!", 4, &err), -EINVAL); /* more than its size */
	assert_int_equal(hfc_tar_writer_data(w, "ld!", 3, &err), 0);
	assert_int_equal(hfc_tar_writer_close(w, &err), 0);
	hfc_tar_writer_free(w);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

	HfcTarReader *r;
	HfcTarEntry e;
	char buf[16];
	assert_int_equal(hfc_tar_reader_new(fd, "a.tar", &r, &err), 0);
	assert_int_equal(hfc_tar_reader_next(r, &e, &err), 1);
	assert_string_equal(e.name, "one");
	assert_int_equal(e.type, HFC_TAR_FILE);
	assert_int_equal(e.size, 5);
	assert_int_equal(hfc_tar_reader_read(r, buf, 5, &err), 0);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(hfc_tar_reader_next(r, &e, &err), 1);
	assert_string_equal(e.name, "two");
	assert_int_equal(hfc_tar_reader_read(r, buf, 7, &err), -EBADMSG); /* the entry is 6 */
	assert_int_equal(hfc_tar_reader_next(r, &e, &err), 0);
	hfc_tar_reader_free(r);
	close(fd);

	/* Every kind of entry a hostile archive could hold is reported as what it is. */
	static const struct {
		const char *name;
		char type;
		const char *link;
		HfcTarType want;
	} kinds[] = {
		{ "../x", '0', NULL, HFC_TAR_FILE },	 { "/etc/x", '0', NULL, HFC_TAR_FILE },
		{ "s", '2', "/etc/passwd", HFC_TAR_SYMLINK }, { "h", '1', "one", HFC_TAR_HARDLINK },
		{ "d/", '5', NULL, HFC_TAR_DIR },	 { "c", '3', NULL, HFC_TAR_DEVICE },
		{ "b", '4', NULL, HFC_TAR_DEVICE },	 { "f", '6', NULL, HFC_TAR_OTHER },
	};
	uint8_t raw[512 * (ELEMENTSOF(kinds) + 2)] = { 0 };
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		ustar(raw + 512 * i, kinds[i].name, kinds[i].type, kinds[i].link, 0);
	write_file(tpath(t, "k.tar"), raw, sizeof(raw));
	fd = open(tpath(t, "k.tar"), O_RDONLY | O_CLOEXEC);
	assert_int_equal(hfc_tar_reader_new(fd, "k.tar", &r, &err), 0);
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		assert_int_equal(hfc_tar_reader_next(r, &e, &err), 1);
		assert_string_equal(e.name, kinds[i].name);
		if (e.type != kinds[i].want)
			fail_msg("%s: type %d, want %d", kinds[i].name, e.type, kinds[i].want);
	}
	assert_int_equal(hfc_tar_reader_next(r, &e, &err), 0);
	hfc_tar_reader_free(r);
	close(fd);

	/* A claimed size is reported before anything is read; a truncated archive is -EBADMSG. */
	uint8_t big[512 + 100] = { 0 };
	ustar(big, "delta", '0', NULL, 8000000000ULL);
	write_file(tpath(t, "big.tar"), big, sizeof(big));
	fd = open(tpath(t, "big.tar"), O_RDONLY | O_CLOEXEC);
	assert_int_equal(hfc_tar_reader_new(fd, "big.tar", &r, &err), 0);
	assert_int_equal(hfc_tar_reader_next(r, &e, &err), 1);
	assert_int_equal(e.size, 8000000000ULL);
	assert_int_equal(hfc_tar_reader_read(r, buf, 16, &err), 0);
	assert_int_equal(hfc_tar_reader_read(r, big, 512, &err), -EBADMSG);
	hfc_tar_reader_free(r);
	close(fd);
}

/* ---- bundles ---- */

static void test_bundle_roundtrip(void **state)
{
	T *t = *state;
	uint8_t *v1, *v2;
	make_sites(t, &v1, &v2);
	HfcBundleResult res;
	HfcErr err = { "" };
	if (make_bundle(t, false, "b.tar", &res, &err) < 0)
		fail_msg("make: %s", err.msg);
	/* Blocks 1, 2, 3 and the tail are new; every kind of page op shows up. */
	assert_int_equal(res.blocks, 4);
	assert_int_equal(res.recipes, 4);
	assert_int_equal(res.raw, 0);
	assert_int_equal(res.zero_pages, 1);
	assert_int_equal(res.repeated_pages, 1);
	assert_int_equal(res.copied_pages, 4 + 1 + 2 + 1); /* moved, page 0, run 12-13, tail head */
	assert_int_equal(res.literal_pages, 1 + 2 + 1);
	assert_int_equal(res.pages, 14);

	HfcApplyOptions o = { .jobs = 2 };
	HfcApplyResult ar;
	char mirror[256];
	snprintf(mirror, sizeof(mirror), "%s/mirror", t->dir);
	if (hfc_bundle_apply(tpath(t, "b.tar"), mirror, &o, &ar, &err) < 0)
		fail_msg("apply: %s", err.msg);
	assert_int_equal(ar.written, 4);
	assert_false(ar.already);
	verify_ok(mirror);
	assert_extracts(mirror, v2, IMG_SIZE);
	/* The published index is the source's, byte for byte. */
	char *x, *y;
	size_t xl, yl;
	assert_int_equal(hfc_read_file_at(AT_FDCWD, tpath(t, "site/index.idx"), 1 << 20, &x, &xl), 0);
	assert_int_equal(hfc_read_file_at(AT_FDCWD, tpath(t, "mirror/index.idx"), 1 << 20, &y, &yl), 0);
	assert_int_equal(xl, yl);
	assert_memory_equal(x, y, xl);
	free(x);
	free(y);
	/* Twice: nothing to do. */
	assert_int_equal(hfc_bundle_apply(tpath(t, "b.tar"), mirror, &o, &ar, &err), 0);
	assert_true(ar.already);

	/* A full bundle makes a new site holding version 2 alone. */
	if (make_bundle(t, true, "full.tar", &res, &err) < 0)
		fail_msg("make full: %s", err.msg);
	assert_int_equal(res.raw, res.blocks);
	char fresh[256];
	snprintf(fresh, sizeof(fresh), "%s/fresh", t->dir);
	if (hfc_bundle_apply(tpath(t, "full.tar"), fresh, &o, &ar, &err) < 0)
		fail_msg("apply full: %s", err.msg);
	assert_true(ar.parent_kept);
	verify_ok(fresh);
	assert_extracts(fresh, v2, IMG_SIZE);
	free(v1);
	free(v2);
}

static void test_bundle_refused(void **state)
{
	T *t = *state;
	uint8_t *v1, *v2;
	make_sites(t, &v1, &v2);
	HfcBundleResult res;
	HfcErr err = { "" };
	assert_int_equal(make_bundle(t, false, "b.tar", &res, &err), 0);
	char mirror[256];
	snprintf(mirror, sizeof(mirror), "%s/mirror", t->dir);
	char *before = tree_sum(mirror);
	HfcApplyOptions o = { .jobs = 2 };
	HfcApplyResult ar;

	/* Every single-byte corruption of the delta entry's data is refused; the site unchanged. */
	char *tar;
	size_t len;
	assert_int_equal(hfc_read_file_at(AT_FDCWD, tpath(t, "b.tar"), 1 << 24, &tar, &len), 0);
	size_t delta = 0;
	for (size_t off = 0; off + 512 <= len; off += 512)
		if (strcmp(tar + off, "delta") == 0)
			delta = off + 512;
	assert_true(delta > 0);
	for (size_t k = 0; k < 40; k++) {
		size_t off = delta + 8 + k * 37;
		tar[off] ^= 0x40;
		write_file(tpath(t, "bad.tar"), tar, len);
		tar[off] ^= 0x40;
		err.msg[0] = 0;
		int r = hfc_bundle_apply(tpath(t, "bad.tar"), mirror, &o, &ar, &err);
		if (r >= 0)
			fail_msg("corruption at %zu was applied", off);
		assert_true(err.msg[0] != 0);
		char *after = tree_sum(mirror);
		assert_string_equal(before, after);
		free(after);
	}
	/* Truncated anywhere. */
	for (size_t cut = 100; cut < len; cut += len / 7) {
		write_file(tpath(t, "cut.tar"), tar, cut);
		assert_true(hfc_bundle_apply(tpath(t, "cut.tar"), mirror, &o, &ar, &err) < 0);
	}
	free(tar);
	/* A base block the site lacks: refused before anything is written. */
	HfcBundleReader *rd;
	int fd = open(tpath(t, "b.tar"), O_RDONLY | O_CLOEXEC);
	assert_int_equal(hfc_bundle_reader_open(fd, "b.tar", &rd, &err), 0);
	size_t nb;
	const HfcBundleBase *bases = hfc_bundle_reader_bases(rd, &nb);
	assert_true(nb > 0);
	char p[HFC_BLOCK_PATH_MAX], full[512];
	hfc_block_path(HFC_HASH_MD5, bases[0].hash, p);
	snprintf(full, sizeof(full), "%s/%s", mirror, p);
	hfc_bundle_reader_free(rd);
	close(fd);
	char *moved = tpath(t, "moved-block");
	assert_int_equal(rename(full, moved), 0);
	free(before);
	before = tree_sum(mirror);
	assert_int_equal(hfc_bundle_apply(tpath(t, "b.tar"), mirror, &o, &ar, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "lacks; refused"));
	char *after = tree_sum(mirror);
	assert_string_equal(before, after);
	free(after);
	free(before);
	free(v1);
	free(v2);
}

/* ---- history ---- */

static void test_diff_figures(void **state)
{
	(void)state;
	HfcIndex *a, *b;
	assert_int_equal(hfc_index_new(5 * BS, BS, HFC_HASH_MD5, &a), 0);
	assert_int_equal(hfc_index_new(6 * BS - 100, BS, HFC_HASH_MD5, &b), 0);
	for (unsigned i = 0; i < 5; i++) {
		a->entries[i].hash[0] = (uint8_t)(i + 1);
		a->entries[i].stored = 100 + i;
		b->entries[i] = a->entries[i];
	}
	b->entries[1].hash[0] = 0x50; /* changed, new */
	b->entries[2].stored = 0;     /* changed to zero */
	b->entries[3].hash[0] = 0x51; /* changed, new, and again at 5 */
	b->entries[5].hash[0] = 0x51;
	b->entries[5].stored = b->entries[3].stored;
	b->entries[4].hash[0] = 0x52; /* changed, but known from an older version */
	HfcHashMap *known;
	assert_int_equal(hfc_hashmap_new(16, &known), 0);
	uint8_t old[16] = { 0x52 };
	assert_int_equal(hfc_hashmap_put(known, old, 104, NULL), 1);
	HfcDiffResult d;
	assert_int_equal(hfc_diff(a, b, known, NULL, NULL, &d), 0);
	assert_int_equal(d.changed, 5); /* 1, 2, 3, 4 and 5 (A has no block 5) */
	assert_int_equal(d.new_blocks, 2);
	assert_int_equal(d.new_bytes, 101 + 103);
	assert_false(d.same);
	hfc_hashmap_free(known);
	assert_int_equal(hfc_hashmap_new(16, &known), 0);
	assert_int_equal(hfc_diff(a, a, known, NULL, NULL, &d), 0);
	assert_true(d.same);
	assert_int_equal(d.changed, 0);
	assert_int_equal(d.new_blocks, 0);
	b->block_size = 2 * BS;
	assert_int_equal(hfc_diff(a, b, known, NULL, NULL, &d), -EINVAL);
	hfc_hashmap_free(known);
	hfc_index_free(a);
	hfc_index_free(b);
}

static void test_rollback_prune(void **state)
{
	T *t = *state;
	uint8_t *v1, *v2;
	make_sites(t, &v1, &v2);
	char site[256];
	snprintf(site, sizeof(site), "%s/site", t->dir);
	HfcSite *s;
	HfcErr err = { "" };
	assert_int_equal(hfc_site_open(site, false, &s, &err), 0);
	HfcRollbackResult rb;
	assert_int_equal(hfc_site_rollback(s, 2, &rb, &err), -EINVAL); /* current already */
	assert_int_equal(hfc_site_rollback(s, 9, &rb, &err), -ENOENT);
	assert_int_equal(hfc_site_rollback(s, 1, &rb, &err), 0);
	assert_int_equal(rb.version, 3);
	assert_int_equal(rb.from, 2);
	hfc_site_free(s);
	assert_extracts(site, v1, IMG_SIZE);
	HfcIndex *idx;
	assert_int_equal(hfc_site_open(site, false, &s, &err), 0);
	assert_int_equal(hfc_site_load_index(s, 0, &idx, &err), 0);
	assert_string_equal(idx->label, "rollback to 1");
	assert_int_equal(idx->parent, 2);
	hfc_index_free(idx);

	/* Dry run, then the real thing: version 2's own blocks go, version 1's stay (current). */
	HfcPruneOptions po = { .keep = 1 };
	HfcPruneResult pr;
	assert_int_equal(hfc_site_prune(s, &po, &pr, &err), 0);
	assert_false(pr.deleted);
	assert_int_equal(pr.n_removed, 2);
	assert_int_equal(pr.blocks_removed, 4);
	hfc_prune_result_done(&pr);
	hfc_site_free(s);
	assert_int_equal(hfc_site_open(site, false, &s, &err), 0);
	po.yes = true;
	assert_int_equal(hfc_site_prune(s, &po, &pr, &err), 0);
	assert_true(pr.deleted);
	assert_int_equal(pr.blocks_removed, 4);
	hfc_prune_result_done(&pr);
	/* Removals need the exclusive lock, and never take the newest version. */
	assert_int_equal(hfc_site_version_remove(s, 3), -EBUSY);
	hfc_site_free(s);
	assert_int_equal(hfc_site_open(site, false, &s, &err), 0);
	assert_int_equal(hfc_site_version_remove(s, 1), -ENOLCK);
	uint8_t h[16] = { 0 };
	assert_int_equal(hfc_site_blocks_remove(s, HFC_HASH_MD5, h, 1, NULL), -ENOLCK);
	hfc_site_free(s);
	verify_ok(site);
	assert_extracts(site, v1, IMG_SIZE);
	free(v1);
	free(v2);
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T_(test_manifest_roundtrip), T_(test_manifest_rejects), T_(test_page_key),
		T_(test_tar), T_(test_bundle_roundtrip), T_(test_bundle_refused),
		T_(test_diff_figures), T_(test_rollback_prune),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
