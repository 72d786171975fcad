/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for http.c on its own: a tiny HTTP/1.1 server on 127.0.0.1 (a thread of this test,
 * an ephemeral port) whose first path segment picks a canned behaviour, so that each mirror of
 * a fetcher is one behaviour: "good", "good2" and "good3" serve files, "e404" answers 404,
 * "e500" and "e500b" answer 500, "slow" answers only after the client gave up, "nolen" sends no
 * Content-Length, "endless" sends bytes until the client goes, "redir", "redirx" and
 * "redirloop" redirect (to good, to good on another host name, to themselves). Plus file://
 * and plain directory mirrors. Every wait is bounded.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "base/clock.h"
#include "client/http.h"
#include "helpers.h"

#define SMALL "hello from a mirror\n"
#define BIG_LEN (200 * 1024 + 17)
#define HUGE_LEN (1536 * 1024 + 5) /* more than hfc_http_get_alloc's first guess, 1 MiB */
#define SLOW_HOLD_MS 5000          /* the slow mirror's answer, long after any client's timeout */

static const char *const behaviours[] = { "good", "good2", "good3", "e404", "e500", "e500b",
					   "slow", "nolen", "redir", "redirx", "redirloop", "endless" };
enum {
	B_GOOD, B_GOOD2, B_GOOD3, B_E404, B_E500, B_E500B, B_SLOW, B_NOLEN, B_REDIR, B_REDIRX,
	B_REDIRLOOP, B_ENDLESS, NB
};

static struct {
	int lfd, stop[2];
	unsigned port;
	pthread_t tid;
	atomic_uint asked[NB]; /* requests each behaviour received */
	atomic_uint live;      /* connection threads still running (they read big and huge) */
	uint8_t *big, *huge;
} srv;

static char files[256]; /* the file:// mirror: small.txt and big.bin */

/* ---- the server ---- */

/* Sends all of buf; a client that went away is not an error of the server. */
static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Reads a request's head (up to the empty line) into buf within 5 s; returns its length or -1. */
static ssize_t read_head(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	while (len + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			return -1;
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = 0;
		if (strstr(buf, "\r\n\r\n"))
			return (ssize_t)len;
	}
	return -1;
}

static void answer(int fd, bool head, int status, const void *body, size_t len, bool with_len)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\n", status,
			 status == 200 ? "OK" : status == 404 ? "Not Found" : "Internal Server Error");
	if (with_len)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Content-Length: %zu\r\n", len);
	n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Connection: close\r\n\r\n");
	send_all(fd, hdr, (size_t)n);
	if (!head)
		send_all(fd, body, len);
}

/* A 302 to location, with a small HTML body as servers send. */
static void redirect(int fd, const char *location)
{
	char hdr[1024];
	const char *body = "<html>moved</html>\n";
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 location, strlen(body), body);
	send_all(fd, hdr, (size_t)n);
}

/* good, good2, good3: x/small.txt, x/big.bin, x/huge.bin, index.idx; anything else is missing. */
static void serve_file(int fd, bool head, const char *rest)
{
	if (!strcmp(rest, "x/small.txt") || !strcmp(rest, "index.idx"))
		answer(fd, head, 200, SMALL, strlen(SMALL), true);
	else if (!strcmp(rest, "x/big.bin"))
		answer(fd, head, 200, srv.big, BIG_LEN, true);
	else if (!strcmp(rest, "x/huge.bin"))
		answer(fd, head, 200, srv.huge, HUGE_LEN, true);
	else
		answer(fd, head, 404, "", 0, true);
}

static void serve_one(int fd)
{
	char req[4096], method[8], path[1024];
	if (read_head(fd, req, sizeof(req)) < 0 || sscanf(req, "%7s %1023s", method, path) != 2)
		return;
	bool head = !strcmp(method, "HEAD");
	const char *name = path + 1, *slash = strchr(name, '/');
	size_t nlen = slash ? (size_t)(slash - name) : strlen(name);
	const char *rest = slash ? slash + 1 : "";
	int b = -1;
	for (int i = 0; i < NB; i++)
		if (strlen(behaviours[i]) == nlen && !strncmp(name, behaviours[i], nlen))
			b = i;
	if (b < 0) {
		answer(fd, head, 404, "", 0, true);
		return;
	}
	atomic_fetch_add(&srv.asked[b], 1);
	switch (b) {
	case B_GOOD:
	case B_GOOD2:
	case B_GOOD3:
		serve_file(fd, head, rest);
		break;
	case B_E404:
		answer(fd, head, 404, "", 0, true);
		break;
	case B_E500:
	case B_E500B:
		answer(fd, head, 500, "", 0, true);
		break;
	case B_SLOW: {
		/* Answer only when the client is still there after SLOW_HOLD_MS: it never is. */
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, SLOW_HOLD_MS) == 0)
			answer(fd, head, 200, SMALL, strlen(SMALL), true);
		break;
	}
	case B_NOLEN:
		answer(fd, head, 200, SMALL, strlen(SMALL), false);
		break;
	case B_ENDLESS: {
		/* No length, and bytes until the client goes away (or SLOW_HOLD_MS pass). */
		answer(fd, true, 200, NULL, 0, false);
		static const char line[] = "0123456789abcdef0123456789abcdef 4242\n";
		double end = hfc_monotonic() + SLOW_HOLD_MS / 1000.0;
		while (hfc_monotonic() < end && send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL) > 0)
			;
		break;
	}
	case B_REDIR:
	case B_REDIRX:
	case B_REDIRLOOP: {
		/* To good on this host; to good on another name of it; to itself, for ever. */
		char loc[512];
		snprintf(loc, sizeof(loc), "http://%s:%u/%s/%s",
			 b == B_REDIRX ? "localhost" : "127.0.0.1", srv.port,
			 b == B_REDIRLOOP ? "redirloop" : "good", rest);
		redirect(fd, loc);
		break;
	}
	}
}

