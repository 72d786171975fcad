/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The archive source of a tree (--from-archive): the libarchive adapter's second file (with
 * tar.c). Anything libarchive reads becomes tree entries; nothing is extracted to disk but the
 * file data, into one unlinked spool file, and not even that when the archive is a regular
 * file that stores the data as it is (an uncompressed tar): the entries then point into the
 * archive itself.
 */
#include "fs/tree.h"

#include "base/fileio.h"
#include "base/pipeline.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STREAM_BUF (256 * 1024)

/* An extent's src with this bit is an offset in the archive file, else in the spool. */
#define SRC_INPUT (UINT64_C(1) << 63)

/*
 * The archive file read in chunks of our own, two in turn: a data block libarchive hands out
 * from inside one of them (its bytes exactly as stored) is located in the file, not copied.
 * Decompressed or reassembled data comes from libarchive's own buffers and is spooled.
 */
typedef struct Chunk {
	uint8_t *buf;
	uint64_t off;
	size_t len;
} Chunk;

typedef struct SpoolCtx {
	int fd;
	uint64_t end;
	int input;     /* the archive file (a dup), or -1: everything is spooled */
	uint64_t at;   /* the file offset the next chunk is read from */
	Chunk chunk[2];
	unsigned cur;
} SpoolCtx;

typedef struct StreamCtx {
	HfcStreamFn read;
	void *ctx;
	void *buf;
} StreamCtx;

static void spool_free(void *p)
{
	SpoolCtx *s = p;
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->input >= 0)
		close(s->input);
	free(s->chunk[0].buf);
	free(s->chunk[1].buf);
	free(s);
}

static ssize_t input_read(struct archive *a, void *p, const void **buf)
{
	SpoolCtx *s = p;
	s->cur ^= 1;
	Chunk *c = &s->chunk[s->cur];
	ssize_t n = hfc_pread_all(s->input, c->buf, STREAM_BUF, (off_t)s->at);
	if (n < 0) {
		archive_set_error(a, (int)-n, "%s", strerror((int)-n));
		return -1;
	}
	c->off = s->at;
	c->len = (size_t)n;
	s->at += (uint64_t)n;
	*buf = c->buf;
	return n;
}

/* The archive file's offset of len bytes at buf, or UINT64_MAX when they are not all in a chunk. */
static uint64_t input_offset(const SpoolCtx *s, const void *buf, size_t len)
{
	if (s->input < 0)
		return UINT64_MAX;
	for (unsigned k = 0; k < 2; k++) {
		const Chunk *c = &s->chunk[k];
		uintptr_t p = (uintptr_t)buf, b = (uintptr_t)c->buf;
		if (c->buf && p >= b && p - b <= c->len && len <= c->len - (p - b))
			return c->off + (p - b);
	}
	return UINT64_MAX;
}

static int spool_read(HfcTree *t, const HfcTreeEntry *e, uint64_t off, void *buf, size_t len,
		      HfcErr *err)
{
	SpoolCtx *s = t->ctx;
	for (size_t k = 0; k < e->nextents; k++) {
		const HfcTreeExtent *x = &e->extents[k];
		if (off < x->off || off - x->off >= x->len)
			continue;
		if (len > x->len - (off - x->off))
			break;
		bool in = x->src & SRC_INPUT;
		ssize_t n = hfc_pread_all(in ? s->input : s->fd, buf, len,
					  (off_t)((x->src & ~SRC_INPUT) + off - x->off));
		if (n < 0)
			return hfc_err_set(err, (int)n, "%s%s: %s", in ? "" : "the spool file of ",
					   t->display, strerror((int)-n));
		if ((size_t)n != len)
			return hfc_err_set(err, -EIO, "%s%s is short (did it change during the build?)",
					   in ? "" : "the spool file of ", t->display);
		return 0;
	}
	return hfc_err_set(err, -EINVAL, "%s: reading outside the data of %s", t->display, e->path);
}

