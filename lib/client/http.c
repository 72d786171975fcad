/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "client/http.h"

#include "base/clock.h"

#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct Mirror {
	char *base;    /* URL without a trailing slash: what requests go to */
	char *display; /* the same without its credentials: what messages and .stats show */
	double latency_ms; /* running average of time to first byte; < 0 unknown */
	double down_until;  /* monotonic seconds; 0 when up */
	unsigned fails;     /* consecutive failures, for the backoff */
	bool bad;           /* served data that failed verification, and no good answer since */
	uint64_t requests, errors;
} Mirror;

/*
 * A connection of the pool: an easy handle that keeps its connections alive between transfers,
 * run in a multi handle of its own so that another thread can wake a transfer and end it
 * (curl_multi_wakeup), which curl_easy_perform() does not allow.
 */
typedef struct Conn {
	CURL *easy;
	CURLM *multi;
} Conn;

struct HfcHttp {
	HfcHttpOptions o;
	Mirror *mirrors;
	size_t nmirrors;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a connection came back, or the fetcher was cancelled */
	Conn *conns;            /* o.connections of them */
	Conn **idle;            /* those not in a transfer */
	size_t nidle;
	unsigned demand_waiting;
	struct HfcHttpMulti *multis; /* woken by a cancel */
	atomic_bool cancelled;
	HfcHttpStats stats;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Percent-encodes a local path for a file:// URL (keeps '/' and unreserved characters). */
static char *file_url(const char *path)
{
	char abs[PATH_MAX];
	if (!realpath(path, abs))
		return NULL;
	size_t n = strlen(abs);
	char *u = malloc(7 + 3 * n + 1);
	if (!u)
		return NULL;
	char *p = stpcpy(u, "file://");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)abs[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("/-._~", c))
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = 0;
	return u;
}

static char *normalize_base(const char *b)
{
	char *u;
	if (strncmp(b, "http://", 7) == 0 || strncmp(b, "https://", 8) == 0 ||
	    strncmp(b, "file://", 7) == 0)
		u = strdup(b);
	else if (strstr(b, "://"))
		return NULL; /* another scheme: refused */
	else
		u = file_url(b);
	if (!u)
		return NULL;
	size_t n = strlen(u);
	while (n > 8 && u[n - 1] == '/')
		u[--n] = 0;
	return u;
}

void hfc_url_redact(const char *url, char *out, size_t outlen)
{
	/* The user information is what stands before the last '@' of the authority. */
	const char *auth = strstr(url, "://"), *at = NULL;
	if (auth) {
		auth += 3;
		size_t n = strcspn(auth, "/?#");
		for (const char *p = auth; p < auth + n; p++)
			if (*p == '@')
				at = p;
	}
	if (at)
		snprintf(out, outlen, "%.*s***%s", (int)(auth - url), url, at);
	else
		snprintf(out, outlen, "%s", url);
}

/* hfc_url_redact() into a new string. */
static char *redact_dup(const char *url)
{
	size_t n = strlen(url) + 4;
	char *s = malloc(n);
	if (s)
		hfc_url_redact(url, s, n);
	return s;
}

static CURL *handle_new(const HfcHttpOptions *o)
{
	CURL *c = curl_easy_init();
	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
	/* Redirects are followed by perform(), which checks each before any request goes there. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "hfcloop/1");
#if LIBCURL_VERSION_NUM >= 0x075700
	/* A transfer ended by a cancel does not wait for its name lookup to finish. */
	curl_easy_setopt(c, CURLOPT_QUICK_EXIT, 1L);
#endif
	return c;
}

static void probe(HfcHttp *h);

