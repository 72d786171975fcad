/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Reading an ext2/3/4 file system inside an image without mounting it (libext2fs through an
 * io_manager whose reads go to a callback): listing a directory and copying a file out. This is
 * the one adapter for libext2fs: no errcode_t leaves it. Read-only.
 *
 * Several HfcExt2 may be open at once, from any threads; one HfcExt2 is not for concurrent use.
 */

#include "base/util.h"

#include <stdio.h>
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

/*
 * Lists PATH (absolute inside the image) to out: a directory's entries sorted by name (bytes),
 * one per line, without "." and ".."; a non-directory: itself, named as PATH. Names only, or
 * with long_format like `ls -l`: mode string, links, uid, gid, size, mtime (UTC,
 * YYYY-MM-DD HH:MM), name, and " -> target" for symlinks. Like ls(1), a symlink named by PATH
 * is followed when it leads to a directory, unless long_format (then PATH ending in '/' is).
 * Returns 0 or -errno with err filled ("PATH: No such file or directory", ...).
 */
int hfc_ext2_ls(HfcExt2 *fs, const char *path, bool long_format, FILE *out, HfcErr *err);

/*
 * Writes the contents of the regular file at PATH (absolute inside the image; symlinks are
 * followed, at most 8 levels deep) to out_fd. Returns 0, or -errno with err filled: -EISDIR
 * "PATH: Is a directory", -ENOENT, -ELOOP, -EINVAL for a device or fifo, the write's -errno.
 */
int hfc_ext2_cat(HfcExt2 *fs, const char *path, int out_fd, HfcErr *err);
