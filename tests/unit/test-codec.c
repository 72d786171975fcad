/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for codec.c: round trips at levels 1 and 12, every stream decodes with plain zlib
 * (RFC 1950), the stored-size bound, and a decoder that rejects anything but the exact block.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libdeflate.h>
#include <string.h>
#include <zlib.h>

#include "base/codec.h"
#include "helpers.h"

static const size_t sizes[] = {
	0, 1, 2, 7, 511, 512, 4095, 4096, 4097, 5000, 65535, 65536, 65537, 100003, 131072, 262143,
	262144, 262145,
};

typedef enum Kind { TEXT, RANDOM, ZERO, KIND_MAX } Kind;

static const char *const kind_name[] = { "text", "random", "zero" };

static uint8_t *make_data(Kind kind, size_t n)
{
	uint8_t *p = calloc(n ? n : 1, 1);
	assert_non_null(p);
	static const char words[] = "the quick brown fox jumps over the lazy dog; knoppix 9.1 ";
	if (kind == RANDOM)
		fill_random(p, n, n * 31 + (uint64_t)kind); /* a failure reproduces */
	for (size_t i = 0; kind == TEXT && i < n; i++)
		p[i] = (uint8_t)words[(i + i / 61) % (sizeof(words) - 1)];
	return p;
}

/* A codec at level; fails the test otherwise. */
static HfcCodec *codec_new(int level)
{
	HfcCodec *c = NULL;
	assert_int_equal(hfc_codec_new(level, &c), 0);
	assert_non_null(c);
	return c;
}

/* Compresses with c; returns the stream (malloc'd) and its length. */
static uint8_t *compress_new(HfcCodec *c, const uint8_t *in, size_t n, size_t *ret_len)
{
	size_t cap = hfc_codec_bound(n);
	uint8_t *out = malloc(cap);
	assert_non_null(out);
	ssize_t k = hfc_codec_compress(c, in, n, out, cap);
	if (k <= 0)
		fail_msg("compress of %zu bytes returned %zd", n, k);
	assert_true((size_t)k <= cap);
	*ret_len = (size_t)k;
	return out;
}

/* Every kind and size at the level in *state: within the bound, and zlib decodes it. */
static void test_roundtrip(void **state)
{
	const int level = *(const int *)*state;
	HfcCodec *c = codec_new(level);
	struct libdeflate_compressor *ld = libdeflate_alloc_compressor(level);
	assert_non_null(ld);
	for (Kind kind = TEXT; kind < KIND_MAX; kind++) {
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			size_t n = sizes[si];
			uint8_t *in = make_data(kind, n);
			size_t clen;
			uint8_t *comp = compress_new(c, in, n, &clen);

			/* Within our bound, and our bound covers libdeflate's own worst case. */
			assert_true(clen <= hfc_codec_bound(n));
			assert_true(hfc_codec_bound(n) >= libdeflate_zlib_compress_bound(ld, n));
			assert_true(hfc_codec_bound(n) >= libdeflate_zlib_compress_bound(NULL, n));
			if (kind == ZERO && n >= 4096)
				assert_true(clen < n / 100);

			/* Our decoder. */
			uint8_t *out = malloc(n + 1);
			assert_non_null(out);
			int r = hfc_codec_decompress(c, comp, clen, out, n);
			if (r != 0)
				fail_msg("level %d %s %zu: decompress returned %d", level,
					 kind_name[kind], n, r);
			assert_memory_equal(in, out, n);

			/* Plain zlib: RFC 1950 stream, Adler-32 checked by uncompress(). */
			memset(out, 0x55, n + 1);
			uLongf zlen = (uLongf)n;
			r = uncompress(out, &zlen, comp, (uLong)clen);
			if (r != Z_OK || zlen != n)
				fail_msg("level %d %s %zu: zlib uncompress returned %d, %lu bytes",
					 level, kind_name[kind], n, r, (unsigned long)zlen);
			assert_memory_equal(in, out, n);
			/* The header says deflate with a 32 KiB window or less (RFC 1950 2.2). */
			assert_true(clen >= 6);
			assert_int_equal(comp[0] & 0x0f, 8);
			assert_true((comp[0] >> 4) <= 7);
			assert_int_equal(((unsigned)comp[0] << 8 | comp[1]) % 31, 0);

			free(out);
			free(comp);
			free(in);
		}
	}
	libdeflate_free_compressor(ld);
	hfc_codec_free(c);
}

