/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libext2fs adapter, part two: paths, symlinks, listing and reading files. */
#include "fs/ext2-private.h"

#include "base/fileio.h"

#include <ext2fs/ext2fs.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CAT_CHUNK (64 * 1024)
/* Symlinks nest at most 8 deep, as in classic Unix; the total (40, as Linux) keeps links like
 * "a -> b/b/b/b" from growing exponentially within that depth. */
#define MAX_LINK_DEPTH 8
#define MAX_LINKS_TOTAL 40

/* ---- inodes, lookups, symlinks, paths ---- */

static errcode_t read_inode(HfcExt2 *h, ext2_ino_t ino, struct ext2_inode_large *in)
{
	/* Zeroed first: with 128-byte inodes the extra fields stay 0. */
	memset(in, 0, sizeof(*in));
	return ext2fs_read_inode_full(h->fs, ino, (struct ext2_inode *)in, sizeof(*in));
}

/* Looks up one name in a directory (ext2fs_lookup() also walks inline-data directories). */
static errcode_t lookup(HfcExt2 *h, ext2_ino_t dir, const char *name, size_t len, ext2_ino_t *ret)
{
	return ext2fs_lookup(h->fs, dir, name, (int)len, NULL, ret);
}

/* Reads a symlink's target into a new NUL-terminated buffer. */
static errcode_t read_link(HfcExt2 *h, ext2_ino_t ino, struct ext2_inode_large *in, char **ret,
			   size_t *ret_len)
{
	uint64_t size = EXT2_I_SIZE((struct ext2_inode *)in);
	if (size == 0 || size >= PATH_MAX || size > h->fs->blocksize)
		return EXT2_ET_INODE_CORRUPTED;
	char *buf = malloc(size + 1);
	if (!buf)
		return EXT2_ET_NO_MEMORY;

	errcode_t e = 0;
	if (ext2fs_is_fast_symlink((struct ext2_inode *)in) &&
	    !(in->i_flags & EXT4_INLINE_DATA_FL)) {
		memcpy(buf, in->i_block, size);
	} else {
		/* Through the file API: it maps extents, block maps and inline data alike. */
		ext2_file_t f;
		e = ext2fs_file_open(h->fs, ino, 0, &f);
		if (!e) {
			unsigned got = 0;
			/* wanted = size also keeps inline data's padding out (see hfc_ext2_cat). */
			e = ext2fs_file_read(f, buf, (unsigned)size, &got);
			if (!e && got != size)
				e = EXT2_ET_INODE_CORRUPTED;
			errcode_t e2 = ext2fs_file_close(f);
			if (!e)
				e = e2;
		}
	}
	if (e) {
		free(buf);
		return e;
	}
	buf[size] = 0;
	*ret = buf;
	*ret_len = (size_t)size;
	return 0;
}

/*
 * Resolves path[0..len) from dir `start` ('/' restarts at the image's root, so ".." and absolute
 * symlinks never leave the image). Symlinks in the middle are followed, the last one only when
 * follow_last or when a '/' follows it. Our own rather than ext2fs_namei_follow(): that one trusts
 * a slow symlink's i_size and parses up to that many bytes out of a one-block buffer (a corrupt
 * image could make it read past the buffer), its depth limit is a private constant that has
 * changed between releases (6, later 8), and ls needs "follow only if it leads to a directory".
 */
