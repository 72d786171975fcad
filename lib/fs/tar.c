/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fs/tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

struct HfcTarWriter {
	struct archive *a;
	struct archive_entry *e;
	int64_t mtime;
	uint64_t left; /* bytes still owed to the current entry */
	char *display;
};

struct HfcTarReader {
	struct archive *a;
	char *display;
	char *name;
	bool in_entry;
};

/*
 * The translation from libarchive's results: a system errno it passes on stays what it is (disk
 * full, I/O error, out of memory); its own format and "misc" codes mean the archive is bad.
 */
static int translate(struct archive *a, bool reading)
{
	int e = archive_errno(a);
	switch (e) {
	case ENOMEM:
	case EIO:
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
	case EPIPE:
	case EBADF:
	case EACCES:
	case EPERM:
	case EROFS:
		return -e;
	default:
		return reading ? -EBADMSG : -EIO;
	}
}

static int fail(struct archive *a, bool reading, const char *display, HfcErr *err)
{
	int r = translate(a, reading);
	const char *s = archive_error_string(a);
	return hfc_err_set(err, r, "%s: %s", display,
			   s && *s ? s : reading ? "not a valid tar archive" : strerror(-r));
}

int hfc_tar_writer_new(int fd, int64_t mtime, const char *display, HfcTarWriter **ret,
		       HfcErr *err)
{
	HfcTarWriter *w = calloc(1, sizeof(*w));
	if (!w)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	w->display = strdup(display);
	w->a = archive_write_new();
	w->e = archive_entry_new();
	w->mtime = mtime;
	if (!w->display || !w->a || !w->e) {
		hfc_tar_writer_free(w);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	/* The last 10 KiB record is not padded: the archive ends after its end blocks. */
	if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(w->a, 10240) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(w->a, fd) != ARCHIVE_OK) {
		int r = fail(w->a, false, display, err);
		hfc_tar_writer_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int hfc_tar_writer_begin(HfcTarWriter *w, const char *name, uint64_t size, HfcErr *err)
{
	if (w->left)
		return hfc_err_set(err, -EINVAL, "%s: entry before the previous one is complete",
				   w->display);
	archive_entry_clear(w->e);
	archive_entry_set_pathname(w->e, name);
	archive_entry_set_filetype(w->e, AE_IFREG);
	archive_entry_set_perm(w->e, 0644);
	archive_entry_set_size(w->e, (la_int64_t)size);
	archive_entry_set_mtime(w->e, (time_t)w->mtime, 0);
	archive_entry_set_uid(w->e, 0);
	archive_entry_set_gid(w->e, 0);
	if (archive_write_header(w->a, w->e) != ARCHIVE_OK)
		return fail(w->a, false, w->display, err);
	w->left = size;
	return 0;
}

int hfc_tar_writer_data(HfcTarWriter *w, const void *buf, size_t len, HfcErr *err)
{
	if (len > w->left)
		return hfc_err_set(err, -EINVAL, "%s: more data than the entry's size", w->display);
	const char *p = buf;
	while (len > 0) {
		la_ssize_t n = archive_write_data(w->a, p, len);
		if (n <= 0)
			return fail(w->a, false, w->display, err);
		p += n;
		len -= (size_t)n;
		w->left -= (uint64_t)n;
	}
	return 0;
}

int hfc_tar_writer_add(HfcTarWriter *w, const char *name, const void *data, size_t len,
		       HfcErr *err)
{
	int r = hfc_tar_writer_begin(w, name, len, err);
	if (r < 0)
		return r;
	return hfc_tar_writer_data(w, data, len, err);
}

int hfc_tar_writer_close(HfcTarWriter *w, HfcErr *err)
{
	if (w->left)
		return hfc_err_set(err, -EINVAL, "%s: last entry is incomplete", w->display);
	if (archive_write_close(w->a) != ARCHIVE_OK)
		return fail(w->a, false, w->display, err);
	return 0;
}

uint64_t hfc_tar_writer_bytes(HfcTarWriter *w)
{
	int64_t n = archive_filter_bytes(w->a, -1);
	return n > 0 ? (uint64_t)n : 0;
}

void hfc_tar_writer_free(HfcTarWriter *w)
{
	if (!w)
		return;
	if (w->a)
		archive_write_free(w->a);
	if (w->e)
		archive_entry_free(w->e);
	free(w->display);
	free(w);
}

int hfc_tar_reader_new(int fd, const char *display, HfcTarReader **ret, HfcErr *err)
{
	HfcTarReader *r = calloc(1, sizeof(*r));
	if (!r)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	r->display = strdup(display);
	r->a = archive_read_new();
	if (!r->display || !r->a) {
		hfc_tar_reader_free(r);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	/* Tar only: no compression filters, no other formats a hostile input could pick. */
	if (archive_read_support_format_tar(r->a) != ARCHIVE_OK ||
	    archive_read_open_fd(r->a, fd, 65536) != ARCHIVE_OK) {
		int k = fail(r->a, true, display, err);
		hfc_tar_reader_free(r);
		return k;
	}
	*ret = r;
	return 0;
}

int hfc_tar_reader_next(HfcTarReader *r, HfcTarEntry *ret, HfcErr *err)
{
	struct archive_entry *e;
	int k = archive_read_next_header(r->a, &e);
	r->in_entry = false;
	if (k == ARCHIVE_EOF)
		return 0;
	/* A warning is not accepted either: a bundle is written by us, exactly. */
	if (k != ARCHIVE_OK)
		return fail(r->a, true, r->display, err);
	const char *name = archive_entry_pathname(e);
	free(r->name);
	r->name = strdup(name ? name : "");
	if (!r->name)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	HfcTarEntry x = { .name = r->name };
	mode_t t = archive_entry_filetype(e);
	if (archive_entry_hardlink(e))
		x.type = HFC_TAR_HARDLINK;
	else if (t == AE_IFLNK || archive_entry_symlink(e))
		x.type = HFC_TAR_SYMLINK;
	else if (t == AE_IFREG)
		x.type = HFC_TAR_FILE;
	else if (t == AE_IFDIR)
		x.type = HFC_TAR_DIR;
	else if (t == AE_IFCHR || t == AE_IFBLK)
		x.type = HFC_TAR_DEVICE;
	else
		x.type = HFC_TAR_OTHER;
	la_int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	x.size = sz > 0 ? (uint64_t)sz : 0;
	x.sparse = archive_entry_sparse_count(e) > 0;
	r->in_entry = true;
	*ret = x;
	return 1;
}

int hfc_tar_reader_read(HfcTarReader *r, void *buf, size_t len, HfcErr *err)
{
	if (!r->in_entry)
		return hfc_err_set(err, -EINVAL, "%s: no entry to read", r->display);
	char *p = buf;
	while (len > 0) {
		la_ssize_t n = archive_read_data(r->a, p, len);
		if (n < 0)
			return fail(r->a, true, r->display, err);
		if (n == 0)
			return hfc_err_set(err, -EBADMSG, "%s: %s: entry ends early (truncated bundle)",
					   r->display, r->name);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void hfc_tar_reader_free(HfcTarReader *r)
{
	if (!r)
		return;
	if (r->a)
		archive_read_free(r->a);
	free(r->display);
	free(r->name);
	free(r);
}
