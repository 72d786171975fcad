/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Traces: the block reads of runs of a workload, the raw input of a profile. Three formats are
 * read (docs/FORMAT.md §9 and §10.6): the client trace of hfc-mount --trace, blkparse's output
 * for a loop device, and plain "sector count" lines. Each becomes a run (the first-read time of
 * every block it read), and runs merge into a profile (formats/profile.h).
 */

#include "base/util.h"
#include "formats/index.h"
#include "formats/profile.h"

/* A trace file is at most this long. */
#define HFC_TRACE_MAX_BYTES ((size_t)1 << 30)

/* One trace: the blocks a run read, each with the time of its first read (seconds). */
typedef struct HfcTraceRun {
	size_t n;
	uint64_t *blocks; /* ascending */
	double *first;
} HfcTraceRun;

typedef enum HfcTraceFormat {
	HFC_TRACE_AUTO,
	HFC_TRACE_CLIENT,   /* hfc-mount --trace */
	HFC_TRACE_BLKPARSE, /* blkparse's default output of a loop device's trace */
	HFC_TRACE_SECTORS,  /* "sector count" per line, 512-byte sectors, in read order */
} HfcTraceFormat;

/* Parses "auto", "client", "blkparse" or "sectors"; returns 0 or -EINVAL. */
int hfc_trace_format_from_name(const char *s, HfcTraceFormat *ret);

/* Returns the version a client trace's header names, or 0 (no header, another format). */
uint32_t hfc_trace_version(const char *buf, size_t len);

/*
 * Parses a trace of any format into a run for an image of image_size bytes in blocks of
 * block_size (a client trace must say the same). *ret_version is the version a client trace
 * names, else 0. Returns 0, -EBADMSG with "fname:line: what", or -ENOMEM.
 */
int hfc_trace_parse(const char *buf, size_t len, const char *fname, HfcTraceFormat fmt,
		    uint64_t image_size, uint32_t block_size, HfcTraceRun *ret,
		    uint32_t *ret_version, HfcErr *err);

/* Frees a run's arrays and empties it. */
void hfc_trace_run_done(HfcTraceRun *run);

/*
 * Counts the blocks run read, leaving out those zero in idx (may be NULL: none left out), and
 * of those the ones p lists: how much of a run a profile would have fetched ahead. Returns 0 or
 * -ENOMEM.
 */
int hfc_trace_coverage(const HfcTraceRun *run, const HfcProfile *p, const HfcIndex *idx,
		       size_t *ret_read, size_t *ret_covered);

/*
 * Merges runs into a profile of idx's version: blocks read in at least min_share of the runs,
 * ordered by their median first-read time; zero blocks left out. Returns 0 or -ENOMEM.
 */
int hfc_profile_from_runs(const HfcTraceRun *runs, size_t nruns, double min_share,
			  const HfcIndex *idx, HfcProfile **ret);
