/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/tree.h"

#include "base/clock.h"
#include "base/digest.h"
#include "base/fileio.h"
#include "fs/ext2.h"
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
 * copied from the base version into a sparse, unlinked file (decoded once); a write that
 * changes bytes marks the block dirty. Writes of identical bytes (libext2fs rewrites whole
 * bitmaps and descriptors) leave it clean, so the dirty set is exactly what changed. Without a
 * base, unwritten blocks read as zeros and every write is dirty. Memory: two bits per site
 * block; disk: the blocks touched.
 */
typedef struct Overlay {
	int fd;
	uint64_t size;
	uint32_t bs;
	uint8_t *present, *dirty;
	HfcSiteReader *reader; /* NULL: no base */
	const HfcIndex *base;
	uint8_t *buf;          /* one site block */
	HfcErr *err;
	uint64_t loaded;
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

/* Copies base block i into the file once. */
static int load(Overlay *o, uint64_t i)
{
	if (bit(o->present, i))
		return 0;
	set_bit(o->present, i);
	if (!o->reader || i >= o->base->nblocks || !o->base->entries[i].stored)
		return 0; /* zeros: a hole in the file already */
	int r = hfc_site_reader_block(o->reader, 0, i, o->buf, o->err);
	if (r < 0)
		return r;
	o->loaded++;
	r = hfc_pwrite_all(o->fd, o->buf, block_len(o, i), (off_t)(i * o->bs));
	return r < 0 ? hfc_err_set(o->err, r, "the build's image file: %s", strerror(-r)) : 0;
}

static ssize_t ov_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	Overlay *o = ctx;
	if (off >= o->size)
		return 0;
	len = (size_t)MIN((uint64_t)len, o->size - off);
	for (uint64_t i = off / o->bs; i * o->bs < off + len; i++) {
		int r = load(o, i);
		if (r < 0)
			return r;
	}
	ssize_t n = hfc_pread_all(o->fd, buf, len, (off_t)off);
	if (n >= 0 && (size_t)n < len) /* past the file's end: a hole */
		memset((char *)buf + n, 0, len - (size_t)n), n = (ssize_t)len;
	return n;
}

static int ov_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	Overlay *o = ctx;
	const char *p = buf;
	while (len > 0) {
		uint64_t i = off / o->bs;
		size_t in = (size_t)MIN((uint64_t)len, (i + 1) * o->bs - off);
		int r = 0;
		if (o->reader) {
			r = load(o, i);
			if (r < 0)
				return r;
			ssize_t n = hfc_pread_all(o->fd, o->buf, in, (off_t)off);
			if (n < 0)
				return (int)n;
			if ((size_t)n < in)
				memset(o->buf + n, 0, in - (size_t)n);
			if (!memcmp(o->buf, p, in))
				goto next; /* the same bytes: nothing changes */
		} else {
			set_bit(o->present, i);
		}
		r = hfc_pwrite_all(o->fd, p, in, (off_t)off);
		if (r < 0)
			return r;
		set_bit(o->dirty, i);
next:
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
	Overlay ov = { .fd = -1, .err = err };
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
	}
	ov.bs = bs;
	uint64_t nblocks = DIV_ROUND_UP(ov.size, bs);
	ov.present = calloc(nblocks / 8 + 1, 1);
	ov.dirty = calloc(nblocks / 8 + 1, 1);
	ov.buf = malloc(bs);
	if (!ov.present || !ov.dirty || !ov.buf) {
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
	for (uint64_t i = 0; i < nblocks; i++)
		stats->blocks_written += bit(ov.dirty, i);

	HfcBuildInput in = { .fd = ov.fd, .size = ov.size, .display = t->display,
			     .dirty = o->base ? ov.dirty : NULL, .base = o->base ? prev : NULL };
	in.seek_data = lseek(ov.fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
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
	free(ov.present);
	free(ov.dirty);
	free(ov.buf);
	free(base_hashes.v);
	hfc_ext2_mk_result_free(&mk);
	return r;
}
