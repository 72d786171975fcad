/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fs/ext2.h"

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

/*
 * What the io_channel reads through. It lives inside HfcExt2, not in the channel, so that after a
 * failed ext2fs_open2() (which frees the channel) we can still say which read failed and where.
 */
typedef struct Ext2Io {
	HfcReadFn read;
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

/* ---- the error boundary: the one place where errcode_t becomes -errno ---- */

static int errcode_to_errno(errcode_t e)
{
	if (e == 0)
		return 0;
	/* libext2fs passes errno values through unchanged (ours from the read callback, too). */
	if (e > 0 && e < 4096)
		return -(int)e;
	switch (e) {
	case EXT2_ET_NO_MEMORY:
		return -ENOMEM;
	case EXT2_ET_RO_FILSYS:
	case EXT2_ET_RO_BLOCK_ITERATE:
	case EXT2_ET_FILE_RO:
		return -EROFS;
	case EXT2_ET_FILE_NOT_FOUND:
		return -ENOENT;
	case EXT2_ET_NO_DIRECTORY:
		return -ENOTDIR;
	case EXT2_ET_SYMLINK_LOOP:
		return -ELOOP;
	case EXT2_ET_FILE_TOO_BIG:
		return -EFBIG;
	case EXT2_ET_BAD_MAGIC:
	case EXT2_ET_CORRUPT_SUPERBLOCK:
	case EXT2_ET_SB_CSUM_INVALID:
	case EXT2_ET_UNEXPECTED_BLOCK_SIZE:
	case EXT2_ET_INVALID_ARGUMENT:
	case EXT2_ET_BAD_DEVICE_NAME:
		return -EINVAL;
	case EXT2_ET_UNSUPP_FEATURE:
	case EXT2_ET_RO_UNSUPP_FEATURE:
	case EXT2_ET_REV_TOO_HIGH:
	case EXT2_ET_UNIMPLEMENTED:
	case EXT2_ET_OP_NOT_SUPPORTED:
	case EXT2_ET_EXTENT_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	case EXT2_ET_DIR_CORRUPTED:
	case EXT2_ET_DIR_CSUM_INVALID:
	case EXT2_ET_INODE_CSUM_INVALID:
	case EXT2_ET_INODE_CORRUPTED:
	case EXT2_ET_INODE_IS_GARBAGE:
	case EXT2_ET_EXTENT_CSUM_INVALID:
	case EXT2_ET_EXTENT_HEADER_BAD:
	case EXT2_ET_EXTENT_INDEX_BAD:
	case EXT2_ET_EXTENT_LEAF_BAD:
	case EXT2_ET_EXTENT_CYCLE:
	case EXT2_ET_EXT_ATTR_CSUM_INVALID:
	case EXT2_ET_EA_INODE_CORRUPTED:
	case EXT2_ET_BAD_BLOCK_NUM:
	case EXT2_ET_BAD_INODE_NUM:
	case EXT2_ET_BAD_IND_BLOCK:
	case EXT2_ET_BAD_DIND_BLOCK:
	case EXT2_ET_BAD_TIND_BLOCK:
	case EXT2_ET_GDESC_BAD_BLOCK_MAP:
	case EXT2_ET_GDESC_BAD_INODE_MAP:
	case EXT2_ET_GDESC_BAD_INODE_TABLE:
	case EXT2_ET_MISSING_INODE_TABLE:
	case EXT2_ET_FILESYSTEM_CORRUPTED:
		return -EUCLEAN;
	default:
		return -EIO; /* EXT2_ET_SHORT_READ and the rest */
	}
}

/*
 * The text of an errcode_t. Read from libext2fs's table directly rather than com_err's
 * error_message(): that needs the table registered in a process-wide list first, which a
 * library should not do behind its caller's back.
 */
static const char *errcode_text(errcode_t e)
{
	if (e > 0 && e < 4096)
		return strerror((int)e);
	const struct error_table *t = &et_ext2_error_table;
	if (e >= t->base && e < t->base + t->n_msgs)
		return t->msgs[e - t->base];
	return "unknown libext2fs error";
}

/* Fills err for a failure of libext2fs while working on `what` (a path); returns -errno. */
static int fail(HfcExt2 *h, HfcErr *err, errcode_t e, const char *what)
{
	const Ext2Io *io = &h->io;

	/* A failed read is the root cause of whatever libext2fs made of it: name the read. */
	if (io->fail == EXT2_ET_SHORT_READ)
		return hfc_err_set(err, -EIO,
				   "%s: %s: the file system reaches past the end of the image "
				   "(%" PRIu64 " bytes at offset %" PRIu64 ", image is %" PRIu64
				   " bytes); truncated image?",
				   h->display, what, io->fail_len, io->fail_off, io->size);
	if (io->fail)
		return hfc_err_set(err, errcode_to_errno(io->fail),
				   "%s: %s: reading %" PRIu64 " bytes at offset %" PRIu64 ": %s",
				   h->display, what, io->fail_len, io->fail_off,
				   errcode_text(io->fail));

	int r = errcode_to_errno(e);
	switch (r) {
	case -ENOENT:
	case -ENOTDIR:
	case -ELOOP:
	case -ENAMETOOLONG:
	case -ENOMEM:
		return hfc_err_set(err, r, "%s: %s", what, strerror(-r));
	default:
		return hfc_err_set(err, r, "%s: %s", what, errcode_text(e));
	}
}

/* ---- the io_manager: reads go to the callback, writes are refused ---- */

/*
 * libext2fs creates a channel from a name alone (manager->open(name, flags, &channel)): there is
 * no argument to carry our callback and its ctx. Two ways were open: print a pointer into the
 * name and parse it back, or look the name up in a registry. We keep a registry keyed by a
 * unique name ("hfc-ext2:<serial>"): a string never turns into a pointer, so a stale or foreign
 * name (libext2fs may be asked to reopen a device by name) fails cleanly with
 * EXT2_ET_BAD_DEVICE_NAME instead of dereferencing whatever the string says. An entry lives only
 * while ext2fs_open2() runs; from then on the channel carries the Ext2Io in private_data, so the
 * registry never grows and open file systems share no state.
 */
typedef struct Pending {
	char name[40];
	Ext2Io *io;
	struct Pending *next;
} Pending;

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static Pending *pending;
static uint64_t pending_serial;

static void pending_add(Pending *p, Ext2Io *io)
{
	pthread_mutex_lock(&pending_lock);
	snprintf(p->name, sizeof(p->name), "hfc-ext2:%" PRIu64, ++pending_serial);
	p->io = io;
	p->next = pending;
	pending = p;
	pthread_mutex_unlock(&pending_lock);
}

static void pending_remove(Pending *p)
{
	pthread_mutex_lock(&pending_lock);
	for (Pending **pp = &pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&pending_lock);
}

static Ext2Io *pending_find(const char *name)
{
	Ext2Io *io = NULL;
	pthread_mutex_lock(&pending_lock);
	for (Pending *p = pending; p; p = p->next)
		if (strcmp(p->name, name) == 0) {
			io = p->io;
			break;
		}
	pthread_mutex_unlock(&pending_lock);
	return io;
}

static struct struct_io_manager hfc_io_manager;

static errcode_t io_open(const char *name, int flags, io_channel *ret)
{
	if (!name || !ret)
		return EXT2_ET_BAD_DEVICE_NAME;
	if (flags & IO_FLAG_RW)
		return EXT2_ET_RO_FILSYS;
	Ext2Io *io = pending_find(name);
	if (!io)
		return EXT2_ET_BAD_DEVICE_NAME;

	io_channel ch = NULL;
	errcode_t e = ext2fs_get_memzero(sizeof(*ch), &ch);
	if (e)
		return e;
	e = ext2fs_get_mem(strlen(name) + 1, &ch->name);
	if (e) {
		ext2fs_free_mem(&ch);
		return e;
	}
	strcpy(ch->name, name);
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = &hfc_io_manager;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = io;
	*ret = ch;
	return 0;
}

static errcode_t io_close(io_channel ch)
{
	EXT2_CHECK_MAGIC(ch, EXT2_ET_MAGIC_IO_CHANNEL);
	/* ext2fs_dup_handle() shares a channel by bumping refcount: only the last close frees. */
	if (--ch->refcount > 0)
		return 0;
	ext2fs_free_mem(&ch->name);
	ext2fs_free_mem(&ch);
	return 0;
}

static errcode_t io_set_blksize(io_channel ch, int blksize)
{
	EXT2_CHECK_MAGIC(ch, EXT2_ET_MAGIC_IO_CHANNEL);
	/* 1024 to read the superblock, then the file system's own (1, 2, 4 KiB ... 64 KiB). */
	if (blksize <= 0 || blksize > EXT2_MAX_BLOCK_SIZE)
		return EXT2_ET_INVALID_ARGUMENT;
	ch->block_size = blksize;
	return 0;
}

static errcode_t io_read_blk64(io_channel ch, unsigned long long block, int count, void *data)
{
	EXT2_CHECK_MAGIC(ch, EXT2_ET_MAGIC_IO_CHANNEL);
	Ext2Io *io = ch->private_data;
	uint64_t bs = (uint64_t)ch->block_size;
	/* A negative count is a length in bytes (the superblock is read as -1024). */
	uint64_t len = count < 0 ? (uint64_t)(-(int64_t)count) : (uint64_t)count * bs;
	if (len == 0)
		return 0;

	/* Bound to the image: whatever lies beyond it is a short read, never a callback call. */
	uint64_t off = block <= UINT64_MAX / bs ? block * bs : UINT64_MAX;
	uint64_t avail = off < io->size ? MIN(len, io->size - off) : 0;
	uint64_t done = 0;
	errcode_t e = 0;
	while (done < avail) {
		ssize_t n = io->read(io->ctx, (char *)data + done, avail - done, off + done);
		if (n < 0) {
			e = (errcode_t)-n;
			break;
		}
		if (n == 0)
			break;
		if ((uint64_t)n > avail - done) {
			e = EIO; /* a reader that claims more than asked for is broken */
			break;
		}
		done += (uint64_t)n;
	}
	io->stats.bytes_read += done;
	if (done == len)
		return 0;

	memset((char *)data + done, 0, len - done);
	if (!e)
		e = EXT2_ET_SHORT_READ;
	if (!io->fail) {
		io->fail = e;
		io->fail_off = off;
		io->fail_len = len;
	}
	if (ch->read_error)
		return ch->read_error(ch, (unsigned long)block, count, data, len, (int)done, e);
	return e;
}

static errcode_t io_read_blk(io_channel ch, unsigned long block, int count, void *data)
{
	return io_read_blk64(ch, block, count, data);
}

static errcode_t io_write_blk(io_channel ch _unused_, unsigned long block _unused_,
			      int count _unused_, const void *data _unused_)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t io_write_blk64(io_channel ch _unused_, unsigned long long block _unused_,
				int count _unused_, const void *data _unused_)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t io_write_byte(io_channel ch _unused_, unsigned long offset _unused_,
			       int count _unused_, const void *data _unused_)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t io_discard(io_channel ch _unused_, unsigned long long block _unused_,
			    unsigned long long count _unused_)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t io_flush(io_channel ch)
{
	EXT2_CHECK_MAGIC(ch, EXT2_ET_MAGIC_IO_CHANNEL);
	return 0; /* nothing is ever written */
}

static errcode_t io_set_option(io_channel ch, const char *option _unused_, const char *arg _unused_)
{
	EXT2_CHECK_MAGIC(ch, EXT2_ET_MAGIC_IO_CHANNEL);
	return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t io_get_stats(io_channel ch, io_stats *stats)
{
	EXT2_CHECK_MAGIC(ch, EXT2_ET_MAGIC_IO_CHANNEL);
	Ext2Io *io = ch->private_data;
	if (stats)
		*stats = &io->stats;
	return 0;
}

static struct struct_io_manager hfc_io_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "hfc callback I/O manager",
	.open = io_open,
	.close = io_close,
	.set_blksize = io_set_blksize,
	.read_blk = io_read_blk,
	.write_blk = io_write_blk,
	.flush = io_flush,
	.write_byte = io_write_byte,
	.set_option = io_set_option,
	.get_stats = io_get_stats,
	.read_blk64 = io_read_blk64,
	.write_blk64 = io_write_blk64,
	.discard = io_discard,
	.zeroout = io_discard,
};

/* ---- open and close ---- */

int hfc_ext2_open(HfcReadFn read, void *ctx, uint64_t size, const char *display, HfcExt2 **ret,
		  HfcErr *err)
{
	if (!display)
		display = "image";
	if (!read || !ret)
		return hfc_err_set(err, -EINVAL, "%s: no reader for the image", display);
	if (size < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE)
		return hfc_err_set(err, -EINVAL,
				   "%s: not an ext2 file system (%" PRIu64 " bytes is too small)",
				   display, size);

	HfcExt2 *h = calloc(1, sizeof(*h));
	if (!h)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	h->display = strdup(display);
	if (!h->display) {
		free(h);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	h->io = (Ext2Io){ .read = read, .ctx = ctx, .size = size };
	h->io.stats.num_fields = 2;

	Pending p;
	pending_add(&p, &h->io);
	/* Without EXT2_FLAG_RW libext2fs asks for no write access (io_open refuses it anyway). */
	errcode_t e = ext2fs_open2(p.name, NULL, EXT2_FLAG_64BITS, 0, 0, &hfc_io_manager, &h->fs);
	pending_remove(&p);

	int r = 0;
	if (e) {
		h->fs = NULL; /* ext2fs_open2() freed it */
		if (e == EXT2_ET_BAD_MAGIC && !h->io.fail)
			r = hfc_err_set(err, -EINVAL, "%s: not an ext2 file system", display);
		else if (h->io.fail)
			r = fail(h, err, e, "opening the ext2 file system");
		else
			r = hfc_err_set(err, errcode_to_errno(e),
					"%s: cannot open the ext2 file system: %s", display,
					errcode_text(e));
	} else {
		/* Catch a truncated image now, not as a short read in the middle of a file. */
		uint64_t blocks = ext2fs_blocks_count(h->fs->super);
		uint64_t bs = (uint64_t)h->fs->blocksize;
		if (blocks > size / bs)
			r = hfc_err_set(err, -EINVAL,
					"%s: the file system (%" PRIu64 " blocks of %" PRIu64
					" bytes) is larger than the image (%" PRIu64
					" bytes); truncated image?",
					display, blocks, bs, size);
	}
	if (r < 0) {
		hfc_ext2_close(h);
		return r;
	}
	*ret = h;
	return 0;
}

void hfc_ext2_close(HfcExt2 *h)
{
	if (!h)
		return;
	/*
	 * A read-only handle has nothing to write back, so closing it is a discard: ext2fs_free()
	 * (which also closes the channel, and takes NULL after a failed open). ext2fs_close2() is
	 * for handles opened read-write.
	 */
	ext2fs_free(h->fs);
	free(h->display);
	free(h);
}

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
	return e ? fail(h, err, e, path) : 0;
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
		return fail(h, err, e, path); /* the image failed us, not the link */
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
		return fail(h, err, e, what ? what : path);
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
			r = fail(h, err, e, path);
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
		return fail(h, err, e, path);

	uint64_t want = EXT2_I_SIZE((struct ext2_inode *)&in), done = 0;
	while (done < want) {
		unsigned got = 0;
		e = ext2fs_file_read(f, buf, CAT_CHUNK, &got);
		if (e) {
			r = fail(h, err, e, path);
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
		r = fail(h, err, e, path);
	if (r == 0 && done != want)
		r = hfc_err_set(err, -EUCLEAN, "%s: read %" PRIu64 " of %" PRIu64 " bytes", path,
				done, want);
	return r;
}
