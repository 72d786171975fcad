/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The most identities the version floor keeps for one site (its trusted keys). */
#define HFC_FLOOR_IDS_MAX 16

/*
 * Shared by the parts of a remote image; not a public API. remote.c opens, fetches and frees;
 * memcache.c keeps blocks in memory; readahead.c and prefetch.c choose the blocks to load
 * ahead of the reads, and fetcher.c loads them: one thread keeps a window of transfers in
 * flight (window.c) and keeps what comes as it came (stored), decoder threads decode it ahead of
 * the reads where a CPU is free, and a read that comes first decodes it itself; trace.c writes
 * --trace; stats.c reports the counters.
 *
 * One lock (HfcRemote.lock) guards the memory cache, the readahead queue, the prefetch cursor,
 * the fetcher's queues and the counters; the trace has its own, so a slow trace file never
 * holds up a read.
 */

#include "client/remote.h"

#include "client/cache.h"
#include "client/window.h"
#include "base/bufpool.h"
#include "base/codec.h"
#include "base/hashset.h"
#include "formats/profile.h"

#include <pthread.h>
#include <stdio.h>

/*
 * LOADING: its bytes are on their way. STORED: a background load brought its stored bytes (raw),
 * not checked nor decoded yet; the first thread that needs it decodes it (DECODING: the others
 * wait). READY: decoded and checked against its name (data). FAILED: out of the map.
 */
enum { ENTRY_LOADING, ENTRY_STORED, ENTRY_DECODING, ENTRY_READY, ENTRY_FAILED };

/* A block in memory, shared by hash; refcounted so readers copy outside the lock. */
typedef struct Entry {
	uint8_t hash[HFC_HASH_MAX];
	uint64_t block; /* the block it was loaded for (any block of this hash would do) */
	uint8_t *data;  /* READY: the decoded bytes */
	uint8_t *raw;   /* STORED, DECODING: the stored bytes as they came; freed once READY */
	unsigned raw_users; /* threads decoding raw now: it stays until the last is done */
	unsigned mirror;    /* where raw came from, unless from_disk (the disk cache) */
	bool from_disk;
	size_t len;
	uint32_t stored, fetched; /* fetched: bytes downloaded for it (0 from the disk cache) */
	int state, error;
	unsigned refs;
	bool in_map, prefetched, used;
	bool pinned; /* loaded by the profile's prefetch and not read yet: never evicted */
	uint32_t read_bytes; /* bytes of it the reads copied out */
	bool read_whole;     /* every byte read once: in the kernel's page cache now */
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
	char *name; /* the first base as given, without credentials: messages name the site so */
	char *floor_url; /* "url:" and name: the version floor's identity of an unsigned site */
	uint32_t seen;	 /* the version floor before this open (0: none) */
	bool offline;	 /* the index came from the disk cache */
	HfcHttp *http;
	HfcIndex *idx;
	HfcCache *cache;
	size_t hash_len;
	uint32_t stored_max;

	HfcBufPool data_pool; /* buffers of decoded blocks (block_size) */
	HfcBufPool raw_pool;  /* buffers of stored blocks (stored_max) */

	pthread_mutex_t lock;
	pthread_cond_t changed; /* an entry finished loading */
	HfcHashMap *entries;    /* hash -> Entry* */
	Entry *lru_head, *lru_tail;
	uint64_t mem_bytes;
	uint64_t whole_bytes; /* of entries read whole (in mem_bytes) */
	Scratch *scratch;
	bool stopping; /* the fetcher and its workers end */
	bool one_cpu;  /* this machine has one CPU (hfc_remote_start) */
	bool cancelled; /* hfc_remote_cancel(): waits for other threads' loads end too */

	/* readahead */
	bool ra_on; /* the fetcher takes queued blocks */
	uint64_t *ra_queue;
	size_t ra_cap, ra_head, ra_len;
	Stream streams[NSTREAMS];
	uint64_t stream_clock;

	/* DLAHEAD prefetch */
	HfcProfile *profile;
	size_t pf_next;
	uint64_t pinned_bytes; /* decoded bytes of pinned entries (all in mem_bytes) */
	uint64_t pf_reserved;  /* bytes of prefetch loads under way */

	/* the fetcher of readahead and prefetch (fetcher.c) */
	HfcHttpMulti *multi;       /* NULL when no fetcher runs */
	pthread_t fetch_thread;
	bool fetch_started;
	pthread_t *dec_threads;    /* its decoders */
	unsigned ndec;
	struct Job *fetch_jobs;    /* in flight */
	unsigned fetch_inflight, fetch_ra_inflight; /* transfers in flight, readahead's of them */
	unsigned fetch_alive;      /* background loads begun and not ended (in flight, decoding) */
	struct Job *done_head, *done_tail; /* to be fetched the slow way */
	uint64_t *dq;              /* blocks STORED, for the decoders to decode ahead (a ring) */
	size_t dq_head, dq_len;
	pthread_cond_t done_cond;  /* a job or a block for the decoders, or the end */
	unsigned fetch_window;     /* the window now, for readahead's distance */
	double fetch_rtt;          /* the round trip it measures (s; < 0 unknown) */

	/* trace */
	FILE *trace;
	pthread_mutex_t trace_lock;
	double t0;

	HfcRemoteStats st;
};

