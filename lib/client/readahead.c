/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Readahead of a remote image: reads are followed as streams of block numbers, and a stream that
 * goes on sequentially (or a read that misses) queues the blocks after it for the fetcher
 * (fetcher.c), which loads them into the memory cache before the reader asks.
 */
#include "client/remote-private.h"

/* The round trip from which readahead takes its whole window (s). */
#define RA_FAR_RTT 0.05

/*
 * A window of `full` blocks as the distance allows: whole over a long round trip (or one not
 * measured yet), less as the round trip shortens, and one block at LAN distance. There a
 * block fetched when asked costs little, and a guess nobody reads costs the link and the
 * client's CPU all the same (a Debian boot at 0 ms read 23% of the 776 blocks 8 blocks after
 * every miss fetched, and decoding the rest took the CPU the boot needed).
 */
static unsigned by_distance(const HfcRemote *r, unsigned full)
{
	double rtt = r->fetch_rtt;
	if (!(rtt >= 0) || rtt >= RA_FAR_RTT)
		return full;
	return MAX(1u, (unsigned)(full * rtt / RA_FAR_RTT + 0.5));
}

void remote_readahead_note(HfcRemote *r, uint64_t first, uint64_t last, bool missed)
{
	if (!r->ra_on || !r->o.readahead)
		return;
	pthread_mutex_lock(&r->lock);
	Stream *s = NULL, *victim = &r->streams[0];
	for (unsigned k = 0; k < NSTREAMS; k++) {
		Stream *t = &r->streams[k];
		if (t->valid && (first == t->last || first == t->last + 1)) {
			s = t;
			break;
		}
		if (!t->valid || t->used < victim->used)
			victim = t;
	}
	if (!s) {
		*victim = (Stream){ .last = last, .queued_until = last, .valid = true };
		s = victim;
	} else {
		s->run += last - s->last;
		s->last = last;
	}
	s->used = ++r->stream_clock;
	/*
	 * A sequence gets up to the full window: the readahead option, or twice the fetcher's
	 * window when that is more (a long fat pipe needs that many blocks asked for ahead to stay
	 * full, and the window grows only while work waits for it). It earns it: twice what it
	 * has read in sequence so far, so a long read reaches the full window within a few
	 * blocks, and the short runs of a boot's small files do not fetch megabytes nobody reads.
	 * On a machine with one CPU, the full window shrinks with the distance (by_distance): the
	 * blocks come fast, and decoding those nobody reads would take the reader's CPU.
	 * A miss outside one gets a short window, by the distance too: files and directories sit
	 * in runs of blocks, and over a long round trip the next blocks are cheaper fetched now,
	 * in parallel, than one by one when asked.
	 */
	unsigned full = MAX(r->o.readahead, 2 * r->fetch_window);
	if (r->one_cpu)
		full = MAX(2u, by_distance(r, full));
	unsigned window = s->run >= 2 ? (unsigned)MIN((uint64_t)full, 2 * s->run)
			  : missed    ? by_distance(r, MAX(1u, r->o.readahead / 2))
				      : 0;
	if (window) {
		uint64_t end = MIN(last + window, r->idx->nblocks - 1);
		uint64_t from = MAX(last, s->queued_until) + 1;
		size_t before = r->ra_len;
		for (uint64_t b = from; b <= end; b++) {
			if (!r->idx->entries[b].stored ||
			    remote_memcache_has(r, r->idx->entries[b].hash))
				continue;
			if (r->ra_len == r->ra_cap) { /* full: the oldest request is the stalest */
				r->ra_head = (r->ra_head + 1) % r->ra_cap;
				r->ra_len--;
			}
			r->ra_queue[(r->ra_head + r->ra_len++) % r->ra_cap] = b;
		}
		if (end > s->queued_until)
			s->queued_until = end;
		/* Wake the fetcher only for new work: most reads queue nothing. */
		if (r->ra_len != before)
			remote_fetch_wake(r);
	}
	pthread_mutex_unlock(&r->lock);
}

bool remote_readahead_next(HfcRemote *r, uint64_t *block)
{
	while (r->ra_len > 0) {
		uint64_t b = r->ra_queue[r->ra_head];
		r->ra_head = (r->ra_head + 1) % r->ra_cap;
		r->ra_len--;
		if (!remote_memcache_has(r, r->idx->entries[b].hash)) {
			*block = b;
			return true;
		}
	}
	return false;
}

int remote_readahead_start(HfcRemote *r)
{
	if (!r->o.readahead || r->ra_queue)
		return 0;
	/* Room for several streams' windows, at the largest window. */
	r->ra_cap = MAX((size_t)r->o.readahead * 4, (size_t)HFC_WINDOW_MAX * 8);
	r->ra_queue = calloc(r->ra_cap, sizeof(uint64_t));
	if (!r->ra_queue)
		return -ENOMEM;
	/* remote_readahead_note() queues only once the fetcher takes the queue (r->ra_on). */
	pthread_mutex_lock(&r->lock);
	r->ra_on = true;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void remote_readahead_stop(HfcRemote *r)
{
	r->ra_on = false;
	free(r->ra_queue);
	r->ra_queue = NULL;
}
