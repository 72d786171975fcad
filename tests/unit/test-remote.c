/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for remote.c and http.c over file:// mirrors of real sites built with hfc_build:
 * whole-image reads, verification with failover to a good mirror, EIO (never wrong bytes)
 * when no mirror has a block right, one download for concurrent readers, the disk cache,
 * readahead and its blocks kept as they came until decoded, the trace and the stats.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "site/build.h"
#include "helpers.h"
#include "client/remote.h"
#include "site/store.h"

#define BS 65536u
#define NBLK 40u

typedef struct T {
	char dir[256], img[300], site[300], bad[300], cache[300], trace[300];
	uint8_t *image;
} T;

static int setup(void **state)
{
	T *t = calloc(1, sizeof(*t));
	scratch_dir("remote", t->dir, sizeof(t->dir));
	snprintf(t->img, sizeof(t->img), "%s/img", t->dir);
	snprintf(t->site, sizeof(t->site), "%s/site", t->dir);
	snprintf(t->bad, sizeof(t->bad), "%s/bad", t->dir);
	snprintf(t->cache, sizeof(t->cache), "%s/cache", t->dir);
	snprintf(t->trace, sizeof(t->trace), "%s/trace", t->dir);
	/* 40 blocks: random ones, repeated ones, zero ones and a short last one. */
	size_t size = (size_t)NBLK * BS - 1000;
	t->image = calloc(1, size);
	for (unsigned i = 0; i < NBLK; i++) {
		if (i % 7 == 3)
			continue; /* zero */
		size_t len = MIN((size_t)BS, size - (size_t)i * BS);
		fill_random(t->image + (size_t)i * BS, len, i % 5 == 4 ? 4 : i + 100);
	}
	write_file(t->img, t->image, size);
	HfcBuildOptions o = { .block_size = BS, .jobs = 2 };
	HfcBuildResult res;
	HfcErr err = { "" };
	if (hfc_build(t->img, t->site, &o, &res, &err) < 0) {
		print_error("hfc_build: %s\n", err.msg);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	T *t = *state;
	scratch_rm(t->dir);
	free(t->image);
	free(t);
	return 0;
}

static size_t image_size(void)
{
	return (size_t)NBLK * BS - 1000;
}

static HfcRemote *open_remote(const char **bases, size_t n, HfcRemoteOptions *o)
{
	HfcRemote *r;
	HfcErr err = { "" };
	int k = hfc_remote_open(bases, n, o, &r, &err);
	if (k < 0)
		print_error("hfc_remote_open: %s\n", err.msg);
	assert_int_equal(k, 0);
	assert_int_equal(hfc_remote_start(r), 0);
	return r;
}

/* The defaults, but without readahead: each read fetches what it reads, no more. */
static HfcRemoteOptions no_readahead(void)
{
	HfcRemoteOptions o;
	hfc_remote_options_default(&o);
	o.readahead = 0;
	return o;
}

/* Copies the site to t->bad and corrupts one byte of the block file of block i. */
static void make_bad_copy(T *t, const HfcIndex *idx, uint64_t i)
{
	scratch_rm(t->bad);
	scratch_copy_tree(t->site, t->bad);
	char p[HFC_BLOCK_PATH_MAX], path[600];
	hfc_block_path(idx->hash, idx->entries[i].hash, p);
	snprintf(path, sizeof(path), "%s/%s", t->bad, p);
	scratch_flip_byte(path, 40);
}

/* Moves the site away (the mirrors are gone), or back. */
static void move_site(T *t, bool away)
{
	char moved[400];
	snprintf(moved, sizeof(moved), "%s.gone", t->site);
	assert_int_equal(away ? rename(t->site, moved) : rename(moved, t->site), 0);
}

static void test_read_all(void **state)
{
	T *t = *state;
	HfcRemoteOptions o;
	hfc_remote_options_default(&o);
	o.trace_path = t->trace;
	const char *bases[] = { t->site };
	HfcRemote *r = open_remote(bases, 1, &o);
	const HfcIndex *idx = hfc_remote_index(r);
	assert_int_equal(idx->image_size, image_size());
	uint8_t *buf = malloc(image_size() + 10);
	/* Odd-sized sequential reads across block edges, then past the end. */
	size_t off = 0;
	while (off < image_size()) {
		ssize_t n = hfc_remote_pread(r, buf + off, 100000, off);
		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_memory_equal(buf, t->image, image_size());
	assert_int_equal(hfc_remote_pread(r, buf, 10, image_size()), 0);
	HfcRemoteStats st;
	hfc_remote_stats(r, &st);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.bad_blocks, 0);
	/* Sequential reads started readahead, whose blocks were then read from memory. */
	assert_true(st.readahead_fetched > 0);
	assert_true(st.readahead_hits > 0);
	char *text;
	size_t len;
	assert_int_equal(hfc_remote_stats_text(r, &text, &len), 0);
	assert_non_null(strstr(text, "bad_blocks: 0\n"));
	assert_non_null(strstr(text, "mirror: file://"));
	free(text);
	/* The whole-block path used by hfc-get. */
	HfcErr err;
	assert_int_equal(hfc_remote_block(r, 1, buf, &err), 0);
	assert_memory_equal(buf, t->image + BS, BS);
	hfc_remote_free(r);

	FILE *f = fopen(t->trace, "r");
	assert_non_null(f);
	char line[256];
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "# hfc-trace 1 version 1"));
	unsigned lines = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long us, blk, bytes, lat;
		char what[8];
		assert_int_equal(sscanf(line, "%llu %llu %7s %llu %llu", &us, &blk, what, &bytes, &lat), 5);
		assert_true(blk < NBLK);
		assert_true(strcmp(what, "hit") == 0 || strcmp(what, "miss") == 0);
		lines++;
	}
	fclose(f);
	assert_true(lines >= NBLK);
	free(buf);
}

