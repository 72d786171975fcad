/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * DLAHEAD profiles: the ordered list of blocks a boot (or any workload) reads, made from one or
 * more traces, stored per version as profiles/NNNNNN.prof. A strict text format
 * (docs/FORMAT.md §10): block numbers with the names they have at the profile's version.
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
#define HFC_TRACE_MAX_BYTES ((size_t)1 << 30)

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

/* Returns the version a client trace's header names, or 0 (no header, another format). */
uint32_t hfc_trace_version(const char *buf, size_t len);

/* One trace: the blocks a run read, each with the time of its first read (seconds). */
typedef struct HfcTraceRun {
	size_t n;
	uint64_t *blocks;
	double *first;
} HfcTraceRun;

typedef enum HfcTraceFormat {
	HFC_TRACE_AUTO,
	HFC_TRACE_CLIENT,   /* hfc-mount --trace */
	HFC_TRACE_BLKPARSE, /* blkparse's default output of a loop device's trace */
	HFC_TRACE_SECTORS,  /* "sector count" per line, 512-byte sectors, in read order */
} HfcTraceFormat;

/* Parses "auto", "client", "blkparse" or "sectors"; 0 or -EINVAL. */
int hfc_trace_format_from_name(const char *s, HfcTraceFormat *ret);

/*
 * Parses a trace of any format into a run for an image of image_size bytes in blocks of
 * block_size (a client trace must say the same). *ret_version is the version a client trace
 * names, else 0. Returns 0 or -EBADMSG with "fname:line: what".
 */
int hfc_trace_parse(const char *buf, size_t len, const char *fname, HfcTraceFormat fmt,
		    uint64_t image_size, uint32_t block_size, HfcTraceRun *ret,
		    uint32_t *ret_version, HfcErr *err);

/* Frees a run's arrays. */
void hfc_trace_run_done(HfcTraceRun *run);

/*
 * Merges runs into a profile of idx's version: blocks read in at least min_share of the runs,
 * ordered by their median first-read time; zero blocks left out. 0 or -errno.
 */
int hfc_profile_from_runs(const HfcTraceRun *runs, size_t nruns, double min_share,
			  const HfcIndex *idx, HfcProfile **ret);