/* One connection, in a thread of its own: a held request must not hold up the others. */
static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	serve_one(fd);
	shutdown(fd, SHUT_WR);
	close(fd);
	atomic_fetch_sub(&srv.live, 1);
	return NULL;
}

static void *server_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = srv.lfd, .events = POLLIN },
				       { .fd = srv.stop[0], .events = POLLIN } };
		if (poll(p, 2, 1000) < 0 || p[1].revents)
			return NULL;
		if (!p[0].revents)
			continue;
		int fd = accept4(srv.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		atomic_fetch_add(&srv.live, 1);
		if (pthread_create(&t, &at, conn_main, (void *)(intptr_t)fd) != 0) {
			atomic_fetch_sub(&srv.live, 1);
			serve_one(fd);
			close(fd);
		}
		pthread_attr_destroy(&at);
	}
}

static int setup(void **state)
{
	(void)state;
	srv.big = malloc(BIG_LEN);
	srv.huge = malloc(HUGE_LEN);
	if (!srv.big || !srv.huge)
		return -1;
	fill_random(srv.big, BIG_LEN, 1);
	fill_random(srv.huge, HUGE_LEN, 2);
	srv.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (srv.lfd < 0 || bind(srv.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(srv.lfd, 16) < 0 || getsockname(srv.lfd, (struct sockaddr *)&sa, &sl) < 0 ||
	    pipe2(srv.stop, O_CLOEXEC) < 0)
		return -1;
	srv.port = ntohs(sa.sin_port);
	if (pthread_create(&srv.tid, NULL, server_main, NULL) != 0)
		return -1;

	scratch_dir("http", files, sizeof(files));
	scratch_write(files, "small.txt", SMALL, strlen(SMALL));
	scratch_write(files, "big.bin", srv.big, BIG_LEN);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(write(srv.stop[1], "x", 1), 1);
	pthread_join(srv.tid, NULL);
	/* Detached connection threads may still hold an answer (the slow mirror's, at most
	 * SLOW_HOLD_MS): the buffers they send from are freed only after the last has ended. */
	double end = hfc_monotonic() + SLOW_HOLD_MS / 1000.0 + 5;
	while (atomic_load(&srv.live) > 0 && hfc_monotonic() < end) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(atomic_load(&srv.live), 0);
	close(srv.lfd);
	close(srv.stop[0]);
	close(srv.stop[1]);
	free(srv.big);
	free(srv.huge);
	scratch_rm(files);
	return 0;
}

/* ---- helpers ---- */

static void reset_counts(void)
{
	for (int i = 0; i < NB; i++)
		atomic_store(&srv.asked[i], 0);
}

static unsigned asked(int b)
{
	return atomic_load(&srv.asked[b]);
}

/* A fetcher of n mirrors named by behaviour, or by a base as it is when it has a '/'. */
static HfcHttp *fetcher_n(unsigned retries, unsigned timeout_ms, const char *const *names,
			  size_t n)
{
	static char urls[HFC_HTTP_MIRRORS_MAX][512];
	const char *bases[HFC_HTTP_MIRRORS_MAX];
	for (size_t i = 0; i < n; i++) {
		if (strchr(names[i], '/'))
			snprintf(urls[i], sizeof(urls[i]), "%s", names[i]);
		else
			snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%u/%s", srv.port,
				 names[i]);
		bases[i] = urls[i];
	}
	HfcHttpOptions o = { .connections = 2, .timeout_ms = timeout_ms,
			     .connect_timeout_ms = 2000, .retries = retries };
	HfcHttp *h = NULL;
	HfcErr err = { "" };
	int r = hfc_http_new(bases, n, &o, &h, &err);
	if (r < 0)
		fail_msg("hfc_http_new: %s", err.msg);
	reset_counts();
	return h;
}

/* A fetcher of one or two mirrors (m1 may be NULL). */
static HfcHttp *fetcher(unsigned retries, unsigned timeout_ms, const char *m0, const char *m1)
{
	const char *names[2] = { m0, m1 };
	return fetcher_n(retries, timeout_ms, names, m1 ? 2 : 1);
}

static HfcHttpStats stats_of(HfcHttp *h)
{
	HfcHttpStats s;
	hfc_http_stats(h, &s, NULL);
	return s;
}

/* ---- tests ---- */

static void test_get_body(void **state)
{
	(void)state;
	HfcHttp *h = fetcher(4, 2000, "good", NULL);
	char buf[256];
	unsigned m = 99;
	HfcErr err = { "" };
	ssize_t n = hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, &m, &err);
	assert_int_equal(n, strlen(SMALL));
	assert_memory_equal(buf, SMALL, strlen(SMALL));
	assert_int_equal(m, 0);
	HfcHttpStats s = stats_of(h);
	assert_int_equal(s.requests, 1);
	assert_int_equal(s.retries, 0);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.bytes, strlen(SMALL));

	/* A body of exactly max bytes fits; into a new buffer, one that outgrows the first guess. */
	uint8_t *big = malloc(BIG_LEN);
	assert_int_equal(hfc_http_get(h, "x/big.bin", big, BIG_LEN, 0, 0, NULL, &err), BIG_LEN);
	assert_memory_equal(big, srv.big, BIG_LEN);
	free(big);
	char *got;
	size_t len;
	assert_int_equal(hfc_http_get_alloc(h, "x/huge.bin", 4 << 20, 0, &got, &len, &err), 0);
	assert_int_equal(len, HUGE_LEN);
	assert_memory_equal(got, srv.huge, HUGE_LEN);
	assert_int_equal(got[len], 0);
	free(got);
	hfc_http_free(h);
}

