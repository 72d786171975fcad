/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A remote image: opening (the mirrors, the index and the version floor, the caches), reading
 * blocks through the memory cache (memcache.c) with readahead (readahead.c), the whole-block
 * path, and the end of it all. DLAHEAD prefetch, the trace and the counters are in prefetch.c,
 * trace.c and stats.c; what they share is remote-private.h.
 */
#include "client/remote-private.h"
#include "client/floor.h"

#include "base/clock.h"
#include "base/pipeline.h"
#include "site/layout.h"
#include "site/store.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>

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
		.prefetch_connections = HFC_WINDOW_MAX,
		.prefetch_memory = UINT64_C(512) << 20,
		.max_image_size = UINT64_C(64) << 30,
	};
}

const HfcIndex *hfc_remote_index(const HfcRemote *r)
{
	return r->idx;
}

const char *hfc_remote_name(const HfcRemote *r)
{
	return r->name;
}

Scratch *remote_scratch_get(HfcRemote *r)
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

void remote_scratch_put(HfcRemote *r, Scratch *s)
{
	pthread_mutex_lock(&r->lock);
	s->next = r->scratch;
	r->scratch = s;
	pthread_mutex_unlock(&r->lock);
}

/* Data that fails the check against its name is dropped and fetched again from another mirror:
 * each mirror gets a chance to serve good data, plus the retries on top. */
int remote_load_block(HfcRemote *r, uint64_t i, void *out, bool background, uint64_t avoid,
		      uint64_t *ret_fetched, bool *ret_disk, HfcErr *err)
{
	*ret_disk = false;
	const HfcIndexEntry *e = &r->idx->entries[i];
	size_t len = hfc_index_block_len(r->idx, i);
	*ret_fetched = 0;
	Scratch *s = remote_scratch_get(r);
	if (!s)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	int k;
	if (r->cache && hfc_cache_get(r->cache, e->hash, e->stored, s->stored) == 0) {
		k = hfc_block_decode_verified(s->codec, r->idx->hash, e->hash, s->stored, e->stored,
					      out, len);
		if (k == 0) {
			*ret_disk = true;
			remote_scratch_put(r, s);
			return 0;
		}
		hfc_cache_drop(r->cache, e->hash);
		remote_count(r, &r->st.bad_blocks, 1);
	}
	char path[HFC_BLOCK_PATH_MAX];
	hfc_block_path(r->idx->hash, e->hash, path);
	size_t nm = hfc_http_mirrors(r->http);
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
		remote_count(r, &r->st.bad_blocks, 1);
		avoid |= UINT64_C(1) << m;
		hfc_err_set(err, -EIO, "%s: does not match its name (bad data from mirror %u)", path,
			    m);
		k = -EIO;
	}
	remote_scratch_put(r, s);
	remote_count(r, &r->st.bytes_fetched, *ret_fetched);
	return k == 0 ? 0 : -EIO;
}

int remote_accept_block(HfcRemote *r, uint64_t i, HfcCodec *codec, const uint8_t *stored,
			size_t n, unsigned m, bool disk, void *out)
{
	const HfcIndexEntry *e = &r->idx->entries[i];
	int k = n == e->stored ? hfc_block_decode_verified(codec, r->idx->hash, e->hash, stored,
							   e->stored, out,
							   hfc_index_block_len(r->idx, i))
			       : -EBADMSG;
	if (k == 0) {
		if (r->cache && !disk)
			(void)hfc_cache_put(r->cache, e->hash, stored, e->stored);
		return 0;
	}
	if (disk && r->cache)
		hfc_cache_drop(r->cache, e->hash);
	else
		hfc_http_report_bad(r->http, m); /* wrong bytes: never used; the others are asked */
	remote_count(r, &r->st.bad_blocks, 1);
	return -EIO;
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
		remote_count(r, &r->st.reads, 1);
		if (!idx->entries[b].stored) {
			remote_count(r, &r->st.zero_reads, 1);
			memset((char *)buf + done, 0, n);
			remote_trace_line(r, b, true, 0, t);
		} else {
			Entry *e;
			bool hit;
			uint64_t fetched;
			HfcErr err;
			if (!missed && r->ra_on) {
				/* About to wait a round trip: start the blocks after it now, too. */
				pthread_mutex_lock(&r->lock);
				missed = !remote_memcache_has(r, idx->entries[b].hash);
				pthread_mutex_unlock(&r->lock);
				if (missed)
					remote_readahead_note(r, b, b, true);
			}
			bool ra_used;
			int k = remote_get_entry(r, b, ORIGIN_DEMAND, &e, &hit, &fetched, &ra_used, &err);
			if (k < 0)
				return -EIO;
			/* A read that lands on a block readahead guessed: keep the window ahead of it. */
			if (ra_used && !missed) {
				missed = true;
				remote_readahead_note(r, b, b, true);
			}
			memcpy((char *)buf + done, e->data + in, n);
			pthread_mutex_lock(&r->lock);
			remote_entry_read(r, e, n);
			remote_entry_unref(r, e);
			pthread_mutex_unlock(&r->lock);
			remote_trace_line(r, b, hit || fetched == 0, fetched, t);
		}
		done += n;
	}
	remote_readahead_note(r, first, last, false);
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
	remote_count(r, &r->st.reads, 1);
	int k = remote_load_block(r, i, out, false, 0, &fetched, &disk, err);
	remote_count(r, k < 0 ? &r->st.errors : disk ? &r->st.disk_hits : &r->st.misses, 1);
	return k;
}

