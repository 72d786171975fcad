/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The recipes of a bundle: what the delta stream says about each block file new in B.
 *  1. map every 4 KiB page of A's distinct blocks (key -> block, page);
 *  2. for each block file new in B, in parallel: classify each page (zero, found in A and
 *     compared byte for byte, or literal) and find the level that recompresses the block to the
 *     source's exact file; then, in image order, write the records of the delta stream to a
 *     temporary file, sending a literal page seen shortly before as a repeat.
 */
#include "delta/maker.h"

#include "base/digest.h"
#include "base/fileio.h"

#include <stdio.h>

typedef struct Op {
	uint8_t type; /* DELTA_OP_ZERO, _COPY or _LIT as classified by a worker */
	uint16_t page;
	uint32_t blk; /* COPY: index into ablk */
	uint64_t key; /* LIT: the page key */
} Op;

typedef struct Item {
	bool raw;
	int level;
	uint8_t stored_sha256[32];
	/* followed by Op ops[pages_max] and the block's bytes */
} Item;

static Op *item_ops(Item *it)
{
	return (Op *)(it + 1);
}

static uint8_t *item_data(const Maker *m, Item *it)
{
	return (uint8_t *)(item_ops(it) + m->pages_max);
}

/* Reads and decodes a block file of the site, checked against its name. */
static int load_block(Maker *m, MWorker *w, const Blk *k, uint8_t *stored, uint8_t *out,
		      HfcErr *err)
{
	int r = hfc_site_block_read(m->site, m->algo, k->hash, k->stored, stored);
	if (r < 0)
		return maker_block_err(m, err, r, k->hash, NULL);
	r = hfc_block_decode_verified(w->codecs[0], m->algo, k->hash, stored, k->stored, out,
				      k->len);
	if (r == -EBADMSG)
		return maker_block_err(m, err, r, k->hash,
				       "does not match its name (corrupt block file)");
	if (r < 0)
		return maker_block_err(m, err, r, k->hash, NULL);
	return 0;
}

/* Returns A's block blk decoded, from the worker's small LRU cache. */
static const uint8_t *acache_get(Maker *m, MWorker *w, uint32_t blk, HfcErr *err, int *ret_r)
{
	ACache *victim = NULL;
	for (size_t i = 0; i < w->ncache; i++) {
		ACache *c = &w->cache[i];
		if (c->blk == blk) {
			c->used = ++w->tick;
			return c->data;
		}
		if (!victim || c->used < victim->used)
			victim = c;
	}
	if (!victim->data && !(victim->data = malloc(m->bs))) {
		*ret_r = hfc_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	victim->blk = UINT64_MAX;
	int r = load_block(m, w, &m->ablk[blk], w->abuf, victim->data, err);
	if (r < 0) {
		*ret_r = r;
		return NULL;
	}
	victim->blk = blk;
	victim->used = ++w->tick;
	return victim->data;
}

/* ---- pass 1: the page map of A ---- */

static int amap_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	Maker *m = ctx;
	MWorker *w = &m->ws[worker];
	const Blk *k = &m->ablk[i];
	uint64_t *keys = slot;
	uint8_t *data = w->cmp;
	int r = load_block(m, w, k, w->stored, data, &m->werr[worker]);
	if (r < 0)
		return r;
	uint32_t pages = DIV_ROUND_UP(k->len, HFC_PAGE_SIZE);
	for (uint32_t p = 0; p < pages; p++) {
		size_t n = delta_page_len(k->len, p);
		const uint8_t *q = data + (size_t)p * HFC_PAGE_SIZE;
		/* Zero pages need no map entry: a recipe says ZERO for them. */
		keys[p] = hfc_is_zero(q, n) ? 0 : hfc_page_key(q, n) | 1;
	}
	return 0;
}

