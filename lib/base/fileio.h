/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* File I/O: whole reads and writes, bounded reads, atomic installs (temp + fsync + rename). */

#include "base/util.h"

#include <sys/types.h>

/* Writes all of buf to fd, retrying short writes; returns 0 or -errno. */
int hfc_write_all(int fd, const void *buf, size_t len);

/* Reads exactly len bytes at offset (fewer only at end of file); returns bytes read or -errno. */
ssize_t hfc_pread_all(int fd, void *buf, size_t len, off_t offset);

/* Writes len bytes at offset, retrying short writes; returns 0 or -errno. */
int hfc_pwrite_all(int fd, const void *buf, size_t len, off_t offset);

/*
 * Reads the whole regular file path (relative to dirfd, last component not followed) into a
 * NUL-terminated buffer of at most max bytes. Returns 0, -EFBIG when larger than max, or -errno.
 */
int hfc_read_file_at(int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len);

/*
 * Reads a user-given input (a file, a pipe such as /dev/fd/N, or "-" for stdin; links are
 * followed) into a NUL-terminated buffer of at most max bytes. Returns 0, -EFBIG or -errno.
 */
int hfc_read_input(const char *path, size_t max, char **ret_buf, size_t *ret_len);

/*
 * Temporary names: every file on its way to a final name is first written as ".NAME.tmp.PID.N"
 * (or ".NAME.tmp.PID" where the caller makes the name unique itself) in the same directory.
 * HFC_TMP_GLOB matches them all (rsync excludes, cleanup).
 */
#define HFC_TMP_GLOB ".*.tmp.*"

/* Makes a temporary name for name in the same directory: ".name.tmp.PID.N". */
void hfc_tmp_name(const char *name, char *out, size_t outlen);

/* The same without the counter, ".name.tmp.PID": for names this process writes only once. */
void hfc_tmp_name_pid(const char *name, char *out, size_t outlen);

/* True when a directory entry name is one of our temporary names. */
bool hfc_is_tmp_name(const char *name);

/* Flags of hfc_install_at() and hfc_install_tmp_at(). */
#define HFC_INSTALL_NOREPLACE 1u /* never replace an existing file: -EEXIST instead */
#define HFC_INSTALL_NOSYNC 2u	 /* no fsync (a cache: a torn file fails its check and goes) */

/*
 * The one atomic install: moves the written temporary file tmp to name in dirfd (fsyncs tmp
 * and, after the rename, the directory, unless NOSYNC), calling the crash-test hook just
 * before the rename. On failure tmp is removed. Returns 0 or -errno.
 */
int hfc_install_tmp_at(int dirfd, int fd, const char *tmp, const char *name, unsigned flags);

/*
 * Installs data under name in dirfd atomically: writes a temporary file (O_EXCL, mode), then
 * hfc_install_tmp_at(). A reader sees the old file or the whole new one, never a part.
 * Returns 0, -EEXIST (NOREPLACE and name exists) or -errno; no temporary file is left.
 */
int hfc_install_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		   unsigned flags);

/* hfc_install_at() with no flags: replace, durably. */
static inline int hfc_write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
				      mode_t mode)
{
	return hfc_install_at(dirfd, name, data, len, mode, 0);
}

/* fsyncs an open directory; returns 0 or -errno. */
int hfc_fsync_fd(int fd);

/* Creates dir and missing parents (mode 0755); returns 0 or -errno. */
int hfc_mkdir_p(const char *path);

/* hfc_mkdir_p() with mode for dir itself when it is made (parents 0755); returns 0 or -errno. */
int hfc_mkdir_p_mode(const char *path, mode_t mode);

/* Test hook: called after the temporary file is durable and before the rename. */
extern void (*hfc_fileio_before_rename_hook)(const char *tmpname);

/*
 * An output that appears whole or not at all: a regular file is written under a temporary name
 * in its directory and renamed on commit (a symbolic link under the name is replaced, never
 * written through); "-" is stdout; an existing device named itself is written in place.
 */
typedef struct HfcOutput {
	int fd;
	bool seekable; /* pwrite at offsets, holes for zeros */
	bool is_tmp;
	int dirfd;
	char *name, *tmp, *display;
} HfcOutput;

/*
 * Opens an output for path ("-" for stdout). Returns 0, -ELOOP when path is a symbolic link to
 * a device (name the device itself), or -errno.
 */
int hfc_output_open(const char *path, HfcOutput *o);

/* Sets the final size (making trailing holes), fsyncs, and renames into place; -errno. */
int hfc_output_commit(HfcOutput *o, uint64_t size);

/* Discards an uncommitted output (removes the temporary file); safe after commit. */
void hfc_output_discard(HfcOutput *o);
