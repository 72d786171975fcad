/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The memory cache of a remote image: blocks by hash, in an LRU bounded by mem_cache. A block is
 * loaded once however many threads want it (the others wait for that load), and readers hold a
 * reference so they copy outside the lock while eviction goes on. A background load keeps the
 * bytes as they came (STORED): the decoders decode them ahead where a CPU is free, and a read
 * that comes first decodes them itself, so a guess nobody reads never costs the CPU a decode.
 */
#include "client/remote-private.h"

#include <inttypes.h>
#include <string.h>

int remote_memcache_init(HfcRemote *r)
{
	return hfc_hashmap_new(r->hash_len, &r->entries);
}

static void entry_free(HfcRemote *r, Entry *e)
{
	hfc_bufpool_put(&r->data_pool, e->data);
	hfc_bufpool_put(&r->raw_pool, e->raw);
	free(e);
}

int remote_entry_data(HfcRemote *r, Entry *e)
{
	if (!e->data)
		e->data = hfc_bufpool_get(&r->data_pool);
	return e->data ? 0 : -ENOMEM;
}

/* Gives back an entry's stored bytes once it is decoded (or failed) and nobody decodes them. */
static void raw_release(HfcRemote *r, Entry *e)
{
	if (e->raw && e->raw_users == 0 && e->state != ENTRY_STORED && e->state != ENTRY_DECODING) {
		hfc_bufpool_put(&r->raw_pool, e->raw);
		e->raw = NULL;
	}
}

