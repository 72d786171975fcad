/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for delta bundles (lib/delta: the page map, making, reading and applying), the tar
 * adapter (fs/tar.c) and site/history.c (diff figures, rollback, prune), each in a fresh scratch
 * directory with small sites built by hfc_build from images whose pages are laid out to exercise
 * every recipe op. The manifest's own tests are in test-manifest.c.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "base/digest.h"
#include "base/fileio.h"
#include "delta/delta.h"
#include "delta/pagemap.h"
#include "fs/tar.h"
#include "site/build.h"
#include "site/history.h"
#include "site/image.h"
#include "site/verify.h"

#define BS 16384u
#define PAGE 4096u
/* Five full blocks and a short one that ends inside a page: 5000 = 4096 + 904. */
#define IMG_SIZE (5u * BS + 5000u)

/* What make_sites() leaves in the scratch directory. */
typedef struct Sites {
	uint8_t *v1, *v2;	     /* the images of versions 1 and 2 */
	char site[PATH_MAX + 256], mirror[PATH_MAX + 256]; /* site holds v1 and v2, mirror only v1 */
} Sites;

/* A test's state: its scratch directory and, with setup_sites, the sites in it. */
typedef struct T {
	Scratch *scratch;
	Sites ss;
} T;

static char *tpath(T *t, const char *name)
{
	return scratch_file(t->scratch, name);
}

static void make_sites(T *t);

static int setup(void **state)
{
	T *t = calloc(1, sizeof(*t));
	void *s = NULL;
	if (!t || scratch_new("delta", &s) < 0) {
		free(t);
		return -1;
	}
	t->scratch = s;
	*state = t;
	return 0;
}

static int setup_sites(void **state)
{
	setup(state);
	make_sites(*state);
	return 0;
}

static int teardown(void **state)
{
	T *t = *state;
	void *s = t->scratch;
	free(t->ss.v1);
	free(t->ss.v2);
	free(t);
	return scratch_free(&s);
}

/* ---- helpers ---- */

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
	fill_random(v1, IMG_SIZE, 42);
	memcpy(v2, v1, IMG_SIZE);
	uint8_t *b1 = v2 + BS, *b2 = v2 + 2 * BS, *b3 = v2 + 3 * BS;
	for (unsigned k = 0; k < 4; k++)
		memcpy(b1 + k * PAGE, v1 + (7 - k) * PAGE, PAGE);
	memset(b2, 0, PAGE);
	fill_random(b2 + PAGE, PAGE, 43);
	memcpy(b2 + 2 * PAGE, b2 + PAGE, PAGE);
	memcpy(b2 + 3 * PAGE, v1, PAGE);
	fill_random(b3, 2 * PAGE, 44);
	memcpy(b3 + 2 * PAGE, v1 + 12 * PAGE, 2 * PAGE);
	fill_random(v2 + 5 * BS + PAGE, 904, 45);
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
	assert_int_equal(hfc_site_verify(s, 1, NULL, NULL, NULL, NULL, &res), 0);
	assert_int_equal(res.faults, 0);
	hfc_site_free(s);
}

/* Makes site (versions 1 and 2) and mirror (version 1) in t's directory. */
static void make_sites(T *t)
{
	Sites *ss = &t->ss;
	ss->v1 = malloc(IMG_SIZE);
	ss->v2 = malloc(IMG_SIZE);
	make_images(ss->v1, ss->v2);
	snprintf(ss->site, sizeof(ss->site), "%s", tpath(t, "site"));
	snprintf(ss->mirror, sizeof(ss->mirror), "%s", tpath(t, "mirror"));
	write_file(tpath(t, "v1.img"), ss->v1, IMG_SIZE);
	build(tpath(t, "v1.img"), ss->site);
	copy_tree(ss->site, ss->mirror);
	write_file(tpath(t, "v2.img"), ss->v2, IMG_SIZE);
	build(tpath(t, "v2.img"), ss->site);
}

