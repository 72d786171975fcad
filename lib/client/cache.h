/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The client's disk cache of block files: DIR/blocks/ab/<name>, the same layout as a site,
 * bounded in size. Past the high-water mark it evicts least-recently-used files down to the
 * low-water mark. Files enter by temporary name + rename; every file read back is verified by
 * the caller, so a damaged one is dropped, never used.
 */

#include "base/digest.h"
#include "base/util.h"

typedef struct HfcCache HfcCache;

/* Opens (creating) the cache at dir and indexes the files already there; -errno with err. */
int hfc_cache_open(const char *dir, uint64_t size, unsigned high_pct, unsigned low_pct,
		   HfcHashAlgo algo, HfcCache **ret, HfcErr *err);

/* Frees the cache; NULL is fine. */
void hfc_cache_free(HfcCache *c);

/* Reads the stored block into buf (exactly `stored` bytes); returns 0, -ENOENT, or -errno. */
int hfc_cache_get(HfcCache *c, const uint8_t *hash, uint32_t stored, void *buf);

/* Adds a block file (evicting as needed); returns 0 or -errno. Thread-safe. */
int hfc_cache_put(HfcCache *c, const uint8_t *hash, const void *data, size_t len);

/* Removes a block file that failed verification. */
void hfc_cache_drop(HfcCache *c, const uint8_t *hash);

/* Reports the cache's bytes and files now, and how many files were evicted so far. */
void hfc_cache_usage(HfcCache *c, uint64_t *ret_bytes, uint64_t *ret_files, uint64_t *ret_evicted);

/* Saves an index file (by name: "index.idx" or "NNNNNN.idx") for offline use; -errno. */
int hfc_cache_put_index(HfcCache *c, const char *name, const void *data, size_t len);

/* Loads a saved index file; returns 0 or -errno (-ENOENT when never saved). */
int hfc_cache_get_index(HfcCache *c, const char *name, size_t max, char **ret, size_t *ret_len);