static errcode_t resolve(HfcExt2 *h, ext2_ino_t start, const char *path, size_t len,
			 bool follow_last, unsigned depth, unsigned *links, ext2_ino_t *ret)
{
	ext2_ino_t cur = len > 0 && path[0] == '/' ? EXT2_ROOT_INO : start;
	size_t i = 0;
	while (i < len) {
		while (i < len && path[i] == '/')
			i++;
		if (i == len)
			break;
		size_t b = i;
		while (i < len && path[i] != '/')
			i++;
		size_t j = i;
		while (j < len && path[j] == '/')
			j++;
		bool last = j == len, slash_after = i < len;
		if (i - b > EXT2_NAME_LEN)
			return ENAMETOOLONG;

		ext2_ino_t ino;
		errcode_t e = lookup(h, cur, path + b, i - b, &ino);
		if (e)
			return e;
		if (!last || follow_last || slash_after) {
			struct ext2_inode_large in;
			e = read_inode(h, ino, &in);
			if (e)
				return e;
			if (LINUX_S_ISLNK(in.i_mode)) {
				if (depth >= MAX_LINK_DEPTH || ++*links > MAX_LINKS_TOTAL)
					return EXT2_ET_SYMLINK_LOOP;
				char *target;
				size_t tlen;
				e = read_link(h, ino, &in, &target, &tlen);
				if (e)
					return e;
				e = resolve(h, cur, target, tlen, true, depth + 1, links, &ino);
				free(target);
				if (e)
					return e;
			}
		}
		cur = ino;
	}
	if (len > 0 && path[len - 1] == '/') {
		struct ext2_inode_large in;
		errcode_t e = read_inode(h, cur, &in);
		if (e)
			return e;
		if (!LINUX_S_ISDIR(in.i_mode))
			return EXT2_ET_NO_DIRECTORY;
	}
	*ret = cur;
	return 0;
}

static int check_path(const char *path, HfcErr *err)
{
	if (!path || !*path)
		return hfc_err_set(err, -EINVAL, "empty path (paths in the image start with '/')");
	if (path[0] != '/')
		return hfc_err_set(err, -EINVAL,
				   "%s: not an absolute path (paths in the image start with '/')",
				   path);
	return 0;
}

/*
 * Looks up path from the root (following its last symlink or not) and reads the inode it names,
 * as hfc_ext2_list and hfc_ext2_cat both start. Returns 0 or -errno with err filled.
 */
static int find(HfcExt2 *h, const char *path, bool follow, ext2_ino_t *ret,
		struct ext2_inode_large *in, HfcErr *err)
{
	h->io.fail = 0;
	unsigned links = 0;
	errcode_t e = resolve(h, EXT2_ROOT_INO, path, strlen(path), follow, 0, &links, ret);
	if (!e)
		e = read_inode(h, *ret, in);
	return e ? hfc_ext2_fail(h, err, e, path) : 0;
}

/* ---- listing ---- */

/* LINUX_S_* are what the image holds, S_* what HfcExt2Entry.mode promises: the same bits. */
_Static_assert(LINUX_S_IFMT == S_IFMT && LINUX_S_IFREG == S_IFREG && LINUX_S_IFDIR == S_IFDIR &&
		       LINUX_S_IFLNK == S_IFLNK && LINUX_S_IFCHR == S_IFCHR &&
		       LINUX_S_IFBLK == S_IFBLK && LINUX_S_IFIFO == S_IFIFO &&
		       LINUX_S_IFSOCK == S_IFSOCK && LINUX_S_ISUID == S_ISUID &&
		       LINUX_S_ISGID == S_ISGID && LINUX_S_ISVTX == S_ISVTX,
	       "ext2 mode bits differ from st_mode's");

/* A listing being built: the entries and room for more. */
typedef struct Building {
	HfcExt2Listing l;
	size_t cap;
	bool oom;
} Building;

void hfc_ext2_listing_free(HfcExt2Listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->entries[i].name);
		free(l->entries[i].target);
	}
	free(l->entries);
	*l = (HfcExt2Listing){ 0 };
}

static HfcExt2Entry *listing_add(Building *b, const char *name, size_t len, ext2_ino_t ino)
{
	if (b->l.n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		HfcExt2Entry *v = reallocarray(b->l.entries, cap, sizeof(*v));
		if (!v)
			return NULL;
		b->l.entries = v;
		b->cap = cap;
	}
	char *s = strndup(name, len);
	if (!s)
		return NULL;
	b->l.entries[b->l.n] = (HfcExt2Entry){ .name = s, .ino = ino };
	return &b->l.entries[b->l.n++];
}

