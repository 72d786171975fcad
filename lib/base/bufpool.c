/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/bufpool.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* From this size on, buffers are mapped: whole pages, all mapped at once. */
#define MAPPED_MIN (64u << 10)

int hfc_bufpool_init(HfcBufPool *p, size_t size, size_t keep)
{
	*p = (HfcBufPool){ .size = MAX(size, (size_t)1), .keep = keep };
	p->mapped = p->size >= MAPPED_MIN;
	if (p->mapped) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		p->size = (p->size + page - 1) / page * page;
	}
	p->free = calloc(MAX(keep, (size_t)1), sizeof(void *));
	if (!p->free)
		return -ENOMEM;
	int k = pthread_mutex_init(&p->lock, NULL);
	if (k != 0) {
		free(p->free);
		p->free = NULL;
		return -k;
	}
	return 0;
}

static void buf_free(const HfcBufPool *p, void *b)
{
	if (p->mapped)
		(void)munmap(b, p->size);
	else
		free(b);
}

void *hfc_bufpool_get(HfcBufPool *p)
{
	pthread_mutex_lock(&p->lock);
	void *b = p->nfree ? p->free[--p->nfree] : NULL;
	if (!b)
		p->fresh++;
	pthread_mutex_unlock(&p->lock);
	if (b)
		return b;
	if (!p->mapped)
		return malloc(p->size);
	b = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		 -1, 0);
	return b == MAP_FAILED ? NULL : b;
}

void hfc_bufpool_put(HfcBufPool *p, void *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&p->lock);
	bool kept = p->nfree < p->keep;
	if (kept)
		p->free[p->nfree++] = b;
	pthread_mutex_unlock(&p->lock);
	if (!kept)
		buf_free(p, b);
}

void hfc_bufpool_destroy(HfcBufPool *p)
{
	if (!p->free)
		return;
	for (size_t i = 0; i < p->nfree; i++)
		buf_free(p, p->free[i]);
	free(p->free);
	p->free = NULL;
	p->nfree = 0;
	pthread_mutex_destroy(&p->lock);
}
