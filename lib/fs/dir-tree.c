/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The directory source of a tree (--from-dir): a walk that reads what the kernel reports. */
#include "fs/tree.h"

#include "base/fileio.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

typedef struct DirCtx {
	char *root;
	const HfcTreeEntry *open_entry; /* the file open_fd reads */
	int open_fd;
} DirCtx;

static void dir_ctx_free(void *p)
{
	DirCtx *c = p;
	if (!c)
		return;
	if (c->open_fd >= 0)
		close(c->open_fd);
	free(c->root);
	free(c);
}

static char *join(const char *a, const char *b)
{
	char *p;
	if (asprintf(&p, "%s%s%s", a, *b ? "/" : "", b) < 0)
		return NULL;
	return p;
}

static int dir_read(HfcTree *t, const HfcTreeEntry *e, uint64_t off, void *buf, size_t len,
		    HfcErr *err)
{
	DirCtx *c = t->ctx;
	if (c->open_entry != e) {
		if (c->open_fd >= 0)
			close(c->open_fd);
		c->open_fd = -1;
		c->open_entry = NULL;
		_cleanup_free_ char *p = join(c->root, e->path);
		if (!p)
			return hfc_err_set(err, -ENOMEM, "out of memory");
		int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		if (fd < 0) {
			int r = negative_errno();
			return hfc_err_set(err, r, "%s: %s", p, strerror(-r));
		}
		c->open_fd = fd;
		c->open_entry = e;
	}
	ssize_t n = hfc_pread_all(c->open_fd, buf, len, (off_t)off);
	if (n < 0)
		return hfc_err_set(err, (int)n, "%s/%s: %s", c->root, e->path, strerror((int)-n));
	if ((size_t)n != len)
		return hfc_err_set(err, -EIO, "%s/%s: the file shrank while it was read", c->root,
				   e->path);
	return 0;
}

/* A regular file's data extents (holes that SEEK_HOLE reports are left out). */
static int file_extents(int fd, HfcTreeEntry *e)
{
	uint64_t size = e->size;
	if (size == 0)
		return 0;
	off_t pos = 0;
	while ((uint64_t)pos < size) {
		off_t d = lseek(fd, pos, SEEK_DATA);
		if (d < 0) {
			if (errno == ENXIO)
				break;
			if (errno == EINVAL) { /* no SEEK_DATA here: all data */
				d = pos;
			} else {
				return negative_errno();
			}
		}
		if ((uint64_t)d >= size)
			break;
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > size)
			h = (off_t)size;
		HfcTreeExtent *x = realloc(e->extents, (e->nextents + 1) * sizeof(*x));
		if (!x)
			return -ENOMEM;
		e->extents = x;
		x[e->nextents++] = (HfcTreeExtent){ .off = (uint64_t)d, .len = (uint64_t)(h - d) };
		pos = h;
	}
	return 0;
}