static void test_bad_mirror_failover(void **state)
{
	T *t = *state;
	HfcRemoteOptions o = no_readahead();
	o.http.probe = false;
	const char *one[] = { t->site };
	HfcRemote *r = open_remote(one, 1, &o);
	make_bad_copy(t, hfc_remote_index(r), 5);
	hfc_remote_free(r);

	/* The corrupt copy first, the good one second: right bytes, the bad data counted. */
	const char *bases[] = { t->bad, t->site };
	r = open_remote(bases, 2, &o);
	uint8_t *buf = malloc(BS);
	assert_int_equal(hfc_remote_pread(r, buf, BS, 5 * (uint64_t)BS), BS);
	assert_memory_equal(buf, t->image + 5 * (size_t)BS, BS);
	HfcRemoteStats st;
	hfc_remote_stats(r, &st);
	assert_int_equal(st.bad_blocks, 1);
	assert_int_equal(st.errors, 0);
	hfc_remote_free(r);

	/* Only the corrupt copy: EIO for that block, never its bytes; others still readable. */
	const char *bad[] = { t->bad };
	o.http.retries = 1;
	r = open_remote(bad, 1, &o);
	assert_int_equal(hfc_remote_pread(r, buf, 100, 5 * (uint64_t)BS + 10), -EIO);
	assert_int_equal(hfc_remote_pread(r, buf, BS, 6 * (uint64_t)BS), BS);
	assert_memory_equal(buf, t->image + 6 * (size_t)BS, BS);
	hfc_remote_stats(r, &st);
	assert_true(st.bad_blocks >= 1);
	assert_int_equal(st.errors, 1);
	hfc_remote_free(r);
	free(buf);
}

static void test_missing_and_bad_index(void **state)
{
	T *t = *state;
	HfcRemoteOptions o = no_readahead();
	o.http.retries = 1;
	const char *one[] = { t->site };
	HfcRemote *r = open_remote(one, 1, &o);
	make_bad_copy(t, hfc_remote_index(r), 0);
	char p[HFC_BLOCK_PATH_MAX], path[600];
	hfc_block_path(hfc_remote_index(r)->hash, hfc_remote_index(r)->entries[0].hash, p);
	hfc_remote_free(r);
	snprintf(path, sizeof(path), "%s/%s", t->bad, p);
	assert_int_equal(unlink(path), 0);
	const char *bad[] = { t->bad };
	r = open_remote(bad, 1, &o);
	uint8_t buf[64];
	assert_int_equal(hfc_remote_pread(r, buf, sizeof(buf), 0), -EIO);
	hfc_remote_free(r);

	/* A truncated index: refused with file:line. */
	snprintf(path, sizeof(path), "%s/index.idx", t->bad);
	assert_int_equal(truncate(path, 200), 0);
	HfcErr err = { "" };
	assert_int_equal(hfc_remote_open(bad, 1, &o, &r, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "/index.idx:"));
	/* A mirror that is not there at all. */
	const char *none[] = { "http://127.0.0.1:9/nothing" };
	o.http.retries = 0;
	assert_true(hfc_remote_open(none, 1, &o, &r, &err) < 0);
	assert_non_null(strstr(err.msg, "http://127.0.0.1:9/nothing"));
	const char *ftp[] = { "ftp://example/x" };
	assert_int_equal(hfc_remote_open(ftp, 1, &o, &r, &err), -EPROTONOSUPPORT);
}

/* Appends n bytes of block-line-like filler to the file at path. */
static void pad_file(const char *path, size_t n)
{
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	for (size_t i = 0; i < n; i += 38)
		fputs("0123456789abcdef0123456789abcdef 4242\n", f);
	assert_int_equal(fclose(f), 0);
}

