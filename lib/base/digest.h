/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Block hashing (OpenSSL EVP) and strict lowercase hex. */

#include "base/util.h"

#define HFC_HASH_MAX 32

typedef enum HfcHashAlgo {
	HFC_HASH_MD5,
	HFC_HASH_SHA256,
} HfcHashAlgo;

/* Returns the digest length in bytes (16 or 32). */
size_t hfc_hash_len(HfcHashAlgo algo);

/* Returns "md5" or "sha256". */
const char *hfc_hash_name(HfcHashAlgo algo);

/* Parses "md5" or "sha256"; returns 0 or -EINVAL. */
int hfc_hash_from_name(const char *name, HfcHashAlgo *ret);

/* Hashes len bytes into out (hfc_hash_len(algo) bytes); returns 0 or -EIO. Thread-safe. */
int hfc_digest(HfcHashAlgo algo, const void *data, size_t len, uint8_t *out);

/* An incremental digest, for data that arrives in pieces (a file read from an archive). */
typedef struct HfcDigestCtx HfcDigestCtx;

/* Starts a digest of algo; returns 0 or -ENOMEM/-EIO. */
int hfc_digest_begin(HfcHashAlgo algo, HfcDigestCtx **ret);

/* Adds len bytes; returns 0 or -EIO. */
int hfc_digest_update(HfcDigestCtx *c, const void *data, size_t len);

/* Writes the digest (hfc_digest_begin's algo) into out and frees c; returns 0 or -EIO. */
int hfc_digest_end(HfcDigestCtx *c, uint8_t *out);

/* Frees an unfinished digest; NULL is fine. */
void hfc_digest_free(HfcDigestCtx *c);

/* Writes 2*len lowercase hex digits and a NUL to out. */
void hfc_hex_encode(const uint8_t *in, size_t len, char *out);

/*
 * Decodes exactly 2*len lowercase hex digits from in (no NUL needed); returns 0, or -EINVAL on
 * any other character (uppercase included: names are canonical).
 */
int hfc_hex_decode(const char *in, size_t len, uint8_t *out);