/* Writes the bundle of version 2 (for version 1 unless full) to out; fails the test otherwise. */
static void make_bundle(T *t, bool full, const char *out, HfcBundleResult *res)
{
	HfcSite *s;
	HfcErr err = { "" };
	assert_int_equal(hfc_site_open(tpath(t, "site"), false, &s, &err), 0);
	HfcIndex *a = NULL, *b;
	if (!full)
		assert_int_equal(hfc_site_load_index(s, 1, &a, &err), 0);
	assert_int_equal(hfc_site_load_index(s, 2, &b, &err), 0);
	HfcBundleOptions o = { .full = full, .jobs = 2 };
	if (hfc_bundle_make(s, a, b, tpath(t, out), &o, res, &err) < 0)
		fail_msg("making %s: %s", out, err.msg);
	hfc_index_free(a);
	hfc_index_free(b);
	hfc_site_free(s);
}

/* Applies bundle to site, which must work; returns the result. */
static HfcApplyResult apply_ok(T *t, const char *bundle, const char *site)
{
	HfcApplyOptions o = { .jobs = 2 };
	HfcApplyResult ar;
	HfcErr err = { "" };
	if (hfc_bundle_apply(tpath(t, bundle), site, &o, &ar, &err) < 0)
		fail_msg("applying %s: %s", bundle, err.msg);
	return ar;
}

/*
 * Applies bundle to site, which must be refused with a message (containing msg unless NULL)
 * and leave site exactly as it was; returns the error.
 */
static int apply_refused(T *t, const char *bundle, const char *site, const char *msg)
{
	char *before = tree_sum(site);
	HfcApplyOptions o = { .jobs = 2 };
	HfcApplyResult ar;
	HfcErr err = { "" };
	int r = hfc_bundle_apply(tpath(t, bundle), site, &o, &ar, &err);
	if (r >= 0)
		fail_msg("%s was applied", bundle);
	if (!err.msg[0] || (msg && !strstr(err.msg, msg)))
		fail_msg("%s: '%s' does not say '%s'", bundle, err.msg, msg ? msg : "anything");
	char *after = tree_sum(site);
	assert_string_equal(before, after);
	free(after);
	free(before);
	return r;
}

/* ---- pages ---- */

static void test_page_key(void **state)
{
	(void)state;
	uint8_t a[PAGE], b[PAGE];
	fill_random(a, PAGE, 7);
	memcpy(b, a, PAGE);
	assert_true(hfc_page_key(a, PAGE) == hfc_page_key(b, PAGE));
	b[4095] ^= 1;
	assert_true(hfc_page_key(a, PAGE) != hfc_page_key(b, PAGE));
	/* A short page is another key than its prefix in a full page would make. */
	assert_true(hfc_page_key(a, 904) != hfc_page_key(a, 905));
	assert_true(hfc_page_key(a, 0) != hfc_page_key(a, 1));
}

