/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "client/remote.h"

#include "client/cache.h"
#include "base/codec.h"
#include "base/hashset.h"
#include "formats/profile.h"
#include "base/clock.h"
#include "site/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { ENTRY_LOADING, ENTRY_READY, ENTRY_FAILED };

/* A decoded block in memory, shared by hash; refcounted so readers copy outside the lock. */
typedef struct Entry {
	uint8_t hash[HFC_HASH_MAX];
	uint8_t *data;
	size_t len;
	uint32_t stored, fetched; /* fetched: bytes downloaded for it (0 from the disk cache) */
	int state, error;
	unsigned refs;
	bool in_map, prefetched, used;
	bool pinned; /* loaded by the profile's prefetch and not read yet: never evicted */
	struct Entry *prev, *next; /* LRU of READY entries; head is the most recent */
} Entry;

/* Per-call scratch (codec + stored bytes), pooled: FUSE threads come and go. */
typedef struct Scratch {
	HfcCodec *codec;
	uint8_t *stored;
	struct Scratch *next;
} Scratch;

/* One sequential reader, as seen from the block numbers it reads. */
typedef struct Stream {
	uint64_t last, queued_until, run;
	uint64_t used; /* a clock for replacing the least recently used stream */
	bool valid;
} Stream;

#define NSTREAMS 16

struct HfcRemote {
	HfcRemoteOptions o;
	HfcHttp *http;
	HfcIndex *idx;
	HfcCache *cache;
	size_t hash_len;
	uint32_t stored_max;

	pthread_mutex_t lock;
	pthread_cond_t changed; /* an entry finished loading */
	HfcHashMap *entries;    /* hash -> Entry* */
	Entry *lru_head, *lru_tail;
	uint64_t mem_bytes;
	Scratch *scratch;

	/* readahead */
	pthread_t *ra_threads;
	unsigned nra;
	pthread_cond_t ra_cond;
	uint64_t *ra_queue;
	size_t ra_cap, ra_head, ra_len;
	bool stopping;
	Stream streams[NSTREAMS];
	uint64_t stream_clock;

	/* DLAHEAD prefetch */
	HfcProfile *profile;
	pthread_t *pf_threads;
	unsigned npf;
	size_t pf_next;
	uint64_t pinned_bytes; /* decoded bytes of pinned entries (all in mem_bytes) */
	uint64_t pf_reserved;  /* bytes of prefetch loads under way */
	pthread_cond_t pf_cond;

	/* trace */
	FILE *trace;
	pthread_mutex_t trace_lock;
	double t0;

	HfcRemoteStats st;
};

void hfc_remote_options_default(HfcRemoteOptions *o)
{
	*o = (HfcRemoteOptions){
		.http = { .connections = 8, .timeout_ms = 30000, .connect_timeout_ms = 5000,
			  .retries = 4, .probe = true },
		.cache_size = UINT64_C(1) << 30,
		.cache_high_pct = 80,
		.cache_low_pct = 60,
		.mem_cache = UINT64_C(256) << 20,
		.readahead = 16,
		.prefetch_connections = 4,
		.prefetch_memory = UINT64_C(512) << 20,
	};
}

const HfcIndex *hfc_remote_index(const HfcRemote *r)
{
	return r->idx;
}

static Scratch *scratch_get(HfcRemote *r)
{
	pthread_mutex_lock(&r->lock);
	Scratch *s = r->scratch;
	if (s)
		r->scratch = s->next;
	pthread_mutex_unlock(&r->lock);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->stored = malloc(r->stored_max);
	if (!s->stored || hfc_codec_new(HFC_LEVEL_DEFAULT, &s->codec) < 0) {
		free(s->stored);
		free(s);
		return NULL;
	}
	return s;
}

static void scratch_put(HfcRemote *r, Scratch *s)
{
	pthread_mutex_lock(&r->lock);
	s->next = r->scratch;
	r->scratch = s;
	pthread_mutex_unlock(&r->lock);
}

static void count(HfcRemote *r, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&r->lock);
	*field += n;
	pthread_mutex_unlock(&r->lock);
}

/*
 * Gets block i's bytes, decoded and checked against its name, into out: from the disk cache,
 * else from the mirrors; data that fails the check is dropped and fetched again from another
 * mirror. *ret_fetched is the number of bytes downloaded (0 for a cache hit).
 */