/* The version a disk cache accepted last (0 when none): a floor of its own. */
static uint32_t cache_seen(HfcCache *c)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	HfcIndex *idx;
	if (!c || hfc_cache_get_index(c, HFC_SITE_CURRENT, HFC_INDEX_MAX_BYTES, &buf, &len) < 0 ||
	    hfc_index_parse(buf, len, "cache", &idx, NULL) < 0)
		return 0;
	uint32_t v = idx->version;
	hfc_index_free(idx);
	return v;
}

/* The identities of the site for the version floor: its trusted keys, or its first URL. */
static int floor_ids(const HfcRemote *r, char ids[][64], const char **ret, size_t *ret_n)
{
	size_t n = 0;
	for (size_t i = 0; i < r->o.ntrusted && i < HFC_FLOOR_IDS_MAX; i++) {
		uint8_t id[HFC_KEY_ID_LEN];
		char hex[2 * HFC_KEY_ID_LEN + 1];
		hfc_key_id(r->o.trusted[i], id);
		hfc_hex_encode(id, sizeof(id), hex);
		snprintf(ids[n], 64, "key:%s", hex);
		ret[n] = ids[n];
		n++;
	}
	if (n == 0) {
		ret[0] = r->floor_url;
		n = 1;
	}
	*ret_n = n;
	return 0;
}

/*
 * The checks that make an index trusted, in order: its signature and expiry (with trusted
 * keys), then the version floor; only when all pass is the floor raised. A forged index never
 * touches the client's state.
 */
static int trust_index(HfcRemote *r, const char *buf, size_t len, const char *display, HfcErr *err)
{
	int k;
	if (r->o.ntrusted) {
		k = hfc_index_verify(r->idx, buf, len, r->o.trusted, r->o.ntrusted,
				     r->o.now ? r->o.now : hfc_realtime(), display, err);
		if (k < 0)
			return k;
	}
	/* The floor: the state directory's for this site, and a cache's own (the same site by
	 * whatever mirrors it was reached). */
	_cleanup_(hfc_floor_freep) HfcFloor *f = NULL;
	char idbuf[HFC_FLOOR_IDS_MAX][64];
	const char *ids[HFC_FLOOR_IDS_MAX];
	size_t n = 0;
	int64_t seen = 0;
	if (r->o.state_dir) {
		k = hfc_floor_open(r->o.state_dir, &f, err);
		if (k < 0)
			return k;
		floor_ids(r, idbuf, ids, &n);
		seen = hfc_floor_get(f, ids, n, err);
		if (seen < 0)
			return (int)seen;
	}
	seen = MAX(seen, (int64_t)cache_seen(r->cache));
	r->seen = (uint32_t)seen;
	/* -v N asks for one version on purpose: it is not held to the floor. */
	if (!r->o.version && seen > r->idx->version && !r->o.allow_older)
		return hfc_err_set(err, -ESTALE,
				   "%s: version %u is older than version %" PRId64 " seen before "
				   "(a rollback is published as a newer version; --allow-older)",
				   display, r->idx->version, seen);
	return f ? hfc_floor_raise(f, ids, n, r->idx->version, err) : 0;
}

