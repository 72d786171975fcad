/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Checking a whole site: every version's index, every block file they name, and orphans. */

#include "base/hashset.h"
#include "base/progress.h"
#include "site/store.h"

/* Signatures to check besides blocks (none when nkeys is 0). */
typedef struct HfcVerifyKeys {
	HfcKey *const *keys; /* trusted public keys */
	size_t nkeys;
	int64_t now;	     /* expiry is judged at this time */
} HfcVerifyKeys;

typedef struct HfcVerifyResult {
	uint32_t versions;
	uint32_t signed_ok;   /* versions whose signature holds (with keys) */
	uint64_t blocks_checked, bytes_checked;
	uint64_t faults;
	uint64_t orphans, orphan_bytes;
} HfcVerifyResult;

/* Receives one finding: fault (the site is broken) or a note (an orphan, a stray file). */
typedef void (*HfcReportFn)(void *userdata, bool fault, const char *msg);

/*
 * Verifies the site: each index parses and is what its name says, index.idx is the newest
 * version byte for byte, each block file named by any version exists, has its stored size,
 * decompresses and matches its name; block files that no version names are reported as notes.
 * With keys (may be NULL), every version must be signed by a trusted key and hold; an expired
 * signature is a fault on the current version and a note on older ones.
 * Returns 0 when it ran (res->faults says what it found), or -errno when it could not.
 */
int hfc_site_verify(HfcSite *s, unsigned jobs, const HfcVerifyKeys *keys,
		    const HfcProgress *progress, HfcReportFn report, void *userdata,
		    HfcVerifyResult *res);

/*
 * Counts the distinct block files idx names that are not in `before` (and their stored bytes),
 * then adds them to `before`. Returns 0 or -ENOMEM.
 */
int hfc_index_account(const HfcIndex *idx, HfcHashMap *before, uint64_t *ret_new_blocks,
		      uint64_t *ret_new_bytes);
