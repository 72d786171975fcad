/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fetcher of a remote image's background loads, readahead and prefetch: one thread keeps a
 * window of transfers in flight in one curl multi handle (hfc_http_multi: HTTP/2 streams on one
 * connection where the mirror offers it, one connection each on HTTP/1.1), sized from the
 * throughput and round trip it measures (window.c) so that the transfers fill bandwidth x RTT;
 * a few decoder threads check and decode what came. What one attempt cannot settle (a
 * redirect, bad data, an error, no mirror up) a decoder fetches again the blocking way
 * (remote_load_block: failover, retries with backoff). Demand reads keep the pool of
 * connections of hfc_http_get to themselves, so they never queue behind the window.
 */
#include "client/remote-private.h"

#include "base/clock.h"
#include "site/store.h"

#include <string.h>

/* The window never goes below this on a short path: the decoders want work in reserve. */
#define WINDOW_MIN 8u
/* Decoders: the client's machine decodes on its cores while the fetcher waits on the network. */
#define DECODERS 2u
/*
 * Loads that came in and wait for a decoder, beyond the window in flight. A decoder can be held
 * for long (a failed transfer is fetched again the blocking way: failover, retries, backoff),
 * and while it is, what comes must not pile up: each load holds a block's memory.
 */
#define BACKLOG (2u * DECODERS)

/* One background load: the block, its entry (LOADING) and the stored bytes as they come. */
typedef struct Job {
	uint64_t block;
	Origin origin;
	Entry *e;
	Scratch *s;
	size_t reserved; /* prefetch memory reserved for it */
	bool disk;       /* the disk cache had it: no transfer */
	bool sent;       /* a transfer was made: done says how it went */
	HfcHttpDone done;
	struct Job *prev, *next;
} Job;

void remote_fetch_wake(HfcRemote *r)
{
	if (r->multi)
		hfc_http_multi_wakeup(r->multi);
}

/* Hands a job to the decoders; lock held. */
static void done_push(HfcRemote *r, Job *j)
{
	j->next = NULL;
	j->prev = r->done_tail;
	if (r->done_tail)
		r->done_tail->next = j;
	else
		r->done_head = j;
	r->done_tail = j;
	pthread_cond_signal(&r->done_cond);
}

static Job *done_pop(HfcRemote *r)
{
	Job *j = r->done_head;
	if (j) {
		r->done_head = j->next;
		if (!r->done_head)
			r->done_tail = NULL;
	}
	return j;
}

static void inflight_link(HfcRemote *r, Job *j)
{
	r->fetch_ra_inflight += j->origin == ORIGIN_READAHEAD;
	j->prev = NULL;
	j->next = r->fetch_jobs;
	if (j->next)
		j->next->prev = j;
	r->fetch_jobs = j;
	r->fetch_inflight++;
}

static void inflight_unlink(HfcRemote *r, Job *j)
{
	r->fetch_ra_inflight -= j->origin == ORIGIN_READAHEAD;
	if (j->prev)
		j->prev->next = j->next;
	else
		r->fetch_jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	r->fetch_inflight--;
}

/* Ends a job's load with k (stats, waiters, the prefetch reservation) and frees it; lock held. */
static void job_end(HfcRemote *r, Job *j, int k, bool disk, uint64_t fetched)
{
	remote_entry_finish(r, j->e, j->origin, k, disk, fetched);
	r->pf_reserved -= j->reserved;
	r->fetch_alive--;
	if (j->s) {
		/* The pool's own lock is this one: put it back by hand. */
		j->s->next = r->scratch;
		r->scratch = j->s;
	}
	free(j);
	remote_fetch_wake(r); /* room in memory, maybe */
}

/*
 * The next block to load in the background: readahead first (a reader is there now), but with
 * at most half the window while the profile has blocks left: a miss's readahead is a guess,
 * the profile is what the workload reads.
 */
