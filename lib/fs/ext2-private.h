/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Shared by the files of the libext2fs adapter (lib/fs/ext2*.c) only: the handle, the io_channel
 * that reads through the caller's callback, and the one place where errcode_t becomes -errno.
 * No errcode_t leaves these files.
 */

#include "fs/ext2.h"

#include <ext2fs/ext2fs.h>

/*
 * What the io_channel reads through. It lives inside HfcExt2, not in the channel, so that after a
 * failed ext2fs_open2() (which frees the channel) we can still say which read failed and where.
 */
typedef struct Ext2Io {
	HfcReadFn read;
	HfcWriteFn write; /* NULL: a read-only channel */
	void *ctx;
	uint64_t size;
	errcode_t fail; /* the first failed read since the last reset, for the message */
	uint64_t fail_off, fail_len;
	struct struct_io_stats stats;
} Ext2Io;

struct HfcExt2 {
	ext2_filsys fs;
	Ext2Io io;
	char *display;
};

/*
 * Registers io under a unique name for the next ext2fs_open2()/ext2fs_initialize() with
 * hfc_ext2_io_manager, and drops it again (the channel keeps io from then on).
 */
typedef struct Ext2Pending {
	char name[40];
	Ext2Io *io;
	struct Ext2Pending *next;
} Ext2Pending;
void hfc_ext2_pending_add(Ext2Pending *p, Ext2Io *io);
void hfc_ext2_pending_remove(Ext2Pending *p);
extern struct struct_io_manager hfc_ext2_io_manager;

/* Returns -errno for a libext2fs error code (0 for 0). */
int hfc_ext2_errno(errcode_t e);

/* Returns the text of a libext2fs error code. */
const char *hfc_ext2_errtext(errcode_t e);

/*
 * Fills err for a failure of libext2fs while working on `what` (a path of the image), naming
 * the failed read when one caused it; returns -errno.
 */
int hfc_ext2_fail(HfcExt2 *h, HfcErr *err, errcode_t e, const char *what);