static void test_page_map(void **state)
{
	(void)state;
	HfcPageMap m;
	assert_int_equal(hfc_page_map_init(&m, 10), 0);
	uint64_t v;
	assert_false(hfc_page_map_get(&m, 5, &v));
	/* Far more keys than it was sized for: it grows and keeps every one. */
	for (uint64_t k = 0; k < 5000; k++)
		assert_int_equal(hfc_page_map_put(&m, k * 0x9e3779b97f4a7c15ULL, k, false), 1);
	for (uint64_t k = 0; k < 5000; k++) {
		assert_true(hfc_page_map_get(&m, k * 0x9e3779b97f4a7c15ULL, &v));
		assert_int_equal(v, k);
	}
	/* A key already there keeps its value, unless replaced. */
	assert_int_equal(hfc_page_map_put(&m, 0, 77, false), 0);
	assert_true(hfc_page_map_get(&m, 0, &v));
	assert_int_equal(v, 0);
	assert_int_equal(hfc_page_map_put(&m, 0, 77, true), 0);
	assert_true(hfc_page_map_get(&m, 0, &v));
	assert_int_equal(v, 77);
	assert_int_equal(m.n, 5000);
	hfc_page_map_done(&m);
	hfc_page_map_done(&m);
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
	const Sites *ss = &t->ss;
	HfcBundleResult res;
	make_bundle(t, false, "b.tar", &res);
	/* Blocks 1, 2, 3 and the tail are new; every kind of page op shows up. */
	assert_int_equal(res.blocks, 4);
	assert_int_equal(res.recipes, 4);
	assert_int_equal(res.raw, 0);
	assert_int_equal(res.zero_pages, 1);
	assert_int_equal(res.repeated_pages, 1);
	assert_int_equal(res.copied_pages, 4 + 1 + 2 + 1); /* moved, page 0, run 12-13, tail head */
	assert_int_equal(res.literal_pages, 1 + 2 + 1);
	assert_int_equal(res.pages, 14);

	HfcApplyResult ar = apply_ok(t, "b.tar", ss->mirror);
	assert_int_equal(ar.written, 4);
	assert_false(ar.already);
	verify_ok(ss->mirror);
	assert_extracts(ss->mirror, ss->v2, IMG_SIZE);
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
	assert_true(apply_ok(t, "b.tar", ss->mirror).already);

	/* A full bundle makes a new site holding version 2 alone. */
	make_bundle(t, true, "full.tar", &res);
	assert_int_equal(res.raw, res.blocks);
	char fresh[PATH_MAX + 256];
	snprintf(fresh, sizeof(fresh), "%s", tpath(t, "fresh"));
	assert_true(apply_ok(t, "full.tar", fresh).parent_kept);
	verify_ok(fresh);
	assert_extracts(fresh, ss->v2, IMG_SIZE);
}

static void test_bundle_refused(void **state)
{
	T *t = *state;
	const Sites *ss = &t->ss;
	HfcBundleResult res;
	make_bundle(t, false, "b.tar", &res);

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
		apply_refused(t, "bad.tar", ss->mirror, NULL);
	}
	/* Truncated anywhere. */
	for (size_t cut = 100; cut < len; cut += len / 7) {
		write_file(tpath(t, "cut.tar"), tar, cut);
		apply_refused(t, "cut.tar", ss->mirror, NULL);
	}
	free(tar);
	/* A base block the site lacks: refused before anything is written. */
	HfcBundleReader *rd;
	HfcErr err = { "" };
	int fd = open(tpath(t, "b.tar"), O_RDONLY | O_CLOEXEC);
	assert_int_equal(hfc_bundle_reader_open(fd, "b.tar", &rd, &err), 0);
	size_t nb;
	const HfcBundleBase *bases = hfc_bundle_reader_bases(rd, &nb);
	assert_true(nb > 0);
	char p[HFC_BLOCK_PATH_MAX], full[PATH_MAX + 400];
	hfc_block_path(HFC_HASH_MD5, bases[0].hash, p);
	snprintf(full, sizeof(full), "%s/%s", ss->mirror, p);
	hfc_bundle_reader_free(rd);
	close(fd);
	assert_int_equal(rename(full, tpath(t, "moved-block")), 0);
	assert_int_equal(apply_refused(t, "b.tar", ss->mirror, "lacks; refused"), -ENOENT);
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
	const char *site = t->ss.site;
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
	assert_extracts(site, t->ss.v1, IMG_SIZE);
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
	assert_extracts(site, t->ss.v1, IMG_SIZE);
}

/* A test in a scratch directory (T_), and one with the sites of make_sites() in it (S_). */
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define S_(f) cmocka_unit_test_setup_teardown(f, setup_sites, teardown)

TEST_MAIN(T_(test_page_key), T_(test_page_map), T_(test_tar), S_(test_bundle_roundtrip),
	  S_(test_bundle_refused), T_(test_diff_figures), S_(test_rollback_prune))
