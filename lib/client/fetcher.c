/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fetcher of a remote image's background loads, readahead and prefetch: one thread keeps a
 * window of transfers in flight in one curl multi handle (hfc_http_multi: HTTP/2 streams on one
 * connection where the mirror offers it, one connection each on HTTP/1.1), sized from the
 * throughput and round trip it measures (window.c) so that the transfers fill bandwidth x RTT.
 * What came goes into the memory cache as it came (STORED), and decoder threads check and
 * decode it ahead of the reads; a read that comes first decodes it itself. On a machine with
 * one CPU, decoding ahead is left to one thread that runs only when the CPU has nothing else
 * to do (SCHED_IDLE): there, every guess decoded that nobody reads is time taken from the
 * reader. What one attempt cannot settle (a redirect, a short body, an error, no mirror up) a
 * decoder fetches again the blocking way (remote_load_block: failover, retries with backoff).
 * Demand reads keep the pool of connections of hfc_http_get to themselves, so they never queue
 * behind the window.
 */
#include "client/remote-private.h"

#include "base/clock.h"
#include "site/store.h"

#include <sched.h>
#include <string.h>

/* The window never goes below this on a short path: the decoders want work in reserve. */
#define WINDOW_MIN 8u
/* Decoders: the client's machine decodes on its cores while the fetcher waits on the network. */
#define DECODERS 2u
/*
 * Loads that failed and wait for a decoder's blocking path, beyond the window in flight. A
 * decoder can be held there for long (failover, retries, backoff), and while it is, failures
 * must not pile up.
 */
#define BACKLOG (2u * DECODERS)
/* Blocks STORED that wait to be decoded ahead; beyond that the oldest is left to its reader. */
#define DQ_CAP (4u * HFC_WINDOW_MAX)

/* One background load: the block, its entry (LOADING) and the stored bytes as they come. */
typedef struct Job {
	uint64_t block;
	Origin origin;
	Entry *e;
	uint8_t *raw;    /* the stored bytes, given to the entry when they came whole */
	size_t reserved; /* prefetch memory reserved for it */
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
	hfc_bufpool_put(&r->raw_pool, j->raw);
	free(j);
	remote_fetch_wake(r); /* room in memory, maybe */
}

/* Whether the decoders of this machine take blocks to decode ahead; the one kind or the other. */
static bool decodes_ahead(const HfcRemote *r, bool idle)
{
	return r->one_cpu == idle;
}

/*
 * Ends a job whose stored bytes came whole (from mirror m, or the disk cache): its entry keeps
 * them STORED, and the decoders get the block. Lock held.
 */