int hfc_http_new(const char *const *bases, size_t nbases, const HfcHttpOptions *o, HfcHttp **ret,
		 HfcErr *err)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK)
		return hfc_err_set(err, -EIO, "libcurl: %s", curl_easy_strerror(curl_init_result));
	if (nbases == 0 || nbases > HFC_HTTP_MIRRORS_MAX)
		return hfc_err_set(err, -EINVAL, "between 1 and %d mirrors expected",
				   HFC_HTTP_MIRRORS_MAX);
	HfcHttp *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->o = *o;
	if (!h->o.connections)
		h->o.connections = 8;
	if (!h->o.timeout_ms)
		h->o.timeout_ms = 30000;
	if (!h->o.connect_timeout_ms)
		h->o.connect_timeout_ms = 5000;
	pthread_mutex_init(&h->lock, NULL);
	/* Waits for a resting mirror are timed on the monotonic clock, like the rest times. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->changed, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&h->cancelled, false);
	h->mirrors = calloc(nbases, sizeof(Mirror));
	h->conns = calloc(h->o.connections, sizeof(Conn));
	h->idle = calloc(h->o.connections, sizeof(Conn *));
	if (!h->mirrors || !h->conns || !h->idle) {
		hfc_http_free(h);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nbases; i++) {
		Mirror *m = &h->mirrors[i];
		m->base = normalize_base(bases[i]);
		m->latency_ms = -1;
		h->nmirrors++;
		if (!m->base) {
			int r = strstr(bases[i], "://") ? -EPROTONOSUPPORT : negative_errno();
			char shown[512];
			hfc_url_redact(bases[i], shown, sizeof(shown));
			hfc_err_set(err, r, "%s: %s", shown,
				    r == -EPROTONOSUPPORT ? "not an http://, https:// or file:// URL"
							  : strerror(-r));
			hfc_http_free(h);
			return r;
		}
		m->display = redact_dup(m->base);
		if (!m->display) {
			hfc_http_free(h);
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < h->o.connections; i++) {
		Conn *k = &h->conns[i];
		k->easy = handle_new(&h->o);
		k->multi = curl_multi_init();
		if (!k->easy || !k->multi) {
			hfc_http_free(h);
			return -ENOMEM;
		}
		h->idle[h->nidle++] = k;
	}
	if (h->o.probe && nbases > 1)
		probe(h);
	*ret = h;
	return 0;
}

void hfc_http_free(HfcHttp *h)
{
	if (!h)
		return;
	for (unsigned i = 0; h->conns && i < h->o.connections; i++) {
		if (h->conns[i].easy)
			curl_easy_cleanup(h->conns[i].easy);
		if (h->conns[i].multi)
			curl_multi_cleanup(h->conns[i].multi);
	}
	for (size_t i = 0; i < h->nmirrors; i++) {
		free(h->mirrors[i].base);
		free(h->mirrors[i].display);
	}
	free(h->mirrors);
	free(h->conns);
	free(h->idle);
	pthread_cond_destroy(&h->changed);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void multis_wakeup(HfcHttp *h);

void hfc_http_cancel(HfcHttp *h)
{
	atomic_store(&h->cancelled, true);
	pthread_mutex_lock(&h->lock);
	/* Wakes the waits for a connection and for a resting mirror ... */
	pthread_cond_broadcast(&h->changed);
	/* ... and every transfer, which then sees the flag (an idle one's next poll returns). */
	for (unsigned i = 0; i < h->o.connections; i++)
		curl_multi_wakeup(h->conns[i].multi);
	multis_wakeup(h);
	pthread_mutex_unlock(&h->lock);
}

size_t hfc_http_mirrors(const HfcHttp *h)
{
	return h->nmirrors;
}

const char *hfc_http_mirror_name(const HfcHttp *h, size_t m)
{
	return m < h->nmirrors ? h->mirrors[m].display : "";
}

/*
 * The rank of mirror i, lowest first: measured mirrors by latency, then the ones not measured
 * yet in the order given, then those that served bad data, until a good answer clears them.
 */
static double rank(const HfcHttp *h, size_t i)
{
	const Mirror *m = &h->mirrors[i];
	if (m->bad)
		return 2e9 + (double)i;
	return m->latency_ms < 0 ? 1e9 + (double)i : m->latency_ms;
}

/* The best mirror not in `avoid`: healthy and best ranked, else the one that comes back first. */
static int pick_mirror(HfcHttp *h, uint64_t avoid, double now)
{
	int best = -1, soonest = -1;
	for (size_t i = 0; i < h->nmirrors; i++) {
		if (avoid & (UINT64_C(1) << i))
			continue;
		Mirror *m = &h->mirrors[i];
		if (m->down_until > now) {
			if (soonest < 0 || m->down_until < h->mirrors[soonest].down_until)
				soonest = (int)i;
			continue;
		}
		if (best < 0 || rank(h, i) < rank(h, (size_t)best))
			best = (int)i;
	}
	return best >= 0 ? best : soonest;
}

/* Copies part `what` of the parsed URL u into out (lowercase); false when it has none. */
static bool url_part(CURLU *u, CURLUPart what, char *out, size_t outlen)
{
	char *v = NULL;
	if (curl_url_get(u, what, &v, 0) != CURLUE_OK || !v)
		return false;
	snprintf(out, outlen, "%s", v);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	curl_free(v);
	return true;
}

