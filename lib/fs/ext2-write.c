/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libext2fs adapter, part three: writing a tree into an ext2 file system, new (mkfs) or on
 * top of the last version's (update). The rules are in docs/INPUTS.md.
 *
 * Layout. Entries are written in path order; every block (data, directories, indirect and
 * xattr blocks) comes from one allocator (fs->get_alloc_block, as e2fsdroid's base-fs
 * allocator does), so a new image is laid out front to back in path order. In an update, the
 * allocator first hands out the runs of `align` bytes (the site's block size) that were wholly
 * free before the update began: freed blocks are not reused while such runs remain, and new
 * data fills as few site blocks as possible. Only then does it fall back to libext2fs's own.
 */
#include "fs/ext2-private.h"

#include "base/codec.h"
#include "base/digest.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define FS_BLOCK 4096u
#define INODE_SIZE 256
#define CHUNK_BLOCKS 256 /* file data is read and written 1 MiB at a time */
#define LPF_SIZE (16 * 1024)

typedef struct W {
	HfcExt2 h; /* fs, io and display: what hfc_ext2_fail() reads */
	HfcTree *t;
	const HfcExt2MkOptions *o;
	HfcErr *err;
	bool update;
	ext2_ino_t *ino; /* per tree entry */
	char *blockbuf;  /* 3 file system blocks, for ext2fs_bmap2() */
	uint8_t *data;   /* CHUNK_BLOCKS blocks */
	/* the allocator */
	blk64_t cursor;   /* new image: the next block to try for file data */
	/*
	 * New image: directories, xattr blocks and symlink blocks go to a region of their own
	 * after the inode tables (meta_cursor up to meta_end), file data and its indirect blocks
	 * after it. An update then reads the metadata from a few site blocks, not from the
	 * whole image, and changes to directories fall on the same few blocks.
	 */
	bool meta;
	blk64_t meta_cursor, meta_end;
	blk64_t *runs;    /* update: first block of each run that was wholly free */
	size_t nruns, run;
	blk64_t run_pos;  /* blocks of runs[run] handed out or found taken */
	blk64_t run_len;  /* blocks per run */
	/* the base: every path of the image, sorted */
	struct BaseEnt *base;
	size_t nbase, capbase;
	uint8_t *claimed; /* per inode: taken by an entry of the new tree */
	HfcExt2MkResult *res;
	HfcDigestCtx *id; /* the tree's identity: UUID and hash seed when none is given */
} W;

typedef struct BaseEnt {
	char *path;
	ext2_ino_t ino, dir;
	int ftype;
	bool keep; /* named in the new tree as the same kind of thing */
} BaseEnt;

static int efail(W *w, errcode_t e, const char *what)
{
	return hfc_ext2_fail(&w->h, w->err, e, what);
}

static int nomem(W *w)
{
	return hfc_err_set(w->err, -ENOMEM, "out of memory");
}

void hfc_ext2_mk_result_free(HfcExt2MkResult *res)
{
	free(res->hashes.v);
	res->hashes.v = NULL;
	res->hashes.n = 0;
}

/* ---- the allocator ---- */

static bool blk_free(ext2_filsys fs, blk64_t b)
{
	return b >= fs->super->s_first_data_block && b < ext2fs_blocks_count(fs->super) &&
	       !ext2fs_test_block_bitmap2(fs->block_map, b);
}

/* Picks a free block (not marked: the caller or libext2fs marks it). */
static errcode_t pick_block(W *w, blk64_t goal, blk64_t *ret)
{
	ext2_filsys fs = w->h.fs;
	if (w->update) {
		while (w->run < w->nruns) {
			if (w->run_pos >= w->run_len) {
				w->run++;
				w->run_pos = 0;
				continue;
			}
			blk64_t b = w->runs[w->run] + w->run_pos++;
			if (blk_free(fs, b)) {
				*ret = b;
				return 0;
			}
		}
		/* No wholly free run left: any free block, freed ones included. */
		return ext2fs_new_block2(fs, goal, fs->block_map, ret);
	}
	if (w->meta && w->meta_cursor < w->meta_end &&
	    ext2fs_new_block2(fs, w->meta_cursor, fs->block_map, ret) == 0 && *ret < w->meta_end) {
		w->meta_cursor = *ret + 1;
		return 0;
	}
	errcode_t e = ext2fs_new_block2(fs, w->cursor, fs->block_map, ret);
	if (!e)
		w->cursor = *ret + 1;
	return e;
}

/* The blocks of the metadata region: directories (as ext2fs_link packs them), xattr and
 * symlink blocks, lost+found, with a tenth to spare. */
static blk64_t meta_estimate(const HfcTree *t)
{
	size_t n = t->n;
	uint64_t *bytes = calloc(n ? n : 1, sizeof(*bytes));
	uint64_t blocks = LPF_SIZE / FS_BLOCK + 16;
	if (!bytes)
		return blocks;
	for (size_t i = 1; i < n; i++) {
		const HfcTreeEntry *e = &t->e[i];
		const char *s = strrchr(e->path, '/');
		size_t len = strlen(s ? s + 1 : e->path);
		ssize_t parent = 0;
		if (s) {
			char buf[4096];
			size_t pl = MIN((size_t)(s - e->path), sizeof(buf) - 1);
			memcpy(buf, e->path, pl);
			buf[pl] = 0;
			parent = hfc_tree_find(t, buf);
		}
		if (parent >= 0)
			bytes[parent] += 8 + ((len + 3) & ~(size_t)3);
		if (e->link == HFC_TREE_NOLINK && (e->nxattrs || (e->type == HFC_TREE_LNK &&
								  e->size >= 60)))
			blocks++;
	}
	for (size_t i = 0; i < n; i++)
		if (t->e[i].type == HFC_TREE_DIR && t->e[i].link == HFC_TREE_NOLINK)
			blocks += (24 + bytes[i]) * 10 / 9 / FS_BLOCK + 1;
	free(bytes);
	return blocks + blocks / 10;
}

static errcode_t alloc_hook(ext2_filsys fs, blk64_t goal, blk64_t *ret)
{
	return pick_block(fs->priv_data, goal, ret);
}

/* The runs of w->o->align bytes that are wholly free now. */
static int find_free_runs(W *w)
{
	ext2_filsys fs = w->h.fs;
	blk64_t per = MAX(1u, w->o->align / fs->blocksize);
	blk64_t total = ext2fs_blocks_count(fs->super);
	w->run_len = per;
	size_t cap = 0;
	for (blk64_t s = 0; s + per <= total; s += per) {
		blk64_t first;
		/* A run is free when no block in [s, s+per) is set. */
		if (s < fs->super->s_first_data_block)
			continue;
		if (ext2fs_find_first_set_block_bitmap2(fs->block_map, s, s + per - 1, &first) == 0)
			continue;
		if (w->nruns == cap) {
			cap = cap ? cap * 2 : 1024;
			blk64_t *r = realloc(w->runs, cap * sizeof(*r));
			if (!r)
				return nomem(w);
			w->runs = r;
		}
		w->runs[w->nruns++] = s;
	}
	return 0;
}

/* ---- inodes ---- */

static void set_time(uint32_t *lo, uint32_t *extra, int64_t sec, uint32_t ns)
{
	*lo = (uint32_t)sec;
	if (extra)
		*extra = (ns << 2) | (uint32_t)(((sec - (int64_t)(int32_t)sec) >> 32) & 3);
}

/* Each tree type's mode bits and directory entry type, indexed by HfcTreeType. */
static const struct {
	uint16_t mode;
	uint8_t ft;
} kinds[] = {
	[HFC_TREE_REG] = { LINUX_S_IFREG, EXT2_FT_REG_FILE },
	[HFC_TREE_DIR] = { LINUX_S_IFDIR, EXT2_FT_DIR },
	[HFC_TREE_LNK] = { LINUX_S_IFLNK, EXT2_FT_SYMLINK },
	[HFC_TREE_CHR] = { LINUX_S_IFCHR, EXT2_FT_CHRDEV },
	[HFC_TREE_BLK] = { LINUX_S_IFBLK, EXT2_FT_BLKDEV },
	[HFC_TREE_FIFO] = { LINUX_S_IFIFO, EXT2_FT_FIFO },
	[HFC_TREE_SOCK] = { LINUX_S_IFSOCK, EXT2_FT_SOCK },
};

static uint16_t type_mode(HfcTreeType type)
{
	return (size_t)type < ELEMENTSOF(kinds) ? kinds[type].mode : 0;
}

static int type_ft(HfcTreeType type)
{
	return (size_t)type < ELEMENTSOF(kinds) ? kinds[type].ft : EXT2_FT_UNKNOWN;
}

/* Sets the metadata of e on inode (mode, owners, times); links and size are the caller's. */
static void fill_meta(const HfcTreeEntry *e, struct ext2_inode_large *in)
{
	in->i_mode = (uint16_t)(type_mode(e->type) | (e->perm & 07777));
	in->i_uid = (uint16_t)e->uid;
	in->osd2.linux2.l_i_uid_high = (uint16_t)(e->uid >> 16);
	in->i_gid = (uint16_t)e->gid;
	in->osd2.linux2.l_i_gid_high = (uint16_t)(e->gid >> 16);
	/*
	 * Only the modification time is the input's: access and change times change whenever a
	 * tree is read, copied or archived, so they would make every build of the same files
	 * differ (and, in an update, rewrite every inode). All four times are the mtime.
	 */
	bool x = in->i_extra_isize >= 24;
	set_time(&in->i_atime, x ? &in->i_atime_extra : NULL, e->mtime, e->mtime_ns);
	set_time(&in->i_mtime, x ? &in->i_mtime_extra : NULL, e->mtime, e->mtime_ns);
	set_time(&in->i_ctime, x ? &in->i_ctime_extra : NULL, e->mtime, e->mtime_ns);
	if (x)
		set_time(&in->i_crtime, &in->i_crtime_extra, e->mtime, e->mtime_ns);
	in->i_dtime = 0;
}

static errcode_t read_inode(W *w, ext2_ino_t ino, struct ext2_inode_large *in)
{
	memset(in, 0, sizeof(*in));
	return ext2fs_read_inode_full(w->h.fs, ino, (struct ext2_inode *)in, sizeof(*in));
}

static errcode_t write_inode(W *w, ext2_ino_t ino, struct ext2_inode_large *in)
{
	return ext2fs_write_inode_full(w->h.fs, ino, (struct ext2_inode *)in, sizeof(*in));
}

static errcode_t link_name(W *w, ext2_ino_t dir, const char *name, ext2_ino_t ino, int ft)
{
	errcode_t e = ext2fs_link(w->h.fs, dir, name, ino, ft);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		e = ext2fs_expand_dir(w->h.fs, dir);
		if (!e)
			e = ext2fs_link(w->h.fs, dir, name, ino, ft);
	}
	return e;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The directory inode of path's parent (already made: the tree is sorted). */
static ext2_ino_t parent_ino(W *w, const HfcTreeEntry *e)
{
	const char *s = strrchr(e->path, '/');
	if (!s)
		return EXT2_ROOT_INO;
	char buf[4096];
	size_t n = (size_t)(s - e->path);
	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, e->path, n);
	buf[n] = 0;
	ssize_t k = hfc_tree_find(w->t, buf);
	return k >= 0 ? w->ino[k] : 0;
}