static int load_block(HfcRemote *r, uint64_t i, void *out, bool background, uint64_t *ret_fetched,
		      bool *ret_disk, HfcErr *err)
{
	*ret_disk = false;
	const HfcIndexEntry *e = &r->idx->entries[i];
	size_t len = hfc_index_block_len(r->idx, i);
	*ret_fetched = 0;
	Scratch *s = scratch_get(r);
	if (!s)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	int k;
	if (r->cache && hfc_cache_get(r->cache, e->hash, e->stored, s->stored) == 0) {
		k = hfc_block_decode_verified(s->codec, r->idx->hash, e->hash, s->stored, e->stored,
					      out, len);
		if (k == 0) {
			*ret_disk = true;
			scratch_put(r, s);
			return 0;
		}
		hfc_cache_drop(r->cache, e->hash);
		count(r, &r->st.bad_blocks, 1);
	}
	char path[HFC_BLOCK_PATH_MAX];
	hfc_block_path(r->idx->hash, e->hash, path);
	uint64_t avoid = 0;
	size_t nm = hfc_http_mirrors(r->http);
	/* Each mirror gets a chance to serve good data, plus the retries on top. */
	unsigned attempts = (unsigned)nm + r->o.http.retries;
	k = -EIO;
	for (unsigned a = 0; a < attempts; a++) {
		unsigned m = 0;
		ssize_t n = hfc_http_get(r->http, path, s->stored, e->stored, avoid,
					 background ? HFC_HTTP_BACKGROUND : 0, &m, err);
		if (n < 0) {
			k = (int)n;
			break;
		}
		*ret_fetched += (uint64_t)n;
		k = (size_t)n == e->stored ? hfc_block_decode_verified(s->codec, r->idx->hash,
									 e->hash, s->stored,
									 e->stored, out, len)
					   : -EBADMSG;
		if (k == 0) {
			if (r->cache)
				(void)hfc_cache_put(r->cache, e->hash, s->stored, e->stored);
			break;
		}
		/* Wrong bytes from mirror m: never used; ask the others. */
		hfc_http_report_bad(r->http, m);
		count(r, &r->st.bad_blocks, 1);
		avoid |= UINT64_C(1) << m;
		hfc_err_set(err, -EIO, "%s: does not match its name (bad data from mirror %u)", path,
			    m);
		k = -EIO;
	}
	scratch_put(r, s);
	count(r, &r->st.bytes_fetched, *ret_fetched);
	return k == 0 ? 0 : -EIO;
}