int hfc_http_redirect_check(const char *from, const char *to, bool allow_other_host, char *why,
			    size_t why_len)
{
	char fs[16] = "", fh[256] = "", ts[16] = "", th[256] = "";
	CURLU *f = curl_url(), *t = curl_url();
	bool ok = f && t && curl_url_set(f, CURLUPART_URL, from, 0) == CURLUE_OK &&
		  curl_url_set(t, CURLUPART_URL, to, 0) == CURLUE_OK &&
		  url_part(f, CURLUPART_SCHEME, fs, sizeof(fs)) &&
		  url_part(t, CURLUPART_SCHEME, ts, sizeof(ts));
	if (ok) {
		url_part(f, CURLUPART_HOST, fh, sizeof(fh));
		url_part(t, CURLUPART_HOST, th, sizeof(th));
	}
	curl_url_cleanup(f);
	curl_url_cleanup(t);
	const char *no = NULL;
	if (!ok)
		no = "not a URL";
	else if (strcmp(ts, "http") != 0 && strcmp(ts, "https") != 0)
		no = "to a scheme other than http:// and https://";
	else if (strcmp(fs, "https") == 0 && strcmp(ts, "http") == 0)
		no = "from https:// down to http://";
	else if (strcmp(fh, th) != 0 && !allow_other_host)
		no = "to another host";
	if (!no)
		return 0;
	snprintf(why, why_len, "%s", no);
	return -EPERM;
}

/* A connection of the pool, or NULL once the fetcher is cancelled. */
static Conn *take_handle(HfcHttp *h, bool background)
{
	pthread_mutex_lock(&h->lock);
	if (!background)
		h->demand_waiting++;
	/* Background requests leave the last connection to demand reads, and yield to waiters. */
	unsigned keep = background && h->o.connections > 1 ? 2 : 1;
	while (!atomic_load(&h->cancelled) &&
	       (h->nidle < keep || (background && h->demand_waiting > 0)))
		pthread_cond_wait(&h->changed, &h->lock);
	if (!background)
		h->demand_waiting--;
	Conn *k = atomic_load(&h->cancelled) ? NULL : h->idle[--h->nidle];
	pthread_mutex_unlock(&h->lock);
	return k;
}

static void give_handle(HfcHttp *h, Conn *k)
{
	pthread_mutex_lock(&h->lock);
	h->idle[h->nidle++] = k;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
}

/*
 * Waits `secs` for a resting mirror, or less when the fetcher is cancelled meanwhile. Returns 0,
 * or -ECANCELED.
 */
static int rest(HfcHttp *h, double secs)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	double t = (double)end.tv_sec + (double)end.tv_nsec / 1e9 + secs;
	end.tv_sec = (time_t)t;
	end.tv_nsec = (long)((t - (double)end.tv_sec) * 1e9);
	pthread_mutex_lock(&h->lock);
	while (!atomic_load(&h->cancelled) &&
	       pthread_cond_timedwait(&h->changed, &h->lock, &end) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&h->lock);
	return atomic_load(&h->cancelled) ? -ECANCELED : 0;
}

/* Checks a relative path before it becomes part of a URL: no "..", no scheme, no oddities. */
static bool path_ok(const char *p)
{
	if (!*p || *p == '/' || strstr(p, ".."))
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '/' || *p == '.' ||
		      *p == '_' || *p == '-'))
			return false;
	return true;
}

/* One request as the loop sees it: a GET into a caller's buffer, or a HEAD for the size. */
typedef struct Request {
	bool head;
	unsigned timeout_ms; /* 0: the fetcher's */
	CURL *easy;          /* the handle of the transfer under way */
	char *buf;           /* GET: the body goes here, at most max bytes */
	size_t len, max;
	bool grow;           /* buf is ours: grown as the body comes, to max + 1 bytes at most */
	size_t cap;
	HfcHttpBoundFn bound; /* may be NULL */
	void *bound_ud;
	size_t limit;        /* the bound that the body went over */
	bool overflow, enough, nomem;
	int64_t size; /* HEAD: the Content-Length, -1 when the server sent none */
} Request;

