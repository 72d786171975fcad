/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "image.h"

#include "pipeline.h"
#include "progress.h"

#include <stdio.h>
#include <string.h>

typedef struct Writer {
	const HfcIndex *idx;
	HfcFetchFn fetch;
	void *ctx;
	HfcOutput *out;
	HfcCodec **codecs;
	uint8_t **stored;
	uint8_t *zeros;
	HfcErr *errs; /* one per worker: the first failing one is reported */
	HfcErr sink_err;
	HfcProgress progress;
} Writer;

int hfc_site_fetch(void *ctx, unsigned worker, HfcHashAlgo algo, const uint8_t *hash,
		   uint32_t stored, void *buf, HfcErr *err)
{
	(void)worker;
	HfcSite *s = ctx;
	int r = hfc_site_block_read(s, algo, hash, stored, buf);
	if (r < 0) {
		char p[HFC_BLOCK_PATH_MAX];
		hfc_block_path(algo, hash, p);
		return hfc_err_set(err, r, "%s/%s: %s", hfc_site_path(s), p,
				   r == -ENOENT	  ? "missing block file"
				   : r == -EBADMSG ? "block file has the wrong size"
						   : strerror(-r));
	}
	return 0;
}

static int write_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	Writer *w = ctx;
	const HfcIndexEntry *e = &w->idx->entries[i];
	if (e->stored == 0)
		return 0;
	HfcErr *err = &w->errs[worker];
	int r = w->fetch(w->ctx, worker, w->idx->hash, e->hash, e->stored, w->stored[worker], err);
	if (r < 0)
		return r;
	r = hfc_block_decode_verified(w->codecs[worker], w->idx->hash, e->hash, w->stored[worker],
				      e->stored, slot, hfc_index_block_len(w->idx, i));
	if (r < 0) {
		char p[HFC_BLOCK_PATH_MAX];
		hfc_block_path(w->idx->hash, e->hash, p);
		return hfc_err_set(err, r, "block %llu (%s): %s", (unsigned long long)i, p,
				   r == -EBADMSG ? "does not match its name (corrupt block file)"
						 : strerror(-r));
	}
	return 0;
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
	hfc_progress_update(&w->progress, off + len);
	return 0;
}

int hfc_image_write(const HfcIndex *idx, HfcFetchFn fetch, void *ctx, HfcOutput *out,
		    unsigned jobs, bool progress, const char *what, HfcErr *err)
{
	if (jobs == 0)
		jobs = hfc_cpu_count();
	Writer w = { .idx = idx, .fetch = fetch, .ctx = ctx, .out = out };
	int r = -ENOMEM;
	w.codecs = calloc(jobs, sizeof(*w.codecs));
	w.stored = calloc(jobs, sizeof(*w.stored));
	w.errs = calloc(jobs, sizeof(*w.errs));
	w.zeros = calloc(1, idx->block_size);
	if (!w.codecs || !w.stored || !w.errs || !w.zeros)
		goto out;
	for (unsigned j = 0; j < jobs; j++) {
		if (hfc_codec_new(HFC_LEVEL_DEFAULT, &w.codecs[j]) < 0)
			goto out;
		w.stored[j] = malloc(hfc_codec_bound(idx->block_size));
		if (!w.stored[j])
			goto out;
	}
	/* Bound the window's memory for large block sizes: at most ~256 MiB of slots. */
	unsigned window = jobs * 4;
	unsigned cap = (unsigned)MAX((size_t)2, ((size_t)256 << 20) / idx->block_size);
	window = MAX(MIN(window, cap), jobs);
	hfc_progress_start(&w.progress, what, idx->image_size, progress);
	r = hfc_pipeline_run(idx->nblocks, jobs, window, idx->block_size, write_work, write_sink,
			     &w);
	hfc_progress_end(&w.progress);
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
out:
	if (r == -ENOMEM)
		hfc_err_set(err, r, "out of memory");
	for (unsigned j = 0; j < jobs && w.codecs; j++) {
		hfc_codec_free(w.codecs[j]);
		if (w.stored)
			free(w.stored[j]);
	}
	free(w.codecs);
	free(w.stored);
	free(w.errs);
	free(w.zeros);
	return r;
}