static void lru_unlink(HfcRemote *r, Entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else if (r->lru_head == e)
		r->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else if (r->lru_tail == e)
		r->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(HfcRemote *r, Entry *e)
{
	e->next = r->lru_head;
	e->prev = NULL;
	if (r->lru_head)
		r->lru_head->prev = e;
	r->lru_head = e;
	if (!r->lru_tail)
		r->lru_tail = e;
}

static void entry_free(Entry *e)
{
	free(e->data);
	free(e);
}

/* Drops a reference; called with the lock held. */
static void entry_unref(HfcRemote *r, Entry *e)
{
	(void)r;
	if (--e->refs == 0 && !e->in_map)
		entry_free(e);
}

/* Keeps the decoded blocks within the memory bound; called with the lock held. */
static void mem_evict(HfcRemote *r)
{
	Entry *e = r->lru_tail;
	/* Pinned prefetch blocks have their own bound (prefetch_memory). */
	while (r->mem_bytes - r->pinned_bytes > r->o.mem_cache && e) {
		Entry *prev = e->prev;
		if (e->refs == 0 && !e->pinned) {
			lru_unlink(r, e);
			(void)hfc_hashmap_remove(r->entries, e->hash);
			e->in_map = false;
			r->mem_bytes -= e->len;
			entry_free(e);
		}
		e = prev;
	}
}

/* Who asks for a block: a read, sequential readahead, or the DLAHEAD profile's prefetch. */
typedef enum Origin { ORIGIN_DEMAND, ORIGIN_READAHEAD, ORIGIN_PREFETCH } Origin;

/*
 * First use of an entry by a read: readahead and prefetch hits, unpinning. Lock held. Returns
 * true when the read used a block that readahead fetched.
 */
static bool entry_first_use(HfcRemote *r, Entry *e)
{
	if (e->used)
		return false;
	e->used = true;
	if (e->prefetched) {
		r->st.readahead_hits++;
		r->st.readahead_unused_bytes -= e->fetched;
	}
	if (e->pinned) {
		e->pinned = false;
		r->pinned_bytes -= e->len;
		r->st.prefetch_hits++;
		r->st.prefetch_unused_bytes -= e->fetched;
		pthread_cond_broadcast(&r->pf_cond); /* room for more prefetching */
	}
	return e->prefetched;
}

/*
 * Returns a referenced READY entry for block i: from memory, after waiting for a load already
 * under way (one download for concurrent readers), or loaded now. *ret_hit says whether it was
 * already in memory.
 */
static int get_entry(HfcRemote *r, uint64_t i, Origin origin, Entry **ret, bool *ret_hit,
		     uint64_t *ret_fetched, bool *ret_ra_used, HfcErr *err)
{
	const HfcIndexEntry *ie = &r->idx->entries[i];
	bool background = origin != ORIGIN_DEMAND;
	*ret_fetched = 0;
	if (ret_ra_used)
		*ret_ra_used = false;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		uint64_t v;
		if (!hfc_hashmap_get(r->entries, ie->hash, &v))
			break;
		Entry *e = (Entry *)(uintptr_t)v;
		e->refs++;
		while (e->state == ENTRY_LOADING)
			pthread_cond_wait(&r->changed, &r->lock);
		if (e->state == ENTRY_READY) {
			lru_unlink(r, e);
			lru_front(r, e);
			if (!background) {
				r->st.mem_hits++;
				bool ra = entry_first_use(r, e);
				if (ret_ra_used)
					*ret_ra_used = ra;
			}
			pthread_mutex_unlock(&r->lock);
			*ret = e;
			*ret_hit = true;
			return 0;
		}
		int k = e->error;
		if (!background)
			r->st.errors++;
		entry_unref(r, e);
		pthread_mutex_unlock(&r->lock);
		return hfc_err_set(err, k, "block %" PRIu64 ": could not be fetched", i);
	}
	Entry *e = calloc(1, sizeof(*e));
	size_t len = hfc_index_block_len(r->idx, i);
	if (e)
		e->data = malloc(len ? len : 1);
	if (!e || !e->data || hfc_hashmap_put(r->entries, ie->hash, 0, NULL) < 0) {
		if (e)
			entry_free(e);
		pthread_mutex_unlock(&r->lock);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(e->hash, ie->hash, r->hash_len);
	e->len = len;
	e->stored = ie->stored;
	e->state = ENTRY_LOADING;
	e->refs = 1;
	e->in_map = true;
	e->prefetched = origin == ORIGIN_READAHEAD;
	e->used = !background;
	(void)hfc_hashmap_set(r->entries, ie->hash, (uint64_t)(uintptr_t)e);
	pthread_mutex_unlock(&r->lock);

	bool disk;
	int k = load_block(r, i, e->data, background, ret_fetched, &disk, err);

	pthread_mutex_lock(&r->lock);
	if (origin == ORIGIN_READAHEAD)
		*(k < 0 ? &r->st.readahead_errors : &r->st.readahead_fetched) += 1;
	else if (origin == ORIGIN_PREFETCH)
		*(k < 0 ? &r->st.prefetch_errors : &r->st.prefetch_done) += 1;
	else
		*(k < 0 ? &r->st.errors : disk ? &r->st.disk_hits : &r->st.misses) += 1;
	if (k == 0) {
		e->state = ENTRY_READY;
		/*
		 * Readahead's guesses go in as most recent too: at the cold end, a sequential reader
		 * that fills the cache would evict them before it gets to them. The cache is sized to
		 * hold a boot's blocks and the guesses together (256 MiB by default).
		 */
		lru_front(r, e);
		if (origin == ORIGIN_READAHEAD && !e->used) {
			e->fetched = (uint32_t)*ret_fetched;
			r->st.readahead_unused_bytes += e->fetched;
		}
		r->mem_bytes += e->len;
		if (origin == ORIGIN_PREFETCH && !e->used) {
			/* Pinned until a read uses it: prefetch never evicts its own blocks. */
			e->pinned = true;
			r->pinned_bytes += e->len;
			e->fetched = (uint32_t)*ret_fetched;
			r->st.prefetch_bytes += *ret_fetched;
			r->st.prefetch_unused_bytes += e->fetched;
		}
		mem_evict(r);
	} else {
		e->state = ENTRY_FAILED;
		e->error = k;
		(void)hfc_hashmap_remove(r->entries, e->hash);
		e->in_map = false;
	}
	pthread_cond_broadcast(&r->changed);
	if (k < 0) {
		entry_unref(r, e);
		pthread_mutex_unlock(&r->lock);
		return k;
	}
	pthread_mutex_unlock(&r->lock);
	*ret = e;
	*ret_hit = false;
	return 0;
}

static void trace_line(HfcRemote *r, uint64_t block, bool hit, uint64_t bytes, double t_start)
{
	if (!r->trace)
		return;
	double now = hfc_monotonic();
	pthread_mutex_lock(&r->trace_lock);
	fprintf(r->trace, "%" PRIu64 " %" PRIu64 " %s %" PRIu64 " %" PRIu64 "\n",
		(uint64_t)((t_start - r->t0) * 1e6), block, hit ? "hit" : "miss", bytes,
		(uint64_t)((now - t_start) * 1e6));
	pthread_mutex_unlock(&r->trace_lock);
}

/* Notes a read of blocks [first, last] and queues readahead when it continues a sequence. */
static void readahead_note(HfcRemote *r, uint64_t first, uint64_t last, bool missed)
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
			    hfc_hashmap_get(r->entries, r->idx->entries[b].hash, NULL))
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
		while (!r->stopping && r->ra_len == 0)
			pthread_cond_wait(&r->ra_cond, &r->lock);
		if (r->stopping)
			break;
		uint64_t b = r->ra_queue[r->ra_head];
		r->ra_head = (r->ra_head + 1) % r->ra_cap;
		r->ra_len--;
		if (hfc_hashmap_get(r->entries, r->idx->entries[b].hash, NULL))
			continue;
		pthread_mutex_unlock(&r->lock);
		Entry *e;
		bool hit;
		uint64_t fetched;
		HfcErr err;
		int k = get_entry(r, b, ORIGIN_READAHEAD, &e, &hit, &fetched, NULL, &err);
		pthread_mutex_lock(&r->lock);
		if (k == 0)
			entry_unref(r, e);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Fetches the profile's blocks in its order, ahead of the reads that will want them. */