/* What the download of an index learns from its header as the bytes come in. */
typedef struct IndexFetch {
	uint64_t max_image;
	HfcIndex hdr;   /* the header's values, once it came whole */
	bool peeked;
	size_t max;     /* the most bytes that header allows the file */
	bool too_large; /* its image is larger than max_image: not worth the rest */
} IndexFetch;

/*
 * The bound of an index download: what its header can justify, found as soon as the header is
 * there; an endless or padded body ends there instead of at the 1.27 GB every index may have.
 */
static size_t index_bound(const char *body, size_t len, void *ud)
{
	IndexFetch *f = ud;
	size_t max;
	int k = hfc_index_peek_header(body, len, &f->hdr, &max);
	if (k == 0)
		return HFC_INDEX_MAX_BYTES; /* the header is not whole yet */
	if (k < 0)
		return HFC_HTTP_BODY_ENOUGH; /* the parser will say what is wrong with it */
	f->peeked = true;
	f->max = max;
	if (f->hdr.image_size > f->max_image) {
		f->too_large = true;
		return HFC_HTTP_BODY_ENOUGH;
	}
	return max;
}

/* Refuses an image larger than the client accepts; returns 0 or -EFBIG with err filled. */
static int check_image_size(HfcRemote *r, const char *display, uint64_t size, HfcErr *err)
{
	if (size <= r->o.max_image_size)
		return 0;
	return hfc_err_set(err, -EFBIG,
			   "%s: image-size %" PRIu64 " is more than the %" PRIu64
			   " bytes this client accepts (--max-image-size)",
			   display, size, r->o.max_image_size);
}

static int open_index(HfcRemote *r, HfcErr *err)
{
	char name[HFC_LAYOUT_PATH_MAX], path[HFC_LAYOUT_PATH_MAX], display[4200];
	if (r->o.version)
		hfc_layout_name(HFC_LAYOUT_INDEX, r->o.version, name);
	else
		snprintf(name, sizeof(name), "%s", HFC_SITE_CURRENT);
	hfc_layout_path(HFC_LAYOUT_INDEX, r->o.version, path);
	snprintf(display, sizeof(display), "%s/%s", r->name, path);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	HfcErr ferr = { "" };
	IndexFetch f = { .max_image = r->o.max_image_size };
	/* With a cache to fall back on, ask each mirror once rather than wait out the retries. */
	int k = hfc_http_get_bounded(r->http, path, HFC_INDEX_MAX_BYTES, index_bound, &f,
				     r->cache && r->o.offline_ok ? HFC_HTTP_ONCE : 0, &buf, &len,
				     &ferr);
	bool from_cache = false;
	if (k == 0 && f.too_large)
		return check_image_size(r, display, f.hdr.image_size, err);
	if (k == -EFBIG && f.peeked)
		snprintf(ferr.msg, sizeof(ferr.msg),
			 "%s: longer than the %zu bytes an index of %" PRIu64 " blocks can have",
			 path, f.max, f.hdr.nblocks);
	if (k < 0 && r->cache && r->o.offline_ok &&
	    hfc_cache_get_index(r->cache, name, HFC_INDEX_MAX_BYTES, &buf, &len) == 0) {
		from_cache = true; /* no mirror answered: the index this cache saw last */
		snprintf(display, sizeof(display), "cache/indexes/%s", name);
	} else if (k < 0) {
		return hfc_err_set(err, k, "%s: %s", r->name, ferr.msg);
	}
	k = hfc_index_parse(buf, len, display, &r->idx, err);
	if (k < 0)
		return k;
	k = check_image_size(r, display, r->idx->image_size, err);
	if (k < 0)
		return k;
	if (r->o.version && r->idx->version != r->o.version)
		return hfc_err_set(err, -EBADMSG, "%s:2: version %u in a file named for version %u",
				   display, r->idx->version, r->o.version);
	k = trust_index(r, buf, len, display, err);
	if (k < 0)
		return k;
	r->offline = from_cache;
	if (r->cache && !from_cache) {
		/* Kept for --offline; an allowed older current version does not replace a newer. */
		if (r->o.version || r->seen <= r->idx->version)
			(void)hfc_cache_put_index(r->cache, name, buf, len);
	}
	return 0;
}