/* ---- extended attributes ---- */

typedef struct XNames {
	char **v;
	size_t n;
	const HfcTreeEntry *e;
	bool differ;
} XNames;

static int xattr_list_cb(char *name, char *value, size_t len, void *p)
{
	XNames *x = p;
	bool found = false;
	for (size_t k = 0; k < x->e->nxattrs && !found; k++)
		if (!strcmp(x->e->xattrs[k].name, name)) {
			found = true;
			if (x->e->xattrs[k].len != len || memcmp(x->e->xattrs[k].value, value, len))
				x->differ = true;
		}
	if (found)
		return 0;
	x->differ = true;
	char **v = realloc(x->v, (x->n + 1) * sizeof(*v));
	if (!v)
		return XATTR_ABORT;
	x->v = v;
	if (!(v[x->n] = strdup(name)))
		return XATTR_ABORT;
	x->n++;
	return 0;
}

/* Makes ino's xattrs those of e; in an update, touches nothing when they are the same. */
static int set_xattrs(W *w, ext2_ino_t ino, const HfcTreeEntry *e, bool fresh)
{
	if (fresh && e->nxattrs == 0)
		return 0;
	struct ext2_xattr_handle *h = NULL;
	XNames old = { .e = e };
	errcode_t x = ext2fs_xattrs_open(w->h.fs, ino, &h);
	if (!x)
		x = ext2fs_xattrs_read(h);
	if (!x && !fresh) {
		size_t count = 0;
		x = ext2fs_xattrs_iterate(h, xattr_list_cb, &old);
		if (!x)
			x = ext2fs_xattrs_count(h, &count);
		if (!x && !old.differ && count == e->nxattrs) {
			ext2fs_xattrs_close(&h);
			return 0;
		}
		for (size_t k = 0; !x && k < old.n; k++)
			x = ext2fs_xattr_remove(h, old.v[k]);
	}
	for (size_t k = 0; k < old.n; k++)
		free(old.v[k]);
	free(old.v);
	for (size_t k = 0; !x && k < e->nxattrs; k++)
		x = ext2fs_xattr_set(h, e->xattrs[k].name, e->xattrs[k].value, e->xattrs[k].len);
	errcode_t x2 = h ? ext2fs_xattrs_close(&h) : 0;
	if (!x)
		x = x2;
	if (x) {
		char what[4200];
		snprintf(what, sizeof(what), "/%s: extended attributes", e->path);
		return efail(w, x, what);
	}
	return 0;
}

/* ---- data ---- */

