/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for site/ahead.c, the blocks a tree build encodes on a spare core while its writer
 * works: a result is exactly the build's own (hash, compressed bytes), is taken only for the
 * generation it was made from, every block queued before the stop is encoded, the slots bound
 * what is in flight, and nothing is taken after the stop.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/codec.h"
#include "base/digest.h"
#include "helpers.h"
#include "site/ahead.h"

#define BS 65536

static void test_results(void **state)
{
	(void)state;
	HfcAhead *a;
	assert_int_equal(hfc_ahead_new(BS, HFC_HASH_MD5, 6, &a), 0);
	/* All the slots at once: a fifth is refused until one comes back. */
	uint8_t *s[4];
	for (int k = 0; k < 4; k++)
		assert_non_null(s[k] = hfc_ahead_slot(a));
	assert_null(hfc_ahead_slot(a));
	uint8_t *data = malloc(BS);
	fill_random(data, BS, 7);
	memset(data, 0, BS / 4); /* compressible, not all zeros */
	memcpy(s[0], data, BS);
	hfc_ahead_queue(a, s[0], 3, 1, BS);
	memset(s[1], 0, BS);
	hfc_ahead_queue(a, s[1], 5, 9, BS);
	memcpy(s[2], data + BS / 2, 1000);
	hfc_ahead_queue(a, s[2], 7, 2, 1000); /* a short last block */
	hfc_ahead_drop(a, s[3]);
	/* Nothing is taken before the stop; the stop encodes what was queued. */
	HfcAheadBlock b;
	assert_false(hfc_ahead_take(a, 3, 1, &b));
	hfc_ahead_stop(a);
	assert_null(hfc_ahead_slot(a));
	assert_int_equal(hfc_ahead_count(a), 3);

	/* Block 3 at generation 1: the build's own hash and bytes. */
	assert_true(hfc_ahead_take(a, 3, 1, &b));
	assert_false(b.zero);
	uint8_t md5[16];
	assert_int_equal(hfc_digest(HFC_HASH_MD5, data, BS, md5), 0);
	assert_memory_equal(b.hash, md5, 16);
	HfcCodec *c;
	assert_int_equal(hfc_codec_new(6, &c), 0);
	uint8_t *out = malloc(hfc_codec_bound(BS)), *back = malloc(BS);
	ssize_t n = hfc_codec_compress(c, data, BS, out, hfc_codec_bound(BS));
	assert_true(n > 0 && n < BS);
	assert_int_equal(b.len, (size_t)n);
	assert_memory_equal(b.data, out, (size_t)n);
	assert_int_equal(hfc_codec_decompress(c, b.data, b.len, back, BS), 0);
	assert_memory_equal(back, data, BS);
	/* Another generation (the block changed after it was queued): not taken. */
	assert_false(hfc_ahead_take(a, 3, 2, &b));
	assert_false(hfc_ahead_take(a, 3, 0, &b));
	assert_false(hfc_ahead_take(a, 4, 1, &b));
	/* Zeros: no data. A short block: its own length. */
	assert_true(hfc_ahead_take(a, 5, 9, &b));
	assert_true(b.zero);
	assert_true(hfc_ahead_take(a, 7, 2, &b));
	assert_false(b.zero);
	assert_int_equal(hfc_digest(HFC_HASH_MD5, data + BS / 2, 1000, md5), 0);
	assert_memory_equal(b.hash, md5, 16);
	assert_int_equal(hfc_codec_decompress(c, b.data, b.len, back, 1000), 0);
	assert_memory_equal(back, data + BS / 2, 1000);
	hfc_codec_free(c);
	hfc_ahead_free(a);
	free(out);
	free(back);
	free(data);
}

/* Many blocks through few slots, sha256: every one queued comes out, in any order of blocks. */
static void test_many(void **state)
{
	(void)state;
	HfcAhead *a;
	assert_int_equal(hfc_ahead_new(BS, HFC_HASH_SHA256, 1, &a), 0);
	uint64_t queued = 0;
	uint8_t *want = calloc(200, 32);
	for (uint64_t i = 0; i < 200; i++) {
		uint8_t *s;
		time_t deadline = time(NULL) + 30; /* the encoder gives slots back as it goes */
		while (!(s = hfc_ahead_slot(a))) {
			assert_true(time(NULL) < deadline);
			sched_yield();
		}
		fill_random(s, BS, 1000 + i);
		assert_int_equal(hfc_digest(HFC_HASH_SHA256, s, BS, want + 32 * ((i * 7) % 200)), 0);
		hfc_ahead_queue(a, s, (i * 7) % 200, (uint32_t)i, BS);
		queued++;
	}
	hfc_ahead_stop(a);
	assert_int_equal(hfc_ahead_count(a), queued);
	for (uint64_t i = 0; i < 200; i++) {
		HfcAheadBlock b;
		assert_true(hfc_ahead_take(a, (i * 7) % 200, (uint32_t)i, &b));
		assert_memory_equal(b.hash, want + 32 * ((i * 7) % 200), 32);
	}
	hfc_ahead_free(a);
	free(want);
	/* Freed without a stop, with blocks queued: stops by itself. */
	assert_int_equal(hfc_ahead_new(BS, HFC_HASH_MD5, 6, &a), 0);
	uint8_t *s = hfc_ahead_slot(a);
	fill_random(s, BS, 3);
	hfc_ahead_queue(a, s, 0, 0, BS);
	hfc_ahead_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
