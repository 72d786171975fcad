/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * DLAHEAD profiles: the ordered list of blocks a boot (or any workload) reads, made from one or
 * more traces (formats/trace.h), stored per version as profiles/NNNNNN.prof. A strict text
 * format (docs/FORMAT.md §10): block numbers with the names they have at the profile's version.
 */

#include "formats/index.h"
#include "base/util.h"

typedef struct HfcProfileEntry {
	uint64_t block;
	uint8_t hash[HFC_HASH_MAX];
} HfcProfileEntry;

typedef struct HfcProfile {
	uint32_t version;
	uint64_t image_size;
	uint32_t block_size;
	HfcHashAlgo hash;
	size_t n;
	HfcProfileEntry *e; /* in fetch order */
} HfcProfile;

#define HFC_PROFILE_MAGIC "hfc-profile 1"

/* Frees a profile; NULL is fine. */
void hfc_profile_free(HfcProfile *p);

static inline void hfc_profile_freep(HfcProfile **p)
{
	hfc_profile_free(*p);
}

/* Parses a profile; returns 0 or -EBADMSG with "fname:line: what" in err, or -ENOMEM. */
int hfc_profile_parse(const char *buf, size_t len, const char *fname, HfcProfile **ret,
		      HfcErr *err);

/*
 * Returns the most bytes a profile of idx's image can have: its header, a line for each of the
 * image's blocks and the end line. A reader fetching the profile of a version bounds it so.
 */
size_t hfc_profile_max_bytes(const HfcIndex *idx);

/* Reads and parses a profile file; -errno with err filled. */
int hfc_profile_load(const char *path, HfcProfile **ret, HfcErr *err);

/* Serialises a profile (with its end line) into a new buffer; 0 or -errno. */
int hfc_profile_format(const HfcProfile *p, char **ret_buf, size_t *ret_len);

/*
 * Compares a profile with an index: -EINVAL (err filled) when the image size, block size or
 * hash differ (a profile of another image); else counts its blocks whose name is the index's
 * (same), differs (changed) or that are zero in the index (zero).
 */
int hfc_profile_match(const HfcProfile *p, const HfcIndex *idx, size_t *ret_same,
		      size_t *ret_changed, size_t *ret_zero, HfcErr *err);

/* Returns the stored bytes of p's blocks whose names are idx's: what a prefetch downloads. */
uint64_t hfc_profile_fetch_bytes(const HfcProfile *p, const HfcIndex *idx);

/*
 * Makes the profile for idx's version from p: same block numbers, the index's names; blocks
 * zero in idx are dropped. Returns 0 or -errno (-EINVAL with err when the geometry differs).
 */
int hfc_profile_carry(const HfcProfile *p, const HfcIndex *idx, HfcProfile **ret, HfcErr *err);

/*
 * Checks that p belongs to idx's image: the same geometry and at least half of its blocks'
 * names. Returns 0 (and the matching count) or -EINVAL with "display: what".
 */
int hfc_profile_check(const HfcProfile *p, const HfcIndex *idx, const char *display,
		      size_t *ret_same, HfcErr *err);