static void test_levels(void **state)
{
	(void)state;
	HfcCodec *c = (HfcCodec *)&c;
	assert_int_equal(hfc_codec_new(0, &c), -EINVAL);
	assert_int_equal(hfc_codec_new(13, &c), -EINVAL);
	assert_int_equal(hfc_codec_new(-1, &c), -EINVAL);
	for (int l = HFC_LEVEL_MIN; l <= HFC_LEVEL_MAX; l++)
		hfc_codec_free(codec_new(l));
	hfc_codec_free(NULL);
}

/* Level 12 compresses text at least as well as level 1; both beat the input by far. */
static void test_level_ratio(void **state)
{
	(void)state;
	HfcCodec *c1 = codec_new(1), *c12 = codec_new(12);
	uint8_t *in = make_data(TEXT, 262144);
	size_t l1, l12;
	uint8_t *a = compress_new(c1, in, 262144, &l1);
	uint8_t *b = compress_new(c12, in, 262144, &l12);
	assert_true(l12 <= l1);
	assert_true(l1 < 262144 / 4);
	free(a);
	free(b);
	free(in);
	hfc_codec_free(c1);
	hfc_codec_free(c12);
}

static void test_bound(void **state)
{
	(void)state;
	struct libdeflate_compressor *ld = libdeflate_alloc_compressor(12);
	assert_non_null(ld);
	size_t prev = 0;
	for (size_t n = 0; n <= (64u << 20); n = n < 70000 ? n + 1 : n * 3 / 2) {
		size_t b = hfc_codec_bound(n);
		assert_true(b > n);
		assert_true(b >= prev);
		if (b < libdeflate_zlib_compress_bound(NULL, n) ||
		    b < libdeflate_zlib_compress_bound(ld, n))
			fail_msg("hfc_codec_bound(%zu) = %zu < libdeflate's %zu", n, b,
				 libdeflate_zlib_compress_bound(NULL, n));
		prev = b;
	}
	libdeflate_free_compressor(ld);
}

static void test_compress_needs_bound(void **state)
{
	(void)state;
	HfcCodec *c = codec_new(6);
	uint8_t *in = make_data(TEXT, 4096);
	size_t cap = hfc_codec_bound(4096);
	uint8_t *out = malloc(cap);
	assert_non_null(out);
	assert_int_equal(hfc_codec_compress(c, in, 4096, out, cap - 1), -ENOBUFS);
	assert_int_equal(hfc_codec_compress(c, in, 4096, out, 0), -ENOBUFS);
	assert_true(hfc_codec_compress(c, in, 4096, out, cap) > 0);
	free(out);
	free(in);
	hfc_codec_free(c);
}

/* Same input, same level: the same bytes (blocks are named by content, sites are diffed). */
static void test_compress_deterministic(void **state)
{
	(void)state;
	HfcCodec *c1 = codec_new(9), *c2 = codec_new(9);
	uint8_t *in = make_data(TEXT, 65537);
	size_t la, lb, lc;
	uint8_t *a = compress_new(c1, in, 65537, &la);
	uint8_t *b = compress_new(c1, in, 65537, &lb);
	uint8_t *d = compress_new(c2, in, 65537, &lc);
	assert_int_equal(la, lb);
	assert_int_equal(la, lc);
	assert_memory_equal(a, b, la);
	assert_memory_equal(a, d, la);
	free(a);
	free(b);
	free(d);
	free(in);
	hfc_codec_free(c1);
	hfc_codec_free(c2);
}

typedef struct Fixture {
	HfcCodec *c;
	uint8_t *in, *comp, *out, *work;
	size_t n, clen;
} Fixture;

static void fixture_make(Fixture *f, Kind kind, size_t n)
{
	*f = (Fixture){ .n = n, .c = codec_new(6) };
	f->in = make_data(kind, n);
	f->comp = compress_new(f->c, f->in, n, &f->clen);
	f->out = malloc(n + 64);
	f->work = malloc(f->clen + 64);
	assert_non_null(f->out);
	assert_non_null(f->work);
}

static void fixture_free(Fixture *f)
{
	free(f->in);
	free(f->comp);
	free(f->out);
	free(f->work);
	hfc_codec_free(f->c);
}