static Job *job_next(HfcRemote *r, unsigned win)
{
	for (;;) {
		uint64_t b;
		size_t reserved = 0;
		Origin origin;
		bool pf_left = r->profile && r->pf_next < r->profile->n;
		bool ra_room = !pf_left || r->fetch_ra_inflight < MAX(1u, win / 2);
		if (r->ra_on && ra_room && remote_readahead_next(r, &b))
			origin = ORIGIN_READAHEAD;
		else if (remote_prefetch_next(r, &b, &reserved))
			origin = ORIGIN_PREFETCH;
		else if (r->ra_on && remote_readahead_next(r, &b))
			origin = ORIGIN_READAHEAD;
		else
			return NULL;
		Job *j = calloc(1, sizeof(*j));
		Entry *e = j ? remote_entry_begin(r, b, origin) : NULL;
		if (e) {
			*j = (Job){ .block = b, .origin = origin, .e = e, .reserved = reserved };
			r->fetch_alive++;
			return j;
		}
		/* In memory already (a read came first), or out of memory: skipped. */
		r->pf_reserved -= reserved;
		free(j);
	}
}

/* Whether work waits for room in the window; lock held. */
static bool work_waiting(const HfcRemote *r)
{
	if (r->ra_on && r->ra_len > 0)
		return true;
	return r->profile && r->pf_next < r->profile->n &&
	       (r->pinned_bytes + r->pf_reserved == 0 ||
		r->pinned_bytes + r->pf_reserved + r->idx->block_size <= r->o.prefetch_memory);
}

/* Starts job j: from the disk cache, or a transfer in the multi handle. Lock held, dropped. */
static void job_start(HfcRemote *r, HfcHttpMulti *m, Job *j)
{
	const HfcIndexEntry *ie = &r->idx->entries[j->block];
	pthread_mutex_unlock(&r->lock);
	int k;
	j->s = remote_scratch_get(r);
	if (!j->s) {
		k = -ENOMEM;
	} else if (r->cache && hfc_cache_get(r->cache, ie->hash, ie->stored, j->s->stored) == 0) {
		j->disk = true;
		k = 1;
	} else {
		char path[HFC_BLOCK_PATH_MAX];
		hfc_block_path(r->idx->hash, ie->hash, path);
		k = hfc_http_multi_add(m, path, j->s->stored, ie->stored, 0, j);
	}
	pthread_mutex_lock(&r->lock);
	if (k == 0) {
		j->sent = true;
		inflight_link(r, j);
	} else {
		/* From the disk, or for the decoders' blocking path (-EAGAIN: no mirror up). */
		j->done.result = k < 0 ? k : 0;
		done_push(r, j);
	}
}

