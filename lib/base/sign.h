/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Ed25519 keys and signatures (OpenSSL EVP, in base/crypto.c with the digests). Key files are
 * the standard PEM forms other tools read and write: a private key as PKCS#8 ("BEGIN PRIVATE
 * KEY", what `openssl genpkey -algorithm ed25519` writes), a public key as SubjectPublicKeyInfo
 * ("BEGIN PUBLIC KEY", `openssl pkey -pubout`). A key's id is the first 8 bytes of the SHA-256
 * of its raw 32-byte public key (docs/FORMAT.md §4.7).
 */

#include "base/util.h"

#define HFC_KEY_ID_LEN 8
#define HFC_PUBKEY_LEN 32
#define HFC_SIG_LEN 64
/* Base64 of a signature: 86 digits and "==". */
#define HFC_SIG_B64_LEN 88
/* The most bytes a key file may have (a PEM Ed25519 key is about 120). */
#define HFC_KEY_FILE_MAX 16384

typedef struct HfcKey HfcKey;

/* Makes a new private key (which also holds its public key); returns 0 or -errno. */
int hfc_key_generate(HfcKey **ret);

/*
 * Parses a PEM key from buf (len bytes): a private key (PKCS#8) when private, else a public key
 * (SubjectPublicKeyInfo; a private key file is refused, so a secret is never handed out as a
 * trust anchor by mistake). Only Ed25519 keys are accepted. display names the input in
 * messages. Returns 0, -EINVAL (err filled: not PEM, not Ed25519, ...) or -ENOMEM.
 */
int hfc_key_parse(const char *buf, size_t len, bool private, const char *display, HfcKey **ret,
		  HfcErr *err);

/* Reads and parses a key file (see hfc_key_parse); -errno with err filled. */
int hfc_key_load(const char *path, bool private, HfcKey **ret, HfcErr *err);

/*
 * Writes k's private key to path (PKCS#8 PEM, created O_EXCL with mode 0600: an existing file
 * is never replaced) and its public key to path + ".pub" (mode 0644), each whole or not at all.
 * Returns 0, -EEXIST, or -errno with err filled.
 */
int hfc_key_save(const HfcKey *k, const char *path, HfcErr *err);

/* Frees a key (wiping a private one); NULL is fine. */
void hfc_key_free(HfcKey *k);

static inline void hfc_key_freep(HfcKey **k)
{
	hfc_key_free(*k);
}

/* Writes the raw public key. */
void hfc_key_public(const HfcKey *k, uint8_t out[HFC_PUBKEY_LEN]);

/* Writes the key id: the first 8 bytes of SHA-256 of the raw public key. */
void hfc_key_id(const HfcKey *k, uint8_t out[HFC_KEY_ID_LEN]);

/* True when k holds a private key (can sign). */
bool hfc_key_is_private(const HfcKey *k);

/* Signs msg with a private key into sig; returns 0, -EINVAL (a public key) or -EIO. */
int hfc_sign(const HfcKey *k, const void *msg, size_t len, uint8_t sig[HFC_SIG_LEN]);

/* Checks sig over msg with k's public key; returns 0, -EBADMSG (a bad signature) or -EIO. */
int hfc_verify(const HfcKey *k, const void *msg, size_t len, const uint8_t sig[HFC_SIG_LEN]);

/* Writes the base64 of a signature (HFC_SIG_B64_LEN characters and a NUL). */
void hfc_sig_b64_encode(const uint8_t sig[HFC_SIG_LEN], char out[HFC_SIG_B64_LEN + 1]);

/*
 * Decodes exactly HFC_SIG_B64_LEN characters of canonical base64 (the only spelling
 * hfc_sig_b64_encode makes: "==" at the end, no other padding, unused bits zero). Returns 0 or
 * -EINVAL.
 */
int hfc_sig_b64_decode(const char *in, uint8_t sig[HFC_SIG_LEN]);
