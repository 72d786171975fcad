/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Pages by content, for the maker: a fast 64-bit key of a page, and a compact open-addressing
 * map from keys to a 64-bit value, 16 bytes a slot, so the map of a 1 GiB image's 262144 pages
 * takes 8 MiB. A key is not a checksum: a hit is only a candidate, and the caller compares the
 * bytes.
 */

#include "base/util.h"

/* Returns a fast, non-cryptographic 64-bit hash of len bytes (a map key, always verified). */
uint64_t hfc_page_key(const void *data, size_t len);

typedef struct HfcPageSlot {
	uint64_t key, val;
} HfcPageSlot;

typedef struct HfcPageMap {
	HfcPageSlot *e;
	size_t cap, n;
} HfcPageMap;

/* Makes an empty map sized for max_entries (it grows past them); returns 0 or -ENOMEM. */
int hfc_page_map_init(HfcPageMap *m, uint64_t max_entries);

/* Frees the map's slots; a zeroed map is fine. */
void hfc_page_map_done(HfcPageMap *m);

/* Returns true and the value of key, or false when the map has no such key. */
bool hfc_page_map_get(const HfcPageMap *m, uint64_t key, uint64_t *ret);

/*
 * Inserts key with val (any value but UINT64_MAX) or, with replace, updates it. Returns 1
 * inserted, 0 present, or -ENOMEM.
 */
int hfc_page_map_put(HfcPageMap *m, uint64_t key, uint64_t val, bool replace);
