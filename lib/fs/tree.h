/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A tree source: the entries of a root file system, in sorted path order, each with its
 * metadata and a way to read its data. An archive (fs/tar-tree.c, libarchive) or a directory
 * (fs/dir-tree.c) fills one; the ext2 writer (fs/ext2-write.c) consumes it. So the writer is
 * written once, whatever the input. The rules (docs/INPUTS.md): paths are relative and
 * normalized ("usr/bin/ls"; "" is the root), no "..", no absolute names, components of at most
 * 255 bytes; missing parent directories are made (0755, root); the last entry of a path wins;
 * a hard link's group is led by its smallest path, which carries the data.
 */

#include "base/digest.h"
#include "base/util.h"

#include <sys/types.h>

typedef enum HfcTreeType {
	HFC_TREE_REG,
	HFC_TREE_DIR,
	HFC_TREE_LNK,
	HFC_TREE_CHR,
	HFC_TREE_BLK,
	HFC_TREE_FIFO,
	HFC_TREE_SOCK,
} HfcTreeType;

#define HFC_TREE_NAME_MAX 255
#define HFC_TREE_NOLINK SIZE_MAX

typedef struct HfcTreeXattr {
	char *name;  /* "user.x", "security.capability", "system.posix_acl_access", ... */
	void *value; /* ACLs in the Linux xattr form (posix_acl_xattr, version 2) */
	size_t len;
} HfcTreeXattr;

/* A stretch of a file's data: bytes [off, off+len) of the file; src is the source's own.
 * (off and len first: hfc_ranges_find.) */
typedef struct HfcTreeExtent {
	uint64_t off, len, src;
} HfcTreeExtent;

typedef struct HfcTreeEntry {
	char *path;
	HfcTreeType type;
	uint32_t perm; /* the 07777 bits */
	uint32_t uid, gid;
	int64_t atime, mtime, ctime;
	uint32_t atime_ns, mtime_ns, ctime_ns;
	uint64_t size;          /* a regular file's length (holes included), a symlink's target's */
	uint32_t dev_major, dev_minor;
	char *target;           /* a symlink's target */
	size_t link;            /* HFC_TREE_NOLINK, or the index of the entry this is a hard link of */
	char *link_path;        /* (while reading) the path a hard link names */
	uint32_t nlink;         /* the number of paths of this inode (1 + its hard links) */
	HfcTreeXattr *xattrs;   /* sorted by name */
	size_t nxattrs;
	HfcTreeExtent *extents; /* a regular file's data, ascending; no extent: all holes */
	size_t nextents;
	uint64_t src;           /* the source's own (the directory source: nothing) */
	uint64_t order;         /* (while reading) the input order; 0 for a parent made */
	uint8_t sha256[32];     /* hfc_tree_content_hash(), when hashed */
	bool hashed;            /* a source that hashed the data while reading it sets these */
	/* hfc_tree_hash_all: bit k is set when the data's 4 KiB block k (holes read as zeros)
	 * holds a byte that is not zero; NULL: not known */
	const uint64_t *nonzero;
} HfcTreeEntry;

#define HFC_TREE_ZBLOCK 4096

typedef struct HfcTree HfcTree;

/*
 * Reads len bytes at offset off of entry e's data, all inside one extent of it. Returns 0 or
 * -errno with err filled.
 */
typedef int (*HfcTreeReadFn)(HfcTree *t, const HfcTreeEntry *e, uint64_t off, void *buf,
			     size_t len, HfcErr *err);

struct HfcTree {
	HfcTreeEntry *e; /* sorted by path (bytes); e[0] is the root */
	size_t n, cap;
	HfcTreeReadFn read;
	bool read_shared; /* read is thread-safe and cheap to repeat (the archive's data) */
	void *ctx;
	void (*ctx_free)(void *ctx);
	uint64_t *nonzero; /* the entries' nonzero maps, in one allocation */
	char *display;   /* the input, for messages */
	uint64_t data_bytes; /* the sum of every regular file's extents */
	int64_t newest;  /* the newest mtime of any entry */
};

/* Makes an empty tree named display (for messages); returns 0 or -ENOMEM. */
int hfc_tree_new(const char *display, HfcTree **ret);

/* Frees a tree and everything its entries own; NULL is fine. */
void hfc_tree_free(HfcTree *t);

