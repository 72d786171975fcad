/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/tree.h"

#include "base/clock.h"
#include "base/digest.h"
#include "base/fileio.h"
#include "base/pipeline.h"
#include "fs/ext2.h"
#include "site/ahead.h"
#include "site/image.h"
#include "site/store.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The overlay: the image the writer sees. A site block the writer reads or writes is first
 * copied from the base version (decoded once); a write that changes bytes marks the block
 * dirty. Writes of identical bytes (libext2fs rewrites whole bitmaps and descriptors) leave it
 * clean, so the dirty set is exactly what changed. Without a base, unwritten blocks read as zeros
 * and every write is dirty.
 *
 * The blocks being worked on live in a small cache of whole site blocks (OV_CACHE bytes at most,
 * least recently used out first): libext2fs reads and writes an inode or a bitmap at a time,
 * and each of those would otherwise be a system call. A block leaving the cache changed goes
 * to a sparse, unlinked file; the build reads the cache and that file.
 *
 * A new image of an archive takes no copy of the file data at all: the writer hands over
 * references (image range -> a file's data, OvRef) and reads of the image fetch those bytes
 * from the archive itself. That saves writing the whole image into fresh page-cache pages and
 * reading it back. Memory: one OvRef per run of file data (about one per file), 3 bits and 2
 * bytes per site block, and the cache; disk: the blocks that left the cache changed.
 */
#define OV_CACHE (64u << 20)
#define OV_SLOTS_MAX 256

typedef struct OvRef {
	uint64_t off, len; /* the image's bytes [off, off+len) ... (first: hfc_ranges_find) */
	uint64_t foff;     /* ... are t->e[entry]'s data from foff */
	size_t entry;
} OvRef;

typedef struct OvSlot {
	uint64_t blk;
	uint64_t used;  /* the tick of its last use */
	bool modified;  /* differs from the file */
	uint8_t *data;
} OvSlot;

typedef struct Overlay {
	int fd;
	uint64_t size;
	uint32_t bs;
	uint64_t nblocks;
	uint8_t *present, *dirty;
	uint8_t *infile; /* the file holds the block (it left the cache modified) */
	HfcSiteReader *reader; /* NULL: no base */
	const HfcIndex *base;
	HfcErr *err;
	OvSlot *slots;
	size_t nslots, maxslots;
	uint16_t *slot_of; /* per site block: its slot + 1, or 0 */
	uint64_t tick;
	HfcTree *t;
	OvRef *refs; /* ascending, disjoint */
	size_t nrefs, caprefs;
	/* encoding ahead (NULL: not) */
	HfcAhead *ahead;
	uint32_t *gen;   /* per site block: bumped at every change */
	uint64_t *units; /* per site block: its 4 KiB units written since the build began */
	uint8_t *sent;   /* per site block: handed to ahead */
} Overlay;

static bool bit(const uint8_t *m, uint64_t i)
{
	return m[i / 8] & (1u << (i % 8));
}

static void set_bit(uint8_t *m, uint64_t i)
{
	m[i / 8] |= (uint8_t)(1u << (i % 8));
}

static size_t block_len(Overlay *o, uint64_t i)
{
	return (size_t)MIN((uint64_t)o->bs, o->size - i * o->bs);
}

static int ov_init(Overlay *o)
{
	o->nblocks = DIV_ROUND_UP(o->size, o->bs);
	o->maxslots = MAX(4u, MIN(OV_SLOTS_MAX, OV_CACHE / o->bs));
	o->present = calloc(o->nblocks / 8 + 1, 1);
	o->dirty = calloc(o->nblocks / 8 + 1, 1);
	o->infile = calloc(o->nblocks / 8 + 1, 1);
	o->slot_of = calloc(o->nblocks ? o->nblocks : 1, sizeof(*o->slot_of));
	o->slots = calloc(o->maxslots, sizeof(*o->slots));
	return o->present && o->dirty && o->infile && o->slot_of && o->slots ? 0 : -ENOMEM;
}

/* Encodes done blocks ahead on a spare core: blocks of at most 64 units of 4 KiB. */
static int ov_ahead(Overlay *o, HfcHashAlgo algo, int level)
{
	if (o->bs % 4096 || o->bs / 4096 > 64)
		return 0;
	o->gen = calloc(o->nblocks ? o->nblocks : 1, sizeof(*o->gen));
	o->units = calloc(o->nblocks ? o->nblocks : 1, sizeof(*o->units));
	o->sent = calloc(o->nblocks / 8 + 1, 1);
	if (!o->gen || !o->units || !o->sent)
		return -ENOMEM;
	return hfc_ahead_new(o->bs, algo, level, &o->ahead);
}

static void ov_free(Overlay *o)
{
	hfc_ahead_free(o->ahead);
	free(o->gen);
	free(o->units);
	free(o->sent);
	for (size_t k = 0; o->slots && k < o->nslots; k++)
		free(o->slots[k].data);
	free(o->slots);
	free(o->slot_of);
	free(o->present);
	free(o->dirty);
	free(o->infile);
	free(o->refs);
}

static int slot_write(Overlay *o, OvSlot *s)
{
	int r = hfc_pwrite_all(o->fd, s->data, block_len(o, s->blk), (off_t)(s->blk * o->bs));
	if (r < 0)
		return hfc_err_set(o->err, r, "the build's image file: %s", strerror(-r));
	s->modified = false;
	set_bit(o->infile, s->blk);
	return 0;
}

/*
 * Copies n bytes at offset boff of site block i as the writer has left them, references
 * aside: from the cache, else the file, else zeros. Changes nothing (the build's threads call
 * it once the writer is done).
 */
static int blk_copy(const Overlay *o, uint64_t i, size_t boff, uint8_t *dst, size_t n,
		    HfcErr *err)
{
	if (o->slot_of[i]) {
		memcpy(dst, o->slots[o->slot_of[i] - 1].data + boff, n);
		return 0;
	}
	if (!bit(o->infile, i)) {
		memset(dst, 0, n);
		return 0;
	}
	ssize_t k = hfc_pread_all(o->fd, dst, n, (off_t)(i * o->bs + boff));
	if (k < 0)
		return hfc_err_set(err, (int)k, "the build's image file: %s", strerror((int)-k));
	if ((size_t)k < n) /* past the file's end: a hole */
		memset(dst + k, 0, n - (size_t)k);
	return 0;
}

/* Site block i, in the cache (*ret): from the cache, the file, the base or zeros. */
static int blk_get(Overlay *o, uint64_t i, uint8_t **ret)
{
	o->tick++;
	if (o->slot_of[i]) {
		OvSlot *s = &o->slots[o->slot_of[i] - 1];
		s->used = o->tick;
		*ret = s->data;
		return 0;
	}
	OvSlot *s;
	int r = 0;
	if (o->nslots < o->maxslots) {
		s = &o->slots[o->nslots];
		if (!(s->data = malloc(o->bs)))
			return hfc_err_set(o->err, -ENOMEM, "out of memory");
		o->nslots++;
	} else {
		s = &o->slots[0];
		for (size_t k = 1; k < o->nslots; k++)
			if (o->slots[k].used < s->used)
				s = &o->slots[k];
		if (s->modified && (r = slot_write(o, s)) < 0)
			return r;
		o->slot_of[s->blk] = 0;
	}
	size_t len = block_len(o, i);
	s->modified = false;
	if (bit(o->infile, i)) {
		r = blk_copy(o, i, 0, s->data, len, o->err); /* not cached: from the file */
	} else if (!bit(o->present, i) && o->reader && i < o->base->nblocks &&
		   o->base->entries[i].stored) {
		r = hfc_site_reader_block(o->reader, 0, i, s->data, o->err);
		s->modified = true; /* the file has a hole there */
	} else {
		memset(s->data, 0, len); /* zeros, or only references: no need to write it */
	}
	if (r < 0) { /* the slot goes: the last one takes its place */
		free(s->data);
		*s = o->slots[--o->nslots];
		if (s != &o->slots[o->nslots])
			o->slot_of[s->blk] = (uint16_t)(s - o->slots + 1);
		return r;
	}
	set_bit(o->present, i);
	s->blk = i;
	s->used = o->tick;
	o->slot_of[i] = (uint16_t)(s - o->slots + 1);
	*ret = s->data;
	return 0;
}

/* The index of the first reference that ends after off. */
static size_t ref_find(const Overlay *o, uint64_t off)
{
	return hfc_ranges_find(o->refs, o->nrefs, sizeof(*o->refs), off);
}

/* Fills the parts of buf (the image's [off, off+len)) that references cover. */
static int ref_fill(const Overlay *o, uint8_t *buf, size_t len, uint64_t off, HfcErr *err)
{
	for (size_t k = ref_find(o, off); k < o->nrefs && o->refs[k].off < off + len; k++) {
		const OvRef *f = &o->refs[k];
		uint64_t s = MAX(f->off, off), end = MIN(f->off + f->len, off + len);
		int r = hfc_tree_read_range(o->t, &o->t->e[f->entry], f->foff + (s - f->off),
					    buf + (s - off), (size_t)(end - s), err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Copies block i, as it is now, for the encoder ahead (when it has a slot free). */
static void ahead_send(Overlay *o, uint64_t i)
{
	uint8_t *slot = hfc_ahead_slot(o->ahead);
	if (!slot)
		return;
	size_t len = block_len(o, i);
	HfcErr err = { "" };
	int r = blk_copy(o, i, 0, slot, len, &err);
	if (r >= 0)
		r = ref_fill(o, slot, len, i * o->bs, &err);
	if (r < 0) { /* the build reads it again, and says what is wrong */
		hfc_ahead_drop(o->ahead, slot);
		return;
	}
	hfc_ahead_queue(o->ahead, slot, i, o->gen[i], len);
	set_bit(o->sent, i);
}

/*
 * Bytes [off, off+len) were written (changed: they differ from before). A dirty block whose
 * every 4 KiB unit has been written since the build began is taken as done and encoded ahead;
 * a later change bumps its generation, and the build then encodes it itself.
 */
static void ahead_note(Overlay *o, uint64_t off, uint64_t len, bool changed)
{
	if (!o->ahead)
		return;
	for (uint64_t i = off / o->bs; i * o->bs < off + len; i++) {
		uint64_t b0 = i * o->bs, b1 = b0 + block_len(o, i);
		uint64_t s = MAX(off, b0), e = MIN(off + len, b1);
		if (changed)
			o->gen[i]++;
		for (uint64_t u = DIV_ROUND_UP(s - b0, 4096); u < (e - b0) / 4096; u++)
			o->units[i] |= 1ull << u;
		uint64_t n = (b1 - b0) / 4096;
		uint64_t full = n >= 64 ? ~0ull : (1ull << n) - 1;
		if (o->units[i] == full && bit(o->dirty, i) && !bit(o->sent, i))
			ahead_send(o, i);
	}
}

static ssize_t ov_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	Overlay *o = ctx;
	if (off >= o->size)
		return 0;
	len = (size_t)MIN((uint64_t)len, o->size - off);
	uint8_t *p = buf;
	for (uint64_t at = off; at < off + len;) {
		uint64_t i = at / o->bs;
		size_t in = (size_t)MIN(off + len - at, (i + 1) * o->bs - at);
		uint8_t *d;
		int r = blk_get(o, i, &d);
		if (r < 0)
			return r;
		memcpy(p + (at - off), d + (at - i * o->bs), in);
		at += in;
	}
	int r = ref_fill(o, buf, len, off, o->err);
	return r < 0 ? r : (ssize_t)len;
}

/*
 * The build's reads, from several threads once the writer is done (nothing changes any more):
 * the cache, else the file, then the references.
 */
static int ov_build_read(void *ctx, void *buf, size_t len, uint64_t off, HfcErr *err)
{
	Overlay *o = ctx;
	uint8_t *p = buf;
	for (uint64_t at = off; at < off + len;) {
		uint64_t i = at / o->bs;
		size_t in = (size_t)MIN(off + len - at, (i + 1) * o->bs - at);
		int r = blk_copy(o, i, (size_t)(at - i * o->bs), p + (at - off), in, err);
		if (r < 0)
			return r;
		at += in;
	}
	return ref_fill(o, buf, len, off, err);
}

static int ov_write(void *ctx, const void *buf, size_t len, uint64_t off);

/* Copies reference k's bytes into the image and drops it (a write over it, or out of order). */
static int ref_materialize(Overlay *o, size_t k)
{
	OvRef f = o->refs[k];
	memmove(o->refs + k, o->refs + k + 1, (o->nrefs - k - 1) * sizeof(*o->refs));
	o->nrefs--;
	_cleanup_free_ uint8_t *buf = malloc(o->bs);
	if (!buf)
		return hfc_err_set(o->err, -ENOMEM, "out of memory");
	for (uint64_t d = 0; d < f.len;) {
		size_t n = (size_t)MIN((uint64_t)o->bs, f.len - d);
		int r = hfc_tree_read_range(o->t, &o->t->e[f.entry], f.foff + d, buf, n, o->err);
		if (r < 0)
			return r;
		r = ov_write(o, buf, n, f.off + d);
		if (r < 0)
			return r;
		d += n;
	}
	return 0;
}

/* HfcExt2MkOptions.data_ref: remembers where the bytes come from instead of copying them. */
static int ov_ref(void *ctx, size_t entry, uint64_t foff, uint64_t len, uint64_t off)
{
	Overlay *o = ctx;
	if (off > o->size || len > o->size - off)
		return -EINVAL;
	for (uint64_t i = off / o->bs; i * o->bs < off + len; i++) {
		set_bit(o->present, i);
		set_bit(o->dirty, i);
	}
	OvRef *last = o->nrefs ? &o->refs[o->nrefs - 1] : NULL;
	if (last && last->entry == entry && last->off + last->len == off &&
	    last->foff + last->len == foff) {
		last->len += len;
		ahead_note(o, off, len, true);
		return 0;
	}
	if (o->nrefs == o->caprefs) {
		size_t cap = o->caprefs ? 2 * o->caprefs : 1024;
		OvRef *v = realloc(o->refs, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		o->refs = v;
		o->caprefs = cap;
		last = o->nrefs ? &o->refs[o->nrefs - 1] : NULL;
	}
	o->refs[o->nrefs++] = (OvRef){ .off = off, .len = len, .foff = foff, .entry = entry };
	/* Kept ascending: one out of order (never seen; the writer allocates forward) is copied. */
	if (last && off < last->off + last->len) {
		int r = ref_materialize(o, o->nrefs - 1);
		if (r < 0)
			return r == -ENOMEM ? r : -EIO;
		return 0;
	}
	ahead_note(o, off, len, true);
	return 0;
}

static int ov_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	Overlay *o = ctx;
	const uint8_t *p = buf;
	if (off > o->size || len > o->size - off)
		return -EINVAL;
	/* Over a reference (never seen: the writer hands data blocks out once). */
	for (size_t k; (k = ref_find(o, off)) < o->nrefs && o->refs[k].off < off + len;) {
		int r = ref_materialize(o, k);
		if (r < 0)
			return r == -ENOMEM ? r : -EIO;
	}
	while (len > 0) {
		uint64_t i = off / o->bs;
		size_t in = (size_t)MIN((uint64_t)len, (i + 1) * o->bs - off);
		uint8_t *d;
		int r = blk_get(o, i, &d);
		if (r < 0)
			return r;
		d += off - i * o->bs;
		/* With a base, the same bytes change nothing; without one, every write counts. */
		bool changed = !o->reader || memcmp(d, p, in);
		if (changed) {
			memcpy(d, p, in);
			o->slots[o->slot_of[i] - 1].modified = true;
			set_bit(o->dirty, i);
		}
		ahead_note(o, off, in, changed);
		p += in;
		off += in;
		len -= in;
	}
	return 0;
}

static int overlay_file(const char *dir, int site_fd)
{
	int fd = dir ? open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
		     : openat(site_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	char name[64];
	hfc_tmp_name_pid("image", name, sizeof(name));
	int d = dir ? open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC) : dup(site_fd);
	if (d < 0)
		return negative_errno();
	fd = openat(d, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	int r = fd < 0 ? negative_errno() : 0;
	if (fd >= 0)
		(void)unlinkat(d, name, 0);
	close(d);
	return fd >= 0 ? fd : r;
}

/* ---- the tree manifest (.hfc-tree): each file's content hash by inode, for --base ---- */

#define TREE_MAGIC "hfc-tree 1\n"
#define TREE_REC 36

static void put32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Loads the manifest of `version`; any problem means none (every file then counts as changed). */
static void manifest_load(HfcSite *site, uint32_t version, HfcExt2Hashes *out)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, ml = strlen(TREE_MAGIC);
	memset(out, 0, sizeof(*out));
	if (hfc_read_file_at(hfc_site_fd(site), HFC_SITE_TREE, (size_t)1 << 30, &buf, &len) < 0)
		return;
	if (len < ml + 4 + 32 || memcmp(buf, TREE_MAGIC, ml) || (len - ml - 4 - 32) % TREE_REC)
		return;
	uint8_t sum[32];
	if (hfc_digest(HFC_HASH_SHA256, buf, len - 32, sum) < 0 || memcmp(sum, buf + len - 32, 32))
		return;
	const uint8_t *p = (const uint8_t *)buf + ml;
	if (get32(p) != version)
		return;
	p += 4;
	size_t n = (len - ml - 4 - 32) / TREE_REC;
	out->v = malloc((n ? n : 1) * sizeof(*out->v));
	if (!out->v)
		return;
	for (size_t k = 0; k < n; k++, p += TREE_REC) {
		out->v[k].ino = get32(p);
		memcpy(out->v[k].sha256, p + 4, 32);
		if (k && out->v[k].ino <= out->v[k - 1].ino) { /* not sorted: not ours */
			free(out->v);
			out->v = NULL;
			return;
		}
	}
	out->n = n;
}

static int manifest_save(HfcSite *site, uint32_t version, const HfcExt2Hashes *h)
{
	size_t ml = strlen(TREE_MAGIC), len = ml + 4 + h->n * TREE_REC;
	_cleanup_free_ uint8_t *buf = malloc(len + 32);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, TREE_MAGIC, ml);
	put32(buf + ml, version);
	uint8_t *p = buf + ml + 4;
	for (size_t k = 0; k < h->n; k++, p += TREE_REC) {
		put32(p, h->v[k].ino);
		memcpy(p + 4, h->v[k].sha256, 32);
	}
	int r = hfc_digest(HFC_HASH_SHA256, buf, len, buf + len);
	if (r < 0)
		return r;
	return hfc_write_atomic_at(hfc_site_fd(site), HFC_SITE_TREE, buf, len + 32, 0644);
}

int hfc_build_tree(HfcTree *t, const char *site_path, const HfcTreeBuildOptions *o,
		   HfcBuildResult *res, HfcTreeBuildStats *stats, HfcErr *err)
{
	const HfcBuildOptions *bo = &o->build;
	_cleanup_(hfc_site_freep) HfcSite *site = NULL;
	_cleanup_(hfc_index_freep) HfcIndex *prev = NULL;
	_cleanup_(hfc_site_reader_freep) HfcSiteReader *reader = NULL;
	HfcExt2Hashes base_hashes = { 0 };
	HfcExt2MkResult mk = { 0 };
	Overlay ov = { .fd = -1, .err = err, .t = t };
	memset(stats, 0, sizeof(*stats));
	int r = hfc_build_site_open(site_path, bo->dry_run, &site, err);
	if (r < 0)
		return r;
	uint32_t latest = 0;
	if (site) {
		r = hfc_site_latest(site, &latest);
		if (r < 0) {
			r = hfc_err_set(err, r, "%s/indexes: %s", site_path, strerror(-r));
			goto out;
		}
		if (latest) {
			r = hfc_site_load_index(site, latest, &prev, err);
			if (r < 0)
				goto out;
		}
	}
	uint32_t bs = prev ? prev->block_size
			   : bo->block_size ? bo->block_size : HFC_BLOCK_SIZE_DEFAULT;
	if (o->base && !prev) {
		r = hfc_err_set(err, -ENOENT, "%s: --base: the site has no version to update",
				site_path);
		goto out;
	}
	if (o->base && o->size && o->size != prev->image_size) {
		r = hfc_err_set(err, -EINVAL,
				"--size: an update keeps the base's size (%" PRIu64 " bytes)",
				prev->image_size);
		goto out;
	}

	int64_t created = getenv("SOURCE_DATE_EPOCH") ? hfc_now() : t->newest;
	HfcExt2MkOptions mo = {
		.size = o->size, .inodes = o->inodes, .label = o->fs_label, .uuid = o->uuid,
		.hash_seed = o->hash_seed, .created = created, .align = bs,
	};
	if (o->base) {
		manifest_load(site, latest, &base_hashes);
		mo.base = &base_hashes;
		ov.size = prev->image_size;
		r = hfc_site_reader_new(site, prev, 1, &reader);
		if (r < 0) {
			r = hfc_err_set(err, r, "out of memory");
			goto out;
		}
		ov.reader = reader;
		ov.base = prev;
	} else {
		ov.size = o->size ? o->size : hfc_ext2_auto_size(t, bs, NULL);
		mo.size = ov.size;
		if (t->read_shared)
			mo.data_ref = ov_ref;
	}
	ov.bs = bs;
	unsigned jobs = bo->jobs ? bo->jobs : hfc_cpu_count();
	if (ov_init(&ov) < 0 ||
	    (jobs > 1 && ov_ahead(&ov, hfc_build_hash(bo, prev), hfc_build_level(bo)) < 0)) {
		r = hfc_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ov.fd = overlay_file(o->spool_dir, site ? hfc_site_fd(site) : AT_FDCWD);
	if (ov.fd < 0) {
		r = hfc_err_set(err, ov.fd, "%s: the build's image file: %s",
				o->spool_dir ? o->spool_dir : site_path, strerror(-ov.fd));
		goto out;
	}
	if (ftruncate(ov.fd, (off_t)ov.size) < 0) {
		r = negative_errno();
		r = hfc_err_set(err, r, "the build's image file: %s", strerror(-r));
		goto out;
	}

	if (o->base)
		r = hfc_ext2_update(t, &mo, ov.size, ov_read, ov_write, &ov, &mk, err);
	else
		r = hfc_ext2_mkfs(t, &mo, ov_read, ov_write, &ov, &mk, err);
	if (r < 0)
		goto out;
	stats->files_kept = mk.kept;
	stats->files_written = mk.written;
	stats->data_bytes = mk.data_bytes;
	for (uint64_t i = 0; i < ov.nblocks; i++)
		stats->blocks_written += bit(ov.dirty, i);

	/* Blocks nobody wrote are the base's (an update) or zeros (a new image). */
	HfcBuildInput in = { .fd = ov.fd, .size = ov.size, .display = t->display,
			     .dirty = ov.dirty, .base = o->base ? prev : NULL };
	in.read = ov_build_read;
	in.read_ctx = &ov;
	if (ov.ahead) {
		hfc_ahead_stop(ov.ahead);
		in.ahead = ov.ahead;
		in.gen = ov.gen;
	}
	r = hfc_build_input(site, site_path, &in, bo, res, err);
	if (r >= 0 && site && !bo->dry_run && (res->published || res->unchanged)) {
		/* Only a cache for the next --base: a failure costs that build time, not this one. */
		(void)manifest_save(site, res->version, &mk.hashes);
	}
out:
	if (ov.fd >= 0)
		close(ov.fd);
	if (r < 0 && site)
		hfc_site_remove_new(site); /* a site this run made goes again (only if empty) */
	ov_free(&ov);
	free(base_hashes.v);
	hfc_ext2_mk_result_free(&mk);
	return r;
}
