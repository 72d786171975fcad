/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The memory cache of a remote image: decoded blocks by hash, in an LRU bounded by mem_cache.
 * A block is loaded once however many threads want it (the others wait for that load), and
 * readers hold a reference so they copy outside the lock while eviction goes on.
 */
#include "client/remote-private.h"

#include <inttypes.h>
#include <string.h>

int remote_memcache_init(HfcRemote *r)
{
	return hfc_hashmap_new(r->hash_len, &r->entries);
}

static void entry_free(Entry *e)
{
	free(e->data);
	free(e);
}

void remote_memcache_free(HfcRemote *r)
{
	for (Entry *e = r->lru_head; e;) {
		Entry *n = e->next;
		entry_free(e);
		e = n;
	}
	r->lru_head = r->lru_tail = NULL;
	hfc_hashmap_free(r->entries);
	r->entries = NULL;
}

bool remote_memcache_has(const HfcRemote *r, const uint8_t *hash)
{
	return hfc_hashmap_get(r->entries, hash, NULL);
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

void remote_entry_unref(HfcRemote *r, Entry *e)
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
		remote_fetch_wake(r); /* room for more prefetching */
	}
	return e->prefetched;
}

/*
 * Waits for the entry in memory for this hash, if there is one (lock held, a reference taken
 * meanwhile). Returns 1 with the entry READY and still referenced, 0 when there is none, or the
 * -errno of a load that failed, or -ECANCELED when the remote was cancelled while waiting
 * (reference dropped).
 */
static int wait_entry(HfcRemote *r, const uint8_t *hash, Entry **ret)
{
	uint64_t v;
	if (!hfc_hashmap_get(r->entries, hash, &v))
		return 0;
	Entry *e = (Entry *)(uintptr_t)v;
	e->refs++;
	/* A cancel ends the wait too: the loader may be stuck where the cancel cannot reach. */
	while (e->state == ENTRY_LOADING && !r->cancelled)
		pthread_cond_wait(&r->changed, &r->lock);
	if (e->state == ENTRY_READY) {
		*ret = e;
		return 1;
	}
	int k = e->state == ENTRY_FAILED ? e->error : -ECANCELED;
	remote_entry_unref(r, e);
	return k;
}

/* A new LOADING entry for block i, in the map so later readers wait for it; lock held. */
static Entry *entry_new(HfcRemote *r, uint64_t i, Origin origin)
{
	const HfcIndexEntry *ie = &r->idx->entries[i];
	Entry *e = calloc(1, sizeof(*e));
	size_t len = hfc_index_block_len(r->idx, i);
	if (e)
		e->data = malloc(len ? len : 1);
	if (!e || !e->data || hfc_hashmap_put(r->entries, ie->hash, 0, NULL) < 0) {
		if (e)
			entry_free(e);
		return NULL;
	}
	memcpy(e->hash, ie->hash, r->hash_len);
	e->len = len;
	e->stored = ie->stored;
	e->state = ENTRY_LOADING;
	e->refs = 1;
	e->in_map = true;
	e->prefetched = origin == ORIGIN_READAHEAD;
	e->used = origin == ORIGIN_DEMAND;
	(void)hfc_hashmap_set(r->entries, ie->hash, (uint64_t)(uintptr_t)e);
	return e;
}

/* Counts a finished load and makes the entry READY or FAILED; lock held. */
static void entry_loaded(HfcRemote *r, Entry *e, Origin origin, int k, bool disk,
			 uint64_t fetched)
{
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
			e->fetched = (uint32_t)fetched;
			r->st.readahead_unused_bytes += e->fetched;
		}
		r->mem_bytes += e->len;
		if (origin == ORIGIN_PREFETCH && !e->used) {
			/* Pinned until a read uses it: prefetch never evicts its own blocks. */
			e->pinned = true;
			r->pinned_bytes += e->len;
			e->fetched = (uint32_t)fetched;
			r->st.prefetch_bytes += fetched;
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
}

int remote_get_entry(HfcRemote *r, uint64_t i, Origin origin, Entry **ret, bool *ret_hit,
		     uint64_t *ret_fetched, bool *ret_ra_used, HfcErr *err)
{
	bool background = origin != ORIGIN_DEMAND;
	*ret_fetched = 0;
	if (ret_ra_used)
		*ret_ra_used = false;
	pthread_mutex_lock(&r->lock);
	if (r->cancelled) {
		pthread_mutex_unlock(&r->lock);
		return hfc_err_set(err, -ECANCELED, "block %" PRIu64 ": cancelled", i);
	}
	Entry *e = NULL;
	int k = wait_entry(r, r->idx->entries[i].hash, &e);
	if (k > 0) {
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
	if (k < 0) {
		if (!background)
			r->st.errors++;
		pthread_mutex_unlock(&r->lock);
		return hfc_err_set(err, k, "block %" PRIu64 ": could not be fetched", i);
	}
	e = entry_new(r, i, origin);
	pthread_mutex_unlock(&r->lock);
	if (!e)
		return hfc_err_set(err, -ENOMEM, "out of memory");

	bool disk;
	k = remote_load_block(r, i, e->data, background, 0, ret_fetched, &disk, err);

	pthread_mutex_lock(&r->lock);
	entry_loaded(r, e, origin, k, disk, *ret_fetched);
	if (k < 0) {
		remote_entry_unref(r, e);
		pthread_mutex_unlock(&r->lock);
		return k;
	}
	pthread_mutex_unlock(&r->lock);
	*ret = e;
	*ret_hit = false;
	return 0;
}

Entry *remote_entry_begin(HfcRemote *r, uint64_t i, Origin origin)
{
	if (remote_memcache_has(r, r->idx->entries[i].hash))
		return NULL;
	return entry_new(r, i, origin);
}

void remote_entry_finish(HfcRemote *r, Entry *e, Origin origin, int k, bool disk,
			 uint64_t fetched)
{
	entry_loaded(r, e, origin, k, disk, fetched);
	remote_entry_unref(r, e);
}
