/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A map from block hashes (fixed length per map) to a 64-bit value: open addressing, keyed by
 * the hash's own bytes (they are already uniformly distributed). Not thread-safe.
 */

#include "base/digest.h"
#include "base/util.h"

typedef struct HfcHashMap HfcHashMap;

/* Makes an empty map for keys of key_len bytes (16 or 32); returns 0 or -ENOMEM. */
int hfc_hashmap_new(size_t key_len, HfcHashMap **ret);

/* Frees a map; NULL is fine. */
void hfc_hashmap_free(HfcHashMap *m);

static inline void hfc_hashmap_freep(HfcHashMap **m)
{
	hfc_hashmap_free(*m);
}

/*
 * Looks key up; when missing, inserts it with value `value`. Returns 1 when inserted, 0 when it
 * was there (*ret_value then holds the stored value; may be NULL), or -ENOMEM.
 */
int hfc_hashmap_put(HfcHashMap *m, const uint8_t *key, uint64_t value, uint64_t *ret_value);

/* Replaces the value of a present key; returns 0 or -ENOENT. */
int hfc_hashmap_set(HfcHashMap *m, const uint8_t *key, uint64_t value);

/* Returns 1 and the value when key is present, else 0. */
int hfc_hashmap_get(const HfcHashMap *m, const uint8_t *key, uint64_t *ret_value);

/* Returns the number of keys. */
size_t hfc_hashmap_size(const HfcHashMap *m);

/* Iterates: start with *iter = 0; returns true and the next key and value, false at the end. */
bool hfc_hashmap_next(const HfcHashMap *m, size_t *iter, const uint8_t **ret_key,
		      uint64_t *ret_value);

/* Removes key; returns 1 when it was there, else 0. */
int hfc_hashmap_remove(HfcHashMap *m, const uint8_t *key);
