/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A tree source: the entries every input becomes, sorted and checked once for every source. */
#include "fs/tree.h"
#include "base/codec.h"
#include "base/digest.h"
#include "base/pipeline.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define HASH_CHUNK (256 * 1024)

int hfc_tree_new(const char *display, HfcTree **ret)
{
	HfcTree *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->display = strdup(display ? display : "input");
	if (!t->display) {
		free(t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

static void entry_clear(HfcTreeEntry *e)
{
	free(e->path);
	free(e->target);
	free(e->link_path);
	for (size_t k = 0; k < e->nxattrs; k++) {
		free(e->xattrs[k].name);
		free(e->xattrs[k].value);
	}
	free(e->xattrs);
	free(e->extents);
	memset(e, 0, sizeof(*e));
	e->link = HFC_TREE_NOLINK;
}

void hfc_tree_free(HfcTree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		entry_clear(&t->e[i]);
	free(t->e);
	free(t->nonzero);
	if (t->ctx_free)
		t->ctx_free(t->ctx);
	free(t->display);
	free(t);
}

int hfc_tree_norm(const char *name, const char *display, char **out, HfcErr *err)
{
	if (name[0] == '/')
		return hfc_err_set(err, -EINVAL, "%s: %s: an absolute name", display, name);
	size_t n = strlen(name);
	char *p = malloc(n + 1);
	if (!p)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	size_t o = 0;
	const char *s = name;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *c = s;
		while (*s && *s != '/')
			s++;
		size_t len = (size_t)(s - c);
		if (len == 1 && c[0] == '.')
			continue;
		if (len == 2 && c[0] == '.' && c[1] == '.') {
			free(p);
			return hfc_err_set(err, -EINVAL, "%s: %s: a name with '..'", display, name);
		}
		if (len > HFC_TREE_NAME_MAX) {
			free(p);
			return hfc_err_set(err, -ENAMETOOLONG,
					   "%s: %.40s...: a name of %zu bytes (at most %d)", display,
					   c, len, HFC_TREE_NAME_MAX);
		}
		if (o)
			p[o++] = '/';
		memcpy(p + o, c, len);
		o += len;
	}
	p[o] = 0;
	*out = p;
	return 0;
}

HfcTreeEntry *hfc_tree_add(HfcTree *t)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		HfcTreeEntry *e = realloc(t->e, cap * sizeof(*e));
		if (!e)
			return NULL;
		t->e = e;
		t->cap = cap;
	}
	HfcTreeEntry *e = &t->e[t->n++];
	memset(e, 0, sizeof(*e));
	e->link = HFC_TREE_NOLINK;
	e->nlink = 1;
	return e;
}

int hfc_tree_xattr_add(HfcTreeEntry *e, const char *name, const void *value, size_t len)
{
	HfcTreeXattr *x = realloc(e->xattrs, (e->nxattrs + 1) * sizeof(*x));
	if (!x)
		return -ENOMEM;
	e->xattrs = x;
	x = &x[e->nxattrs];
	x->name = strdup(name);
	x->value = malloc(len ? len : 1);
	if (!x->name || !x->value) {
		free(x->name);
		free(x->value);
		return -ENOMEM;
	}
	memcpy(x->value, value, len);
	x->len = len;
	e->nxattrs++;
	return 0;
}

/* Sorts by path; of equal paths the last one given wins (made parents lose to any). */
typedef struct Sorted {
	const char *path;
	size_t i;
} Sorted;

static int cmp_sorted(const void *a, const void *b)
{
	const Sorted *x = a, *y = b;
	return strcmp(x->path, y->path);
}

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const HfcTreeXattr *)a)->name, ((const HfcTreeXattr *)b)->name);
}

static ssize_t find_in(const HfcTree *t, size_t n, const char *path)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->e[mid].path, path);
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

ssize_t hfc_tree_find(const HfcTree *t, const char *path)
{
	return find_in(t, t->n, path);
}