static int read_xattrs(const char *p, HfcTreeEntry *e, HfcErr *err)
{
	ssize_t n = llistxattr(p, NULL, 0);
	if (n < 0) {
		if (errno == ENOTSUP)
			return 0;
		int r = negative_errno();
		return hfc_err_set(err, r, "%s: listing extended attributes: %s", p, strerror(-r));
	}
	if (n == 0)
		return 0;
	_cleanup_free_ char *names = malloc((size_t)n);
	if (!names)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	n = llistxattr(p, names, (size_t)n);
	if (n < 0) {
		int r = negative_errno();
		return hfc_err_set(err, r, "%s: listing extended attributes: %s", p, strerror(-r));
	}
	for (char *name = names; name < names + n; name += strlen(name) + 1) {
		ssize_t vl = lgetxattr(p, name, NULL, 0);
		if (vl < 0) {
			int r = negative_errno();
			return hfc_err_set(err, r, "%s: %s: %s", p, name, strerror(-r));
		}
		_cleanup_free_ char *v = malloc(vl ? (size_t)vl : 1);
		if (!v)
			return hfc_err_set(err, -ENOMEM, "out of memory");
		vl = lgetxattr(p, name, v, (size_t)vl);
		if (vl < 0) {
			int r = negative_errno();
			return hfc_err_set(err, r, "%s: %s: %s", p, name, strerror(-r));
		}
		if (hfc_tree_xattr_add(e, name, v, (size_t)vl) < 0)
			return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Hard links: (dev, ino) of files with more than one link, and the first path seen. */
typedef struct Seen {
	dev_t dev;
	ino_t ino;
	char *path;
} Seen;

typedef struct Walk {
	HfcTree *t;
	Seen *seen;
	size_t nseen, capseen;
	HfcErr *err;
} Walk;

static int add(Walk *w, const char *root, const char *rel, const struct stat *st)
{
	HfcTree *t = w->t;
	_cleanup_free_ char *p = join(root, rel);
	if (!p)
		return hfc_err_set(w->err, -ENOMEM, "out of memory");
	HfcTreeEntry *e = hfc_tree_add(t);
	if (!e || !(e->path = strdup(rel)))
		return hfc_err_set(w->err, -ENOMEM, "out of memory");
	e->perm = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->atime = st->st_atim.tv_sec;
	e->atime_ns = (uint32_t)st->st_atim.tv_nsec;
	e->mtime = st->st_mtim.tv_sec;
	e->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	e->ctime = st->st_ctim.tv_sec;
	e->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		e->type = HFC_TREE_REG;
		break;
	case S_IFDIR:
		e->type = HFC_TREE_DIR;
		break;
	case S_IFLNK:
		e->type = HFC_TREE_LNK;
		break;
	case S_IFCHR:
		e->type = HFC_TREE_CHR;
		break;
	case S_IFBLK:
		e->type = HFC_TREE_BLK;
		break;
	case S_IFIFO:
		e->type = HFC_TREE_FIFO;
		break;
	case S_IFSOCK:
		e->type = HFC_TREE_SOCK;
		break;
	default:
		return hfc_err_set(w->err, -EINVAL, "%s: an unsupported file type (mode %o)", p,
				   (unsigned)st->st_mode);
	}
	if (e->type != HFC_TREE_DIR && st->st_nlink > 1) {
		for (size_t k = 0; k < w->nseen; k++)
			if (w->seen[k].dev == st->st_dev && w->seen[k].ino == st->st_ino) {
				e->link_path = strdup(w->seen[k].path);
				return e->link_path ? 0 : hfc_err_set(w->err, -ENOMEM, "out of memory");
			}
		if (w->nseen == w->capseen) {
			size_t cap = w->capseen ? w->capseen * 2 : 64;
			Seen *s = realloc(w->seen, cap * sizeof(*s));
			if (!s)
				return hfc_err_set(w->err, -ENOMEM, "out of memory");
			w->seen = s;
			w->capseen = cap;
		}
		w->seen[w->nseen] = (Seen){ st->st_dev, st->st_ino, strdup(rel) };
		if (!w->seen[w->nseen++].path)
			return hfc_err_set(w->err, -ENOMEM, "out of memory");
	}
	if (e->type == HFC_TREE_CHR || e->type == HFC_TREE_BLK) {
		e->dev_major = major(st->st_rdev);
		e->dev_minor = minor(st->st_rdev);
	}
	if (e->type == HFC_TREE_LNK) {
		char buf[PATH_MAX];
		ssize_t n = readlink(p, buf, sizeof(buf));
		if (n < 0 || (size_t)n >= sizeof(buf)) {
			int r = n < 0 ? negative_errno() : -ENAMETOOLONG;
			return hfc_err_set(w->err, r, "%s: %s", p, strerror(-r));
		}
		e->target = strndup(buf, (size_t)n);
		if (!e->target)
			return hfc_err_set(w->err, -ENOMEM, "out of memory");
		e->size = (uint64_t)n;
	}
	if (e->type == HFC_TREE_REG) {
		e->size = (uint64_t)st->st_size;
		int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		if (fd < 0) {
			int r = negative_errno();
			return hfc_err_set(w->err, r, "%s: %s", p, strerror(-r));
		}
		int r = file_extents(fd, e);
		close(fd);
		if (r < 0)
			return hfc_err_set(w->err, r, "%s: %s", p, strerror(-r));
	}
	return read_xattrs(p, e, w->err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(Walk *w, const char *root, const char *rel)
{
	_cleanup_free_ char *p = join(root, rel);
	if (!p)
		return hfc_err_set(w->err, -ENOMEM, "out of memory");
	DIR *d = opendir(p);
	if (!d) {
		int r = negative_errno();
		return hfc_err_set(w->err, r, "%s: %s", p, strerror(-r));
	}
	/* Names first, sorted: the hard-link leader is then the smallest path, as documented. */
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				r = -ENOMEM;
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (!r && errno)
		r = negative_errno();
	closedir(d);
	if (r < 0)
		r = hfc_err_set(w->err, r, "%s: %s", p, strerror(-r));
	if (r >= 0)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *sub = rel[0] ? join(rel, names[i]) : strdup(names[i]);
		if (!sub) {
			r = hfc_err_set(w->err, -ENOMEM, "out of memory");
			break;
		}
		_cleanup_free_ char *full = join(root, sub);
		struct stat st;
		if (!full || lstat(full, &st) < 0) {
			r = full ? negative_errno() : -ENOMEM;
			r = hfc_err_set(w->err, r, "%s: %s", full ? full : sub, strerror(-r));
			break;
		}
		if (strlen(names[i]) > HFC_TREE_NAME_MAX) {
			r = hfc_err_set(w->err, -ENAMETOOLONG, "%s: a name of %zu bytes (at most %d)",
					full, strlen(names[i]), HFC_TREE_NAME_MAX);
			break;
		}
		r = add(w, root, sub, &st);
		if (r >= 0 && S_ISDIR(st.st_mode))
			r = walk(w, root, sub);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int hfc_tree_from_dir(const char *path, HfcTree **ret, HfcErr *err)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		int r = negative_errno();
		return hfc_err_set(err, r, "%s: %s", path, strerror(-r));
	}
	if (!S_ISDIR(st.st_mode))
		return hfc_err_set(err, -ENOTDIR, "%s: not a directory", path);
	_cleanup_(hfc_tree_freep) HfcTree *t = NULL;
	if (hfc_tree_new(path, &t) < 0)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	DirCtx *c = calloc(1, sizeof(*c));
	if (!c || !(c->root = strdup(path))) {
		free(c);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	c->open_fd = -1;
	t->ctx = c;
	t->ctx_free = dir_ctx_free;
	t->read = dir_read;
	Walk w = { .t = t, .err = err };
	int r = add(&w, path, "", &st);
	if (r >= 0)
		r = walk(&w, path, "");
	for (size_t k = 0; k < w.nseen; k++)
		free(w.seen[k].path);
	free(w.seen);
	if (r < 0)
		return r;
	r = hfc_tree_finish(t, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(t);
	return 0;
}