static void test_decompress_wrong_length(void **state)
{
	(void)state;
	for (Kind kind = TEXT; kind < KIND_MAX; kind++) {
		Fixture f;
		fixture_make(&f, kind, 4096);
		assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, 4095), -EBADMSG);
		assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, 4097), -EBADMSG);
		assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, 1), -EBADMSG);
		assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, 0), -EBADMSG);
		assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, 4096 + 64),
				 -EBADMSG);
		assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, 4096), 0);
		fixture_free(&f);
	}
	/* An empty block's stream is not a 1-byte block, and the other way round. */
	Fixture f;
	fixture_make(&f, ZERO, 0);
	assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, 0), 0);
	assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, 1), -EBADMSG);
	fixture_free(&f);
	fixture_make(&f, ZERO, 1);
	assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, 0), -EBADMSG);
	fixture_free(&f);
}

static void test_decompress_flipped_byte(void **state)
{
	(void)state;
	for (Kind kind = TEXT; kind < KIND_MAX; kind++) {
		Fixture f;
		fixture_make(&f, kind, 4096);
		/* The zlib header, a byte in the middle of the deflate data, the Adler-32. */
		const size_t pos[] = { 0, 1, f.clen / 2, f.clen - 4, f.clen - 1 };
		for (size_t k = 0; k < sizeof(pos) / sizeof(pos[0]); k++) {
			memcpy(f.work, f.comp, f.clen);
			f.work[pos[k]] ^= 0x01;
			int r = hfc_codec_decompress(f.c, f.work, f.clen, f.out, f.n);
			if (r != -EBADMSG)
				fail_msg("%s: flipping bit 0 of byte %zu of %zu: got %d",
					 kind_name[kind], pos[k], f.clen, r);
		}
		/*
		 * Anywhere else: the decoder never returns different content as a success. (A flip
		 * in the final byte's padding bits is harmless and may decode to the same bytes.)
		 */
		for (size_t i = 0; i < f.clen; i++) {
			for (int bit = 0; bit < 8; bit++) {
				memcpy(f.work, f.comp, f.clen);
				f.work[i] ^= (uint8_t)(1u << bit);
				int r = hfc_codec_decompress(f.c, f.work, f.clen, f.out, f.n);
				if (r == 0 && memcmp(f.out, f.in, f.n) != 0)
					fail_msg("%s: bit %d of byte %zu decodes to other content",
						 kind_name[kind], bit, i);
				if (r != 0 && r != -EBADMSG)
					fail_msg("%s: bit %d of byte %zu: got %d", kind_name[kind],
						 bit, i, r);
			}
			if (kind == RANDOM && i > 64 && i < f.clen - 64)
				i += 97; /* stored data: sample it, the loop is quadratic */
		}
		fixture_free(&f);
	}
}

static void test_decompress_trailing_garbage(void **state)
{
	(void)state;
	for (Kind kind = TEXT; kind < KIND_MAX; kind++) {
		Fixture f;
		fixture_make(&f, kind, 4096);
		memcpy(f.work, f.comp, f.clen);
		f.work[f.clen] = 0;
		assert_int_equal(hfc_codec_decompress(f.c, f.work, f.clen + 1, f.out, f.n),
				 -EBADMSG);
		memset(f.work + f.clen, 0xff, 32);
		assert_int_equal(hfc_codec_decompress(f.c, f.work, f.clen + 32, f.out, f.n),
				 -EBADMSG);
		/* A second copy of the stream appended. */
		uint8_t *two = malloc(2 * f.clen);
		assert_non_null(two);
		memcpy(two, f.comp, f.clen);
		memcpy(two + f.clen, f.comp, f.clen);
		assert_int_equal(hfc_codec_decompress(f.c, two, 2 * f.clen, f.out, f.n), -EBADMSG);
		free(two);
		assert_int_equal(hfc_codec_decompress(f.c, f.comp, f.clen, f.out, f.n), 0);
		fixture_free(&f);
	}
}

static void test_decompress_truncated(void **state)
{
	(void)state;
	for (Kind kind = TEXT; kind < KIND_MAX; kind++) {
		Fixture f;
		fixture_make(&f, kind, 4096);
		for (size_t len = 0; len < f.clen; len++) {
			/* A fresh copy of exactly len bytes, so ASan sees any read past the end. */
			uint8_t *cut = malloc(len ? len : 1);
			assert_non_null(cut);
			memcpy(cut, f.comp, len);
			int r = hfc_codec_decompress(f.c, cut, len, f.out, f.n);
			free(cut);
			if (r != -EBADMSG)
				fail_msg("%s: stream cut to %zu of %zu bytes: got %d",
					 kind_name[kind], len, f.clen, r);
			if (kind == RANDOM && len > 64 && len < f.clen - 64)
				len += 97;
		}
		fixture_free(&f);
	}
}

