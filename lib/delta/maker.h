/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Making a bundle, shared by its two halves; not a public API. recipes.c turns blocks into
 * recipes (the page map of A, the page matching, the levels, the records of the delta stream);
 * make.c runs the job (the blocks to carry, the workers, the temporary files, the frames and
 * the tar).
 */

#include "delta/delta-private.h"
#include "delta/pagemap.h"

#include "base/pipeline.h"

/* A distinct non-zero block of A or B. */
typedef struct Blk {
	uint8_t hash[HFC_HASH_MAX];
	uint32_t stored, len;
	bool raw; /* B's: carried as a plain block file */
} Blk;

/* A small LRU cache of A's blocks, decoded, per worker. */
typedef struct ACache {
	uint64_t blk; /* UINT64_MAX: empty */
	uint64_t used;
	uint8_t *data;
} ACache;

typedef struct MWorker {
	HfcCodec *codecs[HFC_LEVEL_MAX + 1]; /* [0] decodes; [L] compresses at level L */
	uint8_t *stored, *cmp, *abuf, *fin;
	ACache *cache;
	size_t ncache;
	uint64_t tick;
} MWorker;

typedef struct Maker {
	HfcSite *site;
	const HfcIndex *a;
	HfcIndex *b;
	const HfcBundleOptions *o;
	HfcHashAlgo algo;
	size_t hl;
	uint32_t bs, pages_max;
	unsigned jobs;
	int level;
	Blk *ablk, *nblk;
	size_t n_ablk, n_nblk;
	HfcPageMap pages;
	MWorker *ws;
	HfcErr *werr; /* one per worker */
	HfcErr sink_err;
	int first_level; /* tried first: the level the site's blocks were made with */
	bool foreign;	 /* no level reproduces the site's block files: send them plain */
	size_t item_size;
	/* stream state, sink only */
	uint32_t *a2base; /* base + 1, 0: not a base yet */
	uint32_t *bases;  /* ablk index of each base */
	size_t nbases;
	bool have_last;
	uint32_t last_base, last_page;
	HfcPageMap lits;
	uint8_t *ring;
	uint16_t *ring_len;
	uint64_t lit_count;
	int lfd, cfd; /* the stream, and its compressed frames (unlinked temporary files) */
	uint8_t *wbuf;
	size_t wlen;
	uint64_t lsize, csize;
	HfcBundleResult *res;
	const HfcProgress *progress;
} Maker;

/* The buffer of the stream's writes and of the tar's copies. */
#define MAKER_WBUF_SIZE (1u << 20)

/*
 * Runs a pipeline over the workers and reports the first error a worker or the sink recorded
 * (make.c). Returns 0 or -errno with err filled.
 */
int maker_run(Maker *m, uint64_t n, size_t slot, HfcWorkFn work, HfcSinkFn sink, HfcErr *err);

/* Fills err with "SITE/blocks/XY/NAME: what" (what NULL: from r) and returns r (make.c). */
int maker_block_err(Maker *m, HfcErr *err, int r, const uint8_t *hash, const char *what);

/* Pass 1 (recipes.c): maps every page of A's blocks. Returns 0 or -errno with err filled. */
int maker_map_pages(Maker *m, HfcErr *err);

/*
 * Pass 2 (recipes.c): checks every block file new in B and, for a delta bundle, writes its
 * recipe to the stream (m->lfd), or marks it raw. Returns 0 or -errno with err filled.
 */
int maker_recipes(Maker *m, HfcErr *err);