static size_t body_write(char *data, size_t size, size_t nmemb, void *ud)
{
	Request *rq = ud;
	size_t n = size * nmemb;
	long code = 0;
	curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &code);
	/* Only a good answer's body is kept: an error page's or a redirect's says nothing. */
	if (rq->head || (code != 200 && code != 0))
		return n;
	if (n > rq->max - rq->len) {
		rq->overflow = true;
		rq->limit = rq->max;
		return 0; /* aborts the transfer */
	}
	if (rq->grow && rq->len + n + 1 > rq->cap) {
		/* Doubling from 64 KiB: memory follows what came, not what may come. */
		size_t cap = MAX(rq->cap ? rq->cap * 2 : (size_t)65536, rq->len + n + 1);
		cap = MIN(cap, rq->max + 1);
		char *nb = realloc(rq->buf, cap);
		if (!nb) {
			rq->nomem = true;
			return 0;
		}
		rq->buf = nb;
		rq->cap = cap;
	}
	memcpy(rq->buf + rq->len, data, n);
	rq->len += n;
	if (rq->bound) {
		size_t b = rq->bound(rq->buf, rq->len, rq->bound_ud);
		if (b == HFC_HTTP_BODY_ENOUGH) {
			rq->enough = true;
			return 0;
		}
		if (rq->len > b) {
			rq->overflow = true;
			rq->limit = b;
			return 0;
		}
	}
	return n;
}

/* What one attempt on one mirror gave. */
typedef struct Answer {
	CURLcode cc;
	long code;
	double ttfb;
	bool is_file;
	bool cancelled;
	char refused[512]; /* a redirect not followed: where to and why */
} Answer;

#define MAX_REDIRECTS 3

/*
 * Runs the transfer set up on k's easy handle to its end, or until the fetcher is cancelled:
 * curl's own poll is woken by hfc_http_cancel(), so a transfer in flight ends at once.
 */