/* Sorts t by path and keeps one entry per path: the one with the highest order. */
static int sort_unique(HfcTree *t, HfcErr *err)
{
	Sorted *s = malloc((t->n ? t->n : 1) * sizeof(*s));
	HfcTreeEntry *e = malloc((t->n ? t->n : 1) * sizeof(*e));
	if (!s || !e) {
		free(s);
		free(e);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < t->n; i++)
		s[i] = (Sorted){ t->e[i].path, i };
	qsort(s, t->n, sizeof(*s), cmp_sorted);
	size_t n = 0;
	for (size_t k = 0; k < t->n;) {
		size_t best = s[k].i, j = k + 1;
		for (; j < t->n && strcmp(s[j].path, s[k].path) == 0; j++)
			if (t->e[s[j].i].order > t->e[best].order)
				best = s[j].i;
		for (size_t m = k; m < j; m++)
			if (s[m].i != best)
				entry_clear(&t->e[s[m].i]);
		e[n++] = t->e[best];
		k = j;
	}
	free(s);
	free(t->e);
	t->e = e;
	t->n = t->cap = n;
	return 0;
}

/* Adds a directory (0755, root) for the root and every parent the input does not name. */
static int add_parents(HfcTree *t, HfcErr *err)
{
	size_t n = t->n;
	if (n == 0 || t->e[0].path[0]) {
		HfcTreeEntry *e = hfc_tree_add(t);
		if (!e || !(e->path = strdup("")))
			return hfc_err_set(err, -ENOMEM, "out of memory");
		e->type = HFC_TREE_DIR;
		e->perm = 0755;
		e->order = 0;
	}
	for (size_t i = 0; i < n; i++) {
		/* A copy: the entry's own path cut short would be found by the search. */
		_cleanup_free_ char *p = strdup(t->e[i].path);
		if (!p)
			return hfc_err_set(err, -ENOMEM, "out of memory");
		for (char *c = strchr(p, '/'); c; c = strchr(c + 1, '/')) {
			*c = 0;
			ssize_t k = find_in(t, n, p); /* the sorted part only */
			int r = 0;
			if (k >= 0 && t->e[k].type != HFC_TREE_DIR)
				r = hfc_err_set(err, -ENOTDIR, "%s: %s: below a %s (%s)", t->display,
						t->e[i].path, hfc_tree_type_name(t->e[k].type), p);
			if (k < 0) {
				/* Made here; duplicates of made ones are merged by sort_unique. */
				HfcTreeEntry *e = hfc_tree_add(t);
				if (!e || !(e->path = strdup(p)))
					r = hfc_err_set(err, -ENOMEM, "out of memory");
				else {
					e->type = HFC_TREE_DIR;
					e->perm = 0755;
					e->order = 0;
				}
			}
			*c = '/';
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int hfc_tree_finish(HfcTree *t, HfcErr *err)
{
	for (size_t i = 0; i < t->n; i++)
		t->e[i].order = i + 1;
	int r = sort_unique(t, err);
	if (r >= 0)
		r = add_parents(t, err);
	if (r >= 0)
		r = sort_unique(t, err);
	if (r < 0)
		return r;
	if (t->e[0].type != HFC_TREE_DIR)
		return hfc_err_set(err, -ENOTDIR, "%s: the root is a %s", t->display,
				   hfc_tree_type_name(t->e[0].type));

	/*
	 * Hard links: each group is led by its smallest path, which carries the data and the
	 * metadata; the others point at it. A link to a link is followed to its group.
	 */
	for (size_t i = 0; i < t->n; i++) {
		HfcTreeEntry *x = &t->e[i];
		if (!x->link_path)
			continue;
		ssize_t k = hfc_tree_find(t, x->link_path);
		unsigned hops = 0;
		while (k >= 0 && t->e[k].link_path && hops++ < 64)
			k = hfc_tree_find(t, t->e[k].link_path);
		if (k < 0 || (size_t)k == i || t->e[k].link_path)
			return hfc_err_set(err, -EINVAL,
					   "%s: %s: a hard link to %s, which is not in the input",
					   t->display, x->path, x->link_path);
		if (t->e[k].type == HFC_TREE_DIR)
			return hfc_err_set(err, -EINVAL, "%s: %s: a hard link to a directory",
					   t->display, x->path);
		x->link = (size_t)k;
	}
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].link_path);
		t->e[i].link_path = NULL;
	}
	/* Move each group's payload to its smallest member. */
	for (size_t i = 0; i < t->n; i++) {
		HfcTreeEntry *x = &t->e[i];
		if (x->link == HFC_TREE_NOLINK)
			continue;
		size_t k = x->link;
		if (t->e[k].link != HFC_TREE_NOLINK)
			k = t->e[k].link;
		if (i < k) {
			HfcTreeEntry tmp = t->e[k];
			char *pi = x->path, *pk = tmp.path;
			t->e[k] = *x;
			*x = tmp;
			x->path = pi;
			t->e[k].path = pk;
			x->link = HFC_TREE_NOLINK;
			for (size_t j = 0; j < t->n; j++)
				if (t->e[j].link == k || j == k)
					t->e[j].link = i;
		} else {
			x->link = k;
		}
	}
	t->newest = 0;
	t->data_bytes = 0;
	for (size_t i = 0; i < t->n; i++) {
		HfcTreeEntry *x = &t->e[i];
		x->nlink = 1;
		if (x->link != HFC_TREE_NOLINK)
			continue;
		if (x->nxattrs > 1)
			qsort(x->xattrs, x->nxattrs, sizeof(*x->xattrs), cmp_xattr);
		if (x->mtime > t->newest)
			t->newest = x->mtime;
		for (size_t k = 0; k < x->nextents; k++)
			t->data_bytes += x->extents[k].len;
	}
	for (size_t i = 0; i < t->n; i++) {
		HfcTreeEntry *x = &t->e[i];
		if (x->link != HFC_TREE_NOLINK) {
			t->e[x->link].nlink++;
			x->type = t->e[x->link].type;
		}
	}
	return 0;
}

