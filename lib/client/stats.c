/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The counters of a remote image: a snapshot, and the text of a mount's .stats file. */
#include "client/remote-private.h"

#include <inttypes.h>
#include <stdio.h>

void hfc_remote_stats(HfcRemote *r, HfcRemoteStats *s)
{
	pthread_mutex_lock(&r->lock);
	*s = r->st;
	s->mem_bytes = r->mem_bytes;
	s->fetch_window = r->multi || r->fetch_started ? r->fetch_window : 0;
	s->fetch_rtt_ms = r->fetch_rtt >= 0 && s->fetch_window ? r->fetch_rtt * 1000 : -1;
	pthread_mutex_unlock(&r->lock);
	if (r->cache)
		hfc_cache_usage(r->cache, &s->cache_bytes, &s->cache_files, &s->evicted);
	hfc_http_stats(r->http, &s->http, NULL);
	/* Whoever looks at the counters may look at the trace next: let it be complete. */
	remote_trace_flush(r);
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
		"\ndecoded_ahead: %" PRIu64 "\ndecoded_on_read: %" PRIu64
		"\nbytes_fetched: %" PRIu64 "\nrequests: %" PRIu64
		"\nretries: %" PRIu64 "\nerrors: %" PRIu64 "\nbad_blocks: %" PRIu64
		"\ncache_bytes: %" PRIu64 "\ncache_files: %" PRIu64 "\ncache_evicted: %" PRIu64
		"\nmem_cache_bytes: %" PRIu64 "\nprefetch_total: %" PRIu64 "\nprefetch_done: %" PRIu64
		"\nprefetch_errors: %" PRIu64 "\nprefetch_present: %" PRIu64
		"\nprefetch_skipped: %" PRIu64
		"\nprefetch_hits: %" PRIu64 "\nprefetch_bytes: %" PRIu64
		"\nprefetch_wasted_bytes: %" PRIu64 "\nfetch_window: %u\nfetch_rtt_ms: %.1f"
		"\nmirror: %s\n",
		r->idx->version, r->idx->image_size, r->idx->block_size, s.reads,
		s.zero_reads + s.mem_hits + s.disk_hits, s.zero_reads, s.mem_hits, s.disk_hits,
		s.misses, s.errors, s.readahead_fetched, s.readahead_hits, s.readahead_errors,
		s.readahead_unused_bytes, s.decoded_ahead, s.decoded_on_read, s.bytes_fetched,
		hs.requests, hs.retries, hs.errors,
		s.bad_blocks, s.cache_bytes, s.cache_files, s.evicted, s.mem_bytes, s.prefetch_total,
		s.prefetch_done, s.prefetch_errors, s.prefetch_present, s.prefetch_skipped,
		s.prefetch_hits, s.prefetch_bytes, s.prefetch_unused_bytes, s.fetch_window,
		s.fetch_rtt_ms, mi[hs.current_mirror].base);
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
