/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * HTTP(S) and file:// fetches from one or more mirrors of a site (libcurl, the one adapter):
 * a pool of persistent handles bounds the transfers at once; each request goes to the best
 * healthy mirror, with per-request timeouts, retries with backoff, and failover.
 */

#include "base/util.h"

typedef struct HfcHttp HfcHttp;

/* The most mirrors of one fetcher: a set of mirrors is a bit set of 64 bits. */
#define HFC_HTTP_MIRRORS_MAX 64

/* Returns the bit set of all n mirrors (n <= HFC_HTTP_MIRRORS_MAX; 64 is all bits, no shift). */
static inline uint64_t hfc_http_all_mirrors(size_t n)
{
	return n >= 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
}

typedef struct HfcHttpOptions {
	unsigned connections;  /* transfers at once (default 8) */
	unsigned timeout_ms;   /* one request, start to end (default 30000) */
	unsigned connect_timeout_ms; /* default 5000 */
	unsigned retries;      /* further attempts after the first (default 4) */
	bool probe;            /* measure each mirror's latency at start (netselect) */
	bool allow_redirect_host; /* follow redirects to another host (never https -> http) */
} HfcHttpOptions;

typedef struct HfcHttpStats {
	uint64_t requests, bytes, retries, errors;
	unsigned current_mirror;
} HfcHttpStats;

typedef struct HfcMirrorInfo {
	const char *base; /* without credentials (hfc_url_redact) */
	double latency_ms; /* probe or running average; < 0 when unknown */
	uint64_t requests, errors;
	bool down;
} HfcMirrorInfo;

/*
 * Makes a fetcher for the site at each base (http://, https://, file:// or a directory path).
 * Returns 0 or -errno with err filled.
 */
int hfc_http_new(const char *const *bases, size_t nbases, const HfcHttpOptions *o, HfcHttp **ret,
		 HfcErr *err);

/* Frees the fetcher; NULL is fine. No request may be under way (see hfc_http_cancel). */
void hfc_http_free(HfcHttp *h);

/*
 * Cancels the fetcher for good, from any thread (shutdown): every transfer under way ends at
 * once, every wait for a connection or for a resting mirror too, and every request from now on
 * fails at once with -ECANCELED. The requests then return; free the fetcher after they did.
 */
void hfc_http_cancel(HfcHttp *h);

static inline void hfc_http_freep(HfcHttp **h)
{
	hfc_http_free(*h);
}

/* Flags for hfc_http_get. */
#define HFC_HTTP_BACKGROUND 1u /* readahead/prefetch: yields connections to demand requests */
#define HFC_HTTP_ONCE 2u       /* one attempt per mirror, no retries or waiting for backoff */

/*
 * Fetches base/path (a checked relative path) into buf (at most max bytes; more is an error).
 * avoid (may be 0) is a bit set of mirrors not to ask, e.g. those that served bad data for this
 * path. Retries transport errors, timeouts and HTTP errors on the next mirror; a mirror that
 * failed rests 0.1 s, doubling while it goes on failing (at most 30 s). Follows at most 3
 * redirects that hfc_http_redirect_check() allows. Returns the number of bytes and sets
 * *ret_mirror (may be NULL), or -ENOENT when every mirror answered 404, -EIO, -ETIMEDOUT,
 * -EFBIG, -EPERM (a redirect refused), or -ECANCELED after hfc_http_cancel(), with err filled.
 */
ssize_t hfc_http_get(HfcHttp *h, const char *path, void *buf, size_t max, uint64_t avoid,
		     unsigned flags, unsigned *ret_mirror, HfcErr *err);

/*
 * Fetches into a new NUL-terminated buffer of at most max bytes, grown as the body comes in.
 * Returns 0 or -errno (see hfc_http_get).
 */
int hfc_http_get_alloc(HfcHttp *h, const char *path, size_t max, unsigned flags, char **ret,
		       size_t *ret_len, HfcErr *err);

/*
 * Bounds a body as it comes in, for hfc_http_get_bounded: given its first len bytes, returns the
 * most bytes the whole body may have (past that the request fails with -EFBIG), or
 * HFC_HTTP_BODY_ENOUGH to end the transfer there and hand the caller those bytes, when they
 * already show what is wrong with the file (the caller's parser then says it).
 */
typedef size_t (*HfcHttpBoundFn)(const char *body, size_t len, void *userdata);
#define HFC_HTTP_BODY_ENOUGH ((size_t)0)

/*
 * hfc_http_get_alloc() with a bound that the body's own first bytes set (e.g. an index's header
 * says how long the index can be): a body that goes over it fails with -EFBIG ("larger than N
 * bytes"), a body the bound stops early is returned as far as it came. Returns 0 or -errno.
 */