static void *prefetch_main(void *arg)
{
	HfcRemote *r = arg;
	size_t hl = r->hash_len;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		/* Reserve the block's memory first: threads together stay within the bound, and
		 * one block always fits, whatever the block size. */
		while (!r->stopping && r->pf_next < r->profile->n &&
		       r->pinned_bytes + r->pf_reserved > 0 &&
		       r->pinned_bytes + r->pf_reserved + r->idx->block_size > r->o.prefetch_memory)
			pthread_cond_wait(&r->pf_cond, &r->lock);
		if (r->stopping || r->pf_next >= r->profile->n)
			break;
		const HfcProfileEntry *pe = &r->profile->e[r->pf_next++];
		const HfcIndexEntry *ie = &r->idx->entries[pe->block];
		if (!ie->stored || memcmp(ie->hash, pe->hash, hl) != 0)
			continue; /* changed since the profile was made: counted as skipped */
		if (hfc_hashmap_get(r->entries, ie->hash, NULL)) {
			r->st.prefetch_present++; /* a read (or a repeat in the profile) came first */
			continue;
		}
		size_t len = hfc_index_block_len(r->idx, pe->block);
		r->pf_reserved += len;
		pthread_mutex_unlock(&r->lock);
		Entry *e;
		bool hit;
		uint64_t fetched;
		HfcErr err;
		int k = get_entry(r, pe->block, ORIGIN_PREFETCH, &e, &hit, &fetched, NULL, &err);
		pthread_mutex_lock(&r->lock);
		r->pf_reserved -= len; /* the reservation ends; a pinned entry counts itself */
		if (k == 0) {
			if (hit)
				r->st.prefetch_present++;
			entry_unref(r, e);
		}
		pthread_cond_broadcast(&r->pf_cond);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Loads and checks the DLAHEAD profile against the mounted version. */
static int open_profile(HfcRemote *r, HfcErr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	char display[4200];
	int k;
	if (strcmp(r->o.prefetch, "auto") == 0) {
		char path[HFC_LAYOUT_PATH_MAX], name[HFC_LAYOUT_PATH_MAX];
		hfc_layout_path(HFC_LAYOUT_PROFILE, r->idx->version, path);
		hfc_layout_name(HFC_LAYOUT_PROFILE, r->idx->version, name);
		HfcErr ferr = { "" };
		k = hfc_http_get_alloc(r->http, path, HFC_INDEX_MAX_BYTES, 0, &buf, &len, &ferr);
		bool cached = false;
		if (k < 0 && r->cache && r->o.offline_ok &&
		    hfc_cache_get_index(r->cache, name, HFC_INDEX_MAX_BYTES, &buf, &len) == 0)
			cached = true; /* offline: the profile this cache saw with the index */
		else if (k == -ENOENT)
			return hfc_err_set(err, k, "%s: the site has no profile for version %u",
					   path, r->idx->version);
		else if (k < 0)
			return hfc_err_set(err, k, "%s", ferr.msg);
		snprintf(display, sizeof(display), "%s%s", cached ? "cache/" : "", path);
		k = hfc_profile_parse(buf, len, display, &r->profile, err);
		if (k < 0)
			return k;
		if (r->profile->version != r->idx->version)
			return hfc_err_set(err, -EBADMSG, "%s:2: version %u in a profile named for version %u",
					   display, r->profile->version, r->idx->version);
		if (r->cache && !cached)
			(void)hfc_cache_put_index(r->cache, name, buf, len);
	} else {
		snprintf(display, sizeof(display), "%s", r->o.prefetch);
		k = hfc_profile_load(r->o.prefetch, &r->profile, err);
		if (k < 0)
			return k;
	}
	size_t same;
	k = hfc_profile_check(r->profile, r->idx, display, &same, err);
	if (k < 0)
		return k;
	r->st.prefetch_total = same;
	r->st.prefetch_skipped = r->profile->n - same;
	return 0;
}

ssize_t hfc_remote_pread(HfcRemote *r, void *buf, size_t len, uint64_t offset)
{
	const HfcIndex *idx = r->idx;
	if (offset >= idx->image_size || len == 0)
		return 0;
	len = (size_t)MIN((uint64_t)len, idx->image_size - offset);
	uint64_t first = offset / idx->block_size, last = (offset + len - 1) / idx->block_size;
	size_t done = 0;
	bool missed = false;
	for (uint64_t b = first; b <= last; b++) {
		uint64_t boff = b * idx->block_size;
		size_t in = (size_t)(offset + done - boff);
		size_t n = MIN(len - done, hfc_index_block_len(idx, b) - in);
		double t = hfc_monotonic();
		count(r, &r->st.reads, 1);
		if (!idx->entries[b].stored) {
			count(r, &r->st.zero_reads, 1);
			memset((char *)buf + done, 0, n);
			trace_line(r, b, true, 0, t);
		} else {
			Entry *e;
			bool hit;
			uint64_t fetched;
			HfcErr err;
			if (!missed && r->nra) {
				/* About to wait a round trip: start the blocks after it now, too. */
				pthread_mutex_lock(&r->lock);
				missed = !hfc_hashmap_get(r->entries, idx->entries[b].hash, NULL);
				pthread_mutex_unlock(&r->lock);
				if (missed)
					readahead_note(r, b, b, true);
			}
			bool ra_used;
			int k = get_entry(r, b, ORIGIN_DEMAND, &e, &hit, &fetched, &ra_used, &err);
			if (k < 0)
				return -EIO;
			/* A read that lands on a block readahead guessed: keep the window ahead of it. */
			if (ra_used && !missed) {
				missed = true;
				readahead_note(r, b, b, true);
			}
			memcpy((char *)buf + done, e->data + in, n);
			pthread_mutex_lock(&r->lock);
			entry_unref(r, e);
			pthread_mutex_unlock(&r->lock);
			trace_line(r, b, hit || fetched == 0, fetched, t);
		}
		done += n;
	}
	readahead_note(r, first, last, false);
	return (ssize_t)done;
}

int hfc_remote_block(HfcRemote *r, uint64_t i, void *out, HfcErr *err)
{
	if (i >= r->idx->nblocks)
		return hfc_err_set(err, -EINVAL, "block %" PRIu64 " out of range", i);
	if (!r->idx->entries[i].stored) {
		memset(out, 0, hfc_index_block_len(r->idx, i));
		return 0;
	}
	uint64_t fetched;
	bool disk;
	count(r, &r->st.reads, 1);
	int k = load_block(r, i, out, false, &fetched, &disk, err);
	count(r, k < 0 ? &r->st.errors : disk ? &r->st.disk_hits : &r->st.misses, 1);
	return k;
}

/* Reads the version number this cache has accepted before (0 when none). */
static uint32_t seen_version(HfcCache *c)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (hfc_cache_get_index(c, HFC_SITE_CURRENT, HFC_INDEX_MAX_BYTES, &buf, &len) < 0)
		return 0;
	HfcIndex *idx;
	if (hfc_index_parse(buf, len, "cache", &idx, NULL) < 0)
		return 0;
	uint32_t v = idx->version;
	hfc_index_free(idx);
	return v;
}

