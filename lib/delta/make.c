/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Making a bundle. Three passes over bounded buffers:
 *  1. map every 4 KiB page of A's distinct blocks (key -> block, page);
 *  2. for each block file new in B, in parallel: classify each page (zero, found in A and
 *     compared byte for byte, or literal) and find the level that recompresses the block to the
 *     source's exact file; then, in image order, write the records of the delta stream to a
 *     temporary file, sending a literal page seen shortly before as a repeat;
 *  3. compress the stream in frames, in parallel; then write the tar.
 */
#include "delta/delta-private.h"
#include "delta/pagemap.h"

#include "fs/tar.h"
#include "base/digest.h"
#include "base/fileio.h"
#include "base/hashset.h"
#include "base/pipeline.h"
#include "base/clock.h"
#include "base/progress.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>

typedef struct Blk {
	uint8_t hash[HFC_HASH_MAX];
	uint32_t stored, len;
	bool raw;
} Blk;

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

#define WBUF_SIZE (1u << 20)
#define ACACHE_BYTES (32u << 20)

static Op *item_ops(Item *it)
{
	return (Op *)(it + 1);
}

static uint8_t *item_data(const Maker *m, Item *it)
{
	return (uint8_t *)(item_ops(it) + m->pages_max);
}

/* An unlinked temporary file in dirfd's directory (or TMPDIR when dirfd < 0). */
static int open_tmp(int dirfd)
{
	const char *tmpdir = getenv("TMPDIR");
	if (!tmpdir || !*tmpdir)
		tmpdir = "/var/tmp";
	int fd = dirfd >= 0 ? openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
			    : open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : negative_errno();
	/* No O_TMPFILE on this file system: a named file, unlinked at once. */
	char name[64];
	for (int i = 0; i < 100; i++) {
		hfc_tmp_name("hfc-bundle", name, sizeof(name));
		fd = dirfd >= 0 ? openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
				: -1;
		if (dirfd < 0) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
			fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd >= 0)
				(void)unlink(p);
		} else if (fd >= 0) {
			(void)unlinkat(dirfd, name, 0);
		}
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	return fd >= 0 ? fd : negative_errno();
}

static int block_err(Maker *m, HfcErr *err, int r, const uint8_t *hash, const char *what)
{
	char p[HFC_BLOCK_PATH_MAX];
	hfc_block_path(m->algo, hash, p);
	return hfc_err_set(err, r, "%s/%s: %s", hfc_site_path(m->site), p,
			   what ? what
			   : r == -ENOENT ? "missing block file"
			   : r == -EBADMSG ? "block file is corrupt or has the wrong size"
					   : strerror(-r));
}

