/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/ahead.h"

#include "base/codec.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define AHEAD_SLOTS 4
#define AHEAD_MAX_BYTES (64u << 20) /* compressed results kept, at most */

typedef struct Job {
	uint8_t *slot;
	uint64_t i;
	uint32_t gen;
	size_t len;
} Job;

typedef struct Result {
	uint64_t i;
	uint32_t gen;
	bool zero;
	uint8_t hash[HFC_HASH_MAX];
	uint8_t *data;
	size_t len;
} Result;

struct HfcAhead {
	uint32_t bs;
	HfcHashAlgo algo;
	HfcCodec *codec;
	pthread_t thread;
	bool started, stopped;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	uint8_t *free_slots[AHEAD_SLOTS];
	unsigned nfree;
	Job queue[AHEAD_SLOTS]; /* FIFO: every queued job holds a slot, so it never overflows */
	unsigned qhead, qlen;
	Result *res; /* sorted by block once stopped */
	size_t nres, capres;
	size_t bytes;
};

/* Encodes one job into r (the build's own steps: zero test, hash, compress). 0 or -errno. */
static int encode(HfcAhead *a, const Job *j, uint8_t *out, Result *r)
{
	r->i = j->i;
	r->gen = j->gen;
	r->zero = hfc_is_zero(j->slot, j->len);
	if (r->zero)
		return 0;
	int e = hfc_digest(a->algo, j->slot, j->len, r->hash);
	if (e < 0)
		return e;
	ssize_t c = hfc_codec_compress(a->codec, j->slot, j->len, out, hfc_codec_bound(a->bs));
	if (c < 0)
		return (int)c;
	r->data = malloc((size_t)c);
	if (!r->data)
		return -ENOMEM;
	memcpy(r->data, out, (size_t)c);
	r->len = (size_t)c;
	return 0;
}

static void *ahead_main(void *p)
{
	HfcAhead *a = p;
	uint8_t *out = malloc(hfc_codec_bound(a->bs));
	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->stop && a->qlen == 0)
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->qlen == 0)
			break; /* stopped, and the queue is done */
		Job j = a->queue[a->qhead];
		a->qhead = (a->qhead + 1) % AHEAD_SLOTS;
		a->qlen--;
		pthread_mutex_unlock(&a->lock);
		Result r = { 0 };
		int e = out ? encode(a, &j, out, &r) : -ENOMEM;
		pthread_mutex_lock(&a->lock);
		a->free_slots[a->nfree++] = j.slot;
		if (e >= 0 && a->nres == a->capres) {
			size_t cap = a->capres ? 2 * a->capres : 256;
			Result *v = realloc(a->res, cap * sizeof(*v));
			if (v) {
				a->res = v;
				a->capres = cap;
			}
		}
		if (e >= 0 && a->nres < a->capres) { /* else dropped: the build encodes it */
			a->res[a->nres++] = r;
			a->bytes += r.len;
		} else {
			free(r.data);
		}
	}
	pthread_mutex_unlock(&a->lock);
	free(out);
	return NULL;
}

int hfc_ahead_new(uint32_t bs, HfcHashAlgo algo, int level, HfcAhead **ret)
{
	HfcAhead *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->bs = bs;
	a->algo = algo;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	int r = hfc_codec_new(level, &a->codec);
	for (unsigned k = 0; r >= 0 && k < AHEAD_SLOTS; k++) {
		a->free_slots[k] = malloc(bs);
		if (!a->free_slots[k])
			r = -ENOMEM;
		else
			a->nfree++;
	}
	if (r >= 0) {
		r = -pthread_create(&a->thread, NULL, ahead_main, a);
		a->started = r >= 0;
	}
	if (r < 0) {
		hfc_ahead_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

uint8_t *hfc_ahead_slot(HfcAhead *a)
{
	uint8_t *s = NULL;
	pthread_mutex_lock(&a->lock);
	if (!a->stop && a->nfree && a->bytes < AHEAD_MAX_BYTES)
		s = a->free_slots[--a->nfree];
	pthread_mutex_unlock(&a->lock);
	return s;
}

void hfc_ahead_queue(HfcAhead *a, uint8_t *slot, uint64_t i, uint32_t gen, size_t len)
{
	pthread_mutex_lock(&a->lock);
	if (a->stop) {
		a->free_slots[a->nfree++] = slot;
	} else {
		a->queue[(a->qhead + a->qlen) % AHEAD_SLOTS] =
			(Job){ .slot = slot, .i = i, .gen = gen, .len = MIN((size_t)a->bs, len) };
		a->qlen++;
		pthread_cond_signal(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
}

void hfc_ahead_drop(HfcAhead *a, uint8_t *slot)
{
	pthread_mutex_lock(&a->lock);
	a->free_slots[a->nfree++] = slot;
	pthread_mutex_unlock(&a->lock);
}

static int cmp_result(const void *x, const void *y)
{
	const Result *p = x, *q = y;
	if (p->i != q->i)
		return p->i < q->i ? -1 : 1;
	return p->gen < q->gen ? -1 : p->gen > q->gen;
}

void hfc_ahead_stop(HfcAhead *a)
{
	if (a->stopped)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true; /* the queue (AHEAD_SLOTS blocks at most) is still encoded */
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	if (a->started)
		pthread_join(a->thread, NULL);
	a->started = false;
	a->stopped = true;
	if (a->nres)
		qsort(a->res, a->nres, sizeof(*a->res), cmp_result);
}

bool hfc_ahead_take(const HfcAhead *a, uint64_t i, uint32_t gen, HfcAheadBlock *out)
{
	if (!a->stopped)
		return false;
	size_t lo = 0, hi = a->nres;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const Result *r = &a->res[mid];
		if (r->i < i || (r->i == i && r->gen < gen))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == a->nres || a->res[lo].i != i || a->res[lo].gen != gen)
		return false;
	const Result *r = &a->res[lo];
	out->zero = r->zero;
	memcpy(out->hash, r->hash, sizeof(out->hash));
	out->data = r->data;
	out->len = r->len;
	return true;
}

uint64_t hfc_ahead_count(const HfcAhead *a)
{
	return a->stopped ? a->nres : 0;
}

void hfc_ahead_free(HfcAhead *a)
{
	if (!a)
		return;
	hfc_ahead_stop(a);
	for (size_t k = 0; k < a->nres; k++)
		free(a->res[k].data);
	free(a->res);
	for (unsigned k = 0; k < a->nfree; k++)
		free(a->free_slots[k]);
	hfc_codec_free(a->codec);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
