/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/pipeline.h"

#include <pthread.h>
#include <stdatomic.h>

enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE };

typedef struct Pipe {
	pthread_mutex_t lock;
	pthread_cond_t can_take, can_sink;
	uint64_t n, next_take, next_sink;
	unsigned window;
	size_t slot_size;
	uint8_t *slots;
	uint8_t *state;
	int *result;
	int error;
	HfcWorkFn work;
	void *ctx;
} Pipe;

typedef struct Worker {
	Pipe *p;
	unsigned id;
} Worker;

static void *worker_main(void *arg)
{
	Worker *w = arg;
	Pipe *p = w->p;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->error && p->next_take < p->n && p->next_take >= p->next_sink + p->window)
			pthread_cond_wait(&p->can_take, &p->lock);
		if (p->error || p->next_take >= p->n)
			break;
		uint64_t i = p->next_take++;
		unsigned s = (unsigned)(i % p->window);
		p->state[s] = SLOT_BUSY;
		pthread_mutex_unlock(&p->lock);

		int r = p->work(p->ctx, w->id, i, p->slots + (size_t)s * p->slot_size);

		pthread_mutex_lock(&p->lock);
		p->state[s] = SLOT_DONE;
		p->result[s] = r;
		if (r < 0 && !p->error)
			p->error = r;
		pthread_cond_broadcast(&p->can_sink);
		if (r < 0)
			pthread_cond_broadcast(&p->can_take);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int hfc_pipeline_run(uint64_t n, unsigned jobs, unsigned window, size_t slot_size, HfcWorkFn work,
		     HfcSinkFn sink, void *ctx)
{
	if (jobs == 0)
		jobs = 1;
	if (window < jobs)
		window = jobs;
	Pipe p = { .n = n, .window = window, .slot_size = slot_size, .work = work, .ctx = ctx };
	p.slots = slot_size ? malloc((size_t)window * slot_size) : NULL;
	p.state = calloc(window, 1);
	p.result = calloc(window, sizeof(int));
	Worker *ws = calloc(jobs, sizeof(Worker));
	pthread_t *tids = calloc(jobs, sizeof(pthread_t));
	int r = 0;
	if ((slot_size && !p.slots) || !p.state || !p.result || !ws || !tids) {
		r = -ENOMEM;
		goto out;
	}
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.can_take, NULL);
	pthread_cond_init(&p.can_sink, NULL);

	unsigned started = 0;
	for (; started < jobs; started++) {
		ws[started] = (Worker){ .p = &p, .id = started };
		if (pthread_create(&tids[started], NULL, worker_main, &ws[started]) != 0) {
			pthread_mutex_lock(&p.lock);
			p.error = -EAGAIN;
			pthread_cond_broadcast(&p.can_take);
			pthread_mutex_unlock(&p.lock);
			break;
		}
	}

	pthread_mutex_lock(&p.lock);
	while (!p.error && p.next_sink < n) {
		unsigned s = (unsigned)(p.next_sink % window);
		if (p.state[s] != SLOT_DONE) {
			pthread_cond_wait(&p.can_sink, &p.lock);
			continue;
		}
		uint64_t i = p.next_sink;
		pthread_mutex_unlock(&p.lock);
		int k = sink ? sink(ctx, i, p.slots + (size_t)s * slot_size) : 0;
		pthread_mutex_lock(&p.lock);
		if (k < 0 && !p.error)
			p.error = k;
		p.state[s] = SLOT_FREE;
		p.next_sink++;
		pthread_cond_broadcast(&p.can_take);
	}
	if (p.error)
		pthread_cond_broadcast(&p.can_take);
	pthread_mutex_unlock(&p.lock);

	for (unsigned j = 0; j < started; j++)
		pthread_join(tids[j], NULL);
	r = p.error;
	pthread_cond_destroy(&p.can_sink);
	pthread_cond_destroy(&p.can_take);
	pthread_mutex_destroy(&p.lock);
out:
	free(tids);
	free(ws);
	free(p.result);
	free(p.state);
	free(p.slots);
	return r;
}

unsigned hfc_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}