/* Reads and decodes a block file of the site, checked against its name. */
static int load_block(Maker *m, MWorker *w, const Blk *k, uint8_t *stored, uint8_t *out,
		      HfcErr *err)
{
	int r = hfc_site_block_read(m->site, m->algo, k->hash, k->stored, stored);
	if (r < 0)
		return block_err(m, err, r, k->hash, NULL);
	r = hfc_block_decode_verified(w->codecs[0], m->algo, k->hash, stored, k->stored, out,
				      k->len);
	if (r < 0)
		return block_err(m, err, r, k->hash,
				 r == -EBADMSG ? "does not match its name (corrupt block file)" : NULL);
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
		size_t n = MIN((size_t)HFC_PAGE_SIZE, (size_t)k->len - (size_t)p * HFC_PAGE_SIZE);
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
	uint8_t *data = malloc(m->bs);
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
	free(data);
	return r;
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
	for (uint32_t p = 0; p < pages; p++) {
		size_t n = MIN((size_t)HFC_PAGE_SIZE, (size_t)k->len - (size_t)p * HFC_PAGE_SIZE);
		const uint8_t *q = data + (size_t)p * HFC_PAGE_SIZE;
		Op *op = &ops[p];
		*op = (Op){ .type = DELTA_OP_LIT };
		if (hfc_is_zero(q, n)) {
			op->type = DELTA_OP_ZERO;
			continue;
		}
		op->key = hfc_page_key(q, n) | 1;
		uint64_t v;
		if (!hfc_page_map_get(&m->pages, op->key, &v))
			continue;
		/* A key is only a candidate: the page must be the same, byte for byte. */
		uint32_t blk = (uint32_t)(v >> 16), pg = (uint32_t)(v & 0xffff);
		if ((size_t)pg * HFC_PAGE_SIZE + n > m->ablk[blk].len)
			continue;
		const uint8_t *ad = acache_get(m, w, blk, err, &r);
		if (!ad)
			return r;
		if (memcmp(ad + (size_t)pg * HFC_PAGE_SIZE, q, n) == 0) {
			op->type = DELTA_OP_COPY;
			op->blk = blk;
			op->page = (uint16_t)pg;
		}
	}
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
		if (m->wlen == WBUF_SIZE) {
			int r = wflush(m);
			if (r < 0)
				return r;
		}
		size_t c = MIN(n, (size_t)WBUF_SIZE - m->wlen);
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
	if (r < 0)
		return r;
	const Op *ops = item_ops(it);
	const uint8_t *data = item_data(m, it);
	uint32_t pages = DIV_ROUND_UP(k->len, HFC_PAGE_SIZE);
	res->pages += pages;
	for (uint32_t p = 0; p < pages && r >= 0; p++) {
		size_t n = MIN((size_t)HFC_PAGE_SIZE, (size_t)k->len - (size_t)p * HFC_PAGE_SIZE);
		const Op *op = &ops[p];
		if (op->type == DELTA_OP_ZERO) {
			uint8_t b = DELTA_OP_ZERO;
			res->zero_pages++;
			r = emit(m, &b, 1);
		} else if (op->type == DELTA_OP_COPY) {
			if (!m->a2base[op->blk]) {
				m->bases[m->nbases] = op->blk;
				m->a2base[op->blk] = (uint32_t)++m->nbases;
			}
			uint32_t base = m->a2base[op->blk] - 1;
			res->copied_pages++;
			if (m->have_last && base == m->last_base && op->page == m->last_page + 1) {
				uint8_t b = DELTA_OP_NEXT;
				r = emit(m, &b, 1);
			} else {
				uint8_t b[7] = { DELTA_OP_COPY };
				put_u32(b + 1, base);
				put_u16(b + 5, op->page);
				r = emit(m, b, sizeof(b));
			}
			m->have_last = true;
			m->last_base = base;
			m->last_page = op->page;
		} else {
			r = emit_literal(m, op->key, data + (size_t)p * HFC_PAGE_SIZE, n);
		}
	}
	return r;
}

/* ---- pass 3: frames ---- */

static int frame_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	Maker *m = ctx;
	MWorker *w = &m->ws[worker];
	uint64_t off = i * HFC_DELTA_FRAME_TARGET;
	size_t n = (size_t)MIN((uint64_t)HFC_DELTA_FRAME_TARGET, m->lsize - off);
	ssize_t got = hfc_pread_all(m->lfd, w->fin, n, (off_t)off);
	if (got < 0 || (size_t)got != n)
		return hfc_err_set(&m->werr[worker], got < 0 ? (int)got : -EIO,
				   "reading the delta stream back failed");
	if (!w->codecs[m->level]) {
		int r = hfc_codec_new(m->level, &w->codecs[m->level]);
		if (r < 0)
			return hfc_err_set(&m->werr[worker], r, "out of memory");
	}
	uint8_t *out = slot;
	ssize_t c = hfc_codec_compress(w->codecs[m->level], w->fin, n, out + HFC_DELTA_FRAME_HDR,
				       hfc_codec_bound(HFC_DELTA_FRAME_TARGET));
	if (c < 0)
		return hfc_err_set(&m->werr[worker], (int)c, "compressing the delta stream failed");
	put_u32(out, (uint32_t)c);
	put_u32(out + 4, (uint32_t)n);
	return 0;
}

static int frame_sink(void *ctx, uint64_t i, void *slot)
{
	(void)i;
	Maker *m = ctx;
	const uint8_t *p = slot;
	size_t n = HFC_DELTA_FRAME_HDR + get_u32(p);
	int r = hfc_write_all(m->cfd, p, n);
	if (r < 0)
		return hfc_err_set(&m->sink_err, r, "writing the delta stream: %s", strerror(-r));
	m->csize += n;
	return 0;
}

/* Runs a pipeline and reports the first error a worker or the sink recorded. */
static int run(Maker *m, uint64_t n, size_t slot, HfcWorkFn work, HfcSinkFn sink, HfcErr *err)
{
	for (unsigned j = 0; j < m->jobs; j++)
		m->werr[j].msg[0] = 0;
	m->sink_err.msg[0] = 0;
	unsigned window = m->jobs * 4;
	size_t cap = MAX((size_t)2, ((size_t)256 << 20) / MAX(slot, (size_t)1));
	window = (unsigned)MAX(MIN((size_t)window, cap), (size_t)m->jobs);
	int r = hfc_pipeline_run(n, m->jobs, window, slot, work, sink, m);
	if (r < 0) {
		const HfcErr *e = m->sink_err.msg[0] ? &m->sink_err : NULL;
		for (unsigned j = 0; !e && j < m->jobs; j++)
			if (m->werr[j].msg[0])
				e = &m->werr[j];
		if (e && err)
			*err = *e;
		else
			hfc_err_set(err, r, "%s", strerror(-r));
	}
	return r;
}