static void *fetcher_main(void *arg)
{
	HfcRemote *r = arg;
	HfcHttpMulti *m = r->multi;
	HfcWindow w;
	hfc_window_init(&w, MIN(WINDOW_MIN, r->o.prefetch_connections), r->o.prefetch_connections);
	pthread_mutex_lock(&r->lock);
	r->fetch_window = hfc_window_size(&w);
	while (!r->stopping && !r->cancelled) {
		unsigned win = hfc_window_size(&w);
		Job *j;
		/*
		 * While every mirror rests, no load starts: it would wait out the rest in a
		 * decoder, and a read of its block with it, behind all the others taken meanwhile.
		 */
		double rest = hfc_http_rest_left(r->http);
		while (rest <= 0 && r->fetch_inflight < win && r->fetch_alive < win + BACKLOG &&
		       !r->cancelled && (j = job_next(r, win)))
			job_start(r, m, j);
		if (rest > 0 || r->fetch_inflight < win)
			hfc_window_idle(&w); /* room, no work: this says nothing about the link */
		else if (work_waiting(r))
			hfc_window_limited(&w);
		pthread_mutex_unlock(&r->lock);
		/* Woken by a transfer's end, new work (remote_fetch_wake), a cancel, or the end
		 * of the mirrors' rest. */
		int k = hfc_http_multi_run(m, rest > 0 ? (int)MIN(rest * 1000 + 1, 1000.0) : 1000);
		double now = hfc_monotonic();
		pthread_mutex_lock(&r->lock);
		HfcHttpDone d;
		while (hfc_http_multi_next(m, &d)) {
			j = d.userdata;
			inflight_unlink(r, j);
			j->done = d;
			hfc_window_sample(&w, now, d.rtt, d.result > 0 ? (uint64_t)d.result : 0);
			done_push(r, j);
		}
		r->fetch_window = hfc_window_size(&w);
		r->fetch_rtt = hfc_window_rtt(&w);
		if (k < 0)
			break;
	}
	/* Cancelled or stopping: the transfers under way are cut and their loads fail. */
	r->multi = NULL;
	pthread_mutex_unlock(&r->lock);
	hfc_http_multi_free(m);
	pthread_mutex_lock(&r->lock);
	while (r->fetch_jobs) {
		Job *j = r->fetch_jobs;
		inflight_unlink(r, j);
		job_end(r, j, -ECANCELED, false, 0);
	}
	pthread_cond_broadcast(&r->done_cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Decodes a job's bytes, or loads the block the blocking way; returns 0 or -errno. */
static int job_load(HfcRemote *r, Job *j, uint64_t *ret_fetched, bool *ret_disk)
{
	const HfcHttpDone *d = &j->done;
	uint64_t avoid = 0;
	*ret_fetched = 0;
	*ret_disk = false;
	if (d->result == -ECANCELED || d->result == -ENOMEM)
		return (int)d->result;
	if (j->disk || (j->sent && d->result >= 0)) {
		size_t n = j->disk ? j->e->stored : (size_t)d->result;
		if (!j->disk) {
			*ret_fetched = n;
			remote_count(r, &r->st.bytes_fetched, n);
		}
		if (remote_accept_block(r, j->block, j->s, n, d->mirror, j->disk, j->e->data) == 0) {
			*ret_disk = j->disk;
			return 0;
		}
		if (!j->disk)
			avoid = UINT64_C(1) << d->mirror; /* bad data: the others first */
	} else if (j->sent && (d->result == -ENOENT || d->result == -EFBIG || d->result == -EPERM)) {
		avoid = UINT64_C(1) << d->mirror; /* the same answer would come again */
	}
	/* The blocking path: every mirror, retries with backoff, redirects checked. */
	uint64_t more = 0;
	HfcErr err;
	int k = remote_load_block(r, j->block, j->e->data, true, avoid, &more, ret_disk, &err);
	*ret_fetched += more;
	return k;
}

static void *decoder_main(void *arg)
{
	HfcRemote *r = arg;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->done_head && !r->stopping && !r->cancelled)
			pthread_cond_wait(&r->done_cond, &r->lock);
		Job *j = done_pop(r);
		if (!j)
			break;
		bool cancelled = r->cancelled;
		pthread_mutex_unlock(&r->lock);
		uint64_t fetched = 0;
		bool disk = false;
		int k = cancelled ? -ECANCELED : job_load(r, j, &fetched, &disk);
		pthread_mutex_lock(&r->lock);
		job_end(r, j, k, disk, fetched);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int remote_fetcher_start(HfcRemote *r)
{
	if (r->fetch_started || (!r->ra_on && !r->profile))
		return 0;
	unsigned max = MAX(1u, MIN(r->o.prefetch_connections, (unsigned)HFC_WINDOW_MAX));
	r->o.prefetch_connections = max;
	r->fetch_rtt = -1;
	/* On HTTP/1.1 every transfer in flight needs a connection: as many as the window. */
	HfcHttpMulti *m;
	int k = hfc_http_multi_new(r->http, max, &m);
	if (k < 0)
		return k;
	pthread_mutex_lock(&r->lock);
	r->multi = m;
	pthread_mutex_unlock(&r->lock);
	r->dec_threads = calloc(DECODERS, sizeof(pthread_t));
	if (!r->dec_threads)
		return -ENOMEM;
	for (unsigned i = 0; i < DECODERS; i++) {
		if (pthread_create(&r->dec_threads[i], NULL, decoder_main, r) != 0)
			return -EAGAIN;
		r->ndec = i + 1;
	}
	if (pthread_create(&r->fetch_thread, NULL, fetcher_main, r) != 0)
		return -EAGAIN;
	r->fetch_started = true;
	return 0;
}

void remote_fetcher_stop(HfcRemote *r)
{
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	remote_fetch_wake(r);
	pthread_cond_broadcast(&r->done_cond);
	pthread_mutex_unlock(&r->lock);
	if (r->fetch_started)
		pthread_join(r->fetch_thread, NULL);
	r->fetch_started = false;
	for (unsigned i = 0; i < r->ndec; i++)
		pthread_join(r->dec_threads[i], NULL);
	r->ndec = 0;
	free(r->dec_threads);
	r->dec_threads = NULL;
	/* A fetcher that never ran leaves its multi handle; jobs no decoder took end here. */
	hfc_http_multi_free(r->multi);
	r->multi = NULL;
	pthread_mutex_lock(&r->lock);
	Job *j;
	while ((j = done_pop(r)))
		job_end(r, j, -ECANCELED, false, 0);
	pthread_mutex_unlock(&r->lock);
}
