/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "delta/pagemap.h"

#include <string.h>

/* A slot's value when it is free: no caller stores it (values are positions and counts). */
#define EMPTY UINT64_MAX

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t hfc_page_key(const void *data, size_t len)
{
	/* Four independent lanes so the multiplies overlap; a murmur-style finish mixes them. */
	const uint8_t *p = data;
	const uint64_t k1 = 0x9e3779b97f4a7c15ULL, k2 = 0xc2b2ae3d27d4eb4fULL;
	uint64_t h[4] = { k1 ^ len, k2, k1 + k2, ~k1 };
	size_t i = 0;
	for (; i + 32 <= len; i += 32)
		for (int j = 0; j < 4; j++) {
			uint64_t w;
			memcpy(&w, p + i + 8 * j, 8);
			h[j] = rotl(h[j] ^ (w * k2), 31) * k1;
		}
	uint64_t x = rotl(h[0], 1) + rotl(h[1], 7) + rotl(h[2], 12) + rotl(h[3], 18);
	for (; i < len; i++)
		x = (x ^ p[i]) * k1;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

int hfc_page_map_init(HfcPageMap *m, uint64_t max_entries)
{
	size_t cap = 64;
	while (cap < max_entries * 2 && cap < ((size_t)1 << 40))
		cap <<= 1;
	m->e = malloc(cap * sizeof(*m->e));
	if (!m->e)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		m->e[i].val = EMPTY;
	m->cap = cap;
	m->n = 0;
	return 0;
}

void hfc_page_map_done(HfcPageMap *m)
{
	free(m->e);
	m->e = NULL;
}

static HfcPageSlot *find(const HfcPageMap *m, uint64_t key)
{
	for (size_t i = (size_t)key & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		HfcPageSlot *s = &m->e[i];
		if (s->val == EMPTY || s->key == key)
			return s;
	}
}

bool hfc_page_map_get(const HfcPageMap *m, uint64_t key, uint64_t *ret)
{
	const HfcPageSlot *s = find(m, key);
	if (s->val == EMPTY)
		return false;
	*ret = s->val;
	return true;
}

int hfc_page_map_put(HfcPageMap *m, uint64_t key, uint64_t val, bool replace)
{
	HfcPageSlot *s = find(m, key);
	if (s->val != EMPTY) {
		if (replace)
			s->val = val;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap) {
		/* Grow: only the literal map can outgrow its first estimate. */
		HfcPageMap nm;
		int r = hfc_page_map_init(&nm, (uint64_t)m->cap);
		if (r < 0)
			return r;
		for (size_t i = 0; i < m->cap; i++)
			if (m->e[i].val != EMPTY)
				*find(&nm, m->e[i].key) = m->e[i];
		nm.n = m->n;
		free(m->e);
		*m = nm;
		s = find(m, key);
	}
	s->key = key;
	s->val = val;
	m->n++;
	return 1;
}