static int open_index(HfcRemote *r, const char *first_base, HfcErr *err)
{
	char name[HFC_LAYOUT_PATH_MAX], path[HFC_LAYOUT_PATH_MAX], display[4200];
	if (r->o.version)
		hfc_layout_name(HFC_LAYOUT_INDEX, r->o.version, name);
	else
		snprintf(name, sizeof(name), "%s", HFC_SITE_CURRENT);
	hfc_layout_path(HFC_LAYOUT_INDEX, r->o.version, path);
	snprintf(display, sizeof(display), "%s/%s", first_base, path);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	HfcErr ferr = { "" };
	/* With a cache to fall back on, ask each mirror once rather than wait out the retries. */
	int k = hfc_http_get_alloc(r->http, path, HFC_INDEX_MAX_BYTES,
				   r->cache && r->o.offline_ok ? HFC_HTTP_ONCE : 0, &buf, &len, &ferr);
	bool from_cache = false;
	if (k < 0 && r->cache && r->o.offline_ok &&
	    hfc_cache_get_index(r->cache, name, HFC_INDEX_MAX_BYTES, &buf, &len) == 0) {
		from_cache = true; /* no mirror answered: the index this cache saw last */
		snprintf(display, sizeof(display), "cache/indexes/%s", name);
	} else if (k < 0) {
		return hfc_err_set(err, k, "%s: %s", first_base, ferr.msg);
	}
	k = hfc_index_parse(buf, len, display, &r->idx, err);
	if (k < 0)
		return k;
	if (r->o.version && r->idx->version != r->o.version)
		return hfc_err_set(err, -EBADMSG, "%s:2: version %u in a file named for version %u",
				   display, r->idx->version, r->o.version);
	if (r->cache && !from_cache) {
		uint32_t seen = r->o.version ? 0 : seen_version(r->cache);
		if (seen > r->idx->version && !r->o.allow_older)
			return hfc_err_set(err, -ESTALE,
					   "%s: version %u is older than version %u seen before (a rollback is published as a newer version)",
					   display, r->idx->version, seen);
		/* Remember the newest version seen; an allowed older one does not lower it. */
		if (seen <= r->idx->version)
			(void)hfc_cache_put_index(r->cache, name, buf, len);
	}
	return 0;
}