/* Who asks for a block: a read, sequential readahead, or the DLAHEAD profile's prefetch. */
typedef enum Origin { ORIGIN_DEMAND, ORIGIN_READAHEAD, ORIGIN_PREFETCH } Origin;

/* Adds n to one of the counters in r->st (takes the lock). */
static inline void remote_count(HfcRemote *r, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&r->lock);
	*field += n;
	pthread_mutex_unlock(&r->lock);
}

/* ---- remote.c ---- */

/*
 * Gets block i's bytes, decoded and checked against its name, into out: from the disk cache,
 * else from the mirrors (background: as readahead or prefetch). Returns 0 with *ret_fetched the
 * bytes downloaded (0 for a cache hit) and *ret_disk whether the disk cache had it, or -EIO with
 * err filled.
 */
int remote_load_block(HfcRemote *r, uint64_t i, void *out, bool background, uint64_t avoid,
		      uint64_t *ret_fetched, bool *ret_disk, HfcErr *err);

/*
 * Decodes block i's n stored bytes (from mirror m, or from the disk cache) with codec into out
 * and checks them against its name; good bytes from a mirror go into the disk cache. Returns 0,
 * or -EIO after counting the bad block (and reporting the mirror, or dropping the cached file).
 */
int remote_accept_block(HfcRemote *r, uint64_t i, HfcCodec *codec, const uint8_t *stored,
			size_t n, unsigned m, bool disk, void *out);

/* Per-call scratch from the pool (NULL when out of memory), and back to it. */
Scratch *remote_scratch_get(HfcRemote *r);
void remote_scratch_put(HfcRemote *r, Scratch *s);

/*
 * Starts n threads running fn(r) into a new *threads, counting those started in *count under the
 * lock (a worker exists once counted). Returns 0 or -errno.
 */
int remote_workers_start(HfcRemote *r, void *(*fn)(void *), unsigned n, pthread_t **threads,
			 unsigned *count);

/* Wakes the workers waiting on cond (r->stopping is set), joins them and frees *threads. */
void remote_workers_stop(HfcRemote *r, pthread_cond_t *cond, pthread_t **threads,
			 unsigned *count);

/* ---- memcache.c: the decoded blocks in memory ---- */

/* Makes the empty memory cache; returns 0 or -ENOMEM. */
int remote_memcache_init(HfcRemote *r);

/* Frees every entry and the map (no thread may be using them any more). */
void remote_memcache_free(HfcRemote *r);

/* Returns whether a block of this hash is in memory or being loaded; called with the lock held. */
bool remote_memcache_has(const HfcRemote *r, const uint8_t *hash);

/*
 * Returns 0 with *ret a referenced READY entry for block i: from memory, after waiting for a
 * load already under way (one download for concurrent readers), or loaded now. *ret_hit says
 * whether it was already in memory, *ret_fetched the bytes downloaded for it, *ret_ra_used (may
 * be NULL) whether a read first used a block readahead fetched. Or -errno with err filled.
 */
int remote_get_entry(HfcRemote *r, uint64_t i, Origin origin, Entry **ret, bool *ret_hit,
		     uint64_t *ret_fetched, bool *ret_ra_used, HfcErr *err);