static int list_entry(ext2_ino_t dir _unused_, int entry _unused_, struct ext2_dir_entry *d,
		      int offset _unused_, int blocksize _unused_, char *buf _unused_, void *priv)
{
	Building *b = priv;
	int len = ext2fs_dirent_name_len(d);
	if ((len == 1 && d->name[0] == '.') || (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if (!listing_add(b, d->name, (size_t)len, d->inode)) {
		b->oom = true;
		return DIRENT_ABORT;
	}
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const HfcExt2Entry *)a)->name, ((const HfcExt2Entry *)b)->name);
}

/* mtime in seconds, with ext4's epoch bits (past 2038) when the inode has room for them. */
static int64_t inode_mtime(HfcExt2 *h, const struct ext2_inode_large *in)
{
	int64_t t = (int32_t)in->i_mtime;
	size_t need = offsetof(struct ext2_inode_large, i_mtime_extra) +
		      sizeof(in->i_mtime_extra) - EXT2_GOOD_OLD_INODE_SIZE;
	if (EXT2_INODE_SIZE(h->fs->super) > EXT2_GOOD_OLD_INODE_SIZE && in->i_extra_isize >= need)
		t += (int64_t)(in->i_mtime_extra & EXT4_EPOCH_MASK) << 32;
	return t;
}

/* Fills the inode fields of e from its inode (the entry itself: symlinks not followed). */
static errcode_t entry_stat(HfcExt2 *h, HfcExt2Entry *e)
{
	struct ext2_inode_large in;
	errcode_t r = read_inode(h, e->ino, &in);
	if (r)
		return r;
	e->mode = in.i_mode;
	e->links = in.i_links_count;
	e->uid = inode_uid(in);
	e->gid = inode_gid(in);
	e->size = EXT2_I_SIZE((struct ext2_inode *)&in);
	e->mtime = inode_mtime(h, &in);
	if (LINUX_S_ISLNK(in.i_mode)) {
		size_t len;
		r = read_link(h, e->ino, &in, &e->target, &len);
	}
	return r;
}

/*
 * As ls(1) without -l: a symlink given by name is listed as the directory it leads to. Replaces
 * *ino and *in when it does; a dangling or looping link stays itself. Returns 0 or -errno.
 */
static int follow_to_dir(HfcExt2 *h, const char *path, ext2_ino_t *ino,
			 struct ext2_inode_large *in, HfcErr *err)
{
	ext2_ino_t t;
	struct ext2_inode_large tin;
	unsigned links = 0;
	errcode_t e = resolve(h, EXT2_ROOT_INO, path, strlen(path), true, 0, &links, &t);
	if (!e)
		e = read_inode(h, t, &tin);
	if (!e && LINUX_S_ISDIR(tin.i_mode)) {
		*ino = t;
		*in = tin;
	} else if (e && h->io.fail) {
		return hfc_ext2_fail(h, err, e, path); /* the image failed us, not the link */
	}
	return 0;
}

/* Reads every entry's inode; a failure names the entry (PATH/NAME in a directory). */
static int stat_all(HfcExt2 *h, const char *path, bool dir, HfcExt2Listing *l, HfcErr *err)
{
	for (size_t i = 0; i < l->n; i++) {
		errcode_t e = entry_stat(h, &l->entries[i]);
		if (!e)
			continue;
		_cleanup_free_ char *what = NULL;
		size_t plen = strlen(path);
		if (dir && asprintf(&what, "%s%s%s", path, path[plen - 1] == '/' ? "" : "/",
				    l->entries[i].name) < 0)
			what = NULL;
		return hfc_ext2_fail(h, err, e, what ? what : path);
	}
	return 0;
}