static void le64(uint8_t *p, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static int no_space(W *w)
{
	ext2_filsys fs = w->h.fs;
	return hfc_err_set(w->err, -ENOSPC,
			   "%s: the image (%" PRIu64 " MiB) is full; build with a larger --size",
			   w->t->display,
			   (uint64_t)(ext2fs_blocks_count(fs->super) * fs->blocksize >> 20));
}

static int alloc_fail(W *w, errcode_t e, const char *what)
{
	if (e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_INODE_ALLOC_FAIL ||
	    e == EXT2_ET_DIR_NO_SPACE)
		return no_space(w);
	return efail(w, e, what);
}

/* True when the writer hands e's data over by reference (HfcExt2MkOptions.data_ref). */
static bool by_ref(const W *w)
{
	return w->o->data_ref && !w->update && w->t->read_shared;
}

/* ... and knows its empty blocks without reading it (hfc_tree_hash_all's map). */
static bool ref_only(const W *w, const HfcTreeEntry *e)
{
	return by_ref(w) && e->hashed && e->nonzero && w->h.fs->blocksize == HFC_TREE_ZBLOCK;
}

/*
 * Maps and writes blocks [lb0, lb0+nb) of ent's data held in w->data (or not read at all:
 * ref_only); all-zero blocks stay holes.
 */
static int put_window(W *w, const HfcTreeEntry *ent, ext2_ino_t ino, struct ext2_inode_large *in,
		      uint64_t lb0, size_t nb, blk64_t *goal, uint64_t *mapped, const char *what)
{
	ext2_filsys fs = w->h.fs;
	size_t bs = fs->blocksize;
	blk64_t run_start = 0;
	size_t run_first = 0, run_n = 0;
	const uint64_t *nz = ref_only(w, ent) ? ent->nonzero : NULL;
	for (size_t b = 0; b <= nb; b++) {
		blk64_t pb = 0;
		uint64_t fb = lb0 + b;
		bool data = b < nb && (nz ? (nz[fb / 64] >> (fb % 64)) & 1
					  : !hfc_is_zero(w->data + b * bs, bs));
		if (data) {
			errcode_t e = pick_block(w, *goal, &pb);
			if (e)
				return alloc_fail(w, e, what);
			ext2fs_block_alloc_stats2(fs, pb, +1);
			e = ext2fs_bmap2(fs, ino, (struct ext2_inode *)in, w->blockbuf,
					 BMAP_ALLOC | BMAP_SET, lb0 + b, NULL, &pb);
			if (e)
				return alloc_fail(w, e, what);
			*goal = pb + 1;
			(*mapped)++;
			if (run_n && pb == run_start + run_n && b == run_first + run_n) {
				run_n++;
				continue;
			}
		}
		if (run_n && by_ref(w)) {
			int r = w->o->data_ref(w->h.io.ctx, (size_t)(ent - w->t->e),
					       (lb0 + run_first) * bs, run_n * bs, run_start * bs);
			if (r < 0)
				return hfc_err_set(w->err, r, "%s: %s: %s", w->t->display, what,
						   strerror(-r));
			w->res->data_bytes += run_n * bs;
		} else if (run_n) {
			errcode_t e = io_channel_write_blk64(fs->io, run_start, (int)run_n,
							     w->data + run_first * bs);
			if (e)
				return efail(w, e, what);
			w->res->data_bytes += run_n * bs;
		}
		run_n = 0;
		if (data) {
			run_start = pb;
			run_first = b;
			run_n = 1;
		}
	}
	return 0;
}

/* Writes e's data as ino's blocks (it has none yet) and hashes it (hfc_tree_content_hash). */
static int write_data(W *w, ext2_ino_t ino, struct ext2_inode_large *in, const HfcTreeEntry *e,
		      uint8_t hash[32])
{
	ext2_filsys fs = w->h.fs;
	uint64_t bs = fs->blocksize;
	char what[4200];
	snprintf(what, sizeof(what), "/%s", e->path);
	/* Hashed as it is written, unless the source hashed it as it read it. */
	HfcDigestCtx *d = NULL;
	int r = 0;
	if (!e->hashed) {
		uint8_t hdr[8];
		le64(hdr, e->size);
		r = hfc_digest_begin(HFC_HASH_SHA256, &d);
		if (r < 0)
			return nomem(w);
		r = hfc_digest_update(d, hdr, 8);
	}
	blk64_t goal = w->cursor;
	uint64_t mapped = 0, next_lb = 0;
	w->meta = false; /* data and its indirect blocks: the data region */
	bool skip_read = ref_only(w, e);
	size_t k = 0;
	while (r >= 0 && k < e->nextents) {
		const HfcTreeExtent *x = &e->extents[k];
		if (x->len == 0) {
			k++;
			continue;
		}
		uint64_t lb0 = MAX(x->off / bs, next_lb);
		uint64_t ws = lb0 * bs, we = ws + CHUNK_BLOCKS * bs, lbend = lb0;
		if (!skip_read)
			memset(w->data, 0, CHUNK_BLOCKS * bs);
		size_t j = k;
		while (r >= 0 && j < e->nextents) {
			const HfcTreeExtent *y = &e->extents[j];
			uint64_t ys = y->off / bs, yend = y->off + y->len;
			if (y->len && (ys > lbend || y->off >= we) && lbend > lb0)
				break;
			uint64_t cs = MAX(y->off, ws), ce = MIN(yend, we);
			if (cs < ce) {
				if (!skip_read)
					r = hfc_tree_read(w->t, e, cs, w->data + (cs - ws),
							  (size_t)(ce - cs), w->err);
				if (r >= 0 && d)
					r = hfc_digest_update(d, w->data + (cs - ws), (size_t)(ce - cs));
				lbend = MAX(lbend, DIV_ROUND_UP(ce, bs));
			}
			if (yend > we)
				break; /* goes on in the next window */
			j++;
		}
		k = j;
		next_lb = lbend;
		if (r >= 0 && lbend > lb0)
			r = put_window(w, e, ino, in, lb0, (size_t)(lbend - lb0), &goal, &mapped, what);
		if (r >= 0 && lbend == lb0)
			r = hfc_err_set(w->err, -EIO, "%s: %s: bad extent list", w->t->display,
					e->path);
	}
	w->meta = true;
	if (r >= 0 && d && hfc_tree_hash_extents(d, e) < 0)
		r = hfc_err_set(w->err, -EIO, "hashing %s failed", e->path);
	if (r < 0) {
		hfc_digest_free(d);
		return r;
	}
	if (!d)
		memcpy(hash, e->sha256, 32);
	else if (hfc_digest_end(d, hash) < 0)
		return hfc_err_set(w->err, -EIO, "hashing %s failed", e->path);
	errcode_t x = ext2fs_iblk_add_blocks(fs, (struct ext2_inode *)in, mapped);
	if (!x)
		x = ext2fs_inode_size_set(fs, (struct ext2_inode *)in, e->size);
	return x ? efail(w, x, what) : 0;
}

static int add_hash(W *w, ext2_ino_t ino, const uint8_t hash[32])
{
	HfcExt2Hashes *h = &w->res->hashes;
	HfcExt2FileHash *v = h->v;
	if ((h->n & (h->n - 1)) == 0) { /* 0, 1, 2, 4, ...: doubles as it fills */
		v = realloc(h->v, (h->n ? 2 * h->n : 1) * sizeof(*v));
		if (!v)
			return nomem(w);
		h->v = v;
	}
	v[h->n].ino = ino;
	memcpy(v[h->n].sha256, hash, 32);
	h->n++;
	return 0;
}

/* A symlink's target: in the inode (under 60 bytes, a fast symlink) or in one block. */
static int write_symlink(W *w, struct ext2_inode_large *in, const HfcTreeEntry *e, ext2_ino_t ino)
{
	ext2_filsys fs = w->h.fs;
	size_t len = strlen(e->target);
	char what[4200];
	snprintf(what, sizeof(what), "/%s", e->path);
	memset(in->i_block, 0, sizeof(in->i_block));
	if (len < sizeof(in->i_block)) {
		memcpy(in->i_block, e->target, len);
	} else {
		if (len >= fs->blocksize)
			return hfc_err_set(w->err, -ENAMETOOLONG, "%s: a symlink target too long",
					   what);
		blk64_t pb;
		errcode_t x = pick_block(w, w->cursor, &pb);
		if (x)
			return alloc_fail(w, x, what);
		ext2fs_block_alloc_stats2(fs, pb, +1);
		memset(w->data, 0, fs->blocksize);
		memcpy(w->data, e->target, len);
		x = io_channel_write_blk64(fs->io, pb, 1, w->data);
		if (!x)
			x = ext2fs_bmap2(fs, ino, (struct ext2_inode *)in, w->blockbuf,
					 BMAP_ALLOC | BMAP_SET, 0, NULL, &pb);
		if (!x)
			x = ext2fs_iblk_add_blocks(fs, (struct ext2_inode *)in, 1);
		if (x)
			return alloc_fail(w, x, what);
	}
	in->i_size = (uint32_t)len;
	in->i_size_high = 0;
	return 0;
}

static void set_device(struct ext2_inode_large *in, const HfcTreeEntry *e)
{
	memset(in->i_block, 0, sizeof(in->i_block));
	if (e->type != HFC_TREE_CHR && e->type != HFC_TREE_BLK)
		return;
	uint32_t ma = e->dev_major, mi = e->dev_minor;
	if (ma < 256 && mi < 256)
		in->i_block[0] = ma * 256 + mi;
	else
		in->i_block[1] = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
}

/* Writes a whole inode (the in-inode xattr space after the struct cleared). */
static errcode_t write_fresh_inode(W *w, ext2_ino_t ino, struct ext2_inode_large *in)
{
	ext2_filsys fs = w->h.fs;
	size_t isz = EXT2_INODE_SIZE(fs->super);
	char buf[1024];
	if (isz > sizeof(buf) || isz < EXT2_GOOD_OLD_INODE_SIZE)
		return EXT2_ET_INVALID_ARGUMENT;
	memset(buf, 0, isz);
	memcpy(buf, in, MIN(isz, sizeof(*in)));
	return ext2fs_write_inode_full(fs, ino, (struct ext2_inode *)buf, (int)isz);
}

/* Makes a new inode for e (not a directory) and its content; links it into dir as name. */
static int make_inode(W *w, size_t i, ext2_ino_t dir, ext2_ino_t ino)
{
	ext2_filsys fs = w->h.fs;
	const HfcTreeEntry *e = &w->t->e[i];
	char what[4200];
	snprintf(what, sizeof(what), "/%s", e->path);
	struct ext2_inode_large in;
	memset(&in, 0, sizeof(in));
	if (EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE)
		in.i_extra_isize = sizeof(in) - EXT2_GOOD_OLD_INODE_SIZE;
	fill_meta(e, &in);
	in.i_links_count = (uint16_t)e->nlink;
	errcode_t x = write_fresh_inode(w, ino, &in);
	if (x)
		return efail(w, x, what);
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	int r = 0;
	if (e->type == HFC_TREE_REG) {
		uint8_t hash[32];
		r = write_data(w, ino, &in, e, hash);
		if (r >= 0)
			r = add_hash(w, ino, hash);
		w->res->written++;
	} else if (e->type == HFC_TREE_LNK) {
		r = write_symlink(w, &in, e, ino);
	} else {
		set_device(&in, e);
	}
	if (r < 0)
		return r;
	x = write_inode(w, ino, &in);
	if (!x)
		x = link_name(w, dir, base_name(e->path), ino, type_ft(e->type));
	return x ? alloc_fail(w, x, what) : 0;
}

static int make_dir(W *w, size_t i, ext2_ino_t dir, ext2_ino_t *ret)
{
	ext2_filsys fs = w->h.fs;
	const HfcTreeEntry *e = &w->t->e[i];
	char what[4200];
	snprintf(what, sizeof(what), "/%s", e->path);
	ext2_ino_t ino;
	errcode_t x = ext2fs_new_inode(fs, dir, LINUX_S_IFDIR | 0755, NULL, &ino);
	if (!x) {
		/* A fresh inode: stale in-inode xattrs of a freed one must not show through. */
		struct ext2_inode_large z;
		memset(&z, 0, sizeof(z));
		x = write_fresh_inode(w, ino, &z);
	}
	if (!x) {
		x = ext2fs_mkdir(fs, dir, ino, base_name(e->path));
		if (x == EXT2_ET_DIR_NO_SPACE) {
			x = ext2fs_expand_dir(fs, dir);
			if (!x)
				x = ext2fs_mkdir(fs, dir, ino, base_name(e->path));
		}
	}
	if (x)
		return alloc_fail(w, x, what);
	*ret = ino;
	return 0;
}

/* Sets a directory's (or an unchanged inode's) metadata; with links when links > 0. */
static int set_meta(W *w, ext2_ino_t ino, const HfcTreeEntry *e, unsigned links)
{
	struct ext2_inode_large in;
	char what[4200];
	snprintf(what, sizeof(what), "/%s", e->path);
	errcode_t x = read_inode(w, ino, &in);
	if (!x) {
		if (in.i_extra_isize == 0 && EXT2_INODE_SIZE(w->h.fs->super) > EXT2_GOOD_OLD_INODE_SIZE)
			in.i_extra_isize = sizeof(in) - EXT2_GOOD_OLD_INODE_SIZE;
		fill_meta(e, &in);
		if (links)
			in.i_links_count = (uint16_t)links;
		x = write_inode(w, ino, &in);
	}
	return x ? efail(w, x, what) : 0;
}

/* Grows lost+found to 16 KiB as mke2fs does, so e2fsck has room to reconnect files. */
static int grow_lpf(W *w, ext2_ino_t ino)
{
	for (;;) {
		struct ext2_inode_large in;
		errcode_t x = read_inode(w, ino, &in);
		if (x)
			return efail(w, x, "/lost+found");
		if (EXT2_I_SIZE(&in) >= LPF_SIZE)
			return 0;
		x = ext2fs_expand_dir(w->h.fs, ino);
		if (x)
			return alloc_fail(w, x, "/lost+found");
	}
}

/* Sets every directory's link count: 2, and 1 for each subdirectory. */
static int fix_dir_links(W *w, bool lpf_extra)
{
	size_t n = w->t->n;
	_cleanup_free_ unsigned *sub = calloc(n, sizeof(*sub));
	if (!sub)
		return nomem(w);
	for (size_t i = 1; i < n; i++) {
		const HfcTreeEntry *e = &w->t->e[i];
		if (e->type != HFC_TREE_DIR || e->link != HFC_TREE_NOLINK)
			continue;
		const char *s = strrchr(e->path, '/');
		if (!s) {
			sub[0]++;
			continue;
		}
		char buf[4096];
		size_t len = (size_t)(s - e->path);
		memcpy(buf, e->path, MIN(len, sizeof(buf) - 1));
		buf[MIN(len, sizeof(buf) - 1)] = 0;
		ssize_t k = hfc_tree_find(w->t, buf);
		if (k >= 0)
			sub[k]++;
	}
	if (lpf_extra)
		sub[0]++;
	for (size_t i = 0; i < n; i++) {
		const HfcTreeEntry *e = &w->t->e[i];
		if (e->type != HFC_TREE_DIR)
			continue;
		struct ext2_inode_large in;
		errcode_t x = read_inode(w, w->ino[i], &in);
		if (!x && in.i_links_count != 2 + sub[i]) {
			in.i_links_count = (uint16_t)(2 + sub[i]);
			x = write_inode(w, w->ino[i], &in);
		}
		if (x)
			return efail(w, x, e->path[0] ? e->path : "/");
	}
	return 0;
}

/* ---- the tree's identity (UUID and hash seed when none is given) ---- */

static int id_add(W *w, const HfcTreeEntry *e, const uint8_t *hash)
{
	uint8_t m[64];
	le64(m, (uint64_t)e->type);
	le64(m + 8, ((uint64_t)e->perm << 32) | (e->link != HFC_TREE_NOLINK));
	le64(m + 16, ((uint64_t)e->uid << 32) | e->gid);
	le64(m + 24, (uint64_t)e->mtime);
	le64(m + 32, e->size);
	le64(m + 40, ((uint64_t)e->dev_major << 32) | e->dev_minor);
	le64(m + 48, e->nxattrs);
	le64(m + 56, e->link != HFC_TREE_NOLINK ? e->link : 0);
	int r = hfc_digest_update(w->id, e->path, strlen(e->path) + 1);
	if (r >= 0)
		r = hfc_digest_update(w->id, m, sizeof(m));
	if (r >= 0 && e->target)
		r = hfc_digest_update(w->id, e->target, strlen(e->target) + 1);
	if (r >= 0 && hash)
		r = hfc_digest_update(w->id, hash, 32);
	for (size_t k = 0; r >= 0 && k < e->nxattrs; k++) {
		r = hfc_digest_update(w->id, e->xattrs[k].name, strlen(e->xattrs[k].name) + 1);
		if (r >= 0)
			r = hfc_digest_update(w->id, e->xattrs[k].value, e->xattrs[k].len);
	}
	return r < 0 ? hfc_err_set(w->err, r, "hashing the tree failed") : 0;
}

/* The hash a file was written with (res->hashes, in order of writing: a linear search back). */
static const uint8_t *last_hash(W *w, ext2_ino_t ino)
{
	HfcExt2Hashes *h = &w->res->hashes;
	for (size_t k = h->n; k-- > 0;)
		if (h->v[k].ino == ino)
			return h->v[k].sha256;
	return NULL;
}

static int cmp_hash(const void *a, const void *b)
{
	uint32_t x = ((const HfcExt2FileHash *)a)->ino, y = ((const HfcExt2FileHash *)b)->ino;
	return x < y ? -1 : x > y;
}

static int set_identity(W *w)
{
	uint8_t id[32];
	if (hfc_digest_end(w->id, id) < 0) {
		w->id = NULL;
		return hfc_err_set(w->err, -EIO, "hashing the tree failed");
	}
	w->id = NULL;
	struct ext2_super_block *sb = w->h.fs->super;
	if (w->o->uuid) {
		memcpy(sb->s_uuid, w->o->uuid, 16);
	} else if (!w->update) {
		memcpy(sb->s_uuid, id, 16);
		sb->s_uuid[6] = (uint8_t)((sb->s_uuid[6] & 0x0f) | 0x40);
		sb->s_uuid[8] = (uint8_t)((sb->s_uuid[8] & 0x3f) | 0x80);
	}
	if (w->o->hash_seed)
		memcpy(sb->s_hash_seed, w->o->hash_seed, 16);
	else if (!w->update)
		memcpy(sb->s_hash_seed, id + 16, 16);
	ext2fs_mark_super_dirty(w->h.fs);
	qsort(w->res->hashes.v, w->res->hashes.n, sizeof(*w->res->hashes.v), cmp_hash);
	return 0;
}

static int w_init(W *w, HfcTree *t, const HfcExt2MkOptions *o, uint64_t size, HfcReadFn read,
		  HfcWriteFn write, void *ctx, HfcExt2MkResult *res, HfcErr *err)
{
	memset(res, 0, sizeof(*res));
	*w = (W){ .t = t, .o = o, .err = err, .res = res };
	w->h.io = (Ext2Io){ .read = read, .write = write, .ctx = ctx, .size = size };
	w->h.io.stats.num_fields = 2;
	w->h.display = t->display;
	w->meta = true;
	w->ino = calloc(t->n ? t->n : 1, sizeof(*w->ino));
	w->blockbuf = malloc(3 * 65536);
	w->data = malloc(CHUNK_BLOCKS * 65536);
	if (!w->ino || !w->blockbuf || !w->data || hfc_digest_begin(HFC_HASH_SHA256, &w->id) < 0)
		return nomem(w);
	res->size = size;
	return 0;
}

static void w_done(W *w)
{
	free(w->ino);
	free(w->blockbuf);
	free(w->data);
	free(w->runs);
	for (size_t k = 0; k < w->nbase; k++)
		free(w->base[k].path);
	free(w->base);
	free(w->claimed);
	hfc_digest_free(w->id);
	if (w->h.fs)
		ext2fs_free(w->h.fs);
	w->h.fs = NULL;
}

/*
 * Closes the file system, then sets the last-write time of the superblocks it wrote: this
 * libext2fs (1.47.0) stamps them with the clock, not with fs->now, and an image must not
 * depend on when it was built.
 */
static int w_close(W *w)
{
	ext2_filsys fs = w->h.fs;
	uint64_t bs = fs->blocksize, per = fs->super->s_blocks_per_group;
	dgrp_t groups = fs->group_desc_count;
	blk64_t first = fs->super->s_first_data_block;
	_cleanup_free_ uint64_t *sb_off = calloc(groups + 1, sizeof(*sb_off));
	size_t nsb = 0;
	if (!sb_off)
		return nomem(w);
	sb_off[nsb++] = SUPERBLOCK_OFFSET;
	for (dgrp_t g = 1; !w->update && g < groups; g++)
		if (ext2fs_bg_has_super(fs, g))
			sb_off[nsb++] = (first + (uint64_t)g * per) * bs;
	errcode_t x = ext2fs_close2(fs, 0);
	if (x) /* ext2fs_close2() frees the handle only on success: w_done() does it */
		return efail(w, x, "writing the file system's metadata");
	w->h.fs = NULL;
	for (size_t k = 0; k < nsb; k++) {
		struct ext2_super_block sb;
		ssize_t n = w->h.io.read(w->h.io.ctx, &sb, sizeof(sb), sb_off[k]);
		if (n != (ssize_t)sizeof(sb))
			return hfc_err_set(w->err, n < 0 ? (int)n : -EIO,
					   "%s: reading back a superblock", w->t->display);
		if (sb.s_magic != EXT2_SUPER_MAGIC)
			continue;
		sb.s_wtime = (uint32_t)w->o->created;
		sb.s_wtime_hi = (uint8_t)((uint64_t)w->o->created >> 32);
		int r = w->h.io.write(w->h.io.ctx, &sb, sizeof(sb), sb_off[k]);
		if (r < 0)
			return hfc_err_set(w->err, r, "%s: writing a superblock: %s", w->t->display,
					   strerror(-r));
	}
	return 0;
}

/* After the entries (r: their result): the identity, the close, and the result kept or not. */
static int w_finish(W *w, int r)
{
	if (r >= 0)
		r = set_identity(w);
	if (r >= 0)
		r = w_close(w);
	w_done(w);
	if (r < 0)
		hfc_ext2_mk_result_free(w->res);
	return r;
}

uint64_t hfc_ext2_auto_size(const HfcTree *t, uint32_t align, uint64_t *ret_inodes)
{
	uint64_t blocks = 0;
	for (size_t i = 0; i < t->n; i++) {
		const HfcTreeEntry *e = &t->e[i];
		if (e->link != HFC_TREE_NOLINK)
			continue;
		if (e->type == HFC_TREE_DIR)
			blocks += 1;
		uint64_t b = 0;
		for (size_t k = 0; k < e->nextents; k++)
			b += DIV_ROUND_UP(e->extents[k].len, FS_BLOCK) + 1;
		blocks += b + b / 1000 + (b > 12); /* data, indirect blocks */
		if (e->type == HFC_TREE_LNK && e->size >= 60)
			blocks++;
		if (e->nxattrs)
			blocks++;
	}
	uint64_t inodes = (uint64_t)t->n + t->n / 4 + 1024;
	inodes = DIV_ROUND_UP(inodes, 1024) * 1024;
	uint64_t bytes = blocks * FS_BLOCK + inodes * INODE_SIZE;
	bytes += bytes / 4 + (64u << 20);
	uint64_t a = MAX(align, (uint32_t)FS_BLOCK);
	if (ret_inodes)
		*ret_inodes = inodes;
	return DIV_ROUND_UP(bytes, a) * a;
}

/* ---- a new image ---- */

static int mkfs_entries(W *w)
{
	HfcTree *t = w->t;
	ext2_filsys fs = w->h.fs;
	bool tree_lpf = false;
	w->ino[0] = EXT2_ROOT_INO;
	int r = set_meta(w, EXT2_ROOT_INO, &t->e[0], 0);
	if (r >= 0)
		r = id_add(w, &t->e[0], NULL);
	ssize_t lpf = hfc_tree_find(t, "lost+found");
	if (lpf >= 0 && t->e[lpf].type == HFC_TREE_DIR && t->e[lpf].link == HFC_TREE_NOLINK)
		tree_lpf = true;
	if (r >= 0 && !tree_lpf && lpf < 0) {
		ext2_ino_t ino;
		errcode_t x = ext2fs_mkdir(fs, EXT2_ROOT_INO, 0, "lost+found");
		if (!x)
			x = ext2fs_lookup(fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &ino);
		if (x)
			return alloc_fail(w, x, "/lost+found");
		HfcTreeEntry l = { .path = "lost+found", .type = HFC_TREE_DIR, .perm = 0700,
				   .atime = w->o->created, .mtime = w->o->created,
				   .ctime = w->o->created, .link = HFC_TREE_NOLINK };
		r = set_meta(w, ino, &l, 0);
		if (r >= 0)
			r = grow_lpf(w, ino);
	}
	for (size_t i = 1; r >= 0 && i < t->n; i++) {
		const HfcTreeEntry *e = &t->e[i];
		ext2_ino_t dir = parent_ino(w, e);
		if (!dir)
			return hfc_err_set(w->err, -EINVAL, "%s: %s: no parent", t->display, e->path);
		if (e->link != HFC_TREE_NOLINK) {
			w->ino[i] = w->ino[e->link];
			errcode_t x = link_name(w, dir, base_name(e->path), w->ino[i],
						type_ft(e->type));
			if (x)
				return alloc_fail(w, x, e->path);
			r = id_add(w, e, NULL);
			continue;
		}
		if (e->type == HFC_TREE_DIR) {
			r = make_dir(w, i, dir, &w->ino[i]);
			if (r >= 0)
				r = set_meta(w, w->ino[i], e, 0);
			if (r >= 0 && (size_t)lpf == i)
				r = grow_lpf(w, w->ino[i]);
		} else {
			int mode = type_mode(e->type);
			errcode_t x = ext2fs_new_inode(fs, dir, mode, NULL, &w->ino[i]);
			if (x)
				return alloc_fail(w, x, e->path);
			r = make_inode(w, i, dir, w->ino[i]);
		}
		if (r >= 0)
			r = set_xattrs(w, w->ino[i], e, true);
		if (r >= 0)
			r = id_add(w, e, e->type == HFC_TREE_REG ? last_hash(w, w->ino[i]) : NULL);
	}
	if (r >= 0)
		r = fix_dir_links(w, !tree_lpf && lpf < 0);
	return r;
}

int hfc_ext2_mkfs(HfcTree *t, const HfcExt2MkOptions *o, HfcReadFn read, HfcWriteFn write,
		  void *ctx, HfcExt2MkResult *res, HfcErr *err)
{
	uint64_t inodes = 0;
	uint64_t need = hfc_ext2_auto_size(t, o->align, &inodes);
	uint64_t size = o->size ? o->size : need;
	if (o->inodes)
		inodes = o->inodes;
	if (size % FS_BLOCK || size / FS_BLOCK > UINT32_MAX || size < (1u << 20))
		return hfc_err_set(err, -EINVAL, "--size: %" PRIu64 " bytes: a multiple of 4096 "
				   "from 1 MiB to 16 TiB expected", size);
	/* Without headroom: what the input itself needs (the estimate is generous). */
	uint64_t bare = (need - (64u << 20)) * 4 / 5;
	if (o->size && bare > size)
		return hfc_err_set(err, -ENOSPC,
				   "%s: the input needs about %" PRIu64 " MiB, the image has %" PRIu64
				   " MiB: %" PRIu64 " MiB missing (a larger --size, or none)",
				   t->display, DIV_ROUND_UP(bare, 1u << 20), size >> 20,
				   DIV_ROUND_UP(bare - size, 1u << 20));
	W w;
	int r = w_init(&w, t, o, size, read, write, ctx, res, err);
	if (r < 0) {
		w_done(&w);
		return r;
	}

	struct ext2_super_block param;
	memset(&param, 0, sizeof(param));
	ext2fs_blocks_count_set(&param, size / FS_BLOCK);
	param.s_log_block_size = 2; /* 1024 << 2 */
	param.s_rev_level = EXT2_DYNAMIC_REV;
	param.s_inode_size = INODE_SIZE;
	param.s_inodes_count = (uint32_t)MIN(inodes, (uint64_t)UINT32_MAX);
	param.s_feature_compat = EXT2_FEATURE_COMPAT_EXT_ATTR | EXT2_FEATURE_COMPAT_DIR_INDEX;
	param.s_feature_incompat = EXT2_FEATURE_INCOMPAT_FILETYPE;
	param.s_feature_ro_compat = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
				    EXT2_FEATURE_RO_COMPAT_LARGE_FILE;
	param.s_creator_os = EXT2_OS_LINUX;

	Ext2Pending p;
	hfc_ext2_pending_add(&p, &w.h.io);
	errcode_t x = ext2fs_initialize(p.name, EXT2_FLAG_64BITS, &param, &hfc_ext2_io_manager,
					&w.h.fs);
	hfc_ext2_pending_remove(&p);
	if (x) {
		w.h.fs = NULL;
		r = efail(&w, x, "making the file system");
		w_done(&w);
		return r;
	}
	ext2_filsys fs = w.h.fs;
	fs->now = (time_t)o->created;
	fs->priv_data = &w;
	ext2fs_set_alloc_block_callback(fs, alloc_hook, NULL);
	struct ext2_super_block *sb = fs->super;
	sb->s_mkfs_time = sb->s_lastcheck = sb->s_wtime = (uint32_t)o->created;
	sb->s_max_mnt_count = (uint16_t)-1;
	sb->s_checkinterval = 0;
	sb->s_def_hash_version = EXT2_HASH_HALF_MD4;
	sb->s_flags |= EXT2_FLAGS_UNSIGNED_HASH;
	if (o->label)
		strncpy((char *)sb->s_volume_name, o->label, sizeof(sb->s_volume_name));

	x = ext2fs_allocate_tables(fs);
	if (!x) {
		/* The reserved inodes (1 to 10), as mke2fs marks them; the bad blocks inode. */
		for (ext2_ino_t i = EXT2_ROOT_INO + 1; i < EXT2_FIRST_INODE(sb); i++)
			ext2fs_inode_alloc_stats2(fs, i, +1, 0);
		ext2fs_mark_inode_bitmap2(fs->inode_map, EXT2_BAD_INO);
		ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
		x = ext2fs_update_bb_inode(fs, NULL);
	}
	if (!x) {
		/* ext2fs_update_bb_inode() stamps inode 1 with the clock: the build's time instead. */
		struct ext2_inode_large bb;
		x = read_inode(&w, EXT2_BAD_INO, &bb);
		if (!x) {
			bb.i_atime = bb.i_mtime = bb.i_ctime = (uint32_t)o->created;
			x = write_inode(&w, EXT2_BAD_INO, &bb);
		}
	}
	if (!x) {
		blk64_t first;
		x = ext2fs_new_block2(fs, 0, fs->block_map, &first);
		w.meta = true;
		w.meta_cursor = first;
		w.meta_end = MIN(first + meta_estimate(t), ext2fs_blocks_count(sb));
		w.cursor = w.meta_end;
	}
	if (!x)
		x = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, 0);
	if (x) {
		r = alloc_fail(&w, x, "making the file system");
		w_done(&w);
		return r;
	}
	return w_finish(&w, mkfs_entries(&w));
}

