/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Reading an ext2/3/4 file system inside an image without mounting it (libext2fs through an
 * io_manager whose reads go to a callback): listing a directory and copying a file out. This is
 * the one adapter for libext2fs: no errcode_t leaves it. Read-only; it never prints.
 *
 * Several HfcExt2 may be open at once, from any threads; one HfcExt2 is not for concurrent use.
 */

#include "base/util.h"

#include <sys/types.h>

/* Reads len bytes at offset of the image into buf; returns bytes read (short only at the end)
 * or -errno. */
typedef ssize_t (*HfcReadFn)(void *ctx, void *buf, size_t len, uint64_t offset);

/* Writes len bytes at offset of the image; returns 0 or -errno. */
typedef int (*HfcWriteFn)(void *ctx, const void *buf, size_t len, uint64_t offset);

typedef struct HfcExt2 HfcExt2;

/*
 * Opens the ext2/3/4 file system in an image of `size` bytes read through `read` (read-only).
 * display names the image in messages. Returns 0 with *ret set, or -errno with err filled
 * (-EINVAL and "<display>: not an ext2 file system" when there is none).
 */
int hfc_ext2_open(HfcReadFn read, void *ctx, uint64_t size, const char *display, HfcExt2 **ret,
		  HfcErr *err);

/* Closes fs; NULL is fine. */
void hfc_ext2_close(HfcExt2 *fs);

static inline void hfc_ext2_closep(HfcExt2 **fs)
{
	hfc_ext2_close(*fs);
}

/* One entry of a listing; the inode fields are filled only with HFC_EXT2_LIST_STAT. */
typedef struct HfcExt2Entry {
	char *name;      /* the name in its directory; PATH itself when PATH is no directory */
	uint32_t ino;
	uint32_t mode;   /* file type and permission bits, as in st_mode (S_IFDIR | 0755, ...) */
	uint32_t links, uid, gid;
	uint64_t size;
	int64_t mtime;   /* seconds since 1970 (UTC), with ext4's bits for times past 2038 */
	char *target;    /* a symlink's target; NULL for anything else */
} HfcExt2Entry;

typedef struct HfcExt2Listing {
	HfcExt2Entry *entries; /* sorted by name (bytes) */
	size_t n;
} HfcExt2Listing;

/* Flags of hfc_ext2_list(). */
#define HFC_EXT2_LIST_STAT 1u   /* read every entry's inode: mode ... mtime and symlink target */
#define HFC_EXT2_LIST_FOLLOW 2u /* a symlink PATH that leads to a directory lists the directory */

/*
 * Lists PATH (absolute inside the image): a directory's entries sorted by name (bytes), without
 * "." and ".."; a non-directory: itself, named as PATH. A symlink PATH is listed as itself
 * unless HFC_EXT2_LIST_FOLLOW and it leads to a directory (a dangling or looping one is listed
 * as itself); PATH ending in '/' is always followed, as with ls(1). Returns 0 with *ret filled
 * (free it with hfc_ext2_listing_free), or -errno with err filled ("PATH: No such file or
 * directory", ...).
 */
int hfc_ext2_list(HfcExt2 *fs, const char *path, unsigned flags, HfcExt2Listing *ret,
		  HfcErr *err);

/* Frees the entries of a listing and empties it; an empty one is fine. */
void hfc_ext2_listing_free(HfcExt2Listing *l);

/*
 * Writes the contents of the regular file at PATH (absolute inside the image; symlinks are
 * followed, at most 8 levels deep) to out_fd. Returns 0, or -errno with err filled: -EISDIR
 * "PATH: Is a directory", -ENOENT, -ELOOP, -EINVAL for a device or fifo, the write's -errno.
 */
int hfc_ext2_cat(HfcExt2 *fs, const char *path, int out_fd, HfcErr *err);

/* ---- writing: a tree into a new image, or onto the image of the last version ---- */

#include "fs/tree.h"

/* A regular file's content hash (hfc_tree_content_hash) by inode number. */
typedef struct HfcExt2FileHash {
	uint32_t ino;
	uint8_t sha256[32];
} HfcExt2FileHash;

typedef struct HfcExt2Hashes {
	HfcExt2FileHash *v; /* sorted by ino */
	size_t n;
} HfcExt2Hashes;

typedef struct HfcExt2MkOptions {
	uint64_t size;             /* bytes (a multiple of 4096); 0: hfc_ext2_auto_size() */
	uint64_t inodes;           /* 0: automatic */
	const char *label;         /* the file system's volume label (16 bytes at most) */
	const uint8_t *uuid;       /* 16 bytes; NULL: derived from the tree (kept with a base) */
	const uint8_t *hash_seed;  /* 16 bytes; NULL: derived from the tree (kept with a base) */
	int64_t created;           /* the file system's times (creation, last write) */
	uint32_t align;            /* the site's block size: new data fills free runs of it */
	const HfcExt2Hashes *base; /* an update: the base files' hashes (NULL: none known) */
	/*
	 * A new image of a tree whose read is shared (t->read_shared): instead of writing a run
	 * of file data, tells the caller that the image's bytes [offset, offset+len) are entry
	 * t->e[entry]'s data from file offset foff (hfc_tree_read_range: holes and the tail past
	 * its end are zeros), for the caller to read when it needs them. The writer never reads
	 * them back. Returns 0 or -errno. NULL, or an update: the data is written.
	 */
	int (*data_ref)(void *ctx, size_t entry, uint64_t foff, uint64_t len, uint64_t offset);
} HfcExt2MkOptions;

typedef struct HfcExt2MkResult {
	uint64_t size;                /* the image's size in bytes */
	uint64_t kept, written;       /* regular files kept as they were, and written */
	uint64_t data_bytes;          /* file data written */
	HfcExt2Hashes hashes;         /* every regular file's hash, for the next update */
} HfcExt2MkResult;

/* Frees res's hashes. */
void hfc_ext2_mk_result_free(HfcExt2MkResult *res);

/*
 * The automatic size of an image for t: its data, inodes and directories, plus a quarter and
 * 64 MiB of headroom for later updates, rounded up to align. Sets *ret_inodes (automatic).
 */
uint64_t hfc_ext2_auto_size(const HfcTree *t, uint32_t align, uint64_t *ret_inodes);

/*
 * Writes a new ext2 file system of o->size bytes holding t through write (read reads back what
 * was written; unwritten parts read as zeros). Deterministic: the same tree and options give
 * the same bytes. Returns 0, or -errno with err filled (-ENOSPC: "N MiB more are needed").
 */
int hfc_ext2_mkfs(HfcTree *t, const HfcExt2MkOptions *o, HfcReadFn read, HfcWriteFn write,
		  void *ctx, HfcExt2MkResult *res, HfcErr *err);

/*
 * Updates the ext2 file system of `size` bytes that read/write reach (the base) so that it
 * holds t: paths whose content and metadata are unchanged keep their inode and blocks, a
 * changed file keeps its inode number, new data goes to fully free runs of o->align bytes
 * first. Returns 0, or -errno with err filled (-ENOSPC with how much is missing, -EOPNOTSUPP
 * for a base this writer does not update: another block size or features).
 */
int hfc_ext2_update(HfcTree *t, const HfcExt2MkOptions *o, uint64_t size, HfcReadFn read,
		    HfcWriteFn write, void *ctx, HfcExt2MkResult *res, HfcErr *err);
