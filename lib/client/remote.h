/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A remote image: a site's index fetched and checked, and its blocks read on demand through a
 * memory cache of decoded blocks, an optional disk cache of block files, single-flight
 * downloads, verification against block names with mirror failover, sequential readahead and
 * a trace of block reads. Thread-safe: FUSE threads, readahead workers and ext2 reads share it.
 */

#include "base/sign.h"
#include "client/http.h"
#include "formats/index.h"
#include "base/util.h"

typedef struct HfcRemote HfcRemote;

typedef struct HfcRemoteOptions {
	HfcHttpOptions http;
	uint32_t version;        /* 0: the current index.idx */
	const char *cache_dir;   /* NULL: no disk cache */
	uint64_t cache_size;     /* bound of the disk cache (default 1 GiB) */
	unsigned cache_high_pct; /* evict when above this % of cache_size (default 80) */
	unsigned cache_low_pct;  /* ... down to this % (default 60) */
	uint64_t mem_cache;      /* bytes of decoded blocks kept in memory (default 256 MiB) */
	unsigned readahead;      /* blocks fetched ahead after sequential reads (0: off) */
	const char *trace_path;  /* NULL: no trace */
	bool offline_ok;         /* with a cache: work without any server (index from cache) */
	bool allow_older;        /* accept a current version older than one seen before */
	const char *prefetch;    /* DLAHEAD: a profile file, "auto" (the site's profile of the
				    mounted version), or NULL for none */
	unsigned prefetch_connections; /* background transfers at once, at most (default 64) */
	uint64_t prefetch_memory; /* bound of prefetched blocks not read yet (default 512 MiB) */
	uint64_t max_image_size;  /* larger images are refused before any block (default 64 GiB) */
	HfcKey *const *trusted;   /* with ntrusted > 0: the index must be signed by one of them */
	size_t ntrusted;
	int64_t now;		  /* for signatures' expiry (0: the wall clock) */
	const char *state_dir;	  /* the version floor's directory (NULL: no floor) */
	unsigned cpus;		  /* CPUs to plan decoding for (0: those online) */
} HfcRemoteOptions;

typedef struct HfcRemoteStats {
	/*
	 * Demand block reads: reads = zero_reads + mem_hits + disk_hits + misses + errors (a read
	 * of n blocks counts n). Readahead loads are counted apart, in readahead_*.
	 */
	uint64_t reads, zero_reads, mem_hits, disk_hits, misses;
	uint64_t errors;      /* demand reads that failed (EIO) */
	uint64_t readahead_fetched, readahead_hits, readahead_errors;
	uint64_t readahead_unused_bytes; /* bytes readahead downloaded that no read used (yet) */
	/* Blocks of background loads decoded (and checked) by the decoders ahead of the reads, and
	 * by the read that needed them first; the others wait undecoded. */
	uint64_t decoded_ahead, decoded_on_read;
	uint64_t bytes_fetched;
	uint64_t bad_blocks;  /* fetched or cached data that failed verification */
	uint64_t cache_bytes, cache_files, evicted;
	uint64_t mem_bytes;   /* decoded blocks held in memory */
	/* DLAHEAD prefetch: profile blocks to fetch, done, failed, first used by a read. */
	/* total = done + errors + present once prefetch has walked the whole profile. */
	uint64_t prefetch_total, prefetch_done, prefetch_errors, prefetch_hits, prefetch_skipped;
	uint64_t prefetch_present; /* already in memory (a read came first) when prefetch got there */
	uint64_t prefetch_bytes;        /* bytes downloaded by prefetch */
	uint64_t prefetch_unused_bytes; /* bytes prefetch downloaded for blocks no read used yet */
	/* The background fetcher: requests it keeps in flight now, and the round trip it measured
	 * (ms; < 0 before any). */
	unsigned fetch_window;
	double fetch_rtt_ms;
	HfcHttpStats http;
} HfcRemoteStats;

/* Fills o with the defaults. */
void hfc_remote_options_default(HfcRemoteOptions *o);

/*
 * Opens the remote image at the mirrors' bases: fetches the index, within what its header can
 * justify (docs/FORMAT.md §8), parses it (checking its end line) and refuses an image larger
 * than max_image_size; prepares the caches. Returns 0 or -errno with err filled (-EFBIG for an
 * index or image too large).
 */
int hfc_remote_open(const char *const *bases, size_t nbases, const HfcRemoteOptions *o,
		    HfcRemote **ret, HfcErr *err);

/*
 * Starts the readahead workers (when readahead is on). Separate from open so a daemon can
 * fork after checking the index and before any thread exists. Returns 0 or -errno.
 */
int hfc_remote_start(HfcRemote *r);

/*
 * Shuts the remote down from any thread, with reads in flight: every transfer and every wait
 * (for a connection, a resting mirror, another reader's download) ends at once, and reads fail
 * with -EIO from now on. Returns at once; free the remote once no read is under way any more.
 */
void hfc_remote_cancel(HfcRemote *r);

/*
 * Cancels what the readahead and prefetch workers are fetching, stops them, flushes the trace
 * and frees the remote; NULL is fine. No read may be under way.
 */
void hfc_remote_free(HfcRemote *r);

static inline void hfc_remote_freep(HfcRemote **r)
{
	hfc_remote_free(*r);
}

/* True when the index came from the disk cache because no mirror answered (--offline). */
bool hfc_remote_offline(const HfcRemote *r);

/* Returns the index of the opened version. */
const HfcIndex *hfc_remote_index(const HfcRemote *r);

/* Returns the name of the site for messages: the first base as given, credentials redacted. */
const char *hfc_remote_name(const HfcRemote *r);

/*
 * Reads len bytes of the image at offset into buf (clipped at the image's end). Returns the
 * bytes read, or -EIO when a block could not be had correct from any mirror.
 */
ssize_t hfc_remote_pread(HfcRemote *r, void *buf, size_t len, uint64_t offset);

/*
 * Copies the decoded, verified block i into out (hfc_index_block_len bytes) without caching it
 * in memory (for streaming the whole image). Returns 0 or -errno with err filled.
 */
int hfc_remote_block(HfcRemote *r, uint64_t i, void *out, HfcErr *err);

/* Fills a snapshot of the counters. */
void hfc_remote_stats(HfcRemote *r, HfcRemoteStats *s);

/* Writes a human-readable stats report (the .stats file) into a new buffer; -errno. */
int hfc_remote_stats_text(HfcRemote *r, char **ret, size_t *ret_len);
