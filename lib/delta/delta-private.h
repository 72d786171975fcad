/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by delta.c (format, reader), delta-make.c and delta-apply.c; not a public API. */

#include "delta/delta.h"
#include "base/hashset.h"

#include <string.h>

/* The ops of a recipe, one per page (docs/FORMAT.md §12.6). */
enum {
	DELTA_OP_ZERO = 0,   /* a page of zeros */
	DELTA_OP_COPY = 1,   /* u32 base, u16 page: a page of a base block */
	DELTA_OP_NEXT = 2,   /* the page after the last copied one, same base */
	DELTA_OP_LIT = 3,    /* the page's bytes follow */
	DELTA_OP_REPEAT = 4, /* u16 d: the d-th most recent literal page again */
};

/* A record's fixed part: name, u32 length, u32 stored size, u8 level, sha256 of the file. */
#define DELTA_REC_FIXED(hl) ((hl) + 4 + 4 + 1 + 32)
/* A frame header: u32 compressed length, u32 inflated length. */
#define DELTA_FRAME_HDR 8

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

/*
 * A compact open-addressing map from page keys (hfc_page_key) to a 64-bit value: 16 bytes a
 * slot, so the map of a 1 GiB image's 262144 pages takes 8 MiB. A hit is only a candidate: the
 * caller compares the bytes.
 */
#define PAGE_MAP_EMPTY UINT64_MAX

typedef struct PageSlot {
	uint64_t key, val;
} PageSlot;

typedef struct PageMap {
	PageSlot *e;
	size_t cap, n;
} PageMap;

int page_map_init(PageMap *m, uint64_t max_entries);
void page_map_done(PageMap *m);
bool page_map_get(const PageMap *m, uint64_t key, uint64_t *ret);
/* Inserts key (or, with replace, updates it); returns 1 inserted, 0 present, or -ENOMEM. */
int page_map_put(PageMap *m, uint64_t key, uint64_t val, bool replace);
