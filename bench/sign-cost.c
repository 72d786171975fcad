/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What signatures cost (bench/bench-sign.sh): for an index of N blocks, the time to sign it
 * (hfc_index_sign: format + Ed25519), to check it (hfc_index_verify over the bytes a client
 * already holds), and, for scale, to parse it — best of several rounds, with the wall clock.
 * Prints one JSON object per N.
 */
#include "base/clock.h"
#include "base/sign.h"
#include "formats/index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double best_of(int rounds, double (*fn)(void *), void *ctx)
{
	double best = 1e9;
	for (int i = 0; i < rounds; i++) {
		double t = fn(ctx);
		if (t < best)
			best = t;
	}
	return best;
}

typedef struct Ctx {
	HfcIndex *idx;
	HfcKey *key;
	char *buf;
	size_t len;
} Ctx;

static double do_sign(void *p)
{
	Ctx *c = p;
	char *buf;
	size_t len;
	double t = hfc_monotonic();
	if (hfc_index_sign(c->idx, c->key, INT64_C(4102444800), &buf, &len) < 0)
		abort();
	t = hfc_monotonic() - t;
	free(c->buf);
	c->buf = buf;
	c->len = len;
	return t;
}

static double do_verify(void *p)
{
	Ctx *c = p;
	double t = hfc_monotonic();
	if (hfc_index_verify(c->idx, c->buf, c->len, &c->key, 1, 0, "bench", NULL) < 0)
		abort();
	return hfc_monotonic() - t;
}

static double do_parse(void *p)
{
	Ctx *c = p;
	HfcIndex *idx;
	double t = hfc_monotonic();
	if (hfc_index_parse(c->buf, c->len, "bench", &idx, NULL) < 0)
		abort();
	t = hfc_monotonic() - t;
	hfc_index_free(idx);
	return t;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: sign-cost BLOCKS md5|sha256 [ROUNDS [BLOCK-SIZE]]\n");
		return 2;
	}
	uint64_t n = strtoull(argv[1], NULL, 10);
	HfcHashAlgo algo;
	if (hfc_hash_from_name(argv[2], &algo) < 0)
		return 2;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	uint32_t bs = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 262144;
	Ctx c = { 0 };
	if (hfc_key_generate(&c.key) < 0 || hfc_index_new(n * bs, bs, algo, &c.idx) < 0)
		return 1;
	c.idx->version = 2;
	c.idx->created = 1700000000;
	/* Realistic lines: a name for most blocks, a fifth of them zero. */
	for (uint64_t i = 0; i < n; i++) {
		if (i % 5 == 4)
			continue;
		for (int k = 0; k < HFC_HASH_MAX; k++)
			c.idx->entries[i].hash[k] = (uint8_t)((i * 2654435761u) >> (k % 4 * 8)) ^ (uint8_t)k;
		/* Stored sizes with as many digits as the block size allows: the longest lines. */
		c.idx->entries[i].stored = bs / 2 + (uint32_t)(i % (bs / 2));
	}
	double sign = best_of(rounds, do_sign, &c);
	double verify = best_of(rounds, do_verify, &c);
	double parse = best_of(rounds, do_parse, &c);
	printf("{\"blocks\":%llu,\"index_bytes\":%zu,\"sign_ms\":%.3f,\"verify_ms\":%.3f,"
	       "\"parse_ms\":%.3f}\n",
	       (unsigned long long)n, c.len, sign * 1e3, verify * 1e3, parse * 1e3);
	free(c.buf);
	hfc_index_free(c.idx);
	hfc_key_free(c.key);
	return 0;
}