static void test_efbig(void **state)
{
	(void)state;
	HfcHttp *h = fetcher(4, 2000, "good", NULL);
	char buf[1000];
	HfcErr err = { "" };
	assert_int_equal(hfc_http_get(h, "x/big.bin", buf, sizeof(buf), 0, 0, NULL, &err), -EFBIG);
	assert_string_equal(err.msg, "x/big.bin: larger than 1000 bytes");
	/* The same answer would come again: asked once, not retried. */
	assert_int_equal(asked(B_GOOD), 1);
	char *got;
	size_t len;
	assert_int_equal(hfc_http_get_alloc(h, "x/huge.bin", 1 << 20, 0, &got, &len, &err), -EFBIG);
	hfc_http_free(h);
}

/* A bound for hfc_http_get_bounded: its userdata is the bound, or 0 for "enough at 10 bytes". */
static size_t bound_fn(const char *body, size_t len, void *ud)
{
	(void)body;
	size_t b = *(size_t *)ud;
	return b ? b : len >= 10 ? HFC_HTTP_BODY_ENOUGH : SIZE_MAX;
}

static void test_bounded(void **state)
{
	(void)state;
	/* An endless body: the fixed bound ends it, then a bound of its own, well below that. */
	HfcHttp *h = fetcher(4, 5000, "endless", NULL);
	char *got = NULL;
	size_t len = 0;
	HfcErr err = { "" };
	double t0 = hfc_monotonic();
	assert_int_equal(hfc_http_get_alloc(h, "index.idx", 1 << 20, 0, &got, &len, &err), -EFBIG);
	assert_string_equal(err.msg, "index.idx: larger than 1048576 bytes");
	size_t b = 100000;
	assert_int_equal(hfc_http_get_bounded(h, "index.idx", 1 << 20, bound_fn, &b, 0, &got, &len,
					      &err),
			 -EFBIG);
	assert_string_equal(err.msg, "index.idx: larger than 100000 bytes");
	assert_true(hfc_monotonic() - t0 < SLOW_HOLD_MS / 1000.0);
	/* Each asked once: the same answer would come again. */
	assert_int_equal(asked(B_ENDLESS), 2);
	/* Enough: the first bytes are handed back, the rest never read. */
	b = 0;
	assert_int_equal(hfc_http_get_bounded(h, "index.idx", 1 << 20, bound_fn, &b, 0, &got, &len,
					      &err),
			 0);
	assert_true(len >= 10 && len < (1 << 20));
	assert_memory_equal(got, "0123456789", 10);
	assert_int_equal(got[len], 0);
	free(got);
	hfc_http_free(h);

	/* A whole file under the bound; a file over it; the bound counts only the good answer. */
	h = fetcher(4, 2000, "e404", "good");
	b = BIG_LEN;
	assert_int_equal(hfc_http_get_bounded(h, "x/big.bin", 1 << 20, bound_fn, &b, 0, &got, &len,
					      &err),
			 0);
	assert_int_equal(len, BIG_LEN);
	assert_memory_equal(got, srv.big, BIG_LEN);
	free(got);
	b = BIG_LEN - 1;
	assert_int_equal(hfc_http_get_bounded(h, "x/big.bin", 1 << 20, bound_fn, &b, 0, &got, &len,
					      &err),
			 -EFBIG);
	hfc_http_free(h);
}

static void test_not_found_everywhere(void **state)
{
	(void)state;
	/* A 404, a good mirror without the file, a directory without it: -ENOENT, each asked once. */
	char dir_url[300];
	snprintf(dir_url, sizeof(dir_url), "file://%s", files);
	HfcHttp *h = fetcher(4, 2000, "e404", "good");
	char buf[64];
	HfcErr err = { "" };
	assert_int_equal(hfc_http_get(h, "x/none", buf, sizeof(buf), 0, 0, NULL, &err), -ENOENT);
	assert_string_equal(err.msg, "x/none: not found");
	assert_int_equal(asked(B_E404), 1);
	assert_int_equal(asked(B_GOOD), 1);
	assert_int_equal(stats_of(h).requests, 2);
	assert_int_equal(stats_of(h).errors, 2);
	hfc_http_free(h);

	h = fetcher(4, 2000, dir_url, "e404");
	assert_int_equal(hfc_http_get(h, "none.txt", buf, sizeof(buf), 0, 0, NULL, &err), -ENOENT);
	assert_int_equal(asked(B_E404), 1);
	hfc_http_free(h);
}

static void test_failover(void **state)
{
	(void)state;
	HfcHttp *h = fetcher(4, 2000, "e500", "good");
	char buf[64];
	unsigned m = 99;
	HfcErr err = { "" };
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, &m, &err),
			 strlen(SMALL));
	assert_int_equal(m, 1);
	assert_int_equal(asked(B_E500), 1);
	assert_int_equal(asked(B_GOOD), 1);
	HfcHttpStats s = stats_of(h);
	assert_int_equal(s.requests, 2);
	assert_int_equal(s.retries, 1);
	assert_int_equal(s.errors, 1);
	/* The mirror that answered, with its latency measured, comes first from now on. */
	assert_int_equal(s.current_mirror, 1);
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, &m, &err),
			 strlen(SMALL));
	assert_int_equal(m, 1);
	assert_int_equal(asked(B_E500), 1);

	/* Mirrors avoided are not asked; one that served bad data ranks after the measured ones. */
	hfc_http_free(h);
	h = fetcher(4, 2000, "good", "good2");
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 2, 0, &m, &err),
			 strlen(SMALL));
	assert_int_equal(m, 0);
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 1, 0, &m, &err),
			 strlen(SMALL));
	assert_int_equal(m, 1);
	assert_int_equal(asked(B_GOOD), 1);
	assert_int_equal(asked(B_GOOD2), 1);
	hfc_http_report_bad(h, 1);
	assert_int_equal(stats_of(h).current_mirror, 0);
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, &m, &err),
			 strlen(SMALL));
	assert_int_equal(m, 0);
	/* Every mirror avoided: bad data beats none, they are asked again. */
	assert_true(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 3, 0, &m, &err) > 0);
	assert_int_equal(stats_of(h).errors, 1);
	hfc_http_free(h);
}

