/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The client's disk cache of block files: DIR/blocks/ab/<name>, the same layout as a site, and
 * the indexes and profiles it was given in DIR/indexes/, bounded in size together. Past the
 * high-water mark it evicts least-recently-used block files down to the low-water mark. Files
 * enter by temporary name + rename; every file read back is verified by the caller, so a
 * damaged one is dropped, never used. The cache is private (its directories 0700, files 0600;
 * DIR itself 0700 when the cache makes it), and no path in it is followed through a symbolic
 * link.
 */

#include "base/digest.h"
#include "base/util.h"

typedef struct HfcCache HfcCache;

/*
 * Opens (creating) the cache at dir and indexes the files already there. Returns 0 or -errno
 * with err filled: -ELOOP (or -ENOTDIR) when a symbolic link stands anywhere in the cache, which
 * never makes one.
 */
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

/*
 * Reports the cache's bytes now (block files, indexes and profiles: what the bound counts), its
 * block files, and how many block files were evicted so far.
 */
void hfc_cache_usage(HfcCache *c, uint64_t *ret_bytes, uint64_t *ret_files, uint64_t *ret_evicted);

/*
 * Saves an index or profile file (by name: "index.idx", "NNNNNN.idx" or "NNNNNN.prof") for
 * offline use, counted against the bound. Returns 0, -EFBIG when the indexes alone would then
 * be over the high-water mark, or -errno.
 */
int hfc_cache_put_index(HfcCache *c, const char *name, const void *data, size_t len);

/* Loads a saved index file; returns 0 or -errno (-ENOENT when never saved). */
int hfc_cache_get_index(HfcCache *c, const char *name, size_t max, char **ret, size_t *ret_len);