/* Drops a reference from remote_get_entry(); called with the lock held. */
void remote_entry_unref(HfcRemote *r, Entry *e);

/* Notes that a read copied n bytes out of a READY entry; called with the lock held. */
void remote_entry_read(HfcRemote *r, Entry *e, size_t n);

/*
 * A new LOADING entry for block i that the caller will load (readers wait for it), or NULL when
 * one is in memory already or out of memory. Its data is not allocated (remote_entry_data).
 * Lock held.
 */
Entry *remote_entry_begin(HfcRemote *r, uint64_t i, Origin origin);

/* Gives e a data buffer if it has none; returns 0 or -ENOMEM. */
int remote_entry_data(HfcRemote *r, Entry *e);

/*
 * Ends the load of an entry from remote_entry_begin and drops it: READY when it has data, STORED
 * when it has raw bytes (given to it, with mirror and from_disk), FAILED when k < 0. Lock held.
 */
void remote_entry_finish(HfcRemote *r, Entry *e, Origin origin, int k, bool disk,
			 uint64_t fetched);

/*
 * A decoder's turn at block i's entry (lock held, dropped while it works): when it is STORED, its
 * bytes are decoded into *spare (from data_pool when NULL), which the entry keeps (*spare is then
 * NULL). take: the entry is the decoder's meanwhile (DECODING: readers wait); else a reader may
 * decode it meanwhile, and this decode is dropped. Bad bytes: the block again the blocking way.
 */
void remote_entry_decode_ahead(HfcRemote *r, uint64_t i, HfcCodec *codec, uint8_t **spare,
			       bool take);

/* ---- readahead.c: sequential readers get the blocks after theirs early ---- */

/* Notes a read of blocks [first, last] and queues readahead when it continues a sequence. */
void remote_readahead_note(HfcRemote *r, uint64_t first, uint64_t last, bool missed);

/* Makes the readahead queue (when readahead is on); returns 0 or -errno. */
int remote_readahead_start(HfcRemote *r);

/* Takes the next queued block not in memory yet into *block; false when none. Lock held. */
bool remote_readahead_next(HfcRemote *r, uint64_t *block);

/* Frees the queue (the fetcher has stopped). */
void remote_readahead_stop(HfcRemote *r);

/* ---- prefetch.c: DLAHEAD, a boot profile's blocks fetched in its order ---- */

/* Loads the profile of r->o.prefetch and checks it against the index; returns 0 or -errno. */
int remote_prefetch_open(HfcRemote *r, HfcErr *err);

/*
 * Takes the profile's next block to fetch into *block with its memory reserved (*ret_reserved
 * bytes, in pf_reserved until the load ends); false when none is left, or none fits in
 * prefetch_memory until a read uses a pinned block. Lock held.
 */
bool remote_prefetch_next(HfcRemote *r, uint64_t *block, size_t *ret_reserved);

/* Frees the profile (the fetcher has stopped). */
void remote_prefetch_stop(HfcRemote *r);

/* ---- fetcher.c: the window of background transfers for readahead and prefetch ---- */

/* Starts the fetcher and its decoders (when there is readahead or a profile); 0 or -errno. */
int remote_fetcher_start(HfcRemote *r);

/* Ends the fetcher (r->stopping or r->cancelled is set): transfers cut, loads failed. */
void remote_fetcher_stop(HfcRemote *r);

/* Tells the fetcher there is new work or room; lock held. */
void remote_fetch_wake(HfcRemote *r);

/* ---- trace.c: --trace, one line per block read ---- */

/* Creates the trace file of r->o.trace_path with its header; returns 0 or -errno with err. */
int remote_trace_open(HfcRemote *r, HfcErr *err);

/* Writes the line of a read of block that started at t_start (hfc_monotonic); no-op untraced. */
void remote_trace_line(HfcRemote *r, uint64_t block, bool hit, uint64_t bytes, double t_start);

/* Writes out what the trace buffered, so a reader of the file sees every read so far. */
void remote_trace_flush(HfcRemote *r);

/* Closes the trace file. */
void remote_trace_close(HfcRemote *r);