int hfc_http_get_bounded(HfcHttp *h, const char *path, size_t max, HfcHttpBoundFn bound,
			 void *userdata, unsigned flags, char **ret, size_t *ret_len, HfcErr *err);

/*
 * Reports that mirror m served data that failed verification: counts an error and ranks it after
 * every other mirror, measured or not, until it next answers a request.
 */
void hfc_http_report_bad(HfcHttp *h, unsigned m);

/* Returns the number of mirrors. */
size_t hfc_http_mirrors(const HfcHttp *h);

/*
 * Returns the base URL of mirror m as messages show it: normalised, with its credentials
 * replaced (hfc_url_redact). Valid as long as the fetcher.
 */
const char *hfc_http_mirror_name(const HfcHttp *h, size_t m);

/*
 * Writes url into out (outlen bytes, truncated) with its user information replaced by "***"
 * (the authority "user:pass@host" becomes "***@host"). Every URL shown is passed through it.
 */
void hfc_url_redact(const char *url, char *out, size_t outlen);

/* Fills stats and, when info is not NULL, one HfcMirrorInfo per mirror. */
void hfc_http_stats(HfcHttp *h, HfcHttpStats *stats, HfcMirrorInfo *info);

/*
 * The redirect policy: returns 0 when a request to URL from may follow a redirect to URL to,
 * else -EPERM with why filled: only http:// and https:// are followed, never https:// down to
 * http://, and another host only when allow_other_host (--allow-redirect-host).
 */
int hfc_http_redirect_check(const char *from, const char *to, bool allow_other_host, char *why,
			    size_t why_len);

/*
 * Asks for the headers of base/path (HEAD; for file:// the file's size) from the best mirror,
 * with the retries and failover of hfc_http_get. Sets *ret_size to the Content-Length (-1 when
 * the server sent none) and *ret_mirror (may be NULL). Returns 0, -ENOENT when every mirror
 * answered 404, or -EIO or -ETIMEDOUT, with err filled.
 */
int hfc_http_head(HfcHttp *h, const char *path, int64_t *ret_size, unsigned *ret_mirror,
		  HfcErr *err);

/*
 * Many background GETs at once, driven by one thread: a curl multi handle whose transfers
 * share connections, multiplexed over HTTP/2 where the server offers it (https://), one per
 * connection on HTTP/1.1, at most max_conns connections per host. Each transfer is one attempt
 * on the best healthy mirror, counted against it like any request; what one attempt cannot
 * settle (a redirect, no healthy mirror, an error) is the caller's to retry with hfc_http_get,
 * which has the failover, backoff and redirect checks. hfc_http_cancel() ends it too.
 */
typedef struct HfcHttpMulti HfcHttpMulti;

/* A finished transfer of an HfcHttpMulti. */
typedef struct HfcHttpDone {
	void *userdata;  /* as given to hfc_http_multi_add */
	ssize_t result;  /* the bytes of a good answer, or -errno (-ECANCELED after a cancel) */
	unsigned mirror; /* who answered */
	double rtt;      /* seconds from the request sent to its last byte; < 0 unknown */
	char what[256];  /* why it failed */
} HfcHttpDone;

/* Makes a multi fetcher on h (which must outlive it); returns 0 or -errno. */
int hfc_http_multi_new(HfcHttp *h, unsigned max_conns, HfcHttpMulti **ret);

/* Ends every transfer under way (their results are lost) and frees it; NULL is fine. */
void hfc_http_multi_free(HfcHttpMulti *m);

/*
 * Starts a GET of base/path into buf (at most max bytes) on the best mirror not in avoid that
 * is up now. Returns 0, -EAGAIN when none is up (the caller waits with hfc_http_get), or
 * -EINVAL, -ENOMEM, -ECANCELED.
 */
int hfc_http_multi_add(HfcHttpMulti *m, const char *path, void *buf, size_t max, uint64_t avoid,
		       void *userdata);

/*
 * Moves the transfers on, waiting at most timeout_ms for something to happen (a transfer
 * ending, hfc_http_multi_wakeup, a cancel). Returns the transfers still under way, or
 * -ECANCELED once the fetcher is cancelled.
 */
int hfc_http_multi_run(HfcHttpMulti *m, int timeout_ms);

/* Takes the next finished transfer into *d; false when there is none. */
bool hfc_http_multi_next(HfcHttpMulti *m, HfcHttpDone *d);

/* Wakes hfc_http_multi_run from any thread (new work). */
void hfc_http_multi_wakeup(HfcHttpMulti *m);

/* Returns the seconds until a mirror is up: 0 when one is up now (none is resting). */
double hfc_http_rest_left(HfcHttp *h);