static int amap_sink(void *ctx, uint64_t i, void *slot)
{
	Maker *m = ctx;
	const uint64_t *keys = slot;
	uint32_t pages = DIV_ROUND_UP(m->ablk[i].len, HFC_PAGE_SIZE);
	for (uint32_t p = 0; p < pages; p++) {
		if (!keys[p])
			continue;
		if (hfc_page_map_put(&m->pages, keys[p], i << 16 | p, false) < 0)
			return hfc_err_set(&m->sink_err, -ENOMEM, "out of memory");
	}
	hfc_progress(m->progress, "reading A", i + 1, m->n_ablk);
	return 0;
}

int maker_map_pages(Maker *m, HfcErr *err)
{
	int r = hfc_page_map_init(&m->pages, (uint64_t)m->n_ablk * m->pages_max);
	if (r < 0)
		return hfc_err_set(err, r, "out of memory");
	return maker_run(m, m->n_ablk, (size_t)m->pages_max * sizeof(uint64_t), amap_work,
			 amap_sink, err);
}

/* ---- pass 2: recipes ---- */

/*
 * Finds a libdeflate level that recompresses the block to the site's exact file (w->stored).
 * The order never depends on other blocks or threads — incompressible blocks come out the same
 * at several levels — so the same versions always make the same bundle.
 */
static int find_level(Maker *m, MWorker *w, const Blk *k, const uint8_t *data, Item *it)
{
	if (m->foreign) {
		it->raw = true;
		return 0;
	}
	int order[HFC_LEVEL_MAX + 2];
	size_t n = 0;
	order[n++] = m->first_level;
	order[n++] = HFC_LEVEL_DEFAULT;
	for (int l = HFC_LEVEL_MIN; l <= HFC_LEVEL_MAX; l++)
		order[n++] = l;
	bool tried[HFC_LEVEL_MAX + 1] = { false };
	for (size_t j = 0; j < n; j++) {
		int l = order[j];
		if (tried[l])
			continue;
		tried[l] = true;
		if (!w->codecs[l]) {
			int r = hfc_codec_new(l, &w->codecs[l]);
			if (r < 0)
				return r;
		}
		ssize_t c = hfc_codec_compress(w->codecs[l], data, k->len, w->cmp,
					       hfc_codec_bound(m->bs));
		if (c < 0)
			return (int)c;
		if ((size_t)c == k->stored && memcmp(w->cmp, w->stored, k->stored) == 0) {
			it->level = l;
			return hfc_digest(HFC_HASH_SHA256, w->stored, k->stored, it->stored_sha256);
		}
	}
	it->raw = true;
	return 0;
}

/*
 * Learns the site's level from its first new blocks, in image order, before the parallel pass:
 * most sites are made at one level, so the search then usually costs one compression a block.
 * When none of them reproduces at any level, the site was made by another compressor: its
 * blocks travel plain without trying every level on each.
 */
static int probe_level(Maker *m, HfcErr *err)
{
	MWorker *w = &m->ws[0];
	_cleanup_free_ uint8_t *data = malloc(m->bs);
	if (!data)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	int r = 0;
	size_t probes = MIN(m->n_nblk, (size_t)4);
	bool found = false;
	m->first_level = HFC_LEVEL_DEFAULT;
	m->foreign = false;
	for (size_t i = 0; i < probes && !found; i++) {
		Item it = { 0 };
		r = load_block(m, w, &m->nblk[i], w->stored, data, err);
		if (r >= 0)
			r = find_level(m, w, &m->nblk[i], data, &it);
		if (r < 0)
			break;
		if (!it.raw) {
			m->first_level = it.level;
			found = true;
		}
	}
	m->foreign = probes > 0 && !found;
	return r;
}