void remote_memcache_free(HfcRemote *r)
{
	for (Entry *e = r->lru_head; e;) {
		Entry *n = e->next;
		entry_free(r, e);
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
		entry_free(r, e);
}

/* Takes a loaded entry (STORED or later) out of the map, the LRU and the counts; lock held. */
static void entry_drop(HfcRemote *r, Entry *e)
{
	lru_unlink(r, e);
	(void)hfc_hashmap_remove(r->entries, e->hash);
	e->in_map = false;
	r->mem_bytes -= e->len;
	if (e->read_whole)
		r->whole_bytes -= e->len;
	if (e->pinned) {
		e->pinned = false;
		r->pinned_bytes -= e->len;
		remote_fetch_wake(r); /* room for more prefetching */
	}
}

/*
 * The most bytes of blocks read whole that stay in memory: the kernel keeps those in its page
 * cache (the image is mounted with kernel_cache), so more would hold cold copies. Kept few,
 * their buffers go back to the pool while they are still in the CPU's caches: a sequential
 * read of a 1 GiB image took 2.4 s with every block kept in a 256 MiB cache, 2.1 s like this.
 */
static uint64_t whole_max(const HfcRemote *r)
{
	return MAX(r->o.mem_cache / 16, 4 * (uint64_t)r->idx->block_size);
}

/*
 * Keeps the blocks within the memory bound; called with the lock held. Every entry counts its
 * decoded length, stored or not: what it will take once read. The blocks read whole wait at the
 * cold end (remote_entry_read), the last one read last of all, so they go first.
 */
static void mem_evict(HfcRemote *r)
{
	Entry *e = r->lru_tail;
	/* Pinned prefetch blocks have their own bound (prefetch_memory). */
	for (;;) {
		bool over = r->mem_bytes - r->pinned_bytes > r->o.mem_cache;
		bool whole = r->whole_bytes > whole_max(r);
		if (!e || (!over && !whole))
			break;
		Entry *prev = e->prev;
		if (e->refs == 0 && !e->pinned && (over || e->read_whole)) {
			entry_drop(r, e);
			entry_free(r, e);
		} else if (!over && !e->read_whole) {
			break; /* the blocks read whole are all behind */
		}
		e = prev;
	}
}

static void lru_back(HfcRemote *r, Entry *e)
{
	e->prev = r->lru_tail;
	e->next = NULL;
	if (r->lru_tail)
		r->lru_tail->next = e;
	r->lru_tail = e;
	if (!r->lru_head)
		r->lru_head = e;
}

void remote_entry_read(HfcRemote *r, Entry *e, size_t n)
{
	if (e->read_whole || !e->in_map)
		return;
	e->read_bytes = (uint32_t)MIN((uint64_t)e->read_bytes + n, (uint64_t)e->len);
	if (e->read_bytes < e->len)
		return;
	e->read_whole = true;
	r->whole_bytes += e->len;
	lru_unlink(r, e);
	lru_back(r, e);
	mem_evict(r);
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
 * Ends the decode of an entry the caller took (DECODING): READY with out (its decoded bytes) when
 * k is 0, else FAILED with k, out freed. Wakes the waiters. Lock held.
 */
static void decode_end(HfcRemote *r, Entry *e, int k, uint8_t *out)
{
	e->raw_users--;
	if (k == 0) {
		hfc_bufpool_put(&r->data_pool, e->data);
		e->data = out;
		e->state = ENTRY_READY;
	} else {
		hfc_bufpool_put(&r->data_pool, out);
		if (e->in_map)
			entry_drop(r, e);
		e->state = ENTRY_FAILED;
		e->error = k;
	}
	raw_release(r, e);
	pthread_cond_broadcast(&r->changed);
}

/*
 * Loads a block the blocking way for a decode whose stored bytes were bad (-EIO, counted): the
 * other mirrors first, or all of them when the bytes came from the disk cache. Lock not held.
 */
static int decode_reload(HfcRemote *r, Entry *e, bool background, uint8_t *out, HfcErr *err)
{
	uint64_t fetched;
	bool disk;
	uint64_t avoid = e->from_disk ? 0 : UINT64_C(1) << e->mirror;
	return remote_load_block(r, e->block, out, background, avoid, &fetched, &disk, err);
}

/*
 * Decodes a STORED entry now, for the caller (lock held, a reference taken; dropped while it
 * works): takes it (DECODING: other readers wait for it), checks and decodes its stored bytes,
 * and when they are bad loads the block again the blocking way. Returns 0 with it READY, or
 * -errno with it FAILED and err filled.
 */
static int entry_decode(HfcRemote *r, Entry *e, bool background, HfcErr *err)
{
	e->state = ENTRY_DECODING;
	e->raw_users++;
	pthread_mutex_unlock(&r->lock);
	uint8_t *out = hfc_bufpool_get(&r->data_pool);
	Scratch *s = out ? remote_scratch_get(r) : NULL;
	int k = -ENOMEM;
	if (s) {
		k = remote_accept_block(r, e->block, s->codec, e->raw, e->stored, e->mirror,
					e->from_disk, out);
		remote_scratch_put(r, s);
		if (k < 0)
			k = decode_reload(r, e, background, out, err);
	} else {
		hfc_err_set(err, k, "out of memory");
	}
	pthread_mutex_lock(&r->lock);
	decode_end(r, e, k, out);
	r->st.decoded_on_read += k == 0;
	return k;
}

/*
 * Waits for the entry in memory for this hash, if there is one (lock held, a reference taken
 * meanwhile), and decodes it when it is STORED. Returns 1 with the entry READY and still
 * referenced, 0 when there is none, or the -errno of a load that failed, or -ECANCELED when the
 * remote was cancelled while waiting (reference dropped).
 */
static int wait_entry(HfcRemote *r, const uint8_t *hash, bool background, Entry **ret)
{
	uint64_t v;
	if (!hfc_hashmap_get(r->entries, hash, &v))
		return 0;
	Entry *e = (Entry *)(uintptr_t)v;
	e->refs++;
	/* A cancel ends the wait too: the loader may be stuck where the cancel cannot reach. */
	for (;;) {
		while ((e->state == ENTRY_LOADING || e->state == ENTRY_DECODING) && !r->cancelled)
			pthread_cond_wait(&r->changed, &r->lock);
		if (e->state != ENTRY_STORED || r->cancelled)
			break;
		HfcErr err;
		(void)entry_decode(r, e, background, &err);
	}
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
	if (!e || hfc_hashmap_put(r->entries, ie->hash, 0, NULL) < 0) {
		free(e);
		return NULL;
	}
	memcpy(e->hash, ie->hash, r->hash_len);
	e->block = i;
	e->len = hfc_index_block_len(r->idx, i);
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
		e->state = e->data ? ENTRY_READY : ENTRY_STORED;
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
	int k = wait_entry(r, r->idx->entries[i].hash, background, &e);
	if (k > 0) {
		lru_unlink(r, e);
		lru_front(r, e);
		if (e->read_whole && !background) {
			/* Read again: the kernel did not keep it. An entry like any other now. */
			e->read_whole = false;
			e->read_bytes = 0;
			r->whole_bytes -= e->len;
		}
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
	if (e && remote_entry_data(r, e) < 0) {
		(void)hfc_hashmap_remove(r->entries, e->hash);
		entry_free(r, e);
		e = NULL;
	}
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

void remote_entry_decode_ahead(HfcRemote *r, uint64_t i, HfcCodec *codec, uint8_t **spare,
			       bool take)
{
	uint64_t v;
	if (!hfc_hashmap_get(r->entries, r->idx->entries[i].hash, &v))
		return; /* evicted before its turn: a read will load it */
	Entry *e = (Entry *)(uintptr_t)v;
	if (e->state != ENTRY_STORED)
		return;
	/*
	 * Taken, a reader that comes meanwhile waits for this decode rather than do it twice. Not
	 * taken (the idle decoder's way), it decodes the block itself rather than wait for a
	 * decoder that runs only when the CPU has nothing else to do.
	 */
	if (take)
		e->state = ENTRY_DECODING;
	e->refs++;
	e->raw_users++;
	pthread_mutex_unlock(&r->lock);
	int k = -ENOMEM;
	if (!*spare)
		*spare = hfc_bufpool_get(&r->data_pool);
	if (*spare)
		k = remote_accept_block(r, e->block, codec, e->raw, e->stored, e->mirror,
					e->from_disk, *spare);
	pthread_mutex_lock(&r->lock);
	if (!take && e->state == ENTRY_STORED)
		e->state = ENTRY_DECODING; /* not decoded by a reader meanwhile: ours to end */
	else if (!take)
		k = 1; /* a reader decoded it: nothing to do */
	if (k == 0) {
		decode_end(r, e, 0, *spare); /* gives it the bytes */
		*spare = NULL;
		r->st.decoded_ahead++;
	} else if (k < 0) {
		/* Bad bytes (counted), or no memory: the block again the blocking way. */
		pthread_mutex_unlock(&r->lock);
		HfcErr err;
		uint8_t *out = hfc_bufpool_get(&r->data_pool);
		k = out ? decode_reload(r, e, true, out, &err) : -ENOMEM;
		pthread_mutex_lock(&r->lock);
		decode_end(r, e, k, out);
	} else {
		e->raw_users--;
		raw_release(r, e);
	}
	remote_entry_unref(r, e);
}