static CURLcode run(HfcHttp *h, Conn *k, bool *ret_cancelled)
{
	*ret_cancelled = false;
	if (curl_multi_add_handle(k->multi, k->easy) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	CURLcode cc = CURLE_RECV_ERROR;
	for (;;) {
		int running = 0;
		if (curl_multi_perform(k->multi, &running) != CURLM_OK)
			break;
		if (!running) {
			CURLMsg *msg;
			int left;
			while ((msg = curl_multi_info_read(k->multi, &left)))
				if (msg->msg == CURLMSG_DONE)
					cc = msg->data.result;
			break;
		}
		if (atomic_load(&h->cancelled)) {
			*ret_cancelled = true;
			cc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_poll(k->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	/* Taking the handle out ends a transfer cut short; its connection is not reused. */
	curl_multi_remove_handle(k->multi, k->easy);
	return cc;
}

/* Performs rq at url on connection k: one transfer, no redirect followed. */
static void transfer(HfcHttp *h, Conn *k, const char *url, Request *rq, Answer *a)
{
	CURL *c = k->easy;
	rq->len = 0;
	rq->overflow = rq->enough = rq->nomem = false;
	rq->easy = c;
	curl_easy_setopt(c, CURLOPT_URL, url);
	/* The pool's handles serve GETs and HEADs alike: every request sets its own method. */
	if (rq->head)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
			 (long)(rq->timeout_ms ? rq->timeout_ms : h->o.timeout_ms));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, rq);
	a->cc = run(h, k, &a->cancelled);
	curl_off_t cl = -1;
	a->code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->code);
	curl_easy_getinfo(c, CURLINFO_STARTTRANSFER_TIME, &a->ttfb);
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	rq->size = cl;
}

static bool is_redirect(long code)
{
	return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

/*
 * Performs rq on mirror m with a connection of the pool, following up to MAX_REDIRECTS
 * redirects, each only when hfc_http_redirect_check() allows it: the check comes before any
 * request goes to the new place, which curl's own following would not give.
 */
static Answer perform(HfcHttp *h, int m, const char *path, Request *rq, bool background)
{
	char url[PATH_MAX];
	snprintf(url, sizeof(url), "%s/%s", h->mirrors[m].base, path);
	Answer a = { .is_file = strncmp(url, "file://", 7) == 0 };
	Conn *k = take_handle(h, background);
	if (!k) {
		a.cancelled = true;
		return a;
	}
	for (unsigned hop = 0;; hop++) {
		transfer(h, k, url, rq, &a);
		if (a.cc != CURLE_OK || !is_redirect(a.code))
			break;
		char *loc = NULL, why[128], shown[256];
		curl_easy_getinfo(k->easy, CURLINFO_REDIRECT_URL, &loc);
		hfc_url_redact(loc ? loc : "", shown, sizeof(shown));
		if (!loc)
			snprintf(why, sizeof(why), "without a location");
		else if (hop == MAX_REDIRECTS)
			snprintf(why, sizeof(why), "one too many (at most %d)", MAX_REDIRECTS);
		else if (strlen(loc) >= sizeof(url))
			snprintf(why, sizeof(why), "to a URL too long");
		else if (hfc_http_redirect_check(url, loc, h->o.allow_redirect_host, why,
						 sizeof(why)) == 0) {
			snprintf(url, sizeof(url), "%s", loc);
			continue;
		}
		snprintf(a.refused, sizeof(a.refused), "redirect %s%s refused: %s",
			 loc ? "to " : "", shown, why);
		break;
	}
	give_handle(h, k);
	return a;
}

/*
 * True when an answer is a success: status 200, or a file:// read, whole or ended early because
 * the bound said its first bytes were enough.
 */
static bool answer_ok(const Answer *a, const Request *rq)
{
	bool done = a->cc == CURLE_OK || (rq && rq->enough && a->cc == CURLE_WRITE_ERROR);
	return done && (a->code == 200 || (a->is_file && a->code == 0));
}

/* netselect: ask every mirror for index.idx's headers, keep the fastest first. */
static void probe(HfcHttp *h)
{
	for (size_t i = 0; i < h->nmirrors; i++) {
		Request rq = { .head = true, .timeout_ms = MIN(h->o.timeout_ms, 3000u) };
		Answer a = perform(h, (int)i, "index.idx", &rq, false);
		if (answer_ok(&a, NULL))
			h->mirrors[i].latency_ms = a.ttfb * 1000;
		else
			h->mirrors[i].down_until = hfc_monotonic() + 5;
	}
}

/*
 * Counts an answer of mirror m against it and says what it means: 0 for a success, else -errno
 * with what filled; a mirror that failed rests a while. A transfer cut short by cancelling
 * counts against no one. Called with the lock held.
 */
static int judge(HfcHttp *h, int m, const Answer *a, const Request *rq, char *what,
		 size_t what_len)
{
	Mirror *mi = &h->mirrors[m];
	if (a->cancelled) {
		snprintf(what, what_len, "cancelled");
		return -ECANCELED;
	}
	if (rq->nomem) {
		snprintf(what, what_len, "out of memory");
		return -ENOMEM;
	}
	mi->requests++;
	h->stats.requests++;
	if (answer_ok(a, rq)) {
		mi->fails = 0;
		mi->down_until = 0;
		/* A good answer after bad data starts the average afresh (report_bad may undo it). */
		mi->latency_ms = mi->latency_ms < 0 || mi->bad
					 ? a->ttfb * 1000
					 : 0.8 * mi->latency_ms + 0.2 * a->ttfb * 1000;
		mi->bad = false;
		h->stats.bytes += rq->len;
		return 0;
	}
	mi->errors++;
	h->stats.errors++;
	if (a->refused[0]) {
		/* The mirror's setup, not a passing failure: no rest, and no use asking again. */
		snprintf(what, what_len, "%s", a->refused);
		return -EPERM;
	}
	if (rq->overflow) {
		snprintf(what, what_len, "larger than %zu bytes", rq->limit);
		return -EFBIG;
	}
	if (a->code == 404 || a->code == 410 || a->cc == CURLE_FILE_COULDNT_READ_FILE) {
		snprintf(what, what_len, "not found");
		return -ENOENT;
	}
	/* Transport error, timeout or server error. */
	if (a->cc != CURLE_OK)
		snprintf(what, what_len, "%s", curl_easy_strerror(a->cc));
	else
		snprintf(what, what_len, "HTTP status %ld", a->code);
	/* The one backoff: the mirror rests 0.1 s, then doubling up to 30 s while failures go on. */
	double backoff = MIN(0.1 * (double)(1u << MIN(mi->fails, 9u)), 30.0);
	mi->fails++;
	mi->down_until = hfc_monotonic() + backoff;
	return a->cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
}

/*
 * The one retry and failover loop of GET and HEAD: each attempt goes to the best mirror not
 * excluded, waiting for a resting one only when no other is left. Returns the mirror that
 * answered, or -errno with err filled (see hfc_http_get).
 */
static int request(HfcHttp *h, const char *path, Request *rq, uint64_t avoid, unsigned flags,
		   HfcErr *err)
{
	if (!path_ok(path))
		return hfc_err_set(err, -EINVAL, "%s: not a site path", path);
	uint64_t all = hfc_http_all_mirrors(h->nmirrors);
	uint64_t missing = 0; /* mirrors that answered 404, too much or a redirect refused */
	uint64_t tried = 0;
	int last = -EIO, said = 0;
	char what[600] = "", said_what[600] = "";
	unsigned attempts = flags & HFC_HTTP_ONCE ? (unsigned)h->nmirrors : h->o.retries + 1;
	for (unsigned attempt = 0; attempt < attempts && last != -ECANCELED && last != -ENOMEM;
	     attempt++) {
		if (atomic_load(&h->cancelled)) {
			last = -ECANCELED;
			snprintf(what, sizeof(what), "cancelled");
			break;
		}
		pthread_mutex_lock(&h->lock);
		uint64_t skip = avoid | missing;
		/* When every mirror is excluded, bad data beats none: retry the avoided ones. */
		if ((skip & all) == all)
			skip = missing;
		int m = pick_mirror(h, skip, hfc_monotonic());
		double wait = m >= 0 ? h->mirrors[m].down_until - hfc_monotonic() : 0;
		if (attempt > 0 && m >= 0)
			h->stats.retries++;
		pthread_mutex_unlock(&h->lock);
		if (m < 0 || ((flags & HFC_HTTP_ONCE) && (tried & (UINT64_C(1) << m))))
			break; /* every mirror said 404, or each was asked once */
		tried |= UINT64_C(1) << m;
		/* Only down mirrors are left: wait for the first to come back. */
		if (wait > 0 && !(flags & HFC_HTTP_ONCE) && rest(h, wait) < 0) {
			last = -ECANCELED;
			snprintf(what, sizeof(what), "cancelled");
			break;
		}

		Answer a = perform(h, m, path, rq, flags & HFC_HTTP_BACKGROUND);
		pthread_mutex_lock(&h->lock);
		last = judge(h, m, &a, rq, what, sizeof(what));
		pthread_mutex_unlock(&h->lock);
		if (last == 0)
			return m;
		/* The same answer would come again: no use asking that mirror. */
		if (last == -EFBIG || last == -ENOENT || last == -EPERM)
			missing |= UINT64_C(1) << m;
		if (last == -EFBIG || last == -EPERM) {
			said = last;
			memcpy(said_what, what, sizeof(what));
		}
	}
	/* A mirror that has the file but gave it wrongly says more than one that has it not. */
	if (last == -ENOENT && said) {
		last = said;
		memcpy(what, said_what, sizeof(what));
	}
	return hfc_err_set(err, last, "%s: %s", path, what[0] ? what : "no mirror answered");
}

ssize_t hfc_http_get(HfcHttp *h, const char *path, void *buf, size_t max, uint64_t avoid,
		     unsigned flags, unsigned *ret_mirror, HfcErr *err)
{
	Request rq = { .buf = buf, .max = max };
	int m = request(h, path, &rq, avoid, flags, err);
	if (m < 0)
		return m;
	if (ret_mirror)
		*ret_mirror = (unsigned)m;
	return (ssize_t)rq.len;
}

int hfc_http_get_bounded(HfcHttp *h, const char *path, size_t max, HfcHttpBoundFn bound,
			 void *userdata, unsigned flags, char **ret, size_t *ret_len, HfcErr *err)
{
	Request rq = { .max = max, .grow = true, .bound = bound, .bound_ud = userdata };
	int m = request(h, path, &rq, 0, flags, err);
	if (m >= 0 && !rq.buf && !(rq.buf = malloc(1)))
		m = hfc_err_set(err, -ENOMEM, "out of memory");
	if (m < 0) {
		free(rq.buf);
		return m;
	}
	rq.buf[rq.len] = 0;
	*ret = rq.buf;
	*ret_len = rq.len;
	return 0;
}

int hfc_http_get_alloc(HfcHttp *h, const char *path, size_t max, unsigned flags, char **ret,
		       size_t *ret_len, HfcErr *err)
{
	return hfc_http_get_bounded(h, path, max, NULL, NULL, flags, ret, ret_len, err);
}

void hfc_http_report_bad(HfcHttp *h, unsigned m)
{
	pthread_mutex_lock(&h->lock);
	if (m < h->nmirrors) {
		h->mirrors[m].errors++;
		h->stats.errors++;
		/* Served bad data: rank it last, after the unmeasured ones, until it answers again. */
		h->mirrors[m].bad = true;
	}
	pthread_mutex_unlock(&h->lock);
}

void hfc_http_stats(HfcHttp *h, HfcHttpStats *stats, HfcMirrorInfo *info)
{
	pthread_mutex_lock(&h->lock);
	double now = hfc_monotonic();
	*stats = h->stats;
	int cur = pick_mirror(h, 0, now);
	stats->current_mirror = cur < 0 ? 0 : (unsigned)cur;
	for (size_t i = 0; info && i < h->nmirrors; i++) {
		const Mirror *m = &h->mirrors[i];
		info[i] = (HfcMirrorInfo){ .base = m->display, .latency_ms = m->latency_ms,
					   .requests = m->requests, .errors = m->errors,
					   .down = m->down_until > now };
	}
	pthread_mutex_unlock(&h->lock);
}

int hfc_http_head(HfcHttp *h, const char *path, int64_t *ret_size, unsigned *ret_mirror,
		  HfcErr *err)
{
	Request rq = { .head = true };
	int m = request(h, path, &rq, 0, 0, err);
	if (m < 0)
		return m;
	*ret_size = rq.size;
	if (ret_mirror)
		*ret_mirror = (unsigned)m;
	return 0;
}

/* ---- many background GETs in one multi handle ---- */

/* One transfer of a multi fetcher; kept on a free list with its easy handle for the next. */
typedef struct Xfer {
	CURL *easy;
	Request rq;
	int mirror;
	bool is_file;
	void *userdata;
	HfcHttpDone done;
	struct Xfer *next;
} Xfer;

struct HfcHttpMulti {
	HfcHttp *h;
	CURLM *multi;
	Xfer *running, *free;
	Xfer *done, **done_tail; /* finished, for hfc_http_multi_next, oldest first */
	struct HfcHttpMulti *next; /* in h->multis */
	unsigned nrunning;
};

/* Called with h->lock held. */
static void multis_wakeup(HfcHttp *h)
{
	for (HfcHttpMulti *m = h->multis; m; m = m->next)
		curl_multi_wakeup(m->multi);
}

int hfc_http_multi_new(HfcHttp *h, unsigned max_conns, HfcHttpMulti **ret)
{
	HfcHttpMulti *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->h = h;
	m->done_tail = &m->done;
	m->multi = curl_multi_init();
	if (!m->multi) {
		free(m);
		return -ENOMEM;
	}
	long conns = (long)MAX(1u, max_conns);
	/* One connection carries every transfer where HTTP/2 multiplexes them; on HTTP/1.1
	 * each transfer in flight needs a connection, up to the bound. */
	curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	/* Connections kept open between bursts: as many as a burst may use, per mirror. */
	curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS,
			  conns * (long)MIN(h->nmirrors, (size_t)4));
	pthread_mutex_lock(&h->lock);
	m->next = h->multis;
	h->multis = m;
	pthread_mutex_unlock(&h->lock);
	*ret = m;
	return 0;
}

static void xfer_free_list(Xfer *x)
{
	while (x) {
		Xfer *n = x->next;
		curl_easy_cleanup(x->easy);
		free(x);
		x = n;
	}
}

void hfc_http_multi_free(HfcHttpMulti *m)
{
	if (!m)
		return;
	HfcHttp *h = m->h;
	pthread_mutex_lock(&h->lock);
	for (HfcHttpMulti **p = &h->multis; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	pthread_mutex_unlock(&h->lock);
	for (Xfer *x = m->running; x; x = x->next)
		curl_multi_remove_handle(m->multi, x->easy);
	xfer_free_list(m->running);
	xfer_free_list(m->done);
	xfer_free_list(m->free);
	curl_multi_cleanup(m->multi);
	free(m);
}

double hfc_http_rest_left(HfcHttp *h)
{
	pthread_mutex_lock(&h->lock);
	double now = hfc_monotonic();
	int mi = pick_mirror(h, 0, now);
	double left = mi >= 0 ? h->mirrors[mi].down_until - now : 0;
	pthread_mutex_unlock(&h->lock);
	return left > 0 ? left : 0;
}

void hfc_http_multi_wakeup(HfcHttpMulti *m)
{
	curl_multi_wakeup(m->multi);
}

int hfc_http_multi_add(HfcHttpMulti *m, const char *path, void *buf, size_t max, uint64_t avoid,
		       void *userdata)
{
	HfcHttp *h = m->h;
	if (atomic_load(&h->cancelled))
		return -ECANCELED;
	if (!path_ok(path))
		return -EINVAL;
	uint64_t all = hfc_http_all_mirrors(h->nmirrors);
	pthread_mutex_lock(&h->lock);
	double now = hfc_monotonic();
	int mi = pick_mirror(h, (avoid & all) == all ? 0 : avoid, now);
	bool up = mi >= 0 && h->mirrors[mi].down_until <= now;
	pthread_mutex_unlock(&h->lock);
	if (!up)
		return -EAGAIN; /* only resting mirrors: the blocking path waits for one */
	Xfer *x = m->free;
	if (x) {
		m->free = x->next;
	} else {
		x = calloc(1, sizeof(*x));
		if (!x || !(x->easy = handle_new(&h->o))) {
			free(x);
			return -ENOMEM;
		}
		curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	}
	char url[PATH_MAX];
	snprintf(url, sizeof(url), "%s/%s", h->mirrors[mi].base, path);
	x->rq = (Request){ .buf = buf, .max = max, .easy = x->easy };
	x->mirror = mi;
	x->is_file = strncmp(url, "file://", 7) == 0;
	x->userdata = userdata;
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	/*
	 * Over https:// a new transfer waits for a connection that may multiplex it (HTTP/2, as
	 * ALPN says) rather than open one. Not over http://: HTTP/2 is asked for with TLS only,
	 * and there the wait would be for the first answer on the connection, however long a
	 * slow server holds it.
	 */
	curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, strncmp(url, "https://", 8) == 0 ? 1L : 0L);
	curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)h->o.timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, &x->rq);
	if (curl_multi_add_handle(m->multi, x->easy) != CURLM_OK) {
		x->next = m->free;
		m->free = x;
		return -ENOMEM;
	}
	x->next = m->running;
	m->running = x;
	m->nrunning++;
	return 0;
}