static void test_bad_ranks_last(void **state)
{
	(void)state;
	/* A mirror that served bad data ranks after one never measured, until it answers again. */
	const char *names[] = { "good", "good2", "good3" };
	HfcHttp *h = fetcher_n(0, 2000, names, 3);
	char buf[64];
	unsigned m = 99;
	HfcErr err = { "" };
	assert_true(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 6, 0, &m, &err) > 0);
	assert_int_equal(m, 0);
	assert_int_equal(stats_of(h).current_mirror, 0);
	hfc_http_report_bad(h, 0);
	assert_int_equal(stats_of(h).current_mirror, 1);
	assert_true(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, &m, &err) > 0);
	assert_int_equal(m, 1);
	assert_int_equal(asked(B_GOOD), 1);
	/* Asked again (the others avoided), it answers: measured again, ahead of good3. */
	assert_true(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 6, 0, &m, &err) > 0);
	assert_int_equal(m, 0);
	assert_true(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 2, 0, &m, &err) > 0);
	assert_int_equal(m, 0);
	assert_int_equal(asked(B_GOOD3), 0);
	assert_int_equal(stats_of(h).errors, 1);
	hfc_http_free(h);
}

/*
 * Fails on a 500 mirror with 3 retries, GET or HEAD: both wait out the one backoff, 0.1 s
 * doubling (0.1 + 0.2 + 0.4 s), and leave the mirror resting 0.8 s after the last failure.
 */
static void check_backoff(bool head)
{
	HfcHttp *h = fetcher(3, 2000, "e500", NULL);
	char buf[64];
	int64_t size;
	HfcErr err = { "" };
	double t0 = hfc_monotonic();
	int r = head ? hfc_http_head(h, "x/small.txt", &size, NULL, &err)
		     : (int)hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err);
	double t1 = hfc_monotonic();
	assert_int_equal(r, -EIO);
	assert_string_equal(err.msg, "x/small.txt: HTTP status 500");
	assert_int_equal(asked(B_E500), 4);
	HfcHttpStats s = stats_of(h);
	assert_int_equal(s.requests, 4);
	assert_int_equal(s.retries, 3);
	assert_int_equal(s.errors, 4);
	assert_true(t1 - t0 >= 0.69);
	HfcMirrorInfo mi;
	hfc_http_stats(h, &s, &mi);
	assert_true(mi.down);
	/* Back up 0.8 s after the last failure at the latest, whatever the scheduling. */
	struct timespec ts = { 1, 0 };
	nanosleep(&ts, NULL);
	hfc_http_stats(h, &s, &mi);
	assert_false(mi.down);
	assert_int_equal(mi.errors, 4);
	hfc_http_free(h);
}

static void test_retries_and_backoff(void **state)
{
	(void)state;
	check_backoff(false);
	check_backoff(true);
}

static void test_timeout(void **state)
{
	(void)state;
	HfcHttp *h = fetcher(0, 300, "slow", NULL);
	char buf[64];
	HfcErr err = { "" };
	double t0 = hfc_monotonic();
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err),
			 -ETIMEDOUT);
	assert_true(hfc_monotonic() - t0 < SLOW_HOLD_MS / 1000.0);
	assert_non_null(strstr(err.msg, "x/small.txt: "));
	int64_t size;
	assert_int_equal(hfc_http_head(h, "x/small.txt", &size, NULL, &err), -ETIMEDOUT);
	assert_int_equal(asked(B_SLOW), 2);
	hfc_http_free(h);
}

static void test_head(void **state)
{
	(void)state;
	/* One connection: the GET after a HEAD runs on the same handle and still gets a body. */
	HfcHttp *h = fetcher(4, 2000, "good", NULL);
	int64_t size = 0;
	unsigned m = 99;
	HfcErr err = { "" };
	assert_int_equal(hfc_http_head(h, "x/big.bin", &size, &m, &err), 0);
	assert_int_equal(size, BIG_LEN);
	assert_int_equal(m, 0);
	char buf[64];
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err),
			 strlen(SMALL));
	assert_memory_equal(buf, SMALL, strlen(SMALL));
	assert_int_equal(hfc_http_head(h, "x/none", &size, NULL, &err), -ENOENT);
	hfc_http_free(h);

	h = fetcher(4, 2000, "nolen", NULL);
	assert_int_equal(hfc_http_head(h, "x/any", &size, NULL, &err), 0);
	assert_int_equal(size, -1);
	hfc_http_free(h);

	/* HEAD fails over like GET. */
	h = fetcher(4, 2000, "e404", "good");
	assert_int_equal(hfc_http_head(h, "x/small.txt", &size, &m, &err), 0);
	assert_int_equal(size, strlen(SMALL));
	assert_int_equal(m, 1);
	hfc_http_free(h);

	/* file://: the file's size. */
	char dir_url[300];
	snprintf(dir_url, sizeof(dir_url), "file://%s", files);
	h = fetcher(4, 2000, dir_url, NULL);
	assert_int_equal(hfc_http_head(h, "big.bin", &size, NULL, &err), 0);
	assert_int_equal(size, BIG_LEN);
	assert_int_equal(hfc_http_head(h, "none", &size, NULL, &err), -ENOENT);
	hfc_http_free(h);
}

