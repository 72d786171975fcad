/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Encoding ahead: while a tree build's writer (one thread) is still making the image, the site
 * blocks it is done with are hashed and compressed on a spare core, so the build that follows
 * has less left to do. The producer copies a finished block into a slot and queues it with its
 * generation (a count the producer bumps at every change of the block); the build takes a
 * result only for the same generation, and encodes everything else itself. The results are
 * exactly what the build would compute (same hash, same codec and level).
 *
 * Bounded: a few slots of one block each (no slot free: the producer skips the block), and the
 * results' compressed bytes up to a cap (then nothing more is taken). hfc_ahead_stop() waits
 * for the few blocks queued, which the build needs anyway.
 */

#include "base/digest.h"
#include "base/util.h"

typedef struct HfcAhead HfcAhead;

typedef struct HfcAheadBlock {
	bool zero;                   /* all zeros: no hash, no data */
	uint8_t hash[HFC_HASH_MAX];
	const uint8_t *data;         /* the compressed block (owned by the HfcAhead) */
	size_t len;
} HfcAheadBlock;

/* Starts the encoder thread for blocks of bs bytes. Returns 0 or -errno. */
int hfc_ahead_new(uint32_t bs, HfcHashAlgo algo, int level, HfcAhead **ret);

/* A free slot of bs bytes to copy a block into, or NULL (all busy, or the cap is reached). */
uint8_t *hfc_ahead_slot(HfcAhead *a);

/* Queues the slot, holding block i's len bytes at generation gen. */
void hfc_ahead_queue(HfcAhead *a, uint8_t *slot, uint64_t i, uint32_t gen, size_t len);

/* Gives a slot back unused. */
void hfc_ahead_drop(HfcAhead *a, uint8_t *slot);

/* Stops the encoder once the blocks queued are encoded (a few at most); takes no more. */
void hfc_ahead_stop(HfcAhead *a);

/* After hfc_ahead_stop(): block i's result for generation gen, if there is one (thread-safe). */
bool hfc_ahead_take(const HfcAhead *a, uint64_t i, uint32_t gen, HfcAheadBlock *out);

/* Blocks encoded; stops first if needed. */
uint64_t hfc_ahead_count(const HfcAhead *a);

/* Stops and frees; NULL is fine. */
void hfc_ahead_free(HfcAhead *a);
