/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The site: block files under blocks/ab/<name>, every version under indexes/NNNNNN.idx and the
 * current one as index.idx. Writes never expose a partial file under its final name, and an
 * index is installed only after every block it names is durable.
 */

#include "base/codec.h"
#include "formats/index.h"
#include "site/layout.h"
#include "base/util.h"

#include <sys/stat.h>

typedef struct HfcSite HfcSite;
typedef struct HfcBlockTxn HfcBlockTxn;

/*
 * Opens the site directory at path; with create, makes it (and its subdirectories) when
 * missing. Returns 0 or -errno with err filled.
 */
int hfc_site_open(const char *path, bool create, HfcSite **ret, HfcErr *err);

/*
 * Removes what hfc_site_open(create) made when the site did not exist before: its empty
 * directories, the lock file, the site directory. For a run that failed on a new site.
 */
void hfc_site_remove_new(HfcSite *s);

/* Closes the site (and drops its lock); NULL is fine. */
void hfc_site_free(HfcSite *s);

static inline void hfc_site_freep(HfcSite **s)
{
	hfc_site_free(*s);
}

/* Returns the directory fd of the site (owned by the site). */
int hfc_site_fd(const HfcSite *s);

/* Returns the path the site was opened with. */
const char *hfc_site_path(const HfcSite *s);

/*
 * Takes the site's lock file (.lock): exclusive for writers, shared for readers that must not
 * see a concurrent prune. Never waits: returns -EWOULDBLOCK when another process holds it.
 */
int hfc_site_lock(HfcSite *s, bool exclusive, HfcErr *err);

/* Lists the published versions (indexes/), ascending; returns 0 or -errno. */
int hfc_site_versions(HfcSite *s, uint32_t **ret, size_t *ret_n);

/* Sets *ret to the newest published version, 0 for an empty site; returns 0 or -errno. */
int hfc_site_latest(HfcSite *s, uint32_t *ret);

/* Loads version v (0: the current index.idx) and checks it is what its name says; -errno. */
int hfc_site_load_index(HfcSite *s, uint32_t v, HfcIndex **ret, HfcErr *err);

/* Looks a block file up: returns 0 with its size, -ENOENT when missing, or -errno. */
int hfc_site_block_stat(HfcSite *s, HfcHashAlgo algo, const uint8_t *hash, uint64_t *ret_size);

/*
 * Reads a stored block file of exactly `stored` bytes into buf; returns 0, -ENOENT, -EBADMSG
 * when its size differs, or -errno.
 */
int hfc_site_block_read(HfcSite *s, HfcHashAlgo algo, const uint8_t *hash, uint32_t stored,
			void *buf);

/*
 * Decodes a stored block and checks it against its name: decompresses exactly expect bytes into
 * out and hashes them. Returns 0, or -EBADMSG when the block is not what its name says.
 */
int hfc_block_decode_verified(HfcCodec *c, HfcHashAlgo algo, const uint8_t *hash,
			      const void *stored, size_t stored_len, void *out, size_t expect);

/*
 * Makes every later publish sign what it publishes with key (kept by the caller; a private
 * key), valid until expires. NULL: publish unsigned.
 */
void hfc_site_set_signer(HfcSite *s, const HfcKey *key, int64_t expires);

/*
 * Writes idx (a version the site has, with another signature line) as indexes/NNNNNN.idx and,
 * when it is the current version, index.idx, each atomically; refused (-EBADMSG) unless every
 * byte its end line covers is the site's. Needs the exclusive lock. Returns 0 or -errno with err.
 */
int hfc_site_put_signed(HfcSite *s, HfcIndex *idx, HfcErr *err);

/*
 * Signs version v again (key, until expires): rewrites indexes/NNNNNN.idx and, when v is the
 * current version, index.idx, each atomically; nothing above the signature line changes, so
 * neither the version, its blocks nor its children's parent links do. Needs the exclusive
 * lock. Sets *ret (may be NULL) to the signed index. Returns 0 or -errno with err filled.
 */