static void test_file_mirrors(void **state)
{
	(void)state;
	char dir_url[300];
	snprintf(dir_url, sizeof(dir_url), "file://%s", files);
	/* A file:// URL and a plain directory name the same mirror. */
	const char *bases[] = { dir_url, files };
	for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
		HfcHttp *h = fetcher(1, 2000, bases[i], NULL);
		char buf[64];
		HfcErr err = { "" };
		assert_int_equal(hfc_http_get(h, "small.txt", buf, sizeof(buf), 0, 0, NULL, &err),
				 strlen(SMALL));
		assert_memory_equal(buf, SMALL, strlen(SMALL));
		assert_int_equal(hfc_http_get(h, "none.txt", buf, sizeof(buf), 0, 0, NULL, &err),
				 -ENOENT);
		hfc_http_free(h);
	}

	/* Bases that are refused up front. */
	HfcHttpOptions o = { .retries = 0 };
	HfcHttp *h = NULL;
	HfcErr err = { "" };
	const char *ftp[] = { "ftp://example/x" };
	assert_int_equal(hfc_http_new(ftp, 1, &o, &h, &err), -EPROTONOSUPPORT);
	assert_non_null(strstr(err.msg, "ftp://example/x: "));
	char gone[300];
	snprintf(gone, sizeof(gone), "%s/no-such-dir", files);
	const char *none[] = { gone };
	assert_int_equal(hfc_http_new(none, 1, &o, &h, &err), -ENOENT);
	assert_int_equal(hfc_http_new(none, 0, &o, &h, &err), -EINVAL);
	assert_null(h);
}

static void test_paths_checked(void **state)
{
	(void)state;
	HfcHttp *h = fetcher(4, 2000, "good", NULL);
	const char *bad[] = { "../x", "x/../../y", "/etc/passwd", "", "X.idx", "x?y", "x y",
			      "http://e/x", "a\\b" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char buf[16];
		int64_t size;
		HfcErr err = { "" };
		assert_int_equal(hfc_http_get(h, bad[i], buf, sizeof(buf), 0, 0, NULL, &err),
				 -EINVAL);
		assert_non_null(strstr(err.msg, "not a site path"));
		assert_int_equal(hfc_http_head(h, bad[i], &size, NULL, &err), -EINVAL);
	}
	assert_int_equal(asked(B_GOOD), 0);
	assert_int_equal(stats_of(h).requests, 0);
	hfc_http_free(h);
}

static void test_once(void **state)
{
	(void)state;
	/* Each mirror once, no retries and no waiting for a resting one. */
	HfcHttp *h = fetcher(4, 2000, "e500", "e500b");
	char buf[64];
	HfcErr err = { "" };
	double t0 = hfc_monotonic();
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, HFC_HTTP_ONCE, NULL,
				      &err),
			 -EIO);
	assert_int_equal(asked(B_E500), 1);
	assert_int_equal(asked(B_E500B), 1);
	assert_int_equal(stats_of(h).retries, 1);
	/* Both resting now: asked once more each, at once. */
	assert_int_equal(hfc_http_get_alloc(h, "x/small.txt", 100, HFC_HTTP_ONCE, &(char *){ NULL },
					    &(size_t){ 0 }, &err),
			 -EIO);
	assert_int_equal(asked(B_E500), 2);
	assert_int_equal(asked(B_E500B), 2);
	assert_true(hfc_monotonic() - t0 < 0.1);
	hfc_http_free(h);
}

static void test_probe(void **state)
{
	(void)state;
	/* netselect at start: the mirror whose index.idx answers ranks first, a failing one rests. */
	char url[2][128];
	snprintf(url[0], sizeof(url[0]), "http://127.0.0.1:%u/e500", srv.port);
	snprintf(url[1], sizeof(url[1]), "http://127.0.0.1:%u/good", srv.port);
	const char *bases[] = { url[0], url[1] };
	HfcHttpOptions o = { .timeout_ms = 2000, .connect_timeout_ms = 2000, .probe = true };
	HfcHttp *h = NULL;
	HfcErr err = { "" };
	reset_counts();
	assert_int_equal(hfc_http_new(bases, 2, &o, &h, &err), 0);
	assert_int_equal(asked(B_E500), 1);
	assert_int_equal(asked(B_GOOD), 1);
	HfcHttpStats s;
	HfcMirrorInfo mi[2];
	hfc_http_stats(h, &s, mi);
	assert_int_equal(s.current_mirror, 1);
	assert_true(mi[0].down);
	assert_true(mi[1].latency_ms >= 0);
	char buf[64];
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err),
			 strlen(SMALL));
	assert_int_equal(asked(B_E500), 1);
	hfc_http_free(h);
}

/* A request made in a thread of its own, to be cancelled from the test's. */
typedef struct Pending {
	HfcHttp *h;
	const char *path;
	unsigned flags;
	pthread_t tid;
	ssize_t r;
	double t_end;
	char err[sizeof(((HfcErr *)0)->msg)];
} Pending;

static void *pending_main(void *arg)
{
	Pending *p = arg;
	char buf[64];
	HfcErr err = { "" };
	p->r = hfc_http_get(p->h, p->path, buf, sizeof(buf), 0, p->flags, NULL, &err);
	p->t_end = hfc_monotonic();
	snprintf(p->err, sizeof(p->err), "%s", err.msg);
	return NULL;
}