/* ---- an update ---- */

typedef struct Scan {
	W *w;
	char *dir_path;
	ext2_ino_t dir;
	int r;
} Scan;

static int base_add(W *w, const char *path, ext2_ino_t ino, ext2_ino_t dir, int ft)
{
	if (w->nbase == w->capbase) {
		size_t cap = w->capbase ? w->capbase * 2 : 1024;
		BaseEnt *b = realloc(w->base, cap * sizeof(*b));
		if (!b)
			return nomem(w);
		w->base = b;
		w->capbase = cap;
	}
	BaseEnt *b = &w->base[w->nbase];
	*b = (BaseEnt){ .path = strdup(path), .ino = ino, .dir = dir, .ftype = ft };
	if (!b->path)
		return nomem(w);
	w->nbase++;
	return 0;
}

static int scan_cb(struct ext2_dir_entry *de, int offset _unused_, int blocksize _unused_,
		   char *buf _unused_, void *p)
{
	Scan *s = p;
	int len = ext2fs_dirent_name_len(de);
	if ((len == 1 && de->name[0] == '.') || (len == 2 && de->name[0] == '.' && de->name[1] == '.'))
		return 0;
	char path[8192];
	int n = snprintf(path, sizeof(path), "%s%s%.*s", s->dir_path, s->dir_path[0] ? "/" : "",
			 len, de->name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		s->r = hfc_err_set(s->w->err, -ENAMETOOLONG, "base: a path too long");
		return DIRENT_ABORT;
	}
	s->r = base_add(s->w, path, de->inode, s->dir, ext2fs_dirent_file_type(de));
	return s->r < 0 ? DIRENT_ABORT : 0;
}

