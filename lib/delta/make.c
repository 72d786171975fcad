/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Making a bundle: the job around the recipes (recipes.c). The block files to carry, the
 * workers and their buffers, two unlinked temporary files (the delta stream, then its frames,
 * compressed in parallel), and the tar, written to an output that appears whole or not at all.
 */
#include "delta/maker.h"

#include "base/clock.h"
#include "base/fileio.h"
#include "base/hashset.h"
#include "fs/tar.h"
#include "site/layout.h"

#include <fcntl.h>
#include <stdio.h>

/* The decoded blocks of A each worker keeps at hand for comparing pages. */
#define ACACHE_BYTES (32u << 20)

/* An unlinked temporary file in dirfd's directory (or TMPDIR when dirfd < 0). */
static int open_tmp(int dirfd)
{
	_cleanup_close_ int own = -1;
	if (dirfd < 0) {
		const char *tmpdir = getenv("TMPDIR");
		own = open(tmpdir && *tmpdir ? tmpdir : "/var/tmp",
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (own < 0)
			return negative_errno();
		dirfd = own;
	}
	int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : negative_errno();
	/* No O_TMPFILE on this file system: a named file, unlinked at once. */
	char name[64];
	for (int i = 0; i < 100; i++) {
		hfc_tmp_name("hfc-bundle", name, sizeof(name));
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			(void)unlinkat(dirfd, name, 0);
			return fd;
		}
		if (errno != EEXIST)
			break;
	}
	return negative_errno();
}

int maker_block_err(Maker *m, HfcErr *err, int r, const uint8_t *hash, const char *what)
{
	char p[HFC_BLOCK_PATH_MAX];
	hfc_block_path(m->algo, hash, p);
	return hfc_err_set(err, r, "%s/%s: %s", hfc_site_path(m->site), p,
			   what ? what
			   : r == -ENOENT ? "missing block file"
			   : r == -EBADMSG ? "block file is corrupt or has the wrong size"
					   : strerror(-r));
}