int hfc_tree_read(HfcTree *t, const HfcTreeEntry *e, uint64_t off, void *buf, size_t len,
		  HfcErr *err)
{
	return t->read(t, e, off, buf, len, err);
}

int hfc_tree_read_range(HfcTree *t, const HfcTreeEntry *e, uint64_t off, void *buf, size_t len,
			HfcErr *err)
{
	uint8_t *p = buf;
	uint64_t done = off; /* [off, done) is filled */
	/* From the first extent that ends after off (extents ascend and do not overlap). */
	size_t first = hfc_ranges_find(e->extents, e->nextents, sizeof(*e->extents), off);
	for (size_t k = first; k < e->nextents && e->extents[k].off < off + len; k++) {
		const HfcTreeExtent *x = &e->extents[k];
		uint64_t s = MAX(x->off, off), end = MIN(x->off + x->len, off + len);
		if (s >= end)
			continue;
		memset(p + (done - off), 0, (size_t)(s - done)); /* a hole */
		int r = hfc_tree_read(t, e, s, p + (s - off), (size_t)(end - s), err);
		if (r < 0)
			return r;
		done = end;
	}
	memset(p + (done - off), 0, (size_t)(off + len - done)); /* a hole, or past the end */
	return 0;
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

int hfc_tree_hash_extents(HfcDigestCtx *c, const HfcTreeEntry *e)
{
	uint8_t hdr[16];
	int r = 0;
	for (size_t k = 0; r >= 0 && k < e->nextents; k++) {
		le64(hdr, e->extents[k].off);
		le64(hdr + 8, e->extents[k].len);
		r = hfc_digest_update(c, hdr, 16);
	}
	return r;
}

/* Sets the bits of nz for the 4 KiB blocks of [off, off+n) (buf) that are not all zeros. */
static void note_nonzero(uint64_t *nz, const uint8_t *buf, uint64_t off, size_t n)
{
	for (uint64_t at = off; at < off + n;) {
		uint64_t k = at / HFC_TREE_ZBLOCK;
		uint64_t end = MIN(off + n, (k + 1) * HFC_TREE_ZBLOCK);
		if (!(nz[k / 64] & (1ull << (k % 64))) && !hfc_is_zero(buf + (at - off), end - at))
			nz[k / 64] |= 1ull << (k % 64);
		at = end;
	}
}

/* hfc_tree_content_hash with a HASH_CHUNK buffer of the caller's; fills nz when not NULL. */
static int content_hash(HfcTree *t, const HfcTreeEntry *e, uint8_t *buf, uint8_t out[32],
			uint64_t *nz, HfcErr *err)
{
	if (e->hashed) {
		memcpy(out, e->sha256, 32);
		return 0;
	}
	HfcDigestCtx *c;
	int r = hfc_digest_begin(HFC_HASH_SHA256, &c);
	if (r < 0)
		return hfc_err_set(err, r, "out of memory");
	uint8_t hdr[8];
	le64(hdr, e->size);
	if (hfc_digest_update(c, hdr, 8) < 0) {
		hfc_digest_free(c);
		return hfc_err_set(err, -EIO, "hashing %s failed", e->path);
	}
	for (size_t k = 0; k < e->nextents; k++) {
		const HfcTreeExtent *x = &e->extents[k];
		for (uint64_t o = 0; r >= 0 && o < x->len;) {
			size_t n = (size_t)MIN((uint64_t)HASH_CHUNK, x->len - o);
			r = hfc_tree_read(t, e, x->off + o, buf, n, err);
			if (r >= 0)
				r = hfc_digest_update(c, buf, n);
			if (r >= 0 && nz)
				note_nonzero(nz, buf, x->off + o, n);
			o += n;
		}
		if (r < 0) {
			hfc_digest_free(c);
			return r;
		}
	}
	if (hfc_tree_hash_extents(c, e) < 0) {
		hfc_digest_free(c);
		return hfc_err_set(err, -EIO, "hashing %s failed", e->path);
	}
	if (hfc_digest_end(c, out) < 0)
		return hfc_err_set(err, -EIO, "hashing %s failed", e->path);
	return 0;
}

int hfc_tree_content_hash(HfcTree *t, const HfcTreeEntry *e, uint8_t out[32], HfcErr *err)
{
	_cleanup_free_ uint8_t *buf = e->hashed ? NULL : malloc(HASH_CHUNK);
	if (!e->hashed && !buf)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	return content_hash(t, e, buf, out, NULL, err);
}

/*
 * hfc_tree_hash_all: the files to hash in batches of about HASH_BATCH bytes (a small file is not
 * worth a hand-over between threads), one buffer per worker, one result slot per batch in flight.
 * A worker writes its entries' hashes itself (no other thread touches those entries); the
 * pipeline's end publishes them.
 */
#define HASH_BATCH (1024 * 1024)

typedef struct HashAll {
	HfcTree *t;
	size_t *idx;   /* the files */
	size_t *batch; /* batch k is idx[batch[k]] .. idx[batch[k+1]-1] */
	uint64_t *nz;  /* the nonzero maps (t->nonzero) ... */
	size_t *nzoff; /* ... file j's at nz + nzoff[j] */
	uint8_t **buf; /* per worker */
	HfcErr *err;
	bool reported;
} HashAll;

typedef struct HashSlot {
	int r;
	HfcErr err;
} HashSlot;

static bool to_hash(const HfcTreeEntry *e)
{
	return e->type == HFC_TREE_REG && e->link == HFC_TREE_NOLINK && !e->hashed;
}

/* 64-bit words of e's nonzero map. */
static size_t nz_words(const HfcTreeEntry *e)
{
	return (size_t)DIV_ROUND_UP(DIV_ROUND_UP(e->size, HFC_TREE_ZBLOCK), 64);
}

static int hash_work(void *ctx, unsigned worker, uint64_t k, void *slot)
{
	HashAll *h = ctx;
	HashSlot *s = slot;
	s->r = 0;
	for (size_t j = h->batch[k]; s->r >= 0 && j < h->batch[k + 1]; j++) {
		HfcTreeEntry *e = &h->t->e[h->idx[j]];
		uint64_t *nz = h->nz ? h->nz + h->nzoff[j] : NULL;
		s->r = content_hash(h->t, e, h->buf[worker], e->sha256, nz, &s->err);
		e->hashed = s->r >= 0;
		e->nonzero = s->r >= 0 ? nz : NULL;
	}
	return 0; /* the sink reports, in order, with the message */
}

static int hash_sink(void *ctx, uint64_t k, void *slot)
{
	(void)k;
	HashAll *h = ctx;
	HashSlot *s = slot;
	if (s->r < 0) {
		if (h->err)
			*h->err = s->err;
		h->reported = true;
		return s->r;
	}
	return 0;
}

int hfc_tree_hash_all(HfcTree *t, unsigned jobs, HfcErr *err)
{
	HashAll h = { .t = t, .err = err };
	size_t n = 0, nb = 0;
	for (size_t i = 0; i < t->n; i++)
		n += to_hash(&t->e[i]);
	if (n == 0)
		return 0;
	jobs = jobs ? jobs : 1;
	int r = -ENOMEM;
	size_t words = 0;
	for (size_t i = 0; i < t->n; i++)
		if (to_hash(&t->e[i]))
			words += nz_words(&t->e[i]);
	h.idx = malloc(n * sizeof(*h.idx));
	h.batch = malloc((n + 1) * sizeof(*h.batch));
	h.nzoff = malloc(n * sizeof(*h.nzoff));
	h.buf = calloc(jobs, sizeof(*h.buf));
	if (!h.idx || !h.batch || !h.nzoff || !h.buf)
		goto out;
	if (!t->nonzero) { /* else a second call: no maps for those */
		h.nz = t->nonzero = calloc(words ? words : 1, sizeof(uint64_t));
		if (!h.nz)
			goto out;
	}
	for (unsigned j = 0; j < jobs; j++)
		if (!(h.buf[j] = malloc(HASH_CHUNK)))
			goto out;
	uint64_t bytes = HASH_BATCH;
	n = 0;
	words = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (!to_hash(&t->e[i]))
			continue;
		if (bytes >= HASH_BATCH)
			h.batch[nb++] = n, bytes = 0;
		bytes += t->e[i].size + 4096; /* an empty file costs something too */
		h.nzoff[n] = words;
		words += nz_words(&t->e[i]);
		h.idx[n++] = i;
	}
	h.batch[nb] = n;
	r = hfc_pipeline_run(nb, jobs, jobs * 4, sizeof(HashSlot), hash_work, hash_sink, &h);
out:
	if (r < 0 && !h.reported) /* the pipeline's own failure (threads, memory) */
		r = hfc_err_set(err, r, "%s: hashing the files: %s", t->display, strerror(-r));
	for (unsigned j = 0; h.buf && j < jobs; j++)
		free(h.buf[j]);
	free(h.buf);
	free(h.batch);
	free(h.nzoff);
	free(h.idx);
	return r;
}

const char *hfc_tree_type_name(HfcTreeType type)
{
	switch (type) {
	case HFC_TREE_REG:
		return "regular file";
	case HFC_TREE_DIR:
		return "directory";
	case HFC_TREE_LNK:
		return "symbolic link";
	case HFC_TREE_CHR:
		return "character device";
	case HFC_TREE_BLK:
		return "block device";
	case HFC_TREE_FIFO:
		return "fifo";
	case HFC_TREE_SOCK:
		return "socket";
	}
	return "entry";
}