static void test_index_bounds(void **state)
{
	T *t = *state;
	HfcRemoteOptions o = no_readahead();
	o.http.retries = 0;
	const char *bad[] = { t->bad };
	char path[600];
	HfcRemote *r;
	HfcErr err = { "" };

	/* An index padded far beyond what its 40 blocks allow: refused once past that bound. */
	scratch_rm(t->bad);
	scratch_copy_tree(t->site, t->bad);
	snprintf(path, sizeof(path), "%s/index.idx", t->bad);
	pad_file(path, 8 << 20);
	assert_int_equal(hfc_remote_open(bad, 1, &o, &r, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "index.idx: longer than the "));
	assert_non_null(strstr(err.msg, " bytes an index of 40 blocks can have"));

	/* Not an index at all: the first line says so, whatever follows. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("<html><body>It works!</body></html>\n", f);
	assert_int_equal(fclose(f), 0);
	pad_file(path, 8 << 20);
	assert_int_equal(hfc_remote_open(bad, 1, &o, &r, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "/index.idx:1: not an hfc index"));

	/* An image larger than the client accepts, refused before any block. */
	const char *good[] = { t->site };
	o.max_image_size = image_size() - 1;
	assert_int_equal(hfc_remote_open(good, 1, &o, &r, &err), -EFBIG);
	char want[200];
	snprintf(want, sizeof(want),
		 "/index.idx: image-size %zu is more than the %zu bytes this client accepts "
		 "(--max-image-size)",
		 image_size(), image_size() - 1);
	assert_non_null(strstr(err.msg, want));
	o.max_image_size = image_size();
	r = open_remote(good, 1, &o);
	hfc_remote_free(r);

	/* The site's profile, bounded by the index: an endless one is refused. */
	scratch_rm(t->bad);
	scratch_copy_tree(t->site, t->bad);
	snprintf(path, sizeof(path), "%s/profiles/000001.prof", t->bad);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("hfc-profile 1\nversion 1\n", f);
	assert_int_equal(fclose(f), 0);
	pad_file(path, 4 << 20);
	o.prefetch = "auto";
	assert_int_equal(hfc_remote_open(bad, 1, &o, &r, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "profiles/000001.prof: larger than "));
}

static void test_trace_link(void **state)
{
	T *t = *state;
	/* A trace path that is a link: refused, and what it points to keeps its bytes. */
	char target[400];
	snprintf(target, sizeof(target), "%s/precious", t->dir);
	write_file(target, "precious\n", 9);
	assert_int_equal(symlink(target, t->trace), 0);
	HfcRemoteOptions o = no_readahead();
	o.trace_path = t->trace;
	const char *one[] = { t->site };
	HfcRemote *r;
	HfcErr err = { "" };
	assert_int_equal(hfc_remote_open(one, 1, &o, &r, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "trace: a symbolic link: refused"));
	size_t len;
	uint8_t *got = scratch_read(target, &len);
	assert_int_equal(len, 9);
	free(got);
	/* A file already there is truncated and written. */
	assert_int_equal(unlink(t->trace), 0);
	write_file(t->trace, "old old old old\n", 16);
	r = open_remote(one, 1, &o);
	hfc_remote_free(r);
	got = scratch_read(t->trace, &len);
	assert_non_null(strstr((char *)got, "# hfc-trace 1 version 1"));
	assert_null(strstr((char *)got, "old old"));
	free(got);
}

typedef struct Reader {
	HfcRemote *r;
	uint8_t buf[BS];
	ssize_t n;
} Reader;

static void *read_block_7(void *arg)
{
	Reader *rd = arg;
	rd->n = hfc_remote_pread(rd->r, rd->buf, BS, 7 * (uint64_t)BS);
	return NULL;
}