int hfc_remote_open(const char *const *bases, size_t nbases, const HfcRemoteOptions *o,
		    HfcRemote **ret, HfcErr *err)
{
	HfcRemote *r = calloc(1, sizeof(*r));
	if (!r)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	r->o = *o;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->trace_lock, NULL);
	pthread_cond_init(&r->changed, NULL);
	pthread_cond_init(&r->ra_cond, NULL);
	pthread_cond_init(&r->pf_cond, NULL);
	r->t0 = hfc_monotonic();
	HfcHttpOptions ho = o->http;
	if (o->prefetch) /* prefetch gets connections of its own; demand still goes first */
		ho.connections += o->prefetch_connections;
	int k = hfc_http_new(bases, nbases, &ho, &r->http, err);
	if (k < 0)
		goto fail;
	if (o->cache_dir) {
		/* The cache is opened for md5 first; reopened below if the site uses sha256. */
		k = hfc_cache_open(o->cache_dir, o->cache_size, o->cache_high_pct, o->cache_low_pct,
				   HFC_HASH_MD5, &r->cache, err);
		if (k < 0)
			goto fail;
	}
	k = open_index(r, bases[0], err);
	if (k < 0)
		goto fail;
	if (r->cache && r->idx->hash != HFC_HASH_MD5) {
		hfc_cache_free(r->cache);
		r->cache = NULL;
		k = hfc_cache_open(o->cache_dir, o->cache_size, o->cache_high_pct, o->cache_low_pct,
				   r->idx->hash, &r->cache, err);
		if (k < 0)
			goto fail;
	}
	r->hash_len = hfc_hash_len(r->idx->hash);
	r->stored_max = (uint32_t)hfc_codec_bound(r->idx->block_size);
	k = hfc_hashmap_new(r->hash_len, &r->entries);
	if (k < 0)
		goto fail;
	if (o->prefetch) {
		k = open_profile(r, err);
		if (k < 0)
			goto fail;
	}
	if (o->trace_path) {
		r->trace = fopen(o->trace_path, "we");
		if (!r->trace) {
			k = negative_errno();
			hfc_err_set(err, k, "%s: %s", o->trace_path, strerror(-k));
			goto fail;
		}
		fprintf(r->trace, "# hfc-trace 1 version %u image-size %" PRIu64 " block-size %u\n",
			r->idx->version, r->idx->image_size, r->idx->block_size);
	}
	*ret = r;
	return 0;