static int spool_open(const char *dir)
{
	if (!dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/var/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	char p[4096];
	snprintf(p, sizeof(p), "%s/hfc-spool-XXXXXX", dir);
	fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	(void)unlink(p);
	return fd;
}

static ssize_t stream_read(struct archive *a, void *p, const void **buf)
{
	StreamCtx *s = p;
	ssize_t n = s->read(s->ctx, s->buf, STREAM_BUF);
	if (n < 0) {
		archive_set_error(a, (int)-n, "%s", strerror((int)-n));
		return -1;
	}
	*buf = s->buf;
	return n;
}

/* libarchive's result as -errno: its own codes mean the archive is bad; system errors stay. */
static int fail(struct archive *a, const char *display, const char *path, HfcErr *err)
{
	int e = archive_errno(a);
	int r = e == ENOMEM || e == EIO || e == ENOSPC || e == EDQUOT || e == EFBIG ? -e : -EBADMSG;
	const char *s = archive_error_string(a);
	if (!s || !*s)
		s = "not an archive this program reads";
	if (path)
		return hfc_err_set(err, r, "%s: %s: %s", display, path, s);
	return hfc_err_set(err, r, "%s: %s", display, s);
}

/* The Linux xattr form of a POSIX ACL (posix_acl_xattr, version 2), as the kernel keeps it. */
typedef struct AclEnt {
	uint16_t tag, perm;
	uint32_t id;
} AclEnt;

static int cmp_acl(const void *a, const void *b)
{
	const AclEnt *x = a, *y = b;
	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int acl_xattr(struct archive_entry *ae, int type, const char *xname, HfcTreeEntry *e)
{
	int n = archive_entry_acl_reset(ae, type);
	if (n <= 0)
		return 0;
	for (size_t k = 0; k < e->nxattrs; k++)
		if (!strcmp(e->xattrs[k].name, xname))
			return 0; /* the archive carried the xattr itself */
	AclEnt ents[n + 3];
	size_t m = 0;
	int t, perm, tag, qual;
	const char *name;
	bool have_user = false, have_group = false, have_other = false;
	while (m < (size_t)n + 3 &&
	       archive_entry_acl_next(ae, type, &t, &perm, &tag, &qual, &name) == ARCHIVE_OK) {
		AclEnt x = { .perm = (uint16_t)(perm & 7), .id = UINT32_MAX };
		switch (tag) {
		case ARCHIVE_ENTRY_ACL_USER_OBJ:
			x.tag = 0x01;
			have_user = true;
			break;
		case ARCHIVE_ENTRY_ACL_USER:
			x.tag = 0x02;
			x.id = (uint32_t)qual;
			break;
		case ARCHIVE_ENTRY_ACL_GROUP_OBJ:
			x.tag = 0x04;
			have_group = true;
			break;
		case ARCHIVE_ENTRY_ACL_GROUP:
			x.tag = 0x08;
			x.id = (uint32_t)qual;
			break;
		case ARCHIVE_ENTRY_ACL_MASK:
			x.tag = 0x10;
			break;
		case ARCHIVE_ENTRY_ACL_OTHER:
			x.tag = 0x20;
			have_other = true;
			break;
		default:
			continue; /* NFSv4 "everyone@" and the like: no POSIX form */
		}
		ents[m++] = x;
	}
	if (m == 0)
		return 0;
	/* An access ACL's base entries are the mode bits when the archive leaves them out. */
	if (type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS) {
		if (!have_user)
			ents[m++] = (AclEnt){ 0x01, (uint16_t)((e->perm >> 6) & 7), UINT32_MAX };
		if (!have_group)
			ents[m++] = (AclEnt){ 0x04, (uint16_t)((e->perm >> 3) & 7), UINT32_MAX };
		if (!have_other)
			ents[m++] = (AclEnt){ 0x20, (uint16_t)(e->perm & 7), UINT32_MAX };
	}
	qsort(ents, m, sizeof(*ents), cmp_acl);
	uint8_t buf[4 + 8 * (n + 3)], *p = buf + 4;
	buf[0] = 2;
	buf[1] = buf[2] = buf[3] = 0;
	for (size_t k = 0; k < m; k++, p += 8) {
		p[0] = (uint8_t)ents[k].tag;
		p[1] = (uint8_t)(ents[k].tag >> 8);
		p[2] = (uint8_t)ents[k].perm;
		p[3] = (uint8_t)(ents[k].perm >> 8);
		for (int b = 0; b < 4; b++)
			p[4 + b] = (uint8_t)(ents[k].id >> (8 * b));
	}
	return hfc_tree_xattr_add(e, xname, buf, (size_t)(p - buf));
}

/*
 * Copies the current entry's data blocks into the spool, recording its extents. The content
 * hashes come after the whole archive is read, from the spool, on every CPU
 * (hfc_tree_hash_all): hashing here, as the data streams by, would keep one core busy with
 * SHA-256 while the other waits for it.
 */
static int spool_data(struct archive *a, SpoolCtx *s, HfcTree *t, HfcTreeEntry *e, HfcErr *err)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	uint64_t end = 0;
	int r = 0;
	for (;;) {
		int h = archive_read_data_block(a, &buf, &len, &off);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			r = fail(a, t->display, e->path, err);
			break;
		}
		if (off < 0) {
			r = hfc_err_set(err, -EBADMSG, "%s: %s: data at a negative offset",
					t->display, e->path);
			break;
		}
		if (len == 0)
			continue;
		if ((uint64_t)off < end) {
			r = hfc_err_set(err, -EBADMSG, "%s: %s: overlapping sparse data", t->display,
					e->path);
			break;
		}
		uint64_t src = input_offset(s, buf, len);
		if (src != UINT64_MAX) {
			src |= SRC_INPUT;
		} else {
			r = hfc_pwrite_all(s->fd, buf, len, (off_t)s->end);
			if (r < 0) {
				r = hfc_err_set(err, r, "the spool file of %s: %s", t->display,
						strerror(-r));
				break;
			}
			src = s->end;
			s->end += len;
		}
		HfcTreeExtent *last = e->nextents ? &e->extents[e->nextents - 1] : NULL;
		if (last && last->off + last->len == (uint64_t)off && last->src + last->len == src) {
			last->len += len;
		} else {
			HfcTreeExtent *x = realloc(e->extents, (e->nextents + 1) * sizeof(*x));
			if (!x) {
				r = hfc_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			e->extents = x;
			x[e->nextents++] = (HfcTreeExtent){ (uint64_t)off, len, src };
		}
		end = (uint64_t)off + len;
	}
	if (r >= 0 && end > e->size)
		e->size = end; /* sparse data past the header's size: the size it ends up with */
	return r;
}

static int add_entry(struct archive *a, struct archive_entry *ae, SpoolCtx *s, HfcTree *t,
		     HfcErr *err)
{
	const char *name = archive_entry_pathname(ae);
	if (!name || !*name)
		return hfc_err_set(err, -EBADMSG, "%s: an entry without a name", t->display);
	_cleanup_free_ char *path = NULL;
	int r = hfc_tree_norm(name, t->display, &path, err);
	if (r < 0)
		return r;
	HfcTreeEntry *e = hfc_tree_add(t);
	if (!e)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	e->path = TAKE_PTR(path);
	e->perm = (uint32_t)archive_entry_perm(ae) & 07777;
	e->uid = (uint32_t)archive_entry_uid(ae);
	e->gid = (uint32_t)archive_entry_gid(ae);
	e->mtime = archive_entry_mtime(ae);
	e->mtime_ns = (uint32_t)archive_entry_mtime_nsec(ae);
	e->atime = e->mtime;
	e->atime_ns = e->mtime_ns;
	e->ctime = e->mtime;
	e->ctime_ns = e->mtime_ns;
	if (archive_entry_atime_is_set(ae)) {
		e->atime = archive_entry_atime(ae);
		e->atime_ns = (uint32_t)archive_entry_atime_nsec(ae);
	}
	if (archive_entry_ctime_is_set(ae)) {
		e->ctime = archive_entry_ctime(ae);
		e->ctime_ns = (uint32_t)archive_entry_ctime_nsec(ae);
	}

	const char *hl = archive_entry_hardlink(ae);
	if (hl) {
		r = hfc_tree_norm(hl, t->display, &e->link_path, err);
		if (r < 0)
			return r;
		if (!e->link_path[0])
			return hfc_err_set(err, -EINVAL, "%s: %s: a hard link to the root",
					   t->display, e->path);
		e->type = HFC_TREE_REG;
		return 0;
	}
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG:
		e->type = HFC_TREE_REG;
		break;
	case AE_IFDIR:
		e->type = HFC_TREE_DIR;
		break;
	case AE_IFLNK:
		e->type = HFC_TREE_LNK;
		break;
	case AE_IFCHR:
		e->type = HFC_TREE_CHR;
		break;
	case AE_IFBLK:
		e->type = HFC_TREE_BLK;
		break;
	case AE_IFIFO:
		e->type = HFC_TREE_FIFO;
		break;
	case AE_IFSOCK:
		e->type = HFC_TREE_SOCK;
		break;
	default:
		return hfc_err_set(err, -EINVAL, "%s: %s: an unsupported entry type (mode %o)",
				   t->display, e->path, (unsigned)archive_entry_mode(ae));
	}
	if (e->type == HFC_TREE_LNK) {
		const char *target = archive_entry_symlink(ae);
		if (!target || !*target)
			return hfc_err_set(err, -EBADMSG, "%s: %s: a symbolic link without a target",
					   t->display, e->path);
		e->size = strlen(target);
		if (e->size >= 4096)
			return hfc_err_set(err, -ENAMETOOLONG,
					   "%s: %s: a symbolic link target of %llu bytes (at most 4095)",
					   t->display, e->path, (unsigned long long)e->size);
		if (!(e->target = strdup(target)))
			return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	if (e->type == HFC_TREE_CHR || e->type == HFC_TREE_BLK) {
		e->dev_major = (uint32_t)archive_entry_rdevmajor(ae);
		e->dev_minor = (uint32_t)archive_entry_rdevminor(ae);
	}

	const char *xn;
	const void *xv;
	size_t xl;
	archive_entry_xattr_reset(ae);
	while (archive_entry_xattr_next(ae, &xn, &xv, &xl) == ARCHIVE_OK)
		if (hfc_tree_xattr_add(e, xn, xv, xl) < 0)
			return hfc_err_set(err, -ENOMEM, "out of memory");
	if (acl_xattr(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, "system.posix_acl_access", e) < 0 ||
	    (e->type == HFC_TREE_DIR &&
	     acl_xattr(ae, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, "system.posix_acl_default", e) < 0))
		return hfc_err_set(err, -ENOMEM, "out of memory");

	if (e->type == HFC_TREE_REG) {
		e->size = archive_entry_size_is_set(ae) ? (uint64_t)archive_entry_size(ae) : 0;
		return spool_data(a, s, t, e, err);
	}
	return 0;
}

/*
 * Reads a regular archive file through our chunks (from where fd is now), keeping a descriptor
 * of it to read the data from later; returns -1 for anything else (a pipe, a device).
 */
static int input_open(SpoolCtx *s, int fd)
{
	struct stat st;
	off_t at = lseek(fd, 0, SEEK_CUR);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || at < 0)
		return -1;
	s->chunk[0].buf = malloc(STREAM_BUF);
	s->chunk[1].buf = malloc(STREAM_BUF);
	s->input = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (!s->chunk[0].buf || !s->chunk[1].buf || s->input < 0) {
		if (s->input >= 0)
			close(s->input);
		s->input = -1;
		return -1;
	}
	s->at = (uint64_t)at;
	return 0;
}