/* A transfer ended (cc): takes it out of the multi and judges its answer into x->done. */
static void multi_finish(HfcHttpMulti *m, Xfer *x, CURLcode cc)
{
	HfcHttp *h = m->h;
	curl_multi_remove_handle(m->multi, x->easy);
	for (Xfer **p = &m->running; *p; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			break;
		}
	m->nrunning--;
	Answer a = { .cc = cc, .is_file = x->is_file };
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &a.code);
	curl_easy_getinfo(x->easy, CURLINFO_STARTTRANSFER_TIME, &a.ttfb);
	/* From the request sent to the last byte: the time one request holds its place in the
	 * window, round trip and body (over a young connection, its slow start) together. */
	curl_off_t pre = 0, total = 0;
	curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
	curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total);
	HfcHttpDone *d = &x->done;
	*d = (HfcHttpDone){ .userdata = x->userdata, .mirror = (unsigned)x->mirror,
			    .rtt = total > 0 && total >= pre ? (double)(total - pre) / 1e6 : -1 };
	if (cc == CURLE_OK && is_redirect(a.code)) {
		/* Followed by the blocking path, which checks where it goes first. */
		d->result = -EAGAIN;
		snprintf(d->what, sizeof(d->what), "redirected");
	} else {
		pthread_mutex_lock(&h->lock);
		int k = judge(h, x->mirror, &a, &x->rq, d->what, sizeof(d->what));
		pthread_mutex_unlock(&h->lock);
		d->result = k == 0 ? (ssize_t)x->rq.len : k;
	}
	x->next = NULL;
	*m->done_tail = x;
	m->done_tail = &x->next;
}

/* Takes every transfer curl says ended. */
static void multi_collect(HfcHttpMulti *m)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		Xfer *x = NULL;
		CURLcode cc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x)
			multi_finish(m, x, cc);
	}
}

int hfc_http_multi_run(HfcHttpMulti *m, int timeout_ms)
{
	if (atomic_load(&m->h->cancelled))
		return -ECANCELED;
	int running = 0;
	curl_multi_perform(m->multi, &running);
	multi_collect(m);
	/* No wait while a finished transfer is there to take. */
	if (!m->done && timeout_ms > 0) {
		curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL);
		curl_multi_perform(m->multi, &running);
		multi_collect(m);
	}
	return atomic_load(&m->h->cancelled) ? -ECANCELED : (int)m->nrunning;
}

bool hfc_http_multi_next(HfcHttpMulti *m, HfcHttpDone *d)
{
	Xfer *x = m->done;
	if (!x)
		return false;
	m->done = x->next;
	if (!m->done)
		m->done_tail = &m->done;
	*d = x->done;
	x->next = m->free;
	m->free = x;
	return true;
}