/* ---- the tar ---- */

static int copy_fd(HfcTarWriter *tw, int fd, uint64_t size, uint8_t *buf, HfcErr *err)
{
	for (uint64_t off = 0; off < size;) {
		size_t n = (size_t)MIN(size - off, (uint64_t)WBUF_SIZE);
		ssize_t got = hfc_pread_all(fd, buf, n, (off_t)off);
		if (got < 0 || (size_t)got != n)
			return hfc_err_set(err, got < 0 ? (int)got : -EIO,
					   "reading the delta stream back failed");
		int r = hfc_tar_writer_data(tw, buf, n, err);
		if (r < 0)
			return r;
		off += n;
	}
	return 0;
}

static int write_tar(Maker *m, HfcOutput *out, HfcErr *err)
{
	HfcBundleResult *res = m->res;
	_cleanup_free_ char *ibuf = NULL, *mbuf = NULL;
	_cleanup_free_ uint8_t *table = NULL;
	_cleanup_free_ char *profile = NULL;
	size_t ilen, mlen, plen = 0;
	int r = hfc_index_format(m->b, &ibuf, &ilen);
	if (r < 0)
		return hfc_err_set(err, r, "formatting index: %s", strerror(-r));

	char rel[HFC_LAYOUT_PATH_MAX];
	hfc_layout_path(HFC_LAYOUT_PROFILE, m->b->version, rel);
	r = hfc_read_file_at(hfc_site_fd(m->site), rel, HFC_BUNDLE_PROFILE_MAX, &profile, &plen);
	if (r == -ENOENT)
		plen = 0;
	else if (r < 0)
		return hfc_err_set(err, r, "%s/%s: %s", hfc_site_path(m->site), rel, strerror(-r));

	HfcBundleManifest man = {
		.kind = m->o->full ? HFC_BUNDLE_FULL : HFC_BUNDLE_DELTA,
		.target = m->b->version,
		.hash = m->algo,
		.block_size = m->bs,
		.index_bytes = ilen,
		.profile_bytes = plen,
		.bases = m->nbases,
		.recipes = res->recipes,
		.delta_bytes = m->csize,
		.raw_blocks = res->raw,
	};
	memcpy(man.target_sha256, m->b->end_sha256, 32);
	if (!m->o->full) {
		man.base = m->a->version;
		memcpy(man.base_sha256, m->a->end_sha256, 32);
	}
	r = hfc_bundle_manifest_format(&man, &mbuf, &mlen);
	if (r < 0)
		return hfc_err_set(err, r, "formatting the manifest: %s", strerror(-r));

	_cleanup_(hfc_tar_writer_freep) HfcTarWriter *tw = NULL;
	r = hfc_tar_writer_new(out->fd, m->b->created, out->display, &tw, err);
	if (r < 0)
		return r;
	r = hfc_tar_writer_add(tw, "hfc-bundle", mbuf, mlen, err);
	if (r >= 0)
		r = hfc_tar_writer_add(tw, HFC_SITE_CURRENT, ibuf, ilen, err);
	if (r >= 0 && plen)
		r = hfc_tar_writer_add(tw, "profile", profile, plen, err);
	if (r < 0)
		return r;
	if (!m->o->full) {
		size_t rec = m->hl + 8;
		table = malloc(m->nbases * rec + 1);
		if (!table)
			return hfc_err_set(err, -ENOMEM, "out of memory");
		for (size_t j = 0; j < m->nbases; j++) {
			const Blk *k = &m->ablk[m->bases[j]];
			memcpy(table + j * rec, k->hash, m->hl);
			put_u32(table + j * rec + m->hl, k->stored);
			put_u32(table + j * rec + m->hl + 4, k->len);
		}
		r = hfc_tar_writer_add(tw, "bases", table, m->nbases * rec, err);
		if (r >= 0)
			r = hfc_tar_writer_begin(tw, "delta", m->csize, err);
		if (r >= 0)
			r = copy_fd(tw, m->cfd, m->csize, m->wbuf, err);
		if (r < 0)
			return r;
	}
	/* Block files that travel as they are, read again (immutable; size checked). */
	for (size_t i = 0; i < m->n_nblk; i++) {
		const Blk *k = &m->nblk[i];
		if (!k->raw)
			continue;
		r = hfc_site_block_read(m->site, m->algo, k->hash, k->stored, m->wbuf);
		if (r < 0)
			return block_err(m, err, r, k->hash, NULL);
		char p[HFC_BLOCK_PATH_MAX];
		hfc_block_path(m->algo, k->hash, p);
		r = hfc_tar_writer_add(tw, p, m->wbuf, k->stored, err);
		if (r < 0)
			return r;
	}
	r = hfc_tar_writer_close(tw, err);
	if (r < 0)
		return r;
	res->bundle_bytes = hfc_tar_writer_bytes(tw);
	res->bases = m->nbases;
	res->delta_bytes = m->csize;
	res->blocks = res->recipes + res->raw;
	return 0;
}