fail:
	hfc_remote_free(r);
	return k;
}

static int start_prefetch(HfcRemote *r)
{
	if (!r->profile || r->pf_threads)
		return 0;
	unsigned n = MAX(1u, r->o.prefetch_connections);
	r->pf_threads = calloc(n, sizeof(pthread_t));
	if (!r->pf_threads)
		return -ENOMEM;
	for (unsigned j = 0; j < n; j++) {
		if (pthread_create(&r->pf_threads[j], NULL, prefetch_main, r) != 0)
			return -EAGAIN;
		r->npf = j + 1;
	}
	return 0;
}

int hfc_remote_start(HfcRemote *r)
{
	int k = start_prefetch(r);
	if (k < 0)
		return k;
	if (!r->o.readahead || r->ra_threads)
		return 0;
	/*
	 * All but two connections: the handle pool keeps the last two for demand reads and hands
	 * a freed handle to a waiting read first, so readahead never delays one.
	 */
	unsigned n = MAX(1u, r->o.http.connections > 2 ? r->o.http.connections - 2 : 1);
	r->ra_cap = MAX((size_t)r->o.readahead * 4, (size_t)64);
	r->ra_queue = calloc(r->ra_cap, sizeof(uint64_t));
	r->ra_threads = calloc(n, sizeof(pthread_t));
	if (!r->ra_queue || !r->ra_threads)
		return -ENOMEM;
	for (unsigned j = 0; j < n; j++) {
		if (pthread_create(&r->ra_threads[j], NULL, readahead_main, r) != 0)
			return -EAGAIN;
		pthread_mutex_lock(&r->lock);
		r->nra = j + 1; /* readahead_note() queues only once a worker exists */
		pthread_mutex_unlock(&r->lock);
	}
	return 0;
}