static int cmp_base(const void *a, const void *b)
{
	return strcmp(((const BaseEnt *)a)->path, ((const BaseEnt *)b)->path);
}

/* Every path of the base image (breadth first, then sorted). */
static int scan_base(W *w)
{
	int r = base_add(w, "", EXT2_ROOT_INO, EXT2_ROOT_INO, EXT2_FT_DIR);
	for (size_t k = 0; r >= 0 && k < w->nbase; k++) {
		if (w->base[k].ftype != EXT2_FT_DIR)
			continue;
		Scan s = { .w = w, .dir_path = w->base[k].path, .dir = w->base[k].ino };
		char *copy = strdup(w->base[k].path); /* base may move while it grows */
		if (!copy)
			return nomem(w);
		s.dir_path = copy;
		errcode_t x = ext2fs_dir_iterate(w->h.fs, s.dir, 0, NULL, scan_cb, &s);
		free(copy);
		if (s.r < 0)
			return s.r;
		if (x)
			return efail(w, x, "base: reading a directory");
	}
	if (r >= 0)
		qsort(w->base, w->nbase, sizeof(*w->base), cmp_base);
	return r;
}

static BaseEnt *base_find(W *w, const char *path)
{
	BaseEnt key = { .path = (char *)path };
	return bsearch(&key, w->base, w->nbase, sizeof(*w->base), cmp_base);
}

