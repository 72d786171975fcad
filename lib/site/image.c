/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/image.h"

#include "base/pipeline.h"
#include "base/progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct HfcSiteReader {
	HfcSite *site;
	const HfcIndex *idx;
	unsigned jobs;
	HfcCodec **codecs;
	uint8_t **stored;
};

int hfc_site_reader_new(HfcSite *site, const HfcIndex *idx, unsigned jobs, HfcSiteReader **ret)
{
	HfcSiteReader *sr = calloc(1, sizeof(*sr));
	if (!sr)
		return -ENOMEM;
	sr->site = site;
	sr->idx = idx;
	sr->jobs = jobs;
	sr->codecs = calloc(jobs, sizeof(*sr->codecs));
	sr->stored = calloc(jobs, sizeof(*sr->stored));
	if (!sr->codecs || !sr->stored) {
		hfc_site_reader_free(sr);
		return -ENOMEM;
	}
	for (unsigned j = 0; j < jobs; j++) {
		sr->stored[j] = malloc(hfc_codec_bound(idx->block_size));
		if (!sr->stored[j] || hfc_codec_new(HFC_LEVEL_DEFAULT, &sr->codecs[j]) < 0) {
			hfc_site_reader_free(sr);
			return -ENOMEM;
		}
	}
	*ret = sr;
	return 0;
}

void hfc_site_reader_free(HfcSiteReader *sr)
{
	if (!sr)
		return;
	for (unsigned j = 0; j < sr->jobs; j++) {
		if (sr->codecs)
			hfc_codec_free(sr->codecs[j]);
		if (sr->stored)
			free(sr->stored[j]);
	}
	free(sr->codecs);
	free(sr->stored);
	free(sr);
}

int hfc_site_reader_block(void *ctx, unsigned worker, uint64_t i, void *out, HfcErr *err)
{
	HfcSiteReader *sr = ctx;
	const HfcIndexEntry *e = &sr->idx->entries[i];
	char p[HFC_BLOCK_PATH_MAX];
	hfc_block_path(sr->idx->hash, e->hash, p);
	int r = hfc_site_block_read(sr->site, sr->idx->hash, e->hash, e->stored, sr->stored[worker]);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s: %s", hfc_site_path(sr->site), p,
				   r == -ENOENT	  ? "missing block file"
				   : r == -EBADMSG ? "block file has the wrong size"
						   : strerror(-r));
	r = hfc_block_decode_verified(sr->codecs[worker], sr->idx->hash, e->hash,
				      sr->stored[worker], e->stored, out,
				      hfc_index_block_len(sr->idx, i));
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s (block %" PRIu64 "): %s", hfc_site_path(sr->site),
				   p, i,
				   r == -EBADMSG ? "does not match its name (corrupt block file)"
						 : strerror(-r));
	return 0;
}

typedef struct Writer {
	const HfcIndex *idx;
	HfcBlockFn get;
	void *ctx;
	HfcOutput *out;
	uint8_t *zeros;
	HfcErr *errs; /* one per worker: the first failing one is reported */
	HfcErr sink_err;
	const HfcProgress *progress;
	uint64_t total;
} Writer;

static int write_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	Writer *w = ctx;
	if (w->idx->entries[i].stored == 0)
		return 0;
	return w->get(w->ctx, worker, i, slot, &w->errs[worker]);
}

static int write_sink(void *ctx, uint64_t i, void *slot)
{
	Writer *w = ctx;
	const HfcIndexEntry *e = &w->idx->entries[i];
	size_t len = hfc_index_block_len(w->idx, i);
	uint64_t off = i * w->idx->block_size;
	int r = 0;
	if (w->out->seekable) {
		/* Zero blocks stay holes: the file is sized at commit. */
		if (e->stored)
			r = hfc_pwrite_all(w->out->fd, slot, len, (off_t)off);
	} else {
		r = hfc_write_all(w->out->fd, e->stored ? slot : w->zeros, len);
	}
	if (r < 0)
		return hfc_err_set(&w->sink_err, r, "%s: %s", w->out->display, strerror(-r));
	hfc_progress(w->progress, "image", off + len, w->total);
	return 0;
}

int hfc_image_write(const HfcIndex *idx, HfcBlockFn get, void *ctx, HfcOutput *out, unsigned jobs,
		    const HfcProgress *progress, HfcErr *err)
{
	if (jobs == 0)
		jobs = hfc_cpu_count();
	Writer w = { .idx = idx, .get = get, .ctx = ctx, .out = out };
	w.errs = calloc(jobs, sizeof(*w.errs));
	w.zeros = calloc(1, idx->block_size);
	if (!w.errs || !w.zeros) {
		free(w.errs);
		free(w.zeros);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	/* Bound the window's memory for large block sizes: at most ~256 MiB of slots. */
	unsigned window = jobs * 4;
	unsigned cap = (unsigned)MAX((size_t)2, ((size_t)256 << 20) / idx->block_size);
	window = MAX(MIN(window, cap), jobs);
	w.progress = progress;
	w.total = idx->image_size;
	int r = hfc_pipeline_run(idx->nblocks, jobs, window, idx->block_size, write_work, write_sink,
				 &w);
	if (r < 0) {
		const HfcErr *e = w.sink_err.msg[0] ? &w.sink_err : NULL;
		for (unsigned j = 0; !e && j < jobs; j++)
			if (w.errs[j].msg[0])
				e = &w.errs[j];
		if (e && err)
			*err = *e;
		else
			hfc_err_set(err, r, "%s", strerror(-r));
	}
	free(w.errs);
	free(w.zeros);
	return r;
}