int maker_run(Maker *m, uint64_t n, size_t slot, HfcWorkFn work, HfcSinkFn sink, HfcErr *err)
{
	for (unsigned j = 0; j < m->jobs; j++)
		m->werr[j].msg[0] = 0;
	m->sink_err.msg[0] = 0;
	unsigned window = m->jobs * 4;
	size_t cap = MAX((size_t)2, ((size_t)256 << 20) / MAX(slot, (size_t)1));
	window = (unsigned)MAX(MIN((size_t)window, cap), (size_t)m->jobs);
	int r = hfc_pipeline_run(n, m->jobs, window, slot, work, sink, m);
	if (r < 0)
		return delta_pipeline_err(r, NULL, &m->sink_err, m->werr, m->jobs, err);
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

static int make_frames(Maker *m, HfcErr *err)
{
	uint64_t nframes = DIV_ROUND_UP(m->lsize, (uint64_t)HFC_DELTA_FRAME_TARGET);
	return maker_run(m, nframes, HFC_DELTA_FRAME_HDR + hfc_codec_bound(HFC_DELTA_FRAME_TARGET),
			 frame_work, frame_sink, err);
}

/* ---- the tar ---- */

static int copy_fd(HfcTarWriter *tw, int fd, uint64_t size, uint8_t *buf, HfcErr *err)
{
	for (uint64_t off = 0; off < size;) {
		size_t n = (size_t)MIN(size - off, (uint64_t)MAKER_WBUF_SIZE);
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

/* The manifest of what the passes made: the sizes of every entry. */
static int format_manifest(Maker *m, size_t ilen, size_t plen, char **ret_buf, size_t *ret_len,
			   HfcErr *err)
{
	HfcBundleManifest man = {
		.kind = m->o->full ? HFC_BUNDLE_FULL : HFC_BUNDLE_DELTA,
		.target = m->b->version,
		.hash = m->algo,
		.block_size = m->bs,
		.index_bytes = ilen,
		.profile_bytes = plen,
		.bases = m->nbases,
		.recipes = m->res->recipes,
		.delta_bytes = m->csize,
		.raw_blocks = m->res->raw,
	};
	memcpy(man.target_sha256, m->b->end_sha256, 32);
	if (!m->o->full) {
		man.base = m->a->version;
		memcpy(man.base_sha256, m->a->end_sha256, 32);
	}
	int r = hfc_bundle_manifest_format(&man, ret_buf, ret_len);
	if (r < 0)
		return hfc_err_set(err, r, "formatting the manifest: %s", strerror(-r));
	return 0;
}

/* The bases table, then the compressed stream. */
static int write_delta(Maker *m, HfcTarWriter *tw, HfcErr *err)
{
	size_t rec = m->hl + 8;
	_cleanup_free_ uint8_t *table = malloc(m->nbases * rec + 1);
	if (!table)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	for (size_t j = 0; j < m->nbases; j++) {
		const Blk *k = &m->ablk[m->bases[j]];
		memcpy(table + j * rec, k->hash, m->hl);
		put_u32(table + j * rec + m->hl, k->stored);
		put_u32(table + j * rec + m->hl + 4, k->len);
	}
	int r = hfc_tar_writer_add(tw, "bases", table, m->nbases * rec, err);
	if (r >= 0)
		r = hfc_tar_writer_begin(tw, "delta", m->csize, err);
	if (r >= 0)
		r = copy_fd(tw, m->cfd, m->csize, m->wbuf, err);
	return r;
}

/* Block files that travel as they are, read again (immutable; size checked). */
static int write_raw(Maker *m, HfcTarWriter *tw, HfcErr *err)
{
	for (size_t i = 0; i < m->n_nblk; i++) {
		const Blk *k = &m->nblk[i];
		if (!k->raw)
			continue;
		int r = hfc_site_block_read(m->site, m->algo, k->hash, k->stored, m->wbuf);
		if (r < 0)
			return maker_block_err(m, err, r, k->hash, NULL);
		char p[HFC_BLOCK_PATH_MAX];
		hfc_block_path(m->algo, k->hash, p);
		r = hfc_tar_writer_add(tw, p, m->wbuf, k->stored, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_tar(Maker *m, HfcOutput *out, HfcErr *err)
{
	HfcBundleResult *res = m->res;
	_cleanup_free_ char *ibuf = NULL, *mbuf = NULL, *profile = NULL;
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
	r = format_manifest(m, ilen, plen, &mbuf, &mlen, err);
	if (r < 0)
		return r;

	_cleanup_(hfc_tar_writer_freep) HfcTarWriter *tw = NULL;
	r = hfc_tar_writer_new(out->fd, m->b->created, out->display, &tw, err);
	if (r >= 0)
		r = hfc_tar_writer_add(tw, "hfc-bundle", mbuf, mlen, err);
	if (r >= 0)
		r = hfc_tar_writer_add(tw, HFC_SITE_CURRENT, ibuf, ilen, err);
	if (r >= 0 && plen)
		r = hfc_tar_writer_add(tw, "profile", profile, plen, err);
	if (r >= 0 && !m->o->full)
		r = write_delta(m, tw, err);
	if (r >= 0)
		r = write_raw(m, tw, err);
	if (r >= 0)
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
	_cleanup_free_ Blk *v = NULL;
	size_t n = 0, cap = 0;
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		const HfcIndexEntry *e = &idx->entries[i];
		if (!e->stored || (skip && hfc_hashmap_get(skip, e->hash, NULL)))
			continue;
		int r = hfc_hashmap_put(seen, e->hash, n, NULL);
		if (r <= 0) {
			if (r < 0)
				return r;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			Blk *nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				return -ENOMEM;
			v = nv;
		}
		Blk *k = &v[n++];
		*k = (Blk){ .stored = e->stored, .len = (uint32_t)hfc_index_block_len(idx, i) };
		memcpy(k->hash, e->hash, HFC_HASH_MAX);
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* The blocks to carry, and every worker's buffers. */
static int maker_init(Maker *m, HfcErr *err)
{
	_cleanup_(hfc_hashmap_freep) HfcHashMap *aset = NULL, *bset = NULL;
	bool full = m->o->full;
	int r = hfc_hashmap_new(m->hl, &aset);
	if (r >= 0)
		r = hfc_hashmap_new(m->hl, &bset);
	if (r >= 0 && !full)
		r = collect(m->a, NULL, aset, &m->ablk, &m->n_ablk);
	if (r >= 0)
		r = collect(m->b, full ? NULL : aset, bset, &m->nblk, &m->n_nblk);
	m->ws = calloc(m->jobs, sizeof(*m->ws));
	m->werr = calloc(m->jobs, sizeof(*m->werr));
	m->wbuf = malloc(MAX((size_t)MAKER_WBUF_SIZE, hfc_codec_bound(m->bs)));
	if (r < 0 || !m->ws || !m->werr || !m->wbuf)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	size_t ncache = MAX((size_t)4, (size_t)ACACHE_BYTES / m->bs);
	for (unsigned j = 0; j < m->jobs; j++) {
		MWorker *w = &m->ws[j];
		w->stored = malloc(hfc_codec_bound(m->bs));
		w->cmp = malloc(hfc_codec_bound(m->bs));
		w->abuf = malloc(hfc_codec_bound(m->bs));
		w->fin = malloc(HFC_DELTA_FRAME_TARGET);
		w->cache = calloc(ncache, sizeof(*w->cache));
		w->ncache = ncache;
		if (!w->stored || !w->cmp || !w->abuf || !w->fin || !w->cache ||
		    hfc_codec_new(HFC_LEVEL_DEFAULT, &w->codecs[0]) < 0)
			return hfc_err_set(err, -ENOMEM, "out of memory");
		for (size_t i = 0; i < ncache; i++)
			w->cache[i].blk = UINT64_MAX;
	}
	return 0;
}

static void maker_free(Maker *m)
{
	for (unsigned j = 0; m->ws && j < m->jobs; j++) {
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

/* The stream and its frames, next to the output (or in TMPDIR for stdout). */
static int open_stream_files(Maker *m, int dirfd, HfcErr *err)
{
	m->lfd = open_tmp(dirfd);
	m->cfd = m->lfd >= 0 ? open_tmp(dirfd) : -1;
	int r = m->lfd < 0 ? m->lfd : m->cfd;
	if (r < 0)
		return hfc_err_set(err, r, "cannot make a temporary file: %s", strerror(-r));
	return 0;
}

/* Every pass, then the tar, into out; commits it. */
static int make(Maker *m, const char *out_path, HfcErr *err)
{
	HfcOutput out = { .fd = -1, .dirfd = -1 };
	int r = hfc_output_open(out_path, &out);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", out_path, strerror(-r));
	bool delta = !m->o->full;
	if (delta) {
		r = maker_map_pages(m, err);
		if (r >= 0)
			r = open_stream_files(m, out.dirfd, err);
	}
	if (r >= 0)
		r = maker_recipes(m, err);
	if (r >= 0 && delta)
		r = make_frames(m, err);
	if (r >= 0)
		r = write_tar(m, &out, err);
	if (r < 0)
		goto out;
	/* On a pipe the archive's own count is the size; a file's end is its size. */
	off_t size = out.fd == STDOUT_FILENO ? (off_t)m->res->bundle_bytes
					     : lseek(out.fd, 0, SEEK_CUR);
	if (size < 0) {
		r = hfc_err_set(err, negative_errno(), "%s: %s", out.display, strerror(errno));
		goto out;
	}
	m->res->bundle_bytes = (uint64_t)size;
	r = hfc_output_commit(&out, (uint64_t)size);
	if (r < 0)
		r = hfc_err_set(err, r, "%s: %s", out.display, strerror(-r));
out:
	hfc_output_discard(&out);
	return r;
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
		.bs = b->block_size, .res = res, .lfd = -1, .cfd = -1, .progress = &o->progress,
	};
	m.pages_max = DIV_ROUND_UP(m.bs, HFC_PAGE_SIZE);
	m.jobs = o->jobs ? o->jobs : hfc_cpu_count();
	m.level = o->level ? o->level : HFC_DELTA_LEVEL_DEFAULT;
	int r;
	if (m.level < HFC_LEVEL_MIN || m.level > HFC_LEVEL_MAX)
		r = hfc_err_set(err, -EINVAL, "level %d is not 1 to 12", m.level);
	else
		r = maker_init(&m, err);
	if (r >= 0)
		r = make(&m, out_path, err);
	maker_free(&m);
	res->seconds = hfc_monotonic() - t0;
	return r;
}