static void test_single_flight_and_cache(void **state)
{
	T *t = *state;
	HfcRemoteOptions o = no_readahead();
	o.cache_dir = t->cache;
	char url[400];
	snprintf(url, sizeof(url), "file://%s", t->site);
	const char *one[] = { url };
	HfcRemote *r = open_remote(one, 1, &o);
	enum { N = 8 };
	Reader *rd = calloc(N, sizeof(Reader));
	pthread_t tid[N];
	for (int k = 0; k < N; k++) {
		rd[k].r = r;
		assert_int_equal(pthread_create(&tid[k], NULL, read_block_7, &rd[k]), 0);
	}
	for (int k = 0; k < N; k++) {
		pthread_join(tid[k], NULL);
		assert_int_equal(rd[k].n, BS);
		assert_memory_equal(rd[k].buf, t->image + 7 * (size_t)BS, BS);
	}
	HfcRemoteStats st;
	hfc_remote_stats(r, &st);
	/* One index fetch and one block fetch, however many readers. */
	assert_int_equal(st.http.requests, 2);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.cache_files, 1);
	hfc_remote_free(r);

	/* The site gone: the cached index and block still serve (offline mode). */
	move_site(t, true);
	o.offline_ok = true;
	o.http.retries = 0;
	r = open_remote(one, 1, &o);
	assert_int_equal(hfc_remote_pread(r, rd[0].buf, BS, 7 * (uint64_t)BS), BS);
	assert_memory_equal(rd[0].buf, t->image + 7 * (size_t)BS, BS);
	hfc_remote_stats(r, &st);
	assert_int_equal(st.disk_hits, 1);
	/* A block never cached cannot be had: EIO. */
	assert_int_equal(hfc_remote_pread(r, rd[0].buf, 10, 8 * (uint64_t)BS), -EIO);
	hfc_remote_free(r);
	move_site(t, false);
	free(rd);
}

/* Reads the whole image with odd-sized sequential reads into buf; returns 0 or the first error. */
static ssize_t read_image(HfcRemote *r, uint8_t *buf)
{
	size_t off = 0;
	while (off < image_size()) {
		ssize_t n = hfc_remote_pread(r, buf + off, 100000, off);
		if (n <= 0)
			return n < 0 ? n : -EIO;
		off += (size_t)n;
	}
	return 0;
}

/*
 * Readahead keeps blocks as they came (stored) until a decoder or the read that needs them
 * decodes them, with cpus CPUs planned for (1: an idle-time decoder, and reads decode what it
 * has not). A block that came bad from the first mirror is fetched again from the second; what
 * was decoded went into the disk cache, which alone serves the whole image afterwards.
 */
static void stored_blocks(T *t, unsigned cpus)
{
	HfcRemoteOptions o;
	hfc_remote_options_default(&o);
	o.http.probe = false;
	o.cpus = cpus;
	const char *one[] = { t->site };
	HfcRemote *r = open_remote(one, 1, &o);
	make_bad_copy(t, hfc_remote_index(r), 5);
	hfc_remote_free(r);

	char bad_url[400], good_url[400];
	snprintf(bad_url, sizeof(bad_url), "file://%s", t->bad);
	snprintf(good_url, sizeof(good_url), "file://%s", t->site);
	const char *bases[] = { bad_url, good_url };
	o.cache_dir = t->cache;
	r = open_remote(bases, 2, &o);
	uint8_t *buf = malloc(image_size());
	assert_int_equal(read_image(r, buf), 0);
	assert_memory_equal(buf, t->image, image_size());
	HfcRemoteStats st;
	hfc_remote_stats(r, &st);
	assert_int_equal(st.errors, 0);
	assert_true(st.bad_blocks >= 1);
	assert_true(st.readahead_hits > 0);
	/* Every readahead block a read used was decoded by someone, or loaded again when bad. */
	assert_true(st.decoded_ahead + st.decoded_on_read + st.bad_blocks >= st.readahead_hits);
	hfc_remote_free(r);

	/* Only the bad copy: EIO for that block (read through readahead), its neighbours fine. */
	const char *bad[] = { bad_url };
	HfcRemoteOptions ob = o;
	ob.cache_dir = NULL;
	ob.http.retries = 1;
	r = open_remote(bad, 1, &ob);
	assert_int_equal(hfc_remote_pread(r, buf, BS, 3 * (uint64_t)BS), BS);
	assert_int_equal(hfc_remote_pread(r, buf, BS, 4 * (uint64_t)BS), BS);
	assert_int_equal(hfc_remote_pread(r, buf, 100, 5 * (uint64_t)BS + 10), -EIO);
	assert_int_equal(hfc_remote_pread(r, buf, BS, 6 * (uint64_t)BS), BS);
	assert_memory_equal(buf, t->image + 6 * (size_t)BS, BS);
	hfc_remote_free(r);

	/* The mirrors gone: the disk cache has every block, each checked when it was decoded. */
	move_site(t, true);
	o.offline_ok = true;
	o.http.retries = 0;
	const char *gone[] = { good_url };
	r = open_remote(gone, 1, &o);
	memset(buf, 0, image_size());
	assert_int_equal(read_image(r, buf), 0);
	assert_memory_equal(buf, t->image, image_size());
	hfc_remote_stats(r, &st);
	assert_int_equal(st.bad_blocks, 0);
	hfc_remote_free(r);
	move_site(t, false);
	free(buf);
}

static void test_stored_one_cpu(void **state)
{
	stored_blocks(*state, 1);
}

static void test_stored_two_cpus(void **state)
{
	stored_blocks(*state, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_mirror_failover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_bad_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_flight_and_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stored_one_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stored_two_cpus, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
