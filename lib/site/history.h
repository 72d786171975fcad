/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A site's history: what changed between two versions, rolling back to an older version (as a
 * new one), and pruning old versions and the block files only they named.
 */

#include "base/hashset.h"
#include "formats/index.h"
#include "site/store.h"

/* ---- diff ---- */

typedef struct HfcDiffResult {
	uint64_t blocks_a, blocks_b;
	uint64_t changed;    /* block positions whose content differs, or that one side lacks */
	uint64_t new_blocks; /* distinct block files of B that A and every older version lack */
	uint64_t new_bytes;  /* their stored bytes */
	uint64_t stored_b;   /* stored bytes of all of B's distinct block files */
	bool same;           /* same image size and the same block list */
} HfcDiffResult;

/* Receives each new block file, in the order B first names them; returns >= 0 or -errno. */
typedef int (*HfcDiffNewFn)(void *userdata, const uint8_t *hash, uint32_t stored);

/*
 * Adds to `known` the block names of every version of s older than `before` (all when 0).
 * Returns 0 or -errno with err filled.
 */
int hfc_site_names_before(HfcSite *s, uint32_t before, HfcHashMap *known, HfcErr *err);

/*
 * Compares a and b (same block size and hash, else -EINVAL). Names in `known` (and a's, which
 * are added to it) count as not new; fn (may be NULL) sees each new block file. Returns 0 or
 * -errno.
 */
int hfc_diff(const HfcIndex *a, const HfcIndex *b, HfcHashMap *known, HfcDiffNewFn fn,
	     void *userdata, HfcDiffResult *res);

/* ---- rollback ---- */

typedef struct HfcRollbackResult {
	uint32_t target;  /* the version rolled back to */
	uint32_t from;    /* the version that was current */
	uint32_t version; /* the new version published */
	uint64_t blocks;
} HfcRollbackResult;

/*
 * Publishes a new version (newest + 1) whose blocks are version `target`'s, labelled
 * "rollback to N", under the site's exclusive lock, once every block file it names is checked
 * to be there. Returns 0 or -errno with err filled; on failure the site is unchanged.
 */
int hfc_site_rollback(HfcSite *s, uint32_t target, HfcRollbackResult *res, HfcErr *err);

/* ---- prune ---- */

typedef struct HfcPruneOptions {
	uint32_t keep;      /* keep the newest `keep` versions (0: only --keep-since counts) */
	bool since_set;
	int64_t since;      /* also keep every version created at or after this time */
	bool yes;           /* delete; otherwise only report what would go */
} HfcPruneOptions;

typedef struct HfcPruneResult {
	uint32_t current;
	uint32_t *kept, *removed; /* versions, ascending (owned; hfc_prune_result_done) */
	size_t n_kept, n_removed;
	uint64_t blocks_removed, block_bytes; /* block files no kept version names */
	uint64_t index_bytes;                 /* indexes (and profiles) of removed versions */
	uint64_t blocks_kept, kept_bytes;
	bool deleted; /* false for a dry run */
} HfcPruneResult;

/*
 * Prunes the site: removes the indexes of versions that are neither among the `keep` newest,
 * nor created since `since`, nor current, then every block file no kept version names. Without
 * o->yes, only fills res. Takes the site's lock (exclusive to delete, shared for a dry run).
 * Indexes go before blocks, so an interrupted prune leaves only orphans, which the next prune
 * removes. Returns 0 or -errno with err filled.
 */
int hfc_site_prune(HfcSite *s, const HfcPruneOptions *o, HfcPruneResult *res, HfcErr *err);

/* Frees what a prune result owns. */
void hfc_prune_result_done(HfcPruneResult *res);