/* Classifies one page: zero, a copy of a page of A (compared byte for byte), or literal. */
static int classify(Maker *m, MWorker *w, const uint8_t *q, size_t n, Op *op, HfcErr *err)
{
	*op = (Op){ .type = DELTA_OP_LIT };
	if (hfc_is_zero(q, n)) {
		op->type = DELTA_OP_ZERO;
		return 0;
	}
	op->key = hfc_page_key(q, n) | 1;
	uint64_t v;
	if (!hfc_page_map_get(&m->pages, op->key, &v))
		return 0;
	/* A key is only a candidate: the page must be the same, byte for byte. */
	uint32_t blk = (uint32_t)(v >> 16), pg = (uint32_t)(v & 0xffff);
	if ((size_t)pg * HFC_PAGE_SIZE + n > m->ablk[blk].len)
		return 0;
	int r = 0;
	const uint8_t *ad = acache_get(m, w, blk, err, &r);
	if (!ad)
		return r;
	if (memcmp(ad + (size_t)pg * HFC_PAGE_SIZE, q, n) == 0)
		*op = (Op){ .type = DELTA_OP_COPY, .blk = blk, .page = (uint16_t)pg };
	return 0;
}

static int recipe_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	Maker *m = ctx;
	MWorker *w = &m->ws[worker];
	HfcErr *err = &m->werr[worker];
	const Blk *k = &m->nblk[i];
	Item *it = slot;
	Op *ops = item_ops(it);
	uint8_t *data = item_data(m, it);
	*it = (Item){ 0 };
	int r = load_block(m, w, k, w->stored, data, err);
	if (r < 0)
		return r;
	if (m->o->full) {
		it->raw = true;
		return 0;
	}
	uint32_t pages = DIV_ROUND_UP(k->len, HFC_PAGE_SIZE);
	for (uint32_t p = 0; p < pages && r >= 0; p++)
		r = classify(m, w, data + (size_t)p * HFC_PAGE_SIZE, delta_page_len(k->len, p),
			     &ops[p], err);
	if (r < 0)
		return r;
	r = find_level(m, w, k, data, it);
	if (r < 0)
		return hfc_err_set(err, r, "compressing a block: %s", strerror(-r));
	return 0;
}

static int wflush(Maker *m)
{
	if (m->wlen == 0)
		return 0;
	int r = hfc_write_all(m->lfd, m->wbuf, m->wlen);
	if (r < 0)
		return hfc_err_set(&m->sink_err, r, "writing the delta stream: %s", strerror(-r));
	m->lsize += m->wlen;
	m->wlen = 0;
	return 0;
}

static int emit(Maker *m, const void *data, size_t n)
{
	const uint8_t *p = data;
	while (n > 0) {
		if (m->wlen == MAKER_WBUF_SIZE) {
			int r = wflush(m);
			if (r < 0)
				return r;
		}
		size_t c = MIN(n, (size_t)MAKER_WBUF_SIZE - m->wlen);
		memcpy(m->wbuf + m->wlen, p, c);
		m->wlen += c;
		p += c;
		n -= c;
	}
	return 0;
}

static int emit_literal(Maker *m, uint64_t key, const uint8_t *q, size_t n)
{
	HfcBundleResult *res = m->res;
	uint64_t v;
	if (hfc_page_map_get(&m->lits, key, &v) && m->lit_count - v <= HFC_DELTA_WINDOW) {
		size_t slot = (size_t)(v % HFC_DELTA_WINDOW);
		if ((size_t)m->ring_len[slot] + 1 == n &&
		    memcmp(m->ring + slot * HFC_PAGE_SIZE, q, n) == 0) {
			uint8_t b[3] = { DELTA_OP_REPEAT };
			put_u16(b + 1, (uint32_t)(m->lit_count - v));
			res->repeated_pages++;
			return emit(m, b, sizeof(b));
		}
	}
	uint8_t op = DELTA_OP_LIT;
	int r = emit(m, &op, 1);
	if (r >= 0)
		r = emit(m, q, n);
	if (r < 0)
		return r;
	size_t slot = (size_t)(m->lit_count % HFC_DELTA_WINDOW);
	memcpy(m->ring + slot * HFC_PAGE_SIZE, q, n);
	m->ring_len[slot] = (uint16_t)(n - 1);
	if (hfc_page_map_put(&m->lits, key, m->lit_count, true) < 0)
		return hfc_err_set(&m->sink_err, -ENOMEM, "out of memory");
	m->lit_count++;
	res->literal_pages++;
	return 0;
}

