/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A tree source: the entries every input becomes, sorted and checked once for every source. */
#include "fs/tree.h"

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

int hfc_tree_content_hash(HfcTree *t, const HfcTreeEntry *e, uint8_t out[32], HfcErr *err)
{
	if (e->hashed) {
		memcpy(out, e->sha256, 32);
		return 0;
	}
	HfcDigestCtx *c;
	int r = hfc_digest_begin(HFC_HASH_SHA256, &c);
	if (r < 0)
		return hfc_err_set(err, r, "out of memory");
	_cleanup_free_ uint8_t *buf = malloc(HASH_CHUNK);
	uint8_t hdr[8];
	le64(hdr, e->size);
	if (!buf || hfc_digest_update(c, hdr, 8) < 0) {
		hfc_digest_free(c);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t k = 0; k < e->nextents; k++) {
		const HfcTreeExtent *x = &e->extents[k];
		for (uint64_t o = 0; r >= 0 && o < x->len;) {
			size_t n = (size_t)MIN((uint64_t)HASH_CHUNK, x->len - o);
			r = hfc_tree_read(t, e, x->off + o, buf, n, err);
			if (r >= 0)
				r = hfc_digest_update(c, buf, n);
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

/* hfc_tree_hash_all: the files to hash, and one result slot per file in flight. */
typedef struct HashAll {
	HfcTree *t;
	size_t *idx;
	HfcErr *err;
	bool reported;
} HashAll;

typedef struct HashSlot {
	int r;
	uint8_t sha256[32];
	HfcErr err;
} HashSlot;

static int hash_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	(void)worker;
	HashAll *h = ctx;
	HashSlot *s = slot;
	s->r = hfc_tree_content_hash(h->t, &h->t->e[h->idx[i]], s->sha256, &s->err);
	return 0; /* the sink reports, in order, with the message */
}

static int hash_sink(void *ctx, uint64_t i, void *slot)
{
	HashAll *h = ctx;
	HashSlot *s = slot;
	if (s->r < 0) {
		if (h->err)
			*h->err = s->err;
		h->reported = true;
		return s->r;
	}
	HfcTreeEntry *e = &h->t->e[h->idx[i]];
	memcpy(e->sha256, s->sha256, 32);
	e->hashed = true;
	return 0;
}

int hfc_tree_hash_all(HfcTree *t, unsigned jobs, HfcErr *err)
{
	HashAll h = { .t = t, .err = err };
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		n += t->e[i].type == HFC_TREE_REG && t->e[i].link == HFC_TREE_NOLINK &&
		     !t->e[i].hashed;
	if (n == 0)
		return 0;
	h.idx = malloc(n * sizeof(*h.idx));
	if (!h.idx)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].type == HFC_TREE_REG && t->e[i].link == HFC_TREE_NOLINK &&
		    !t->e[i].hashed)
			h.idx[n++] = i;
	jobs = jobs ? jobs : 1;
	int r = hfc_pipeline_run(n, jobs, jobs * 4, sizeof(HashSlot), hash_work, hash_sink, &h);
	if (r < 0 && !h.reported) /* the pipeline's own failure (threads, memory) */
		r = hfc_err_set(err, r, "%s: hashing the files: %s", t->display, strerror(-r));
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
