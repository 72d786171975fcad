/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libext2fs adapter, part one: errors, the io_channel over the read callback, open, close. */
#include "fs/ext2-private.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- the error boundary: the one place where errcode_t becomes -errno ---- */

int hfc_ext2_errno(errcode_t e)
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
const char *hfc_ext2_errtext(errcode_t e)
{
	if (e > 0 && e < 4096)
		return strerror((int)e);
	const struct error_table *t = &et_ext2_error_table;
	if (e >= t->base && e < t->base + t->n_msgs)
		return t->msgs[e - t->base];
	return "unknown libext2fs error";
}

int hfc_ext2_fail(HfcExt2 *h, HfcErr *err, errcode_t e, const char *what)
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
		return hfc_err_set(err, hfc_ext2_errno(io->fail),
				   "%s: %s: reading %" PRIu64 " bytes at offset %" PRIu64 ": %s",
				   h->display, what, io->fail_len, io->fail_off,
				   hfc_ext2_errtext(io->fail));

	int r = hfc_ext2_errno(e);
	switch (r) {
	case -ENOENT:
	case -ENOTDIR:
	case -ELOOP:
	case -ENAMETOOLONG:
	case -ENOMEM:
		return hfc_err_set(err, r, "%s: %s", what, strerror(-r));
	default:
		return hfc_err_set(err, r, "%s: %s", what, hfc_ext2_errtext(e));
	}
}

/* ---- the io_manager: reads and writes go to the callbacks (no write callback: read-only) ---- */

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
typedef Ext2Pending Pending;

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static Pending *pending;
static uint64_t pending_serial;

void hfc_ext2_pending_add(Pending *p, Ext2Io *io)
{
	pthread_mutex_lock(&pending_lock);
	snprintf(p->name, sizeof(p->name), "hfc-ext2:%" PRIu64, ++pending_serial);
	p->io = io;
	p->next = pending;
	pending = p;
	pthread_mutex_unlock(&pending_lock);
}

void hfc_ext2_pending_remove(Pending *p)
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


static errcode_t io_open(const char *name, int flags, io_channel *ret)
{
	if (!name || !ret)
		return EXT2_ET_BAD_DEVICE_NAME;
	Ext2Io *io = pending_find(name);
	if (!io)
		return EXT2_ET_BAD_DEVICE_NAME;
	if ((flags & IO_FLAG_RW) && !io->write)
		return EXT2_ET_RO_FILSYS;

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
	ch->manager = &hfc_ext2_io_manager;
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

static errcode_t io_write_at(io_channel ch, uint64_t off, uint64_t len, const void *data)
{
	Ext2Io *io = ch->private_data;
	if (!io->write)
		return EXT2_ET_RO_FILSYS;
	if (off > io->size || len > io->size - off)
		return EXT2_ET_SHORT_WRITE; /* never past the image */
	int r = io->write(io->ctx, data, (size_t)len, off);
	if (r < 0) {
		if (!io->fail) {
			io->fail = (errcode_t)-r;
			io->fail_off = off;
			io->fail_len = len;
		}
		return (errcode_t)-r;
	}
	return 0;
}

static errcode_t io_write_blk64(io_channel ch, unsigned long long block, int count,
				const void *data)
{
	EXT2_CHECK_MAGIC(ch, EXT2_ET_MAGIC_IO_CHANNEL);
	uint64_t bs = (uint64_t)ch->block_size;
	uint64_t len = count < 0 ? (uint64_t)(-(int64_t)count) : (uint64_t)count * bs;
	if (block > UINT64_MAX / bs)
		return EXT2_ET_SHORT_WRITE;
	return io_write_at(ch, block * bs, len, data);
}

static errcode_t io_write_blk(io_channel ch, unsigned long block, int count, const void *data)
{
	return io_write_blk64(ch, block, count, data);
}

static errcode_t io_write_byte(io_channel ch, unsigned long offset, int count, const void *data)
{
	EXT2_CHECK_MAGIC(ch, EXT2_ET_MAGIC_IO_CHANNEL);
	if (count < 0)
		return EXT2_ET_INVALID_ARGUMENT;
	return io_write_at(ch, offset, (uint64_t)count, data);
}

/* Neither is offered: libext2fs then writes zeros itself, through write_blk64. */
static errcode_t io_discard(io_channel ch _unused_, unsigned long long block _unused_,
			    unsigned long long count _unused_)
{
	return EXT2_ET_UNIMPLEMENTED;
}

static errcode_t io_flush(io_channel ch)
{
	EXT2_CHECK_MAGIC(ch, EXT2_ET_MAGIC_IO_CHANNEL);
	return 0; /* writes go straight to the callback: nothing is held back */
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

struct struct_io_manager hfc_ext2_io_manager = {
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
	hfc_ext2_pending_add(&p, &h->io);
	/* Without EXT2_FLAG_RW libext2fs asks for no write access (io_open refuses it anyway). */
	errcode_t e = ext2fs_open2(p.name, NULL, EXT2_FLAG_64BITS, 0, 0, &hfc_ext2_io_manager, &h->fs);
	hfc_ext2_pending_remove(&p);

	int r = 0;
	if (e) {
		h->fs = NULL; /* ext2fs_open2() freed it */
		if (e == EXT2_ET_BAD_MAGIC && !h->io.fail)
			r = hfc_err_set(err, -EINVAL, "%s: not an ext2 file system", display);
		else if (h->io.fail)
			r = hfc_ext2_fail(h, err, e, "opening the ext2 file system");
		else
			r = hfc_err_set(err, hfc_ext2_errno(e),
					"%s: cannot open the ext2 file system: %s", display,
					hfc_ext2_errtext(e));
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