static void pending_start(Pending *p, HfcHttp *h, const char *path, unsigned flags)
{
	*p = (Pending){ .h = h, .path = path, .flags = flags };
	assert_int_equal(pthread_create(&p->tid, NULL, pending_main, p), 0);
}

/* Waits (at most 5 s) until behaviour b has received n requests. */
static void wait_asked(int b, unsigned n)
{
	for (int i = 0; i < 5000 && asked(b) < n; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(asked(b) >= n);
}

static void test_cancel(void **state)
{
	(void)state;
	/*
	 * One connection, a 60 s timeout: a transfer held by the slow mirror, a request waiting for
	 * the connection, and one resting between retries on a failing mirror end within 0.5 s of
	 * the cancel, long before any timeout would end them.
	 */
	char url[2][128];
	snprintf(url[0], sizeof(url[0]), "http://127.0.0.1:%u/slow", srv.port);
	snprintf(url[1], sizeof(url[1]), "http://127.0.0.1:%u/e500", srv.port);
	const char *bases[] = { url[0], url[1] };
	HfcHttpOptions o = { .connections = 1, .timeout_ms = 60000, .connect_timeout_ms = 2000,
			     .retries = 20 };
	HfcHttp *slow = NULL, *failing = NULL;
	HfcErr err = { "" };
	assert_int_equal(hfc_http_new(bases, 1, &o, &slow, &err), 0);
	assert_int_equal(hfc_http_new(bases + 1, 1, &o, &failing, &err), 0);
	reset_counts();
	Pending held, queued, resting;
	pending_start(&held, slow, "x/small.txt", 0);
	wait_asked(B_SLOW, 1);
	pending_start(&queued, slow, "x/small.txt", 0);
	pending_start(&resting, failing, "x/small.txt", 0);
	/* After 4 failures the mirror rests 0.8 s, then 1.6 s, ...: cancel during a rest. */
	wait_asked(B_E500, 4);
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	double t0 = hfc_monotonic();
	hfc_http_cancel(slow);
	hfc_http_cancel(failing);
	pthread_join(held.tid, NULL);
	pthread_join(queued.tid, NULL);
	pthread_join(resting.tid, NULL);
	Pending *all[] = { &held, &queued, &resting };
	for (size_t i = 0; i < ELEMENTSOF(all); i++) {
		assert_int_equal(all[i]->r, -ECANCELED);
		assert_string_equal(all[i]->err, "x/small.txt: cancelled");
		assert_true(all[i]->t_end - t0 < 0.5);
	}
	assert_int_equal(asked(B_SLOW), 1);
	assert_true(asked(B_E500) < 10);
	/* Nothing is asked any more: requests fail at once. */
	reset_counts();
	char buf[64];
	t0 = hfc_monotonic();
	assert_int_equal(hfc_http_get(slow, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err),
			 -ECANCELED);
	int64_t size;
	assert_int_equal(hfc_http_head(failing, "x/small.txt", &size, NULL, &err), -ECANCELED);
	assert_true(hfc_monotonic() - t0 < 0.1);
	assert_int_equal(asked(B_SLOW) + asked(B_E500), 0);
	/* A cancelled transfer is no failure of its mirror. */
	HfcHttpStats s = stats_of(slow);
	assert_int_equal(s.errors, 0);
	hfc_http_free(slow);
	hfc_http_free(failing);
}

static void test_redirect_policy(void **state)
{
	(void)state;
	char why[128];
	struct {
		const char *from, *to;
		bool other_host;
		const char *why; /* NULL: followed */
	} cases[] = {
		{ "http://a/x", "http://a/y", false, NULL },
		{ "http://a/x", "https://a/y", false, NULL },
		{ "http://a:80/x", "http://A:8080/y", false, NULL },
		{ "https://a/x", "https://a/y", false, NULL },
		{ "https://a/x", "http://a/y", false, "from https:// down to http://" },
		{ "https://a/x", "http://b/y", true, "from https:// down to http://" },
		{ "http://a/x", "http://b/y", false, "to another host" },
		{ "http://a/x", "http://b/y", true, NULL },
		{ "http://a/x", "http://u:p@b/y", false, "to another host" },
		{ "http://a/x", "file:///etc/passwd", true, "to a scheme other than http:// and https://" },
		{ "http://a/x", "ftp://a/y", true, "to a scheme other than http:// and https://" },
		{ "http://a/x", "", true, "not a URL" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		why[0] = 0;
		int r = hfc_http_redirect_check(cases[i].from, cases[i].to, cases[i].other_host, why,
						sizeof(why));
		if (!cases[i].why) {
			assert_int_equal(r, 0);
		} else {
			assert_int_equal(r, -EPERM);
			assert_string_equal(why, cases[i].why);
		}
	}
}

static void test_redirects(void **state)
{
	(void)state;
	/* A redirect on the same host is followed; its body is not taken for the file's. */
	HfcHttp *h = fetcher(0, 2000, "redir", NULL);
	char buf[64];
	unsigned m = 99;
	HfcErr err = { "" };
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, &m, &err),
			 strlen(SMALL));
	assert_memory_equal(buf, SMALL, strlen(SMALL));
	assert_int_equal(m, 0);
	assert_int_equal(asked(B_REDIR), 1);
	assert_int_equal(asked(B_GOOD), 1);
	int64_t size;
	assert_int_equal(hfc_http_head(h, "x/big.bin", &size, NULL, &err), 0);
	assert_int_equal(size, BIG_LEN);
	hfc_http_free(h);

	/* To another host: refused before anything is asked there, and not asked again. */
	h = fetcher(4, 2000, "redirx", NULL);
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err), -EPERM);
	assert_non_null(strstr(err.msg, "x/small.txt: redirect to http://localhost:"));
	assert_non_null(strstr(err.msg, "refused: to another host"));
	assert_int_equal(asked(B_REDIRX), 1);
	assert_int_equal(asked(B_GOOD), 0);
	assert_int_equal(stats_of(h).errors, 1);
	hfc_http_free(h);

	/* ... unless allowed. */
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/redirx", srv.port);
	const char *bases[] = { url };
	HfcHttpOptions o = { .timeout_ms = 2000, .connect_timeout_ms = 2000,
			     .allow_redirect_host = true };
	assert_int_equal(hfc_http_new(bases, 1, &o, &h, &err), 0);
	reset_counts();
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err),
			 strlen(SMALL));
	assert_int_equal(asked(B_GOOD), 1);
	hfc_http_free(h);

	/* A loop: three redirects followed, the fourth refused. */
	h = fetcher(0, 2000, "redirloop", NULL);
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err), -EPERM);
	assert_non_null(strstr(err.msg, "refused: one too many (at most 3)"));
	assert_int_equal(asked(B_REDIRLOOP), 4);
	hfc_http_free(h);
}

