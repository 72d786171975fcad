/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/hashset.h"

#include <string.h>

typedef struct Slot {
	uint8_t key[HFC_HASH_MAX];
	uint64_t value;
	bool used;
} Slot;

struct HfcHashMap {
	size_t key_len;
	size_t cap, n; /* cap is a power of two */
	Slot *slots;
};

int hfc_hashmap_new(size_t key_len, HfcHashMap **ret)
{
	if (key_len < sizeof(uint64_t) || key_len > HFC_HASH_MAX) /* bucket() reads 8 bytes */
		return -EINVAL;
	HfcHashMap *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->key_len = key_len;
	m->cap = 64;
	m->slots = calloc(m->cap, sizeof(Slot));
	if (!m->slots) {
		free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

void hfc_hashmap_free(HfcHashMap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

static size_t bucket(const HfcHashMap *m, const uint8_t *key)
{
	uint64_t h;
	memcpy(&h, key, sizeof(h));
	return (size_t)(h ^ (h >> 29)) & (m->cap - 1);
}

static Slot *find(const HfcHashMap *m, const uint8_t *key)
{
	for (size_t i = bucket(m, key);; i = (i + 1) & (m->cap - 1)) {
		Slot *s = &m->slots[i];
		if (!s->used || memcmp(s->key, key, m->key_len) == 0)
			return s;
	}
}

static int grow(HfcHashMap *m)
{
	Slot *old = m->slots;
	size_t oldcap = m->cap;
	Slot *ns = calloc(oldcap * 2, sizeof(Slot));
	if (!ns)
		return -ENOMEM;
	m->slots = ns;
	m->cap = oldcap * 2;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].used)
			*find(m, old[i].key) = old[i];
	free(old);
	return 0;
}

int hfc_hashmap_put(HfcHashMap *m, const uint8_t *key, uint64_t value, uint64_t *ret_value)
{
	Slot *s = find(m, key);
	if (s->used) {
		if (ret_value)
			*ret_value = s->value;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap) {
		int r = grow(m);
		if (r < 0)
			return r;
		s = find(m, key);
	}
	memset(s->key, 0, sizeof(s->key));
	memcpy(s->key, key, m->key_len);
	s->value = value;
	s->used = true;
	m->n++;
	return 1;
}

int hfc_hashmap_set(HfcHashMap *m, const uint8_t *key, uint64_t value)
{
	Slot *s = find(m, key);
	if (!s->used)
		return -ENOENT;
	s->value = value;
	return 0;
}

int hfc_hashmap_get(const HfcHashMap *m, const uint8_t *key, uint64_t *ret_value)
{
	const Slot *s = find(m, key);
	if (!s->used)
		return 0;
	if (ret_value)
		*ret_value = s->value;
	return 1;
}

size_t hfc_hashmap_size(const HfcHashMap *m)
{
	return m->n;
}

bool hfc_hashmap_next(const HfcHashMap *m, size_t *iter, const uint8_t **ret_key,
		      uint64_t *ret_value)
{
	for (; *iter < m->cap; (*iter)++) {
		const Slot *s = &m->slots[*iter];
		if (s->used) {
			(*iter)++;
			*ret_key = s->key;
			if (ret_value)
				*ret_value = s->value;
			return true;
		}
	}
	return false;
}

int hfc_hashmap_remove(HfcHashMap *m, const uint8_t *key)
{
	Slot *s = find(m, key);
	if (!s->used)
		return 0;
	/* Backward-shift deletion keeps linear probing correct without tombstones. */
	size_t mask = m->cap - 1;
	size_t i = (size_t)(s - m->slots);
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!m->slots[j].used)
			break;
		size_t home = bucket(m, m->slots[j].key);
		/* Move j into the hole at i when j's home is not cyclically within (i, j]. */
		bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!in_range) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].used = false;
	m->n--;
	return 1;
}