static const uint8_t *base_hash(W *w, ext2_ino_t ino)
{
	const HfcExt2Hashes *h = w->o->base;
	if (!h)
		return NULL;
	HfcExt2FileHash key = { .ino = ino };
	HfcExt2FileHash *f = bsearch(&key, h->v, h->n, sizeof(*h->v), cmp_hash);
	return f ? f->sha256 : NULL;
}

static int release_cb(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt _unused_,
		      blk64_t ref_blk _unused_, int ref_offset _unused_, void *p _unused_)
{
	ext2fs_block_alloc_stats2(fs, *blocknr, -1);
	return 0;
}

/*
 * Frees every block of an inode (data and indirect) and empties its map, without writing the
 * freed blocks: ext2fs_punch() would zero the indirect blocks it frees, and a block that is
 * free needs no new content (it would only make its site block differ).
 */
static errcode_t release_blocks(W *w, ext2_ino_t ino, struct ext2_inode_large *in)
{
	ext2_filsys fs = w->h.fs;
	if (!ext2fs_inode_has_valid_blocks2(fs, (struct ext2_inode *)in))
		return 0;
	errcode_t x = ext2fs_block_iterate3(fs, ino, BLOCK_FLAG_READ_ONLY, NULL, release_cb, NULL);
	if (x)
		return x;
	memset(in->i_block, 0, sizeof(in->i_block));
	blk64_t acl = ext2fs_file_acl_block(fs, (struct ext2_inode *)in);
	return ext2fs_iblk_set(fs, (struct ext2_inode *)in, acl ? 1 : 0);
}