bool hfc_remote_offline(const HfcRemote *r)
{
	return r->offline;
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
	pthread_cond_init(&r->done_cond, NULL);
	r->t0 = hfc_monotonic();
	/* Messages name the site by the first base as given, less its credentials. */
	size_t nlen = strlen(bases[0]) + 4;
	r->name = malloc(nlen);
	if (!r->name) {
		free(r);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	hfc_url_redact(bases[0], r->name, nlen);
	/*
	 * The floor's identity of an unsigned site: its first URL, credentials left out; a
	 * directory by its real path, the same site whatever directory the tool is run in.
	 */
	char real[PATH_MAX];
	const char *where = !strstr(bases[0], "://") && realpath(bases[0], real) ? real : r->name;
	r->floor_url = malloc(strlen(where) + 5);
	if (!r->floor_url) {
		free(r->name);
		free(r);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	snprintf(r->floor_url, strlen(where) + 5, "url:%s", where);
	for (char *c = r->floor_url; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == 0x7f)
			*c = '_';
	/* Demand reads have the pool of connections to themselves: the fetcher of readahead
	 * and prefetch has its own (fetcher.c), so a read never waits behind a background one. */
	int k = hfc_http_new(bases, nbases, &o->http, &r->http, err);
	if (k < 0)
		goto fail;
	if (o->cache_dir) {
		/* The cache is opened for md5 first; reopened below if the site uses sha256. */
		k = hfc_cache_open(o->cache_dir, o->cache_size, o->cache_high_pct, o->cache_low_pct,
				   HFC_HASH_MD5, &r->cache, err);
		if (k < 0)
			goto fail;
	}
	k = open_index(r, err);
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
	/* Free buffers kept for reuse: 32 MiB of each kind (at least 8). */
	size_t keep = MAX((size_t)8, (size_t)(32u << 20) / r->idx->block_size);
	k = hfc_bufpool_init(&r->data_pool, r->idx->block_size, keep);
	if (k == 0)
		k = hfc_bufpool_init(&r->raw_pool, r->stored_max, keep);
	if (k < 0)
		goto fail;
	k = remote_memcache_init(r);
	if (k < 0)
		goto fail;
	if (o->prefetch) {
		k = remote_prefetch_open(r, err);
		if (k < 0)
			goto fail;
	}
	if (o->trace_path) {
		k = remote_trace_open(r, err);
		if (k < 0)
			goto fail;
	}
	*ret = r;
	return 0;
fail:
	hfc_remote_free(r);
	return k;
}

int hfc_remote_start(HfcRemote *r)
{
	pthread_mutex_lock(&r->lock);
	r->one_cpu = (r->o.cpus ? r->o.cpus : hfc_cpu_count()) == 1;
	pthread_mutex_unlock(&r->lock);
	int k = remote_readahead_start(r);
	if (k < 0)
		return k;
	return remote_fetcher_start(r);
}

void hfc_remote_cancel(HfcRemote *r)
{
	hfc_http_cancel(r->http);
	pthread_mutex_lock(&r->lock);
	r->cancelled = true;
	/* Readers waiting for another thread's load, and idle workers, look again. */
	pthread_cond_broadcast(&r->changed);
	pthread_cond_broadcast(&r->done_cond);
	remote_fetch_wake(r);
	pthread_mutex_unlock(&r->lock);
}

void hfc_remote_free(HfcRemote *r)
{
	if (!r)
		return;
	/* Workers may be in a transfer (readahead, prefetch): end it rather than wait it out. */
	if (r->http)
		hfc_remote_cancel(r);
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_mutex_unlock(&r->lock);
	remote_fetcher_stop(r);
	remote_readahead_stop(r);
	remote_prefetch_stop(r);
	remote_trace_close(r);
	remote_memcache_free(r);
	hfc_bufpool_destroy(&r->data_pool); /* a pool never made has nothing to free */
	hfc_bufpool_destroy(&r->raw_pool);
	while (r->scratch) {
		Scratch *s = r->scratch;
		r->scratch = s->next;
		hfc_codec_free(s->codec);
		free(s->stored);
		free(s);
	}
	hfc_cache_free(r->cache);
	hfc_index_free(r->idx);
	hfc_http_free(r->http);
	pthread_cond_destroy(&r->done_cond);
	pthread_cond_destroy(&r->changed);
	pthread_mutex_destroy(&r->trace_lock);
	pthread_mutex_destroy(&r->lock);
	free(r->floor_url);
	free(r->name);
	free(r);
}
