/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The version floor (docs/SECURITY.md): per site identity, the highest version a client has
 * accepted, kept in a state directory (mode 0700, one file per identity, mode 0600). A signed
 * site's identities are its trusted keys' ids ("key:<hex>"), an unsigned site's its first
 * mirror's URL without credentials ("url:<url>"). The floor is read before an index is taken and
 * raised only after the index passed every check.
 */

#include "base/util.h"

typedef struct HfcFloor HfcFloor;

/* Opens (creating, 0700) the state directory dir; returns 0 or -errno with err filled. */
int hfc_floor_open(const char *dir, HfcFloor **ret, HfcErr *err);

/* Closes it; NULL is fine. */
void hfc_floor_free(HfcFloor *f);

static inline void hfc_floor_freep(HfcFloor **f)
{
	hfc_floor_free(*f);
}

/*
 * Returns the highest version recorded for any of the n identities (0: none), or -errno with
 * err filled when a state file is unreadable or damaged.
 */
int64_t hfc_floor_get(HfcFloor *f, const char *const *ids, size_t n, HfcErr *err);

/*
 * Raises the floor of every identity to v (never lowers one), each file atomically. Returns 0
 * or -errno with err filled.
 */
int hfc_floor_raise(HfcFloor *f, const char *const *ids, size_t n, uint32_t v, HfcErr *err);
