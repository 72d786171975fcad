/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Tar archives through libarchive: the one adapter file for that dependency (tar.h, not
 * archive.h: with -Ilib that name would hide libarchive's own <archive.h>). It never extracts
 * anything to disk: a writer adds regular files from memory, a reader reports each entry's
 * name, type and claimed size so the caller can refuse it before reading a byte of it.
 * ARCHIVE_* results become -errno values here (-EBADMSG for a malformed or truncated archive).
 */

#include "base/util.h"

typedef struct HfcTarWriter HfcTarWriter;
typedef struct HfcTarReader HfcTarReader;

typedef enum HfcTarType {
	HFC_TAR_FILE,     /* a regular file with its own data */
	HFC_TAR_DIR,
	HFC_TAR_SYMLINK,
	HFC_TAR_HARDLINK, /* a link to another entry of the archive */
	HFC_TAR_DEVICE,   /* character or block device */
	HFC_TAR_OTHER,    /* fifo, socket, or anything else */
} HfcTarType;

typedef struct HfcTarEntry {
	const char *name; /* owned by the reader; valid until the next call */
	HfcTarType type;
	uint64_t size;    /* the size the header claims (0 when it claims none) */
	bool sparse;      /* a GNU/pax sparse file: its data is not stored as it reads */
} HfcTarEntry;

/*
 * Starts a POSIX tar (pax restricted: plain ustar unless a field needs more) on fd. Every entry
 * gets mode 0644, owner 0:0 and mtime `mtime`, so equal contents make equal archives. display
 * names the output in messages. Returns 0 or -errno with err filled.
 */
int hfc_tar_writer_new(int fd, int64_t mtime, const char *display, HfcTarWriter **ret,
		       HfcErr *err);

/* Starts a regular file entry of exactly size bytes; returns 0 or -errno with err filled. */
int hfc_tar_writer_begin(HfcTarWriter *w, const char *name, uint64_t size, HfcErr *err);

/* Appends data to the current entry (never more than its size in all); 0 or -errno. */
int hfc_tar_writer_data(HfcTarWriter *w, const void *buf, size_t len, HfcErr *err);

/* Adds a whole regular file entry from memory; returns 0 or -errno with err filled. */
int hfc_tar_writer_add(HfcTarWriter *w, const char *name, const void *data, size_t len,
		       HfcErr *err);

/* Writes the end of the archive and flushes it; returns 0 or -errno with err filled. */
/* Returns the bytes written so far (after close: the whole archive, padding included). */
uint64_t hfc_tar_writer_bytes(HfcTarWriter *w);

int hfc_tar_writer_close(HfcTarWriter *w, HfcErr *err);

/* Frees a writer (without finishing the archive); NULL is fine. */
void hfc_tar_writer_free(HfcTarWriter *w);

static inline void hfc_tar_writer_freep(HfcTarWriter **w)
{
	hfc_tar_writer_free(*w);
}

/*
 * Opens a tar archive for reading from fd (not owned). Only tar formats are accepted, with no
 * compression filter. display names the input in messages. Returns 0 or -errno.
 */
int hfc_tar_reader_new(int fd, const char *display, HfcTarReader **ret, HfcErr *err);

/*
 * Reads the next entry's header. Returns 1 with ret filled, 0 at the end of the archive, or
 * -errno with err filled (-EBADMSG for a damaged or truncated archive). The data of the previous
 * entry need not have been read.
 */
int hfc_tar_reader_next(HfcTarReader *r, HfcTarEntry *ret, HfcErr *err);

/*
 * Reads exactly len bytes of the current entry's data. Returns 0, or -EBADMSG with err filled
 * when the entry or the archive ends sooner, or another -errno.
 */
int hfc_tar_reader_read(HfcTarReader *r, void *buf, size_t len, HfcErr *err);

/* Frees a reader; NULL is fine. */
void hfc_tar_reader_free(HfcTarReader *r);

static inline void hfc_tar_reader_freep(HfcTarReader **r)
{
	hfc_tar_reader_free(*r);
}