/* Frees an inode with no names left: its blocks, its xattr block, the inode itself. */
static int free_inode(W *w, ext2_ino_t ino, struct ext2_inode_large *in, const char *what)
{
	ext2_filsys fs = w->h.fs;
	errcode_t x = 0;
	if (ext2fs_file_acl_block(fs, (struct ext2_inode *)in))
		x = ext2fs_free_ext_attr(fs, ino, in);
	if (!x)
		x = release_blocks(w, ino, in);
	if (!x) {
		/*
		 * Cleared, not stamped with a deletion time: the build's time may be 0 or small
		 * (SOURCE_DATE_EPOCH), which e2fsck reads as "in use" or as an orphan list link.
		 */
		bool dir = LINUX_S_ISDIR(in->i_mode);
		memset(in, 0, sizeof(*in));
		x = write_fresh_inode(w, ino, in);
		if (!x)
			ext2fs_inode_alloc_stats2(fs, ino, -1, dir);
	}
	return x ? efail(w, x, what) : 0;
}

/* Drops one name of ino; an inode the new tree keeps is left to it. */
static int drop_name(W *w, const BaseEnt *b)
{
	ext2_filsys fs = w->h.fs;
	char what[8300];
	snprintf(what, sizeof(what), "/%s", b->path);
	errcode_t x = ext2fs_unlink(fs, b->dir, base_name(b->path), b->ino, 0);
	if (x)
		return efail(w, x, what);
	if (w->claimed[b->ino])
		return 0;
	struct ext2_inode_large in;
	x = read_inode(w, b->ino, &in);
	if (x)
		return efail(w, x, what);
	if (LINUX_S_ISDIR(in.i_mode)) {
		struct ext2_inode_large pin;
		x = read_inode(w, b->dir, &pin);
		if (!x && pin.i_links_count > 2) {
			pin.i_links_count--;
			x = write_inode(w, b->dir, &pin);
		}
		if (x)
			return efail(w, x, what);
		return free_inode(w, b->ino, &in, what);
	}
	if (in.i_links_count > 1) {
		in.i_links_count--;
		x = write_inode(w, b->ino, &in);
		return x ? efail(w, x, what) : 0;
	}
	return free_inode(w, b->ino, &in, what);
}

enum { PLAN_NEW, PLAN_REUSE, PLAN_KEEP, PLAN_LINK };

