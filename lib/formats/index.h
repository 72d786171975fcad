/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The index: a strict text format, one line per block (docs/FORMAT.md is normative). The parser
 * treats its input as hostile: every field is checked before use and errors name file:line.
 */

#include "base/clock.h"
#include "base/digest.h"
#include "base/sign.h"
#include "base/util.h"

#include <time.h>

#define HFC_INDEX_MAGIC "hfc-index 1"
#define HFC_BLOCK_SIZE_MIN 4096u
#define HFC_BLOCK_SIZE_MAX (64u << 20)
#define HFC_BLOCK_SIZE_DEFAULT 262144u
#define HFC_INDEX_MAX_BLOCKS (1u << 24)
#define HFC_IMAGE_SIZE_MAX (UINT64_C(1) << 50)
#define HFC_VERSION_MAX 99999999u
#define HFC_LABEL_MAX 256
/* The most bytes of an index's header (magic line to blocks line); a valid one is far less. */
#define HFC_INDEX_HEADER_MAX ((size_t)8192)
/* The largest index file a parser will read: header, the longest block lines, trailer. */
#define HFC_INDEX_MAX_BYTES (HFC_INDEX_HEADER_MAX + (size_t)HFC_INDEX_MAX_BLOCKS * 76)

typedef struct HfcIndexEntry {
	uint8_t hash[HFC_HASH_MAX];
	uint32_t stored; /* bytes of the block file; 0 for an all-zero block (no file) */
} HfcIndexEntry;

/* The signature line of a signed index (docs/FORMAT.md §4.7). */
typedef struct HfcIndexSig {
	uint8_t key_id[HFC_KEY_ID_LEN];
	int64_t expires; /* seconds since the epoch, UTC */
	uint8_t sig[HFC_SIG_LEN];
} HfcIndexSig;

typedef struct HfcIndex {
	uint32_t version;
	uint32_t parent; /* 0: none */
	uint8_t parent_sha256[32];
	int64_t created; /* seconds since the epoch, UTC */
	char label[HFC_LABEL_MAX + 1];
	uint64_t image_size;
	uint32_t block_size;
	HfcHashAlgo hash;
	uint64_t nblocks;
	HfcIndexEntry *entries;
	uint8_t end_sha256[32]; /* set by parse and format */
	bool has_sig;           /* a signature line follows the end line */
	HfcIndexSig sig;
} HfcIndex;

/* Returns true when the block size is allowed: a multiple of 512 from 4 KiB to 64 MiB. */
bool hfc_block_size_valid(uint64_t bs);

/* Returns true when s can be a label: 1 to HFC_LABEL_MAX printable UTF-8 bytes. */
bool hfc_label_valid(const char *s);

/* Allocates an index for image_size bytes in blocks of block_size (all blocks zero); -errno. */
int hfc_index_new(uint64_t image_size, uint32_t block_size, HfcHashAlgo hash, HfcIndex **ret);

/* Frees an index; NULL is fine. */
void hfc_index_free(HfcIndex *idx);

static inline void hfc_index_freep(HfcIndex **idx)
{
	hfc_index_free(*idx);
}

/* Returns the uncompressed length of block i (the last block may be short). */
static inline size_t hfc_index_block_len(const HfcIndex *idx, uint64_t i)
{
	uint64_t off = i * idx->block_size;
	return (size_t)MIN((uint64_t)idx->block_size, idx->image_size - off);
}

/*
 * Parses an index from buf (len bytes; need not be NUL-terminated). fname names the source in
 * error messages ("fname:line: what"). Returns 0, or -EBADMSG with err filled, or -ENOMEM.
 */
int hfc_index_parse(const char *buf, size_t len, const char *fname, HfcIndex **ret, HfcErr *err);

/*
 * Reads the header of an index from its first len bytes (a download under way), with the checks
 * of hfc_index_parse, into *ret (no entries). Returns 1 with *ret_max the most bytes the whole
 * file can have with that header (the header, `blocks` times the longest block line its hash
 * and block size allow, the end line and a signature line); 0 when the header has not come
 * whole yet (it is complete within HFC_INDEX_HEADER_MAX bytes); -EBADMSG when these bytes
 * cannot begin an index (hfc_index_parse on them says why).
 */
int hfc_index_peek_header(const char *buf, size_t len, HfcIndex *ret, size_t *ret_max);

/* Reads and parses an index file (relative to dirfd); -errno with err filled on failure. */
int hfc_index_load_at(int dirfd, const char *path, const char *display, HfcIndex **ret,
		      HfcErr *err);

/*
 * Serialises idx into a new buffer (header, block lines, end line; the signature line when set),
 * and stores the end hash in idx. Returns 0 or -errno.
 */
int hfc_index_format(HfcIndex *idx, char **ret_buf, size_t *ret_len);

/* ---- signatures (signature.c; docs/FORMAT.md §4.7) ---- */

/* "signature ed25519 " + 16 + " " + 20 + " " + 88 */
#define HFC_SIG_LINE_LEN 144

/* Writes idx's signature line (without its LF) and a NUL; idx->has_sig must be set. */
void hfc_index_sig_line(const HfcIndex *idx, char out[HFC_SIG_LINE_LEN + 1]);

/*
 * Signs idx with a private key, valid until expires: sets idx->sig (replacing any signature)
 * and writes the whole signed file into a new buffer. Returns 0 or -errno.
 */
int hfc_index_sign(HfcIndex *idx, const HfcKey *key, int64_t expires, char **ret_buf,
		   size_t *ret_len);

/*
 * Checks that idx is signed by one of the nkeys trusted keys and that the signature holds and
 * has not expired at `now`. buf/len is the file idx was parsed from (NULL: the canonical bytes
 * are made again). display names the index in messages. Returns 0, or with err filled:
 * -ENOKEY (not signed), -EKEYREJECTED (by a key not trusted), -EBADMSG (a bad signature) or
 * -EKEYEXPIRED; or -ENOMEM.
 */
int hfc_index_verify(const HfcIndex *idx, const char *buf, size_t len, HfcKey *const *keys,
		     size_t nkeys, int64_t now, const char *display, HfcErr *err);
