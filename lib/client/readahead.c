/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Readahead of a remote image: reads are followed as streams of block numbers, and a stream that
 * goes on sequentially (or a read that misses) queues the blocks after it for worker threads,
 * which load them into the memory cache before the reader asks.
 */
#include "client/remote-private.h"

void remote_readahead_note(HfcRemote *r, uint64_t first, uint64_t last, bool missed)
{
	if (!r->nra || !r->o.readahead)
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
	 * A sequence gets the full window. A miss outside one gets a short window: files and
	 * directories sit in runs of blocks, and over a long round trip the next blocks are
	 * cheaper fetched now, in parallel, than one by one when asked.
	 */
	unsigned window = s->run >= 2 ? r->o.readahead : missed ? MAX(1u, r->o.readahead / 2) : 0;
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
		/* Wake the workers only for new work: most reads queue nothing. */
		if (r->ra_len != before)
			pthread_cond_broadcast(&r->ra_cond);
	}
	pthread_mutex_unlock(&r->lock);
}

static void *readahead_main(void *arg)
{
	HfcRemote *r = arg;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->stopping && !r->cancelled && r->ra_len == 0)
			pthread_cond_wait(&r->ra_cond, &r->lock);
		if (r->stopping || r->cancelled)
			break;
		uint64_t b = r->ra_queue[r->ra_head];
		r->ra_head = (r->ra_head + 1) % r->ra_cap;
		r->ra_len--;
		if (remote_memcache_has(r, r->idx->entries[b].hash))
			continue;
		pthread_mutex_unlock(&r->lock);
		Entry *e;
		bool hit;
		uint64_t fetched;
		HfcErr err;
		int k = remote_get_entry(r, b, ORIGIN_READAHEAD, &e, &hit, &fetched, NULL, &err);
		pthread_mutex_lock(&r->lock);
		if (k == 0)
			remote_entry_unref(r, e);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int remote_readahead_start(HfcRemote *r)
{
	if (!r->o.readahead || r->ra_threads)
		return 0;
	/*
	 * All but two connections: the handle pool keeps the last two for demand reads and hands
	 * a freed handle to a waiting read first, so readahead never delays one.
	 */
	unsigned n = MAX(1u, r->o.http.connections > 2 ? r->o.http.connections - 2 : 1);
	r->ra_cap = MAX((size_t)r->o.readahead * 4, (size_t)64);
	r->ra_queue = calloc(r->ra_cap, sizeof(uint64_t));
	if (!r->ra_queue)
		return -ENOMEM;
	/* remote_readahead_note() queues only once a worker exists (r->nra). */
	return remote_workers_start(r, readahead_main, n, &r->ra_threads, &r->nra);
}

void remote_readahead_stop(HfcRemote *r)
{
	remote_workers_stop(r, &r->ra_cond, &r->ra_threads, &r->nra);
	free(r->ra_queue);
	r->ra_queue = NULL;
}