static void test_redact(void **state)
{
	(void)state;
	char out[128];
	const char *cases[][2] = {
		{ "http://user:pass@host/x", "http://***@host/x" },
		{ "https://u@h:8443", "https://***@h:8443" },
		{ "http://a@b:c@host/p@q", "http://***@host/p@q" },
		{ "http://host/a@b?c@d#e@f", "http://host/a@b?c@d#e@f" },
		{ "http://host", "http://host" },
		{ "/srv/site@2", "/srv/site@2" },
		{ "file:///srv/x@y", "file:///srv/x@y" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		hfc_url_redact(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
	hfc_url_redact("http://user:pass@host/x", out, 10);
	assert_string_equal(out, "http://**");

	/* A mirror with credentials: they go to the server, never into stats or messages. */
	char url[2][128];
	snprintf(url[0], sizeof(url[0]), "http://user:secret@127.0.0.1:%u/good", srv.port);
	snprintf(url[1], sizeof(url[1]), "ftp://user:secret@example/x");
	const char *names[] = { url[0] };
	HfcHttp *h = fetcher_n(0, 2000, names, 1);
	char buf[64];
	HfcErr err = { "" };
	assert_true(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err) > 0);
	HfcHttpStats s;
	HfcMirrorInfo mi;
	hfc_http_stats(h, &s, &mi);
	assert_null(strstr(mi.base, "secret"));
	assert_non_null(strstr(mi.base, "http://***@127.0.0.1:"));
	assert_string_equal(hfc_http_mirror_name(h, 0), mi.base);
	hfc_http_free(h);
	HfcHttpOptions o = { .retries = 0 };
	const char *ftp[] = { url[1] };
	assert_int_equal(hfc_http_new(ftp, 1, &o, &h, &err), -EPROTONOSUPPORT);
	assert_null(strstr(err.msg, "secret"));
}

static void test_64_mirrors(void **state)
{
	(void)state;
	/* The most mirrors there may be: the set of all of them is every bit of the mask. */
	const char *names[HFC_HTTP_MIRRORS_MAX];
	for (size_t i = 0; i < HFC_HTTP_MIRRORS_MAX; i++)
		names[i] = i == HFC_HTTP_MIRRORS_MAX - 1 ? "good2" : "good";
	HfcHttp *h = fetcher_n(0, 2000, names, HFC_HTTP_MIRRORS_MAX);
	char buf[64];
	unsigned m = 0;
	HfcErr err = { "" };
	/* All but the last avoided: the last is asked, the avoided ones are not. */
	uint64_t avoid = UINT64_MAX >> 1;
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), avoid, 0, &m, &err),
			 strlen(SMALL));
	assert_int_equal(m, HFC_HTTP_MIRRORS_MAX - 1);
	assert_int_equal(asked(B_GOOD2), 1);
	assert_int_equal(asked(B_GOOD), 0);
	/* Every one avoided: bad data beats none, so one is asked after all. */
	assert_true(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), UINT64_MAX, 0, &m, &err) > 0);
	hfc_http_free(h);

	/* 404 from all 64, each asked once: the file is missing, not an I/O error. */
	for (size_t i = 0; i < HFC_HTTP_MIRRORS_MAX; i++)
		names[i] = "e404";
	h = fetcher_n(100, 2000, names, HFC_HTTP_MIRRORS_MAX);
	assert_int_equal(hfc_http_get(h, "x/small.txt", buf, sizeof(buf), 0, 0, NULL, &err),
			 -ENOENT);
	assert_int_equal(asked(B_E404), HFC_HTTP_MIRRORS_MAX);
	hfc_http_free(h);
	assert_int_equal(hfc_http_all_mirrors(HFC_HTTP_MIRRORS_MAX), UINT64_MAX);
	assert_int_equal(hfc_http_all_mirrors(3), 7);
}

/* Runs m until n transfers finished (at most 5 s), into done[]. */
static void multi_collect(HfcHttpMulti *m, HfcHttpDone *done, size_t n)
{
	size_t got = 0;
	double end = hfc_monotonic() + 5;
	while (got < n && hfc_monotonic() < end) {
		assert_true(hfc_http_multi_run(m, 100) >= 0);
		while (got < n && hfc_http_multi_next(m, &done[got]))
			got++;
	}
	assert_int_equal(got, n);
}