/* ---- the whole job ---- */

/* Collects the distinct non-zero blocks of idx not in `skip` (may be NULL) into *ret. */
static int collect(const HfcIndex *idx, HfcHashMap *skip, HfcHashMap *seen, Blk **ret,
		   size_t *ret_n)
{
	Blk *v = NULL;
	size_t n = 0, cap = 0;
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		const HfcIndexEntry *e = &idx->entries[i];
		if (!e->stored || (skip && hfc_hashmap_get(skip, e->hash, NULL)))
			continue;
		int r = hfc_hashmap_put(seen, e->hash, n, NULL);
		if (r < 0) {
			free(v);
			return r;
		}
		if (r == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			Blk *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		Blk *k = &v[n++];
		*k = (Blk){ .stored = e->stored, .len = (uint32_t)hfc_index_block_len(idx, i) };
		memcpy(k->hash, e->hash, HFC_HASH_MAX);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static void maker_free(Maker *m)
{
	if (m->ws)
		for (unsigned j = 0; j < m->jobs; j++) {
			MWorker *w = &m->ws[j];
			for (int l = 0; l <= HFC_LEVEL_MAX; l++)
				hfc_codec_free(w->codecs[l]);
			free(w->stored);
			free(w->cmp);
			free(w->abuf);
			free(w->fin);
			for (size_t i = 0; i < w->ncache; i++)
				free(w->cache[i].data);
			free(w->cache);
		}
	free(m->ws);
	free(m->werr);
	free(m->ablk);
	free(m->nblk);
	hfc_page_map_done(&m->pages);
	hfc_page_map_done(&m->lits);
	free(m->a2base);
	free(m->bases);
	free(m->ring);
	free(m->ring_len);
	free(m->wbuf);
	if (m->lfd >= 0)
		close(m->lfd);
	if (m->cfd >= 0)
		close(m->cfd);
}

int hfc_bundle_make(HfcSite *s, const HfcIndex *a, HfcIndex *b, const char *out_path,
		    const HfcBundleOptions *o, HfcBundleResult *res, HfcErr *err)
{
	double t0 = hfc_monotonic();
	*res = (HfcBundleResult){ 0 };
	if (!o->full && !a)
		return hfc_err_set(err, -EINVAL, "a delta bundle needs a base version");
	if (a && (a->block_size != b->block_size || a->hash != b->hash))
		return hfc_err_set(err, -EINVAL,
				   "versions %u and %u differ in block size or hash: no delta possible",
				   a->version, b->version);
	Maker m = {
		.site = s, .a = a, .b = b, .o = o, .algo = b->hash, .hl = hfc_hash_len(b->hash),
		.bs = b->block_size, .res = res, .lfd = -1, .cfd = -1,
	};
	m.pages_max = DIV_ROUND_UP(m.bs, HFC_PAGE_SIZE);
	m.jobs = o->jobs ? o->jobs : hfc_cpu_count();
	m.level = o->level ? o->level : HFC_DELTA_LEVEL_DEFAULT;
	HfcOutput out = { .fd = -1, .dirfd = -1 };
	_cleanup_(hfc_hashmap_freep) HfcHashMap *aset = NULL, *bset = NULL;
	int r;
	if (m.level < HFC_LEVEL_MIN || m.level > HFC_LEVEL_MAX) {
		r = hfc_err_set(err, -EINVAL, "level %d is not 1 to 12", m.level);
		goto out;
	}
	r = hfc_hashmap_new(m.hl, &aset);
	if (r >= 0)
		r = hfc_hashmap_new(m.hl, &bset);
	if (r >= 0 && !o->full)
		r = collect(a, NULL, aset, &m.ablk, &m.n_ablk);
	if (r >= 0)
		r = collect(b, o->full ? NULL : aset, bset, &m.nblk, &m.n_nblk);
	m.ws = calloc(m.jobs, sizeof(*m.ws));
	m.werr = calloc(m.jobs, sizeof(*m.werr));
	m.wbuf = malloc(MAX((size_t)WBUF_SIZE, hfc_codec_bound(m.bs)));
	if (r < 0 || !m.ws || !m.werr || !m.wbuf) {
		r = hfc_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	size_t ncache = MAX((size_t)4, (size_t)ACACHE_BYTES / m.bs);
	for (unsigned j = 0; j < m.jobs; j++) {
		MWorker *w = &m.ws[j];
		w->stored = malloc(hfc_codec_bound(m.bs));
		w->cmp = malloc(hfc_codec_bound(m.bs));
		w->abuf = malloc(hfc_codec_bound(m.bs));
		w->fin = malloc(HFC_DELTA_FRAME_TARGET);
		w->cache = calloc(ncache, sizeof(*w->cache));
		w->ncache = ncache;
		if (!w->stored || !w->cmp || !w->abuf || !w->fin || !w->cache ||
		    hfc_codec_new(HFC_LEVEL_DEFAULT, &w->codecs[0]) < 0) {
			r = hfc_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < ncache; i++)
			w->cache[i].blk = UINT64_MAX;
	}

	r = hfc_output_open(out_path, &out);
	if (r < 0) {
		r = hfc_err_set(err, r, "%s: %s", out_path, strerror(-r));
		goto out;
	}

	if (!o->full) {
		/* Pass 1: the pages of A. */
		r = hfc_page_map_init(&m.pages, (uint64_t)m.n_ablk * m.pages_max);
		if (r < 0) {
			r = hfc_err_set(err, r, "out of memory");
			goto out;
		}
		m.progress = &o->progress;
		r = run(&m, m.n_ablk, (size_t)m.pages_max * sizeof(uint64_t), amap_work, amap_sink,
			err);
		if (r < 0)
			goto out;
		m.a2base = calloc(m.n_ablk + 1, sizeof(uint32_t));
		m.bases = malloc((m.n_ablk + 1) * sizeof(uint32_t));
		m.ring = malloc((size_t)HFC_DELTA_WINDOW * HFC_PAGE_SIZE);
		m.ring_len = calloc(HFC_DELTA_WINDOW, sizeof(uint16_t));
		if (!m.a2base || !m.bases || !m.ring || !m.ring_len ||
		    hfc_page_map_init(&m.lits, 1024) < 0) {
			r = hfc_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		m.lfd = open_tmp(out.dirfd);
		m.cfd = m.lfd >= 0 ? open_tmp(out.dirfd) : -1;
		if (m.lfd < 0 || m.cfd < 0) {
			r = hfc_err_set(err, m.lfd < 0 ? m.lfd : m.cfd,
					"cannot make a temporary file: %s",
					strerror(-(m.lfd < 0 ? m.lfd : m.cfd)));
			goto out;
		}
	}

	if (!o->full) {
		r = probe_level(&m, err);
		if (r < 0)
			goto out;
	}
	/* Pass 2: recipes (or, for a full bundle, only the checks of every block file). */
	m.item_size = sizeof(Item) + (size_t)m.pages_max * sizeof(Op) + m.bs;
	m.item_size = (m.item_size + 15) & ~(size_t)15;
	m.progress = &o->progress;
	r = run(&m, m.n_nblk, m.item_size, recipe_work, recipe_sink, err);
	if (r < 0)
		goto out;
	if (!o->full) {
		r = wflush(&m);
		if (r < 0) {
			*err = m.sink_err;
			goto out;
		}
		/* Pass 3: frames. */
		uint64_t nframes = DIV_ROUND_UP(m.lsize, (uint64_t)HFC_DELTA_FRAME_TARGET);
		r = run(&m, nframes, HFC_DELTA_FRAME_HDR + hfc_codec_bound(HFC_DELTA_FRAME_TARGET),
			frame_work, frame_sink, err);
		if (r < 0)
			goto out;
	}
	r = write_tar(&m, &out, err);
	if (r < 0)
		goto out;
	/* On a pipe the archive's own count is the size; a file's end is its size. */
	off_t size = out.fd == STDOUT_FILENO ? (off_t)res->bundle_bytes : lseek(out.fd, 0, SEEK_CUR);
	if (size < 0) {
		r = hfc_err_set(err, negative_errno(), "%s: %s", out.display, strerror(errno));
		goto out;
	}
	res->bundle_bytes = (uint64_t)size;
	r = hfc_output_commit(&out, (uint64_t)size);
	if (r < 0)
		r = hfc_err_set(err, r, "%s: %s", out.display, strerror(-r));
out:
	hfc_output_discard(&out);
	maker_free(&m);
	res->seconds = hfc_monotonic() - t0;
	return r;
}