int hfc_site_resign(HfcSite *s, uint32_t v, const HfcKey *key, int64_t expires, HfcIndex **ret,
		    HfcErr *err);

/*
 * Publishes idx (signed when a signer is set; a signature over another parent line than the
 * one it gets here is dropped) as indexes/NNNNNN.idx (never replacing an existing version) and then as
 * index.idx, each atomically and durably. Sets idx's parent from the site. Returns 0 or -errno.
 */
int hfc_site_publish(HfcSite *s, HfcIndex *idx, HfcErr *err);

/*
 * Called for every entry of blocks/00 … blocks/ff: dir is the fan-out directory's fd and
 * subdir its relative path ("blocks/ab"), name the entry; hash is set for a regular file named
 * as a block of the scan's hash algorithm (the right fan-out), NULL for anything else (a stray
 * or temporary file). Returns >= 0 to go on, or a -errno that ends the scan.
 */
typedef int (*HfcBlockScanFn)(void *userdata, int dir, const char *subdir, const char *name,
			      const uint8_t *hash, const struct stat *st);

/*
 * Walks the block files under blocks/ of the directory dirfd (a site, or a client's cache: the
 * same layout), fan-out directories in order, without following links. display names dirfd in
 * messages. Returns 0, fn's negative result, or -errno with err filled.
 */
int hfc_blocks_scan(int dirfd, const char *display, HfcHashAlgo algo, HfcBlockScanFn fn,
		    void *userdata, HfcErr *err);

/* Removes temporary files left by interrupted runs (call with the exclusive lock held). */
int hfc_site_clean_tmp(HfcSite *s);

/*
 * A transaction of new block files. Blocks are written under temporary names (from any thread),
 * made durable together with one syncfs() and then renamed: a crash leaves only temporary
 * files, which hfc_site_clean_tmp() removes. Abort removes every file the transaction made.
 */
int hfc_block_txn_new(HfcSite *s, HfcBlockTxn **ret);

/* Writes one block file's stored bytes under a temporary name; thread-safe; -errno. */
int hfc_block_txn_add(HfcBlockTxn *t, HfcHashAlgo algo, const uint8_t *hash, const void *data,
		      size_t len);

/* Returns the number of blocks added but not yet flushed. */
size_t hfc_block_txn_pending(HfcBlockTxn *t);

/* Makes the pending blocks durable and renames them to their final names; -errno. */
int hfc_block_txn_flush(HfcBlockTxn *t);

/* Flushes, then fsyncs every directory the transaction touched; -errno. */
int hfc_block_txn_commit(HfcBlockTxn *t);

/*
 * Removes every file the transaction made (temporary or renamed), and the fan-out directories
 * it made when they are empty again, and frees it; NULL is fine.
 */
void hfc_block_txn_abort(HfcBlockTxn *t);

/* Frees a committed transaction; NULL is fine. */
void hfc_block_txn_free(HfcBlockTxn *t);

/*
 * Removes the block files named by hashes[0..n) (n names of hfc_hash_len(algo) bytes each) and
 * fsyncs the directories they were in; missing files are skipped. Only with the exclusive lock
 * held (else -ENOLCK), and only for blocks that no version kept on the site names: the caller
 * decides that. Sets *ret_removed (may be NULL). Returns 0 or -errno.
 */
int hfc_site_blocks_remove(HfcSite *s, HfcHashAlgo algo, const uint8_t *hashes, size_t n,
			   uint64_t *ret_removed);

/*
 * Removes indexes/NNNNNN.idx of version v and fsyncs indexes/. Only with the exclusive lock held
 * (else -ENOLCK); the newest version is never removed (-EBUSY). Returns 0 or -errno.
 */
int hfc_site_version_remove(HfcSite *s, uint32_t v);

/*
 * Like hfc_site_publish, but keeps idx's parent line as it is: for a site that has no version
 * yet (a new mirror seeded with a full bundle of a version whose parent it will never hold, as
 * after a prune). Returns 0, -EEXIST when the site has versions, or -errno.
 */
int hfc_site_publish_as_is(HfcSite *s, HfcIndex *idx, HfcErr *err);
