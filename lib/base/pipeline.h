/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An ordered parallel map: `jobs` threads run work(i) for i = 0..n-1 into a window of slots,
 * and the calling thread runs sink(i) strictly in order. At most `window` items are in flight,
 * so memory is window * slot_size whatever n is.
 */

#include "base/util.h"

/* Produces item i into slot (worker is 0..jobs-1, for per-thread state); returns >= 0 or -errno. */
typedef int (*HfcWorkFn)(void *ctx, unsigned worker, uint64_t i, void *slot);

/* Consumes item i in order on the calling thread; returns >= 0 or -errno. */
typedef int (*HfcSinkFn)(void *ctx, uint64_t i, void *slot);

/*
 * Runs the map. The first error (from work or sink) stops everything and is returned; items not
 * yet started are not started. sink may be NULL. Returns 0 or -errno.
 */
int hfc_pipeline_run(uint64_t n, unsigned jobs, unsigned window, size_t slot_size, HfcWorkFn work,
		     HfcSinkFn sink, void *ctx);

/* Returns the number of online CPUs (at least 1). */
unsigned hfc_cpu_count(void);