static void test_decompress_not_zlib(void **state)
{
	(void)state;
	HfcCodec *c = codec_new(6);
	uint8_t out[64];
	static const uint8_t gzip_hdr[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0,
					    0, 0, 0, 0 };
	assert_int_equal(hfc_codec_decompress(c, gzip_hdr, sizeof(gzip_hdr), out, 0), -EBADMSG);
	static const uint8_t zeros[16] = { 0 };
	assert_int_equal(hfc_codec_decompress(c, zeros, sizeof(zeros), out, 16), -EBADMSG);
	/* A preset dictionary (FDICT) is not something a block may need. */
	static const uint8_t fdict[] = { 0x78, 0xbb, 0, 0, 0, 1, 3, 0, 0, 0, 0, 1 };
	assert_int_equal(hfc_codec_decompress(c, fdict, sizeof(fdict), out, 0), -EBADMSG);
	hfc_codec_free(c);
}

/* A stream made by zlib itself decodes too (the format, not just our encoder). */
static void test_decompress_zlib_made(void **state)
{
	(void)state;
	HfcCodec *c = codec_new(6);
	uint8_t *in = make_data(TEXT, 10000);
	uLongf zl = compressBound(10000);
	uint8_t *z = malloc(zl);
	assert_non_null(z);
	assert_int_equal(compress2(z, &zl, in, 10000, 9), Z_OK);
	uint8_t *out = malloc(10000);
	assert_non_null(out);
	assert_int_equal(hfc_codec_decompress(c, z, zl, out, 10000), 0);
	assert_memory_equal(in, out, 10000);
	free(out);
	free(z);
	free(in);
	hfc_codec_free(c);
}

static void test_is_zero(void **state)
{
	(void)state;
	static uint8_t buf[4096 + 64];
	memset(buf, 0, sizeof(buf));
	assert_true(hfc_is_zero(buf, 0));
	/* A non-zero byte beyond len does not count. */
	buf[0] = 1;
	assert_true(hfc_is_zero(buf + 1, 0));
	assert_false(hfc_is_zero(buf, 1));
	buf[0] = 0;

	static const size_t lens[] = { 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 4095, 4096 };
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t n = lens[li];
		for (size_t off = 0; off < 3; off++) { /* unaligned starts too */
			uint8_t *p = buf + off;
			assert_true(hfc_is_zero(p, n));
			p[n] = 0xff; /* just past the end */
			assert_true(hfc_is_zero(p, n));
			p[n] = 0;
			for (size_t i = 0; i < n; i++) {
				/* The ends, where the byte loop and the memcmp meet. */
				if (n > 100 && i == 40)
					i = n - 40;
				for (int v = 1; v <= 0x80; v <<= 1) {
					p[i] = (uint8_t)v;
					if (hfc_is_zero(p, n))
						fail_msg("len %zu off %zu: byte %zu = %#x is zero?",
							 n, off, i, v);
					p[i] = 0;
				}
			}
			/* The shifted comparison: equal but non-zero 16-byte periods. */
			memset(p, 0x11, n);
			assert_false(hfc_is_zero(p, n));
			memset(p, 0, n);
		}
	}
}

int main(void)
{
	static int levels[] = { 1, 12, HFC_LEVEL_DEFAULT };
	const struct CMUnitTest tests[] = {
		{ "test_roundtrip_level1", test_roundtrip, NULL, NULL, &levels[0] },
		{ "test_roundtrip_level12", test_roundtrip, NULL, NULL, &levels[1] },
		{ "test_roundtrip_default_level", test_roundtrip, NULL, NULL, &levels[2] },
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_level_ratio),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_compress_needs_bound),
		cmocka_unit_test(test_compress_deterministic),
		cmocka_unit_test(test_decompress_wrong_length),
		cmocka_unit_test(test_decompress_flipped_byte),
		cmocka_unit_test(test_decompress_trailing_garbage),
		cmocka_unit_test(test_decompress_truncated),
		cmocka_unit_test(test_decompress_not_zlib),
		cmocka_unit_test(test_decompress_zlib_made),
		cmocka_unit_test(test_is_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
