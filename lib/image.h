/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Rebuilding an image from its index: blocks fetched and checked in parallel, written in order.
 * The source of stored blocks is a callback, so a local site and an HTTP mirror share the code.
 */

#include "fileio.h"
#include "index.h"
#include "store.h"

/*
 * Fetches the stored bytes of one block file (exactly `stored` bytes) into buf. worker is
 * 0..jobs-1 for per-thread state. Returns 0 or -errno with err filled.
 */
typedef int (*HfcFetchFn)(void *ctx, unsigned worker, HfcHashAlgo algo, const uint8_t *hash,
			  uint32_t stored, void *buf, HfcErr *err);

/* A fetch function for a local site; ctx is the HfcSite. */
int hfc_site_fetch(void *ctx, unsigned worker, HfcHashAlgo algo, const uint8_t *hash,
		   uint32_t stored, void *buf, HfcErr *err);

/*
 * Writes the image that idx describes to out, checking every block against its name.
 * Returns 0 or -errno with err filled ("block N (name): what").
 */
int hfc_image_write(const HfcIndex *idx, HfcFetchFn fetch, void *ctx, HfcOutput *out,
		    unsigned jobs, bool progress, const char *what, HfcErr *err);
