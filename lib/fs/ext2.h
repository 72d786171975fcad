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