static inline void hfc_tree_freep(HfcTree **t)
{
	hfc_tree_free(*t);
}

/*
 * Normalizes an input name into out (a malloc'd relative path; "" for the root): drops leading
 * "./" and repeated or trailing slashes. Returns 0, or -EINVAL with err filled for an absolute
 * name, a ".." component or an empty one, -ENAMETOOLONG for a component over 255 bytes.
 */
int hfc_tree_norm(const char *name, const char *display, char **out, HfcErr *err);

/* Appends a zeroed entry (link = HFC_TREE_NOLINK) and returns it, or NULL when out of memory. */
HfcTreeEntry *hfc_tree_add(HfcTree *t);

/* Adds an extended attribute to e (a copy of name and value); returns 0 or -ENOMEM. */
int hfc_tree_xattr_add(HfcTreeEntry *e, const char *name, const void *value, size_t len);

/*
 * Finishes a tree that a source filled: sorts it, lets the last entry of a path win, makes
 * missing parents, resolves hard links (link_path) into groups led by their smallest path and
 * sorts each entry's xattrs. Returns 0, or -errno with err filled (a hard link to nothing, a
 * path below a non-directory).
 */
int hfc_tree_finish(HfcTree *t, HfcErr *err);

/* Returns the index of path in a finished tree, or -1. */
ssize_t hfc_tree_find(const HfcTree *t, const char *path);

/* Reads data of entry e (see HfcTreeReadFn). */
int hfc_tree_read(HfcTree *t, const HfcTreeEntry *e, uint64_t off, void *buf, size_t len,
		  HfcErr *err);

/*
 * Reads len bytes of e's data at file offset off, wherever its extents lie: holes and bytes
 * past its end read as zeros. Returns 0 or -errno with err filled.
 */
int hfc_tree_read_range(HfcTree *t, const HfcTreeEntry *e, uint64_t off, void *buf, size_t len,
			HfcErr *err);

/*
 * Hashes entry e's content into out[32]: the SHA-256 of its size (8 bytes, little-endian), the
 * bytes of its extents in order, then each extent's offset and length (8 + 8 bytes) — a form a
 * source can compute as the data streams by (and then sets e->hashed). Returns 0 or -errno
 * with err filled.
 */
int hfc_tree_content_hash(HfcTree *t, const HfcTreeEntry *e, uint8_t out[32], HfcErr *err);

/*
 * Hashes every regular file not hashed yet (e->hashed, e->sha256) with `jobs` threads, and
 * notes which of its 4 KiB blocks hold data (e->nonzero), so that a writer need not read them
 * again: for a source whose read is thread-safe and cheap to repeat (the archive). Returns 0 or
 * -errno with err filled.
 */
int hfc_tree_hash_all(HfcTree *t, unsigned jobs, HfcErr *err);

/* Adds the extent table of e to a content hash (the end of hfc_tree_content_hash's input). */
int hfc_tree_hash_extents(HfcDigestCtx *c, const HfcTreeEntry *e);

/* Returns "regular file", "directory", ... for messages. */
const char *hfc_tree_type_name(HfcTreeType type);

/*
 * Fills a tree from the directory at path: every entry below it (not following symlinks,
 * not crossing into other file systems), with owners, modes, times, xattrs and ACLs as the
 * kernel reports them, and sparse files' data extents (SEEK_DATA). Returns 0 or -errno.
 */
int hfc_tree_from_dir(const char *path, HfcTree **ret, HfcErr *err);

/* Reads up to len bytes of a stream into buf; returns the bytes read, 0 at its end, or -errno. */
typedef ssize_t (*HfcStreamFn)(void *ctx, void *buf, size_t len);

/*
 * Fills a tree from an archive that libarchive reads (tar with any compression, cpio, ISO 9660,
 * ...), from fd when read is NULL, else through read(ctx). File data is copied once into an
 * unlinked spool file in spool_dir (NULL: $TMPDIR or /var/tmp), so the entries can be sorted
 * while the input is read only once (a pipe is fine); sparse files keep their holes there.
 * Returns 0, or -errno with err filled: -EBADMSG for a damaged or truncated archive, -EINVAL
 * for a name or an entry type that cannot go into an image.
 */
int hfc_tree_from_archive(int fd, HfcStreamFn read, void *ctx, const char *display,
			  const char *spool_dir, HfcTree **ret, HfcErr *err);