static void job_stored(HfcRemote *r, Job *j, unsigned m, bool disk)
{
	Entry *e = j->e;
	uint64_t fetched = disk ? 0 : e->stored;
	if (!disk)
		r->st.bytes_fetched += fetched;
	e->raw = j->raw;
	j->raw = NULL;
	e->mirror = m;
	e->from_disk = disk;
	if (r->dq) {
		if (r->dq_len == DQ_CAP) { /* the oldest waits for its reader */
			r->dq_head = (r->dq_head + 1) % DQ_CAP;
			r->dq_len--;
		}
		r->dq[(r->dq_head + r->dq_len++) % DQ_CAP] = j->block;
		pthread_cond_signal(&r->done_cond);
	}
	job_end(r, j, 0, disk, fetched);
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
	j->raw = hfc_bufpool_get(&r->raw_pool);
	if (!j->raw) {
		k = -ENOMEM;
	} else if (r->cache && hfc_cache_get(r->cache, ie->hash, ie->stored, j->raw) == 0) {
		k = 1;
	} else {
		char path[HFC_BLOCK_PATH_MAX];
		hfc_block_path(r->idx->hash, ie->hash, path);
		k = hfc_http_multi_add(m, path, j->raw, ie->stored, 0, j);
	}
	pthread_mutex_lock(&r->lock);
	if (k == 0) {
		j->sent = true;
		inflight_link(r, j);
	} else if (k == 1) {
		job_stored(r, j, 0, true);
	} else {
		/* For the decoders' blocking path (-EAGAIN: no mirror up). */
		j->done.result = k;
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
			if (d.result == (ssize_t)j->e->stored)
				job_stored(r, j, d.mirror, false);
			else
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

/*
 * Loads a job's block the blocking way, its transfer having failed (or come short: the bytes
 * are checked, and counted bad). Returns 0 or -errno.
 */
static int job_load(HfcRemote *r, Job *j, HfcCodec *codec, uint64_t *ret_fetched, bool *ret_disk)
{
	const HfcHttpDone *d = &j->done;
	uint64_t avoid = 0;
	*ret_fetched = 0;
	*ret_disk = false;
	if (d->result == -ECANCELED || d->result == -ENOMEM || remote_entry_data(r, j->e) < 0)
		return d->result == -ECANCELED ? -ECANCELED : -ENOMEM;
	if (j->sent && d->result >= 0) {
		size_t n = (size_t)d->result;
		*ret_fetched = n;
		remote_count(r, &r->st.bytes_fetched, n);
		if (remote_accept_block(r, j->block, codec, j->raw, n, d->mirror, false,
					j->e->data) == 0)
			return 0;
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

/*
 * A decoder: loads the jobs that failed the blocking way, and decodes ahead the blocks that
 * came (when decodes_ahead says so for its kind). The idle kind runs only when the CPU has
 * nothing else to do, and takes no jobs: a read may wait for those.
 */
static void decoder_run(HfcRemote *r, bool idle)
{
	if (idle) {
		struct sched_param sp = { .sched_priority = 0 };
		(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	}
	Scratch *s = remote_scratch_get(r);
	uint8_t *spare = NULL;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		bool ahead = s && decodes_ahead(r, idle);
		while (!(r->done_head && !idle) && !(ahead && r->dq_len) && !r->stopping &&
		       !r->cancelled)
			pthread_cond_wait(&r->done_cond, &r->lock);
		Job *j = idle ? NULL : done_pop(r);
		if (j) {
			bool cancelled = r->cancelled;
			pthread_mutex_unlock(&r->lock);
			uint64_t fetched = 0;
			bool disk = false;
			int k = cancelled ? -ECANCELED
				: s	  ? job_load(r, j, s->codec, &fetched, &disk)
					  : -ENOMEM;
			pthread_mutex_lock(&r->lock);
			job_end(r, j, k, disk, fetched);
		} else if (ahead && r->dq_len && !r->stopping && !r->cancelled) {
			uint64_t b = r->dq[r->dq_head];
			r->dq_head = (r->dq_head + 1) % DQ_CAP;
			r->dq_len--;
			remote_entry_decode_ahead(r, b, s->codec, &spare, !idle);
		} else {
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	hfc_bufpool_put(&r->data_pool, spare);
	if (s)
		remote_scratch_put(r, s);
}

static void *decoder_main(void *arg)
{
	decoder_run(arg, false);
	return NULL;
}

static void *idle_decoder_main(void *arg)
{
	decoder_run(arg, true);
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
	uint64_t *dq = calloc(DQ_CAP, sizeof(uint64_t));
	if (!dq) {
		hfc_http_multi_free(m);
		return -ENOMEM;
	}
	pthread_mutex_lock(&r->lock);
	r->multi = m;
	r->dq = dq;
	pthread_mutex_unlock(&r->lock);
	/* One CPU: one more decoder, the idle one, for decoding ahead. */
	unsigned n = DECODERS + (r->one_cpu ? 1 : 0);
	r->dec_threads = calloc(n, sizeof(pthread_t));
	if (!r->dec_threads)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&r->dec_threads[i], NULL,
				   i < DECODERS ? decoder_main : idle_decoder_main, r) != 0)
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
	free(r->dq);
	r->dq = NULL;
	r->dq_len = 0;
	pthread_mutex_unlock(&r->lock);
}
