/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the reader, the maker and the applier of bundles; not a public API. */

#include "delta/delta.h"

#include <string.h>

/* The ops of a recipe, one per page (docs/FORMAT.md §12.6). */
enum {
	DELTA_OP_ZERO = 0,   /* a page of zeros */
	DELTA_OP_COPY = 1,   /* u32 base, u16 page: a page of a base block */
	DELTA_OP_NEXT = 2,   /* the page after the last copied one, same base */
	DELTA_OP_LIT = 3,    /* the page's bytes follow */
	DELTA_OP_REPEAT = 4, /* u16 d: the d-th most recent literal page again */
};

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t get_u16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void put_u16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Returns the length of page p of a block of len bytes (only the last page can be short). */
static inline size_t delta_page_len(size_t len, uint32_t p)
{
	return MIN((size_t)HFC_PAGE_SIZE, len - (size_t)p * HFC_PAGE_SIZE);
}

/*
 * After a failed pipeline run (base/pipeline.h) that stopped with r: reports the first message
 * recorded by `first` (may be NULL), then the sink, then the workers in order; strerror(r) when
 * none has one. Returns r.
 */
static inline int delta_pipeline_err(int r, const HfcErr *first, const HfcErr *sink,
				     const HfcErr *werr, unsigned jobs, HfcErr *err)
{
	const HfcErr *e = first && first->msg[0] ? first : sink->msg[0] ? sink : NULL;
	for (unsigned j = 0; !e && j < jobs; j++)
		if (werr[j].msg[0])
			e = &werr[j];
	if (e && err)
		*err = *e;
	else
		hfc_err_set(err, r, "%s", strerror(-r));
	return r;
}