static void test_multi(void **state)
{
	(void)state;
	/* Many GETs at once on one thread, each judged like a request of hfc_http_get. */
	HfcHttp *h = fetcher(4, 2000, "good", NULL);
	HfcHttpMulti *m;
	assert_int_equal(hfc_http_multi_new(h, 8, &m), 0);
	enum { N = 12 };
	uint8_t *bufs[N];
	HfcHttpDone done[N + 3];
	for (int i = 0; i < N; i++) {
		bufs[i] = malloc(BIG_LEN);
		assert_int_equal(hfc_http_multi_add(m, "x/big.bin", bufs[i], BIG_LEN, 0, bufs[i]), 0);
	}
	/* Too large for its buffer, not there, and not a site path. */
	char small[8], none[64];
	assert_int_equal(hfc_http_multi_add(m, "x/big.bin", small, sizeof(small), 0, small), 0);
	assert_int_equal(hfc_http_multi_add(m, "x/nothere", none, sizeof(none), 0, none), 0);
	assert_int_equal(hfc_http_multi_add(m, "../x", none, sizeof(none), 0, none), -EINVAL);
	multi_collect(m, done, N + 2);
	unsigned good = 0;
	for (int i = 0; i < N + 2; i++) {
		if (done[i].userdata == small) {
			assert_int_equal(done[i].result, -EFBIG);
		} else if (done[i].userdata == none) {
			assert_int_equal(done[i].result, -ENOENT);
		} else {
			assert_int_equal(done[i].result, BIG_LEN);
			assert_int_equal(done[i].mirror, 0);
			assert_true(done[i].rtt >= 0 && done[i].rtt < 2);
			assert_memory_equal(done[i].userdata, srv.big, BIG_LEN);
			good++;
		}
	}
	assert_int_equal(good, N);
	assert_false(hfc_http_multi_next(m, &done[0]));
	assert_true(hfc_http_rest_left(h) == 0); /* a 404 and a body too large: no rest */
	HfcHttpStats s = stats_of(h);
	assert_int_equal(s.requests, N + 2);
	assert_int_equal(s.errors, 2);
	assert_int_equal(asked(B_GOOD), N + 2);
	/* A redirect is left to the blocking path, which checks where it goes: not judged. */
	hfc_http_multi_free(m);
	hfc_http_free(h);
	h = fetcher(4, 2000, "redir", NULL);
	assert_int_equal(hfc_http_multi_new(h, 8, &m), 0);
	assert_int_equal(hfc_http_multi_add(m, "x/small.txt", none, sizeof(none), 0, none), 0);
	multi_collect(m, done, 1);
	assert_int_equal(done[0].result, -EAGAIN);
	assert_int_equal(stats_of(h).errors, 0);
	hfc_http_multi_free(m);
	hfc_http_free(h);
	/* A mirror that failed rests: no transfer starts on it, the caller waits the blocking way. */
	h = fetcher(0, 2000, "e500", NULL);
	assert_int_equal(hfc_http_multi_new(h, 8, &m), 0);
	assert_int_equal(hfc_http_multi_add(m, "x/small.txt", none, sizeof(none), 0, none), 0);
	multi_collect(m, done, 1);
	assert_int_equal(done[0].result, -EIO);
	double left = hfc_http_rest_left(h);
	assert_true(left > 0 && left <= 0.1);
	assert_int_equal(hfc_http_multi_add(m, "x/small.txt", none, sizeof(none), 0, none), -EAGAIN);
	hfc_http_multi_free(m);
	hfc_http_free(h);
	for (int i = 0; i < N; i++)
		free(bufs[i]);
}

static void test_multi_cancel(void **state)
{
	(void)state;
	/* Transfers held by the slow mirror end at once on a cancel, from another thread. */
	HfcHttp *h = fetcher(4, 60000, "slow", NULL);
	HfcHttpMulti *m;
	assert_int_equal(hfc_http_multi_new(h, 4, &m), 0);
	char buf[6][64];
	for (int i = 0; i < 6; i++)
		assert_int_equal(hfc_http_multi_add(m, "x/small.txt", buf[i], 64, 0, buf[i]), 0);
	/* Four connections at most: four requests reach the mirror, two wait in curl. */
	double end = hfc_monotonic() + 5;
	while (asked(B_SLOW) < 4 && hfc_monotonic() < end)
		assert_true(hfc_http_multi_run(m, 20) >= 0);
	assert_int_equal(asked(B_SLOW), 4);
	for (int i = 0; i < 10; i++)
		assert_true(hfc_http_multi_run(m, 20) >= 0);
	assert_int_equal(asked(B_SLOW), 4);
	double t0 = hfc_monotonic();
	hfc_http_cancel(h);
	assert_int_equal(hfc_http_multi_run(m, 5000), -ECANCELED);
	assert_true(hfc_monotonic() - t0 < 0.5);
	assert_int_equal(hfc_http_multi_add(m, "x/small.txt", buf[0], 64, 0, buf[0]), -ECANCELED);
	hfc_http_multi_free(m);
	assert_int_equal(stats_of(h).errors, 0);
	hfc_http_free(h);
}

int main(void)
{
	/* Whatever hangs, the test ends: every wait below is bounded, and so is the whole. */
	alarm(120);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_body),
		cmocka_unit_test(test_efbig),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_not_found_everywhere),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_bad_ranks_last),
		cmocka_unit_test(test_retries_and_backoff),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_file_mirrors),
		cmocka_unit_test(test_paths_checked),
		cmocka_unit_test(test_once),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_redirect_policy),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_64_mirrors),
		cmocka_unit_test(test_multi),
		cmocka_unit_test(test_multi_cancel),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