void hfc_remote_free(HfcRemote *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->ra_cond);
	pthread_cond_broadcast(&r->pf_cond);
	pthread_mutex_unlock(&r->lock);
	for (unsigned j = 0; j < r->nra; j++)
		pthread_join(r->ra_threads[j], NULL);
	for (unsigned j = 0; j < r->npf; j++)
		pthread_join(r->pf_threads[j], NULL);
	free(r->pf_threads);
	hfc_profile_free(r->profile);
	free(r->ra_threads);
	free(r->ra_queue);
	if (r->trace)
		fclose(r->trace);
	for (Entry *e = r->lru_head; e;) {
		Entry *n = e->next;
		entry_free(e);
		e = n;
	}
	while (r->scratch) {
		Scratch *s = r->scratch;
		r->scratch = s->next;
		hfc_codec_free(s->codec);
		free(s->stored);
		free(s);
	}
	hfc_hashmap_free(r->entries);
	hfc_cache_free(r->cache);
	hfc_index_free(r->idx);
	hfc_http_free(r->http);
	pthread_cond_destroy(&r->ra_cond);
	pthread_cond_destroy(&r->pf_cond);
	pthread_cond_destroy(&r->changed);
	pthread_mutex_destroy(&r->trace_lock);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void hfc_remote_stats(HfcRemote *r, HfcRemoteStats *s)
{
	pthread_mutex_lock(&r->lock);
	*s = r->st;
	s->mem_bytes = r->mem_bytes;
	pthread_mutex_unlock(&r->lock);
	if (r->cache)
		hfc_cache_usage(r->cache, &s->cache_bytes, &s->cache_files, &s->evicted);
	hfc_http_stats(r->http, &s->http, NULL);
	if (r->trace) {
		pthread_mutex_lock(&r->trace_lock);
		fflush(r->trace);
		pthread_mutex_unlock(&r->trace_lock);
	}
}

int hfc_remote_stats_text(HfcRemote *r, char **ret, size_t *ret_len)
{
	HfcRemoteStats s;
	hfc_remote_stats(r, &s);
	size_t nm = hfc_http_mirrors(r->http);
	HfcMirrorInfo *mi = calloc(nm, sizeof(*mi));
	if (!mi)
		return -ENOMEM;
	HfcHttpStats hs;
	hfc_http_stats(r->http, &hs, mi);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		free(mi);
		return -ENOMEM;
	}
	fprintf(f,
		"version: %u\nimage_size: %" PRIu64 "\nblock_size: %u\nreads: %" PRIu64
		"\nhits: %" PRIu64 "\nzero_reads: %" PRIu64 "\nmem_hits: %" PRIu64
		"\ndisk_hits: %" PRIu64 "\nmisses: %" PRIu64 "\nread_errors: %" PRIu64
		"\nreadahead_fetched: %" PRIu64 "\nreadahead_hits: %" PRIu64
		"\nreadahead_errors: %" PRIu64 "\nreadahead_wasted_bytes: %" PRIu64
		"\nbytes_fetched: %" PRIu64 "\nrequests: %" PRIu64
		"\nretries: %" PRIu64 "\nerrors: %" PRIu64 "\nbad_blocks: %" PRIu64
		"\ncache_bytes: %" PRIu64 "\ncache_files: %" PRIu64 "\ncache_evicted: %" PRIu64
		"\nmem_cache_bytes: %" PRIu64 "\nprefetch_total: %" PRIu64 "\nprefetch_done: %" PRIu64
		"\nprefetch_errors: %" PRIu64 "\nprefetch_present: %" PRIu64
		"\nprefetch_skipped: %" PRIu64
		"\nprefetch_hits: %" PRIu64 "\nprefetch_bytes: %" PRIu64
		"\nprefetch_wasted_bytes: %" PRIu64 "\nmirror: %s\n",
		r->idx->version, r->idx->image_size, r->idx->block_size, s.reads,
		s.zero_reads + s.mem_hits + s.disk_hits, s.zero_reads, s.mem_hits, s.disk_hits,
		s.misses, s.errors, s.readahead_fetched, s.readahead_hits, s.readahead_errors,
		s.readahead_unused_bytes, s.bytes_fetched, hs.requests, hs.retries, hs.errors, s.bad_blocks, s.cache_bytes,
		s.cache_files, s.evicted, s.mem_bytes, s.prefetch_total, s.prefetch_done,
		s.prefetch_errors, s.prefetch_present, s.prefetch_skipped, s.prefetch_hits,
		s.prefetch_bytes,
		s.prefetch_unused_bytes, mi[hs.current_mirror].base);
	for (size_t i = 0; i < nm; i++)
		fprintf(f, "mirror.%zu: %s latency_ms=%.1f requests=%" PRIu64 " errors=%" PRIu64 " %s\n",
			i, mi[i].base, mi[i].latency_ms, mi[i].requests, mi[i].errors,
			mi[i].down ? "down" : "up");
	free(mi);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}