int hfc_ext2_list(HfcExt2 *h, const char *path, unsigned flags, HfcExt2Listing *ret,
		  HfcErr *err)
{
	*ret = (HfcExt2Listing){ 0 };
	int r = check_path(path, err);
	if (r < 0)
		return r;
	if (!h)
		return hfc_err_set(err, -EINVAL, "%s: no file system", path);
	ext2_ino_t ino;
	struct ext2_inode_large in;
	r = find(h, path, false, &ino, &in, err);
	if (r == 0 && LINUX_S_ISLNK(in.i_mode) && (flags & HFC_EXT2_LIST_FOLLOW))
		r = follow_to_dir(h, path, &ino, &in, err);
	if (r < 0)
		return r;

	Building b = { 0 };
	if (LINUX_S_ISDIR(in.i_mode)) {
		/*
		 * flags 0: DIRENT_FLAG_INCLUDE_INLINE_DATA looks like the switch for inline-data
		 * directories, but it is internal ("ctx->buf already holds the data"): passed from
		 * outside, every block directory parses an unread buffer and fails as corrupted.
		 * Inline-data directories are walked without it.
		 */
		errcode_t e = ext2fs_dir_iterate2(h->fs, ino, 0, NULL, list_entry, &b);
		if (!e && b.oom)
			e = EXT2_ET_NO_MEMORY;
		if (e)
			r = hfc_ext2_fail(h, err, e, path);
		else if (b.l.n > 1)
			qsort(b.l.entries, b.l.n, sizeof(*b.l.entries), entry_cmp);
	} else if (!listing_add(&b, path, strlen(path), ino)) {
		r = hfc_err_set(err, -ENOMEM, "out of memory");
	}
	if (r == 0 && (flags & HFC_EXT2_LIST_STAT))
		r = stat_all(h, path, LINUX_S_ISDIR(in.i_mode), &b.l, err);
	if (r < 0) {
		hfc_ext2_listing_free(&b.l);
		return r;
	}
	*ret = b.l;
	return 0;
}

/* ---- cat ---- */

int hfc_ext2_cat(HfcExt2 *h, const char *path, int out_fd, HfcErr *err)
{
	int r = check_path(path, err);
	if (r < 0)
		return r;
	if (!h || out_fd < 0)
		return hfc_err_set(err, -EINVAL, "%s: no file system or output", path);
	ext2_ino_t ino;
	struct ext2_inode_large in;
	r = find(h, path, true, &ino, &in, err);
	if (r < 0)
		return r;
	if (LINUX_S_ISDIR(in.i_mode))
		return hfc_err_set(err, -EISDIR, "%s: Is a directory", path);
	if (!LINUX_S_ISREG(in.i_mode))
		return hfc_err_set(err, -EINVAL, "%s: not a regular file", path);

	_cleanup_free_ char *buf = malloc(CAT_CHUNK);
	if (!buf)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	ext2_file_t f;
	errcode_t e = ext2fs_file_open(h->fs, ino, 0, &f);
	if (e)
		return hfc_ext2_fail(h, err, e, path);

	uint64_t want = EXT2_I_SIZE((struct ext2_inode *)&in), done = 0;
	while (done < want) {
		unsigned got = 0;
		e = ext2fs_file_read(f, buf, CAT_CHUNK, &got);
		if (e) {
			r = hfc_ext2_fail(h, err, e, path);
			break;
		}
		if (got == 0)
			break;
		/*
		 * Bounded by i_size ourselves: for an inline-data file ext2fs_file_read() returns
		 * the whole inline area (60 bytes and more), not just the file's bytes.
		 */
		size_t n = (size_t)MIN((uint64_t)got, want - done);
		r = hfc_write_all(out_fd, buf, n);
		if (r < 0) {
			hfc_err_set(err, r, "%s: writing the output: %s", path, strerror(-r));
			break;
		}
		done += n;
	}
	e = ext2fs_file_close(f);
	if (r == 0 && e)
		r = hfc_ext2_fail(h, err, e, path);
	if (r == 0 && done != want)
		r = hfc_err_set(err, -EUCLEAN, "%s: read %" PRIu64 " of %" PRIu64 " bytes", path,
				done, want);
	return r;
}