/* A COPY, or a NEXT when it continues the last copy: bases are numbered as first used. */
static int emit_copy(Maker *m, const Op *op)
{
	if (!m->a2base[op->blk]) {
		m->bases[m->nbases] = op->blk;
		m->a2base[op->blk] = (uint32_t)++m->nbases;
	}
	uint32_t base = m->a2base[op->blk] - 1;
	m->res->copied_pages++;
	bool next = m->have_last && base == m->last_base && op->page == m->last_page + 1;
	m->have_last = true;
	m->last_base = base;
	m->last_page = op->page;
	uint8_t b[7] = { next ? DELTA_OP_NEXT : DELTA_OP_COPY };
	put_u32(b + 1, base);
	put_u16(b + 5, op->page);
	return emit(m, b, next ? 1 : sizeof(b));
}

static int recipe_sink(void *ctx, uint64_t i, void *slot)
{
	Maker *m = ctx;
	HfcBundleResult *res = m->res;
	Blk *k = &m->nblk[i];
	Item *it = slot;
	hfc_progress(m->progress, "recipes", i + 1, m->n_nblk);
	res->block_bytes += k->stored;
	if (it->raw) {
		k->raw = true;
		res->raw++;
		return 0;
	}
	res->recipes++;
	uint8_t hdr[HFC_DELTA_REC_FIXED(HFC_HASH_MAX)];
	memcpy(hdr, k->hash, m->hl);
	put_u32(hdr + m->hl, k->len);
	put_u32(hdr + m->hl + 4, k->stored);
	hdr[m->hl + 8] = (uint8_t)it->level;
	memcpy(hdr + m->hl + 9, it->stored_sha256, 32);
	int r = emit(m, hdr, HFC_DELTA_REC_FIXED(m->hl));
	const Op *ops = item_ops(it);
	const uint8_t *data = item_data(m, it);
	uint32_t pages = DIV_ROUND_UP(k->len, HFC_PAGE_SIZE);
	res->pages += pages;
	for (uint32_t p = 0; p < pages && r >= 0; p++) {
		const Op *op = &ops[p];
		if (op->type == DELTA_OP_ZERO) {
			uint8_t b = DELTA_OP_ZERO;
			res->zero_pages++;
			r = emit(m, &b, 1);
		} else if (op->type == DELTA_OP_COPY) {
			r = emit_copy(m, op);
		} else {
			r = emit_literal(m, op->key, data + (size_t)p * HFC_PAGE_SIZE,
					 delta_page_len(k->len, p));
		}
	}
	return r;
}

/* The sink's state for a delta stream: bases as they are first used, recent literal pages. */
static int stream_init(Maker *m, HfcErr *err)
{
	m->a2base = calloc(m->n_ablk + 1, sizeof(uint32_t));
	m->bases = malloc((m->n_ablk + 1) * sizeof(uint32_t));
	m->ring = malloc((size_t)HFC_DELTA_WINDOW * HFC_PAGE_SIZE);
	m->ring_len = calloc(HFC_DELTA_WINDOW, sizeof(uint16_t));
	if (!m->a2base || !m->bases || !m->ring || !m->ring_len ||
	    hfc_page_map_init(&m->lits, 1024) < 0)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

int maker_recipes(Maker *m, HfcErr *err)
{
	int r = 0;
	if (!m->o->full) {
		r = stream_init(m, err);
		if (r >= 0)
			r = probe_level(m, err);
		if (r < 0)
			return r;
	}
	/* For a full bundle, only the checks of every block file. */
	m->item_size = sizeof(Item) + (size_t)m->pages_max * sizeof(Op) + m->bs;
	m->item_size = (m->item_size + 15) & ~(size_t)15;
	r = maker_run(m, m->n_nblk, m->item_size, recipe_work, recipe_sink, err);
	if (r < 0 || m->o->full)
		return r;
	r = wflush(m);
	if (r < 0 && err)
		*err = m->sink_err;
	return r;
}