int hfc_tree_from_archive(int fd, HfcStreamFn read, void *ctx, const char *display,
			  const char *spool_dir, HfcTree **ret, HfcErr *err)
{
	_cleanup_(hfc_tree_freep) HfcTree *t = NULL;
	if (hfc_tree_new(display, &t) < 0)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	SpoolCtx *s = calloc(1, sizeof(*s));
	if (!s)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	s->fd = spool_open(spool_dir);
	s->input = -1;
	t->ctx = s;
	t->ctx_free = spool_free;
	t->read = spool_read;
	t->read_shared = true;
	if (s->fd < 0)
		return hfc_err_set(err, s->fd, "a spool file in %s: %s",
				   spool_dir ? spool_dir : "$TMPDIR", strerror(-s->fd));

	struct archive *a = archive_read_new();
	StreamCtx sc = { .read = read, .ctx = ctx };
	if (!a)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	int r = 0;
	if (archive_read_support_filter_all(a) < ARCHIVE_WARN ||
	    archive_read_support_format_all(a) != ARCHIVE_OK) {
		r = fail(a, display, NULL, err);
		goto out;
	}
	if (read) {
		sc.buf = malloc(STREAM_BUF);
		if (!sc.buf) {
			r = hfc_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		r = archive_read_open(a, &sc, NULL, stream_read, NULL);
	} else if (input_open(s, fd) == 0) {
		r = archive_read_open(a, s, NULL, input_read, NULL);
	} else {
		r = archive_read_open_fd(a, fd, STREAM_BUF);
	}
	if (r != ARCHIVE_OK) {
		r = fail(a, display, NULL, err);
		goto out;
	}
	r = 0;
	for (;;) {
		struct archive_entry *ae;
		int h = archive_read_next_header(a, &ae);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			r = fail(a, display, NULL, err);
			goto out;
		}
		r = add_entry(a, ae, s, t, err);
		if (r < 0)
			goto out;
	}
	if (t->n == 0) {
		r = hfc_err_set(err, -EBADMSG, "%s: no entries: an empty or unknown archive", display);
		goto out;
	}
	r = hfc_tree_finish(t, err);
	if (r >= 0)
		r = hfc_tree_hash_all(t, hfc_cpu_count(), err);
out:
	archive_read_free(a);
	free(sc.buf);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(t);
	return 0;
}
