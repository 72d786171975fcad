/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Progress of long work, reported to the caller: the library never draws anything. A tool
 * passes a callback (programs/progress.h draws a bar on a terminal); NULL means nobody asks.
 */

#include "base/util.h"

/*
 * Called on the thread that runs the work, often (once per block): `what` names the phase
 * ("verify", "reading A"); done and total are in the phase's units (bytes or items).
 */
typedef void (*HfcProgressFn)(void *userdata, const char *what, uint64_t done, uint64_t total);

typedef struct HfcProgress {
	HfcProgressFn fn; /* NULL: no report */
	void *userdata;
} HfcProgress;

static inline void hfc_progress(const HfcProgress *p, const char *what, uint64_t done,
				uint64_t total)
{
	if (p && p->fn)
		p->fn(p->userdata, what, done, total);
}
