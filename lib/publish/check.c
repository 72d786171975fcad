/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checking a mirror over HTTP at its own URL, as clients see it: its index.idx and its
 * version's file must be the site's byte for byte, and every block file of the version must be
 * there (HEAD), or be what its name says (deep: GET and decode). The block checks run as jobs
 * of the run's pool; what they find missing or bad is the list a repair sends again.
 */
#include "publish/publish-private.h"

#include "base/clock.h"
#include "base/codec.h"
#include "site/layout.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int publish_mirror_http(const HfcPublishConfig *c, size_t mirror, HfcHttp **ret, HfcErr *err)
{
	const char *base = c->mirrors[mirror].url;
	HfcHttpOptions ho = { .connections = c->verify_connections,
			      .timeout_ms = c->verify_timeout_ms,
			      .retries = c->verify_retries };
	/* One base per fetcher: each mirror is checked on its own, never failed over. */
	return hfc_http_new(&base, 1, &ho, ret, err);
}

int publish_fetch_index(HfcHttp *h, const char *url, const char *path, char **ret_buf,
			size_t *ret_len, HfcIndex **ret_idx, HfcErr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	HfcErr e = { "" };
	int r = hfc_http_get_alloc(h, path, HFC_INDEX_MAX_BYTES, 0, &buf, &len, &e);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s", url, e.msg);
	if (ret_idx) {
		_cleanup_free_ char *display = NULL;
		if (asprintf(&display, "%s/%s", url, path) < 0)
			return hfc_err_set(err, -ENOMEM, "out of memory");
		r = hfc_index_parse(buf, len, display, ret_idx, err);
		if (r < 0)
			return r;
	}
	if (ret_buf)
		*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

/*
 * A web server may serve a replaced file's old bytes for a moment (lighttpd's stat cache, a
 * proxy). Sleeps before the next look, backing off; returns false when the next look would
 * come after deadline.
 */
static bool settle_wait(unsigned *wait_ms, double deadline)
{
	if (hfc_monotonic() + *wait_ms / 1000.0 > deadline)
		return false;
	struct timespec ts = { *wait_ms / 1000, (long)(*wait_ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	*wait_ms = MIN(*wait_ms * 2, 2000u);
	return true;
}

/* Compares a mirror's index.idx with the site's: 0 when identical, else -EBADMSG and why. */
static int compare_index(const PublishSource *src, const char *url, const char *buf, size_t len,
			 HfcMirrorReport *rep, HfcErr *err)
{
	if (len == src->idx_len && memcmp(buf, src->idx_buf, len) == 0) {
		rep->version = src->idx->version;
		return 0;
	}
	_cleanup_(hfc_index_freep) HfcIndex *theirs = NULL;
	if (hfc_index_parse(buf, len, HFC_SITE_CURRENT, &theirs, NULL) < 0)
		return hfc_err_set(err, -EBADMSG,
				   "%s/" HFC_SITE_CURRENT ": not a valid index (the site's is version %u)",
				   url, src->idx->version);
	rep->version = theirs->version;
	if (theirs->version != src->idx->version)
		return hfc_err_set(err, -EBADMSG,
				   "%s/" HFC_SITE_CURRENT ": version %u, the site's is version %u", url,
				   theirs->version, src->idx->version);
	return hfc_err_set(err, -EBADMSG, "%s/" HFC_SITE_CURRENT ": differs from the site's version %u",
			   url, src->idx->version);
}

int publish_check_indexes(PublishRun *run, size_t mirror, HfcHttp *h, HfcMirrorReport *rep,
			  HfcErr *err)
{
	const PublishSource *src = run->src;
	const char *url = run->c->mirrors[mirror].url;
	/* Right after a push, a stale index.idx may still be served for a while. */
	double deadline = hfc_monotonic() + (rep->pushed ? run->c->verify_settle_ms / 1000.0 : 0);
	unsigned wait_ms = 100;
	for (;;) {
		_cleanup_free_ char *buf = NULL;
		size_t len;
		int r = publish_fetch_index(h, url, HFC_SITE_CURRENT, &buf, &len, NULL, err);
		if (r < 0)
			return r;
		r = compare_index(src, url, buf, len, rep, err);
		if (r == 0)
			break;
		if (!settle_wait(&wait_ms, deadline))
			return r;
	}
	char rel[HFC_LAYOUT_PATH_MAX];
	hfc_layout_path(HFC_LAYOUT_INDEX, src->idx->version, rel);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = publish_fetch_index(h, url, rel, &buf, &len, NULL, err);
	if (r < 0)
		return r;
	if (len != src->idx_len || memcmp(buf, src->idx_buf, len) != 0)
		return hfc_err_set(err, -EBADMSG, "%s/%s: differs from the site's", url, rel);
	return 0;
}

/* The block checks of one mirror: shared by the jobs that take blocks from it. */
typedef struct Check {
	PublishRun *run;
	HfcHttp *h;
	HfcMirrorReport *rep;
	bool deep;
	size_t next; /* the next of the site's blocks[] to check (atomic) */
	pthread_mutex_t lock;
	int broken; /* a transport failure: the check stops */
	HfcErr broken_err;
	size_t *bad; /* the site's blocks[] found bad */
	size_t nbad, capbad;
} Check;

static void check_fault(Check *k, size_t i, const char *fmt, ...) _printf_(3, 4);
static void check_fault(Check *k, size_t i, const char *fmt, ...)
{
	pthread_mutex_lock(&k->lock);
	HfcMirrorReport *rep = k->rep;
	if (k->nbad == k->capbad) {
		size_t cap = k->capbad ? k->capbad * 2 : 64;
		size_t *nb = realloc(k->bad, cap * sizeof(size_t));
		if (nb) {
			k->bad = nb;
			k->capbad = cap;
		}
	}
	if (k->nbad < k->capbad)
		k->bad[k->nbad++] = i;
	if (rep->nfaults < HFC_PUBLISH_FAULTS_KEPT) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(rep->faults[rep->nfaults++], sizeof(rep->faults[0]), fmt, ap);
		va_end(ap);
	}
	rep->bad_blocks++;
	pthread_mutex_unlock(&k->lock);
}

static void check_broken(Check *k, int r, const HfcErr *e)
{
	pthread_mutex_lock(&k->lock);
	if (!k->broken) {
		k->broken = r;
		k->broken_err = *e;
	}
	pthread_mutex_unlock(&k->lock);
}

/* A HEAD: the block file is there, with the size the index says. */
static void check_head(Check *k, size_t i, const char *path)
{
	const PublishBlock *b = &k->run->src->blocks[i];
	HfcErr e = { "" };
	int64_t size;
	int r = hfc_http_head(k->h, path, &size, NULL, &e);
	if (r == -ENOENT)
		check_fault(k, i, "%s: missing", path);
	else if (r < 0)
		check_broken(k, r, &e);
	else if (size >= 0 && (uint64_t)size != b->stored)
		check_fault(k, i, "%s: %" PRId64 " bytes, the index says %u", path, size, b->stored);
}

/* A GET: the block file is what its name says (in: room for it, out: for it decoded). */
static void check_get(Check *k, size_t i, const char *path, HfcCodec *codec, uint8_t *in,
		      uint8_t *out)
{
	const PublishBlock *b = &k->run->src->blocks[i];
	HfcErr e = { "" };
	ssize_t n = hfc_http_get(k->h, path, in, b->stored, 0, 0, NULL, &e);
	if (n == -ENOENT)
		check_fault(k, i, "%s: missing", path);
	else if (n == -EFBIG)
		check_fault(k, i, "%s: larger than the %u bytes the index says", path, b->stored);
	else if (n < 0)
		check_broken(k, (int)n, &e);
	else if ((size_t)n != b->stored)
		check_fault(k, i, "%s: %zd bytes, the index says %u", path, n, b->stored);
	else if (hfc_block_decode_verified(codec, k->run->src->idx->hash, b->hash, in, (size_t)n,
					   out, b->len) < 0)
		check_fault(k, i, "%s: content does not match its name", path);
}

/* A job of the pool: checks blocks until none is left or the check broke. */
static void check_job(void *ud)
{
	Check *k = ud;
	const PublishSource *src = k->run->src;
	_cleanup_(hfc_codec_freep) HfcCodec *codec = NULL;
	_cleanup_free_ uint8_t *in = NULL, *out = NULL;
	if (k->deep) {
		in = malloc(hfc_codec_bound(src->idx->block_size));
		out = malloc(src->idx->block_size);
		if (!in || !out || hfc_codec_new(1, &codec) < 0) {
			HfcErr e;
			hfc_err_set(&e, -ENOMEM, "out of memory");
			check_broken(k, -ENOMEM, &e);
			return;
		}
	}
	for (;;) {
		size_t i = __atomic_fetch_add(&k->next, 1, __ATOMIC_RELAXED);
		if (i >= src->nblocks || __atomic_load_n(&k->broken, __ATOMIC_RELAXED))
			break;
		char path[HFC_BLOCK_PATH_MAX];
		hfc_block_path(src->idx->hash, src->blocks[i].hash, path);
		if (k->deep)
			check_get(k, i, path, codec, in, out);
		else
			check_head(k, i, path);
		__atomic_add_fetch(&k->rep->blocks_checked, 1, __ATOMIC_RELAXED);
		publish_progress_add(k->run, src->blocks[i].stored);
	}
}

int publish_check_mirror(PublishRun *run, size_t mirror, HfcHttp *h, HfcMirrorReport *rep,
			 size_t **ret_bad, size_t *ret_nbad, HfcErr *err)
{
	double t0 = hfc_monotonic();
	int r = publish_check_indexes(run, mirror, h, rep, err);
	if (r < 0)
		return r;
	Check k = { .run = run, .h = h, .rep = rep, .deep = run->o->deep };
	pthread_mutex_init(&k.lock, NULL);
	/* As many at once as the mirror's connections; this thread is one of them. */
	size_t jobs = MIN((size_t)run->c->verify_connections, MAX(run->src->nblocks, (size_t)1));
	PublishGroup g = { .pool = run->pool };
	for (size_t i = 1; i < jobs; i++)
		if (publish_pool_submit(&g, check_job, &k) < 0)
			break;
	check_job(&k);
	publish_pool_wait(&g, true, NULL, NULL);
	pthread_mutex_destroy(&k.lock);
	rep->verify_seconds += hfc_monotonic() - t0;
	if (ret_bad && !k.broken && k.nbad == rep->bad_blocks) {
		*ret_bad = TAKE_PTR(k.bad);
		*ret_nbad = k.nbad;
	}
	free(k.bad);
	const char *url = run->c->mirrors[mirror].url;
	if (k.broken)
		return hfc_err_set(err, k.broken, "%s/%s", url, k.broken_err.msg);
	if (rep->bad_blocks)
		return hfc_err_set(err, -EBADMSG, "%" PRIu64 " of %zu block files bad: %s/%s%s",
				   rep->bad_blocks, run->src->nblocks, url, rep->faults[0],
				   rep->bad_blocks > 1 ? " (and more)" : "");
	return 0;
}

int publish_check_repair(PublishRun *run, size_t mirror, HfcHttp *h, HfcMirrorReport *rep,
			 const size_t *bad, size_t nbad, const char **ret_step, HfcErr *err)
{
	*ret_step = "repair";
	int r = publish_push_repair(run, mirror, bad, nbad, rep, err);
	if (r < 0)
		return r;
	*ret_step = "verify";
	/* The replaced files may be served as they were for a while, as index.idx may. */
	double deadline = hfc_monotonic() + run->c->verify_settle_ms / 1000.0;
	unsigned wait_ms = 100;
	for (;;) {
		rep->bad_blocks = rep->blocks_checked = 0;
		rep->nfaults = 0;
		r = publish_check_mirror(run, mirror, h, rep, NULL, NULL, err);
		if (r != -EBADMSG || !rep->bad_blocks || !settle_wait(&wait_ms, deadline))
			return r;
	}
}
