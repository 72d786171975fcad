/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one pool of worker threads of a publish: it runs the mirrors' jobs and, on the same
 * threads, the block checks a mirror's job adds. A job that waits for its own group runs that
 * group's queued jobs itself, so nested waits never use up the pool. The threads live until
 * the run ends: an rsync child dies with the thread that started it (rsync.h).
 */
#include "publish/publish-private.h"

#include <pthread.h>
#include <time.h>

typedef struct Job {
	struct Job *next;
	PublishGroup *g;
	void (*fn)(void *arg);
	void *arg;
} Job;

struct PublishPool {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or stop */
	pthread_cond_t done; /* a job ended */
	Job *head, *tail;
	bool stop;
	size_t nthreads;
	pthread_t *threads;
};

/* Takes the first queued job of g (any group when g is NULL); under the lock. */
static Job *take(PublishPool *p, const PublishGroup *g)
{
	for (Job **pp = &p->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
		Job *j = *pp;
		if (g && j->g != g)
			continue;
		*pp = j->next;
		if (p->tail == j)
			p->tail = prev;
		return j;
	}
	return NULL;
}

/* Runs j without the lock, then counts it done; under the lock again on return. */
static void run_job(PublishPool *p, Job *j)
{
	pthread_mutex_unlock(&p->lock);
	j->fn(j->arg);
	pthread_mutex_lock(&p->lock);
	j->g->pending--;
	free(j);
	pthread_cond_broadcast(&p->done);
}

static void *worker(void *ud)
{
	PublishPool *p = ud;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		Job *j = take(p, NULL);
		if (j)
			run_job(p, j);
		else if (p->stop)
			break;
		else
			pthread_cond_wait(&p->work, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int publish_pool_new(size_t n, PublishPool **ret)
{
	PublishPool *p = calloc(1, sizeof(*p));
	if (!p || !(p->threads = calloc(MAX(n, (size_t)1), sizeof(pthread_t)))) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	int k = 0;
	/* Fewer threads than asked is slower, not wrong: waiters run their own jobs. */
	for (; p->nthreads < MAX(n, (size_t)1); p->nthreads++)
		if ((k = pthread_create(&p->threads[p->nthreads], NULL, worker, p)) != 0)
			break;
	if (p->nthreads == 0) {
		publish_pool_free(p);
		return -k;
	}
	*ret = p;
	return 0;
}

void publish_pool_free(PublishPool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}

int publish_pool_submit(PublishGroup *g, void (*fn)(void *arg), void *arg)
{
	PublishPool *p = g->pool;
	Job *j = malloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	*j = (Job){ .g = g, .fn = fn, .arg = arg };
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	g->pending++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void publish_pool_wait(PublishGroup *g, bool help, void (*tick)(void *ud), void *ud)
{
	PublishPool *p = g->pool;
	pthread_mutex_lock(&p->lock);
	while (g->pending > 0) {
		Job *j = help ? take(p, g) : NULL;
		if (j) {
			run_job(p, j);
			continue;
		}
		if (!tick) {
			pthread_cond_wait(&p->done, &p->lock);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->done, &p->lock, &ts);
		pthread_mutex_unlock(&p->lock);
		tick(ud);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
}
