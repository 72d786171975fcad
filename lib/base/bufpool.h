/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A pool of buffers of one size, for the bytes of blocks that come and go. A buffer taken from
 * the pool lands in pages already mapped: a fresh large allocation costs a page fault per page
 * on first write (64 for a 256 KiB block), and a sequential read of a remote image spent more
 * time in those faults than in decoding. Fresh large buffers are mapped with their pages at
 * once (MAP_POPULATE). The pool keeps at most `keep` free buffers; the rest are freed.
 */

#include "base/util.h"

#include <pthread.h>

typedef struct HfcBufPool {
	pthread_mutex_t lock;
	size_t size;  /* bytes of every buffer */
	bool mapped;  /* buffers are mmap()ed (large sizes), else malloc()ed */
	void **free;  /* the free buffers, a stack */
	size_t nfree, keep;
	uint64_t fresh; /* buffers made, for tests */
} HfcBufPool;

/* Makes an empty pool of buffers of size bytes (at least 1) keeping up to keep free; 0 or -errno. */
int hfc_bufpool_init(HfcBufPool *p, size_t size, size_t keep);

/* A buffer of the pool's size (a free one, else a fresh one), or NULL when out of memory. */
void *hfc_bufpool_get(HfcBufPool *p);

/* Gives a buffer from hfc_bufpool_get back (NULL: nothing); freed when the pool has enough. */
void hfc_bufpool_put(HfcBufPool *p, void *b);

/* Frees the free buffers and the pool's own memory (none for a zeroed pool never made);
 * every buffer must have come back. */
void hfc_bufpool_destroy(HfcBufPool *p);