static int update_entries(W *w)
{
	HfcTree *t = w->t;
	ext2_filsys fs = w->h.fs;
	size_t n = t->n;
	_cleanup_free_ uint8_t *plan = calloc(n, 1);
	_cleanup_free_ uint8_t *hashes = calloc(n, 32);
	uint64_t inodes = fs->super->s_inodes_count;
	w->claimed = calloc(inodes + 1, 1);
	if (!plan || !hashes || !w->claimed)
		return nomem(w);
	int r = 0;
	uint64_t need_blocks = 0, need_inodes = 0;

	/* 1. What becomes of each entry: the base inode of its path is reused when it is the same
	 * kind of thing and no earlier entry took it; a file whose content is unchanged is kept. */
	for (size_t i = 0; i < n && r >= 0; i++) {
		const HfcTreeEntry *e = &t->e[i];
		if (i == 0) {
			plan[i] = PLAN_REUSE;
			w->ino[i] = EXT2_ROOT_INO;
			w->claimed[EXT2_ROOT_INO] = 1;
			continue;
		}
		if (e->link != HFC_TREE_NOLINK) {
			plan[i] = PLAN_LINK;
			continue;
		}
		BaseEnt *b = base_find(w, e->path);
		if (b && b->ftype == type_ft(e->type) && b->ino <= inodes && !w->claimed[b->ino]) {
			plan[i] = PLAN_REUSE;
			w->ino[i] = b->ino;
			w->claimed[b->ino] = 1;
			if (e->type == HFC_TREE_REG) {
				const uint8_t *bh = base_hash(w, b->ino);
				r = hfc_tree_content_hash(t, e, hashes + 32 * i, w->err);
				if (r >= 0 && bh && !memcmp(bh, hashes + 32 * i, 32))
					plan[i] = PLAN_KEEP;
			}
		} else {
			plan[i] = PLAN_NEW;
			need_inodes++;
		}
		if (plan[i] != PLAN_KEEP)
			for (size_t k = 0; k < e->nextents; k++)
				need_blocks += DIV_ROUND_UP(e->extents[k].len, fs->blocksize) + 1;
	}
	if (r < 0)
		return r;
	/* Links keep their name when it already names the right inode. */
	for (size_t i = 0; i < n; i++)
		if (plan[i] == PLAN_LINK)
			w->ino[i] = plan[t->e[i].link] == PLAN_NEW ? 0 : w->ino[t->e[i].link];
	for (size_t k = 0; k < w->nbase; k++) {
		BaseEnt *b = &w->base[k];
		ssize_t i = hfc_tree_find(t, b->path);
		b->keep = i >= 0 && w->ino[i] == b->ino && b->ftype == type_ft(t->e[i].type);
		if (i < 0 && !strcmp(b->path, "lost+found"))
			b->keep = true; /* made by the first build, not by the input */
	}

	/* 2. Room: what the new and changed data needs, against what will be free. */
	uint64_t free_blocks = ext2fs_free_blocks_count(fs->super);
	uint64_t freed = 0;
	for (size_t k = 0; k < w->nbase; k++)
		if (!w->base[k].keep && w->base[k].ftype == EXT2_FT_REG_FILE &&
		    !w->claimed[w->base[k].ino]) {
			struct ext2_inode_large in;
			if (read_inode(w, w->base[k].ino, &in) == 0)
				freed += ext2fs_get_stat_i_blocks(fs, (struct ext2_inode *)&in) /
					 (fs->blocksize / 512);
		}
	for (size_t i = 0; i < n; i++)
		if (plan[i] == PLAN_REUSE && t->e[i].type == HFC_TREE_REG) {
			struct ext2_inode_large in;
			if (read_inode(w, w->ino[i], &in) == 0)
				freed += ext2fs_get_stat_i_blocks(fs, (struct ext2_inode *)&in) /
					 (fs->blocksize / 512);
		}
	if (need_blocks > free_blocks + freed)
		return hfc_err_set(w->err, -ENOSPC,
				   "%s: the base image has %" PRIu64 " MiB free, the update needs "
				   "about %" PRIu64 " MiB: %" PRIu64 " MiB missing; build a new "
				   "layout without --base and a larger --size",
				   t->display, (free_blocks + freed) * fs->blocksize >> 20,
				   need_blocks * fs->blocksize >> 20,
				   DIV_ROUND_UP((need_blocks - free_blocks - freed) * fs->blocksize,
						1u << 20));
	if (need_inodes > fs->super->s_free_inodes_count)
		return hfc_err_set(w->err, -ENOSPC,
				   "%s: the base image has %u free inodes, the update needs %" PRIu64
				   "; build a new layout without --base and a larger --inodes",
				   t->display, fs->super->s_free_inodes_count, need_inodes);

	/* 3. Names that go, deepest first. */
	for (size_t k = w->nbase; k-- > 1 && r >= 0;)
		if (!w->base[k].keep)
			r = drop_name(w, &w->base[k]);

	/* 4. The entries, in path order. */
	for (size_t i = 0; i < n && r >= 0; i++) {
		const HfcTreeEntry *e = &t->e[i];
		ext2_ino_t dir = i ? parent_ino(w, e) : EXT2_ROOT_INO;
		char what[4200];
		snprintf(what, sizeof(what), "/%s", e->path);
		if (!dir)
			return hfc_err_set(w->err, -EINVAL, "%s: %s: no parent", t->display, e->path);
		if (plan[i] == PLAN_LINK) {
			ext2_ino_t want = w->ino[e->link];
			BaseEnt *b = base_find(w, e->path);
			if (!b || !b->keep || b->ino != want) {
				errcode_t x = link_name(w, dir, base_name(e->path), want,
							type_ft(e->type));
				if (x)
					return alloc_fail(w, x, what);
			}
			w->ino[i] = want;
			r = id_add(w, e, NULL);
			continue;
		}
		if (plan[i] == PLAN_NEW) {
			if (e->type == HFC_TREE_DIR) {
				r = make_dir(w, i, dir, &w->ino[i]);
				if (r >= 0)
					r = set_meta(w, w->ino[i], e, 0);
			} else {
				errcode_t x = ext2fs_new_inode(fs, dir, type_mode(e->type), NULL,
							       &w->ino[i]);
				if (x)
					return alloc_fail(w, x, what);
				r = make_inode(w, i, dir, w->ino[i]);
			}
			if (r >= 0)
				r = set_xattrs(w, w->ino[i], e, true);
			if (r >= 0)
				r = id_add(w, e, e->type == HFC_TREE_REG ? last_hash(w, w->ino[i])
									 : NULL);
			continue;
		}
		/* Reused: the same inode number; content rewritten only when it changed. */
		ext2_ino_t ino = w->ino[i];
		struct ext2_inode_large in;
		errcode_t x = read_inode(w, ino, &in);
		if (x)
			return efail(w, x, what);
		if (plan[i] == PLAN_KEEP) {
			r = add_hash(w, ino, hashes + 32 * i);
			w->res->kept++;
		} else if (e->type == HFC_TREE_REG) {
			x = release_blocks(w, ino, &in);
			if (x)
				return efail(w, x, what);
			uint8_t h[32];
			r = write_data(w, ino, &in, e, h);
			if (r >= 0)
				r = add_hash(w, ino, h);
			w->res->written++;
		} else if (e->type == HFC_TREE_LNK) {
			bool same = false;
			size_t tl = strlen(e->target);
			if (ext2fs_is_fast_symlink((struct ext2_inode *)&in)) {
				same = EXT2_I_SIZE(&in) == tl && !memcmp(in.i_block, e->target, tl);
			} else if (EXT2_I_SIZE(&in) == tl) {
				blk64_t pb = 0;
				x = ext2fs_bmap2(fs, ino, (struct ext2_inode *)&in, w->blockbuf, 0, 0,
						 NULL, &pb);
				if (!x && pb)
					x = io_channel_read_blk64(fs->io, pb, 1, w->data);
				same = !x && pb && !memcmp(w->data, e->target, tl);
				x = 0;
			}
			if (!same) {
				if (!ext2fs_is_fast_symlink((struct ext2_inode *)&in))
					x = release_blocks(w, ino, &in);
				if (x)
					return efail(w, x, what);
				r = write_symlink(w, &in, e, ino);
			}
		} else if (e->type != HFC_TREE_DIR) {
			set_device(&in, e);
		}
		if (r < 0)
			return r;
		if (in.i_extra_isize == 0 && EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE)
			in.i_extra_isize = sizeof(in) - EXT2_GOOD_OLD_INODE_SIZE;
		fill_meta(e, &in);
		if (e->type != HFC_TREE_DIR)
			in.i_links_count = (uint16_t)e->nlink;
		x = write_inode(w, ino, &in);
		if (x)
			return efail(w, x, what);
		r = set_xattrs(w, ino, e, false);
		if (r >= 0)
			r = id_add(w, e, e->type == HFC_TREE_REG ? last_hash(w, ino) : NULL);
	}
	if (r < 0)
		return r;
	BaseEnt *lpf = base_find(w, "lost+found");
	return fix_dir_links(w, lpf && hfc_tree_find(t, "lost+found") < 0);
}

int hfc_ext2_update(HfcTree *t, const HfcExt2MkOptions *o, uint64_t size, HfcReadFn read,
		    HfcWriteFn write, void *ctx, HfcExt2MkResult *res, HfcErr *err)
{
	W w;
	int r = w_init(&w, t, o, size, read, write, ctx, res, err);
	if (r < 0) {
		w_done(&w);
		return r;
	}
	w.update = true;
	Ext2Pending p;
	hfc_ext2_pending_add(&p, &w.h.io);
	errcode_t x = ext2fs_open2(p.name, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0,
				   &hfc_ext2_io_manager, &w.h.fs);
	hfc_ext2_pending_remove(&p);
	if (x) {
		w.h.fs = NULL;
		r = x == EXT2_ET_BAD_MAGIC ? hfc_err_set(err, -EINVAL, "base: not an ext2 file system")
					   : efail(&w, x, "base: opening the file system");
		w_done(&w);
		return r;
	}
	ext2_filsys fs = w.h.fs;
	struct ext2_super_block *sb = fs->super;
	if (fs->blocksize != FS_BLOCK)
		r = hfc_err_set(err, -EOPNOTSUPP,
				"base: the file system has %u-byte blocks; --base updates file "
				"systems of 4096-byte blocks only (build without --base)",
				fs->blocksize);
	else if ((sb->s_feature_incompat & ~EXT2_FEATURE_INCOMPAT_FILETYPE) ||
		 (sb->s_feature_ro_compat & ~(EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
					      EXT2_FEATURE_RO_COMPAT_LARGE_FILE)) ||
		 (sb->s_feature_compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL))
		r = hfc_err_set(err, -EOPNOTSUPP,
				"base: the file system has features --base does not update "
				"(a journal, extents, checksums ...): only ext2 without them "
				"(build without --base)");
	else if ((uint64_t)ext2fs_blocks_count(sb) * fs->blocksize > size)
		r = hfc_err_set(err, -EINVAL, "base: the file system is larger than the image");
	if (r < 0) {
		w_done(&w);
		return r;
	}
	fs->now = (time_t)o->created;
	fs->priv_data = &w;
	fs->flags |= EXT2_FLAG_MASTER_SB_ONLY; /* the backups' fields that e2fsck compares stay */
	ext2fs_set_alloc_block_callback(fs, alloc_hook, NULL);
	x = ext2fs_read_bitmaps(fs);
	if (x)
		r = efail(&w, x, "base: reading the bitmaps");
	if (r >= 0)
		r = find_free_runs(&w);
	if (r >= 0)
		r = scan_base(&w);
	if (r >= 0)
		r = update_entries(&w);
	if (r >= 0 && o->label)
		strncpy((char *)sb->s_volume_name, o->label, sizeof(sb->s_volume_name));
	return w_finish(&w, r);
}
