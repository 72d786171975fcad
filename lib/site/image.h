/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Rebuilding an image from its index: blocks produced in parallel, written in order. The
 * producer is a callback that returns a block's decoded, verified bytes, so a local site and a
 * set of HTTP mirrors share this code.
 */

#include "base/fileio.h"
#include "base/progress.h"
#include "formats/index.h"
#include "site/store.h"

/*
 * Puts block i's uncompressed bytes (hfc_index_block_len), checked against its name, into out.
 * Called only for non-zero blocks; worker is 0..jobs-1. Returns 0 or -errno with err filled.
 */
typedef int (*HfcBlockFn)(void *ctx, unsigned worker, uint64_t i, void *out, HfcErr *err);

/* A block producer reading a local site. */
typedef struct HfcSiteReader HfcSiteReader;

/* Makes a reader of idx's blocks from site for up to `jobs` workers; -errno. */
int hfc_site_reader_new(HfcSite *site, const HfcIndex *idx, unsigned jobs, HfcSiteReader **ret);

/* Frees a reader; NULL is fine. */
void hfc_site_reader_free(HfcSiteReader *sr);

static inline void hfc_site_reader_freep(HfcSiteReader **sr)
{
	hfc_site_reader_free(*sr);
}

/* The HfcBlockFn of a site reader (ctx is the HfcSiteReader). */
int hfc_site_reader_block(void *ctx, unsigned worker, uint64_t i, void *out, HfcErr *err);

/*
 * Writes the image that idx describes to out with `jobs` producers. Returns 0 or -errno with
 * err filled ("block N (name): what").
 */
int hfc_image_write(const HfcIndex *idx, HfcBlockFn get, void *ctx, HfcOutput *out, unsigned jobs,
		    const HfcProgress *progress, HfcErr *err);
