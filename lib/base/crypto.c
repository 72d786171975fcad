/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OpenSSL adapter: block and checksum digests (digest.h) and Ed25519 keys and signatures
 * (sign.h). No OpenSSL type or error leaves this file.
 */
#include "base/digest.h"
#include "base/fileio.h"
#include "base/sign.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static EVP_MD *md_md5, *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

/* Fetch the algorithms once: implicit fetches on every EVP_Digest call cost a lock each. */
static void md_init(void)
{
	md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

size_t hfc_hash_len(HfcHashAlgo algo)
{
	return algo == HFC_HASH_SHA256 ? 32 : 16;
}

const char *hfc_hash_name(HfcHashAlgo algo)
{
	return algo == HFC_HASH_SHA256 ? "sha256" : "md5";
}

int hfc_hash_from_name(const char *name, HfcHashAlgo *ret)
{
	if (strcmp(name, "md5") == 0)
		*ret = HFC_HASH_MD5;
	else if (strcmp(name, "sha256") == 0)
		*ret = HFC_HASH_SHA256;
	else
		return -EINVAL;
	return 0;
}

int hfc_digest(HfcHashAlgo algo, const void *data, size_t len, uint8_t *out)
{
	pthread_once(&md_once, md_init);
	const EVP_MD *md = algo == HFC_HASH_SHA256 ? md_sha256 : md_md5;
	if (!md)
		return -EIO;
	unsigned outlen = 0;
	if (EVP_Digest(data, len, out, &outlen, md, NULL) != 1 || outlen != hfc_hash_len(algo))
		return -EIO;
	return 0;
}

int hfc_digest_begin(HfcHashAlgo algo, HfcDigestCtx **ret)
{
	pthread_once(&md_once, md_init);
	const EVP_MD *md = algo == HFC_HASH_SHA256 ? md_sha256 : md_md5;
	if (!md)
		return -EIO;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c)
		return -ENOMEM;
	if (EVP_DigestInit_ex(c, md, NULL) != 1) {
		EVP_MD_CTX_free(c);
		return -EIO;
	}
	*ret = (HfcDigestCtx *)c;
	return 0;
}

int hfc_digest_update(HfcDigestCtx *c, const void *data, size_t len)
{
	return EVP_DigestUpdate((EVP_MD_CTX *)c, data, len) == 1 ? 0 : -EIO;
}

int hfc_digest_end(HfcDigestCtx *c, uint8_t *out)
{
	unsigned n = 0;
	int ok = EVP_DigestFinal_ex((EVP_MD_CTX *)c, out, &n) == 1;
	EVP_MD_CTX_free((EVP_MD_CTX *)c);
	return ok ? 0 : -EIO;
}

void hfc_digest_free(HfcDigestCtx *c)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)c);
}

void hfc_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int hfc_hex_decode(const char *in, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ---- Ed25519 keys and signatures ---- */

struct HfcKey {
	EVP_PKEY *pkey;
	bool private;
	uint8_t pub[HFC_PUBKEY_LEN];
};

void hfc_key_free(HfcKey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey); /* OpenSSL clears private key material as it frees it */
	free(k);
}

/* Wraps pkey (owned) in an HfcKey after checking it is Ed25519. */
static int key_wrap(EVP_PKEY *pkey, bool private, HfcKey **ret)
{
	size_t n = HFC_PUBKEY_LEN;
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		return -EINVAL;
	}
	HfcKey *k = calloc(1, sizeof(*k));
	if (!k) {
		EVP_PKEY_free(pkey);
		return -ENOMEM;
	}
	k->pkey = pkey;
	k->private = private;
	if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &n) != 1 || n != HFC_PUBKEY_LEN) {
		hfc_key_free(k);
		return -EINVAL;
	}
	*ret = k;
	return 0;
}

int hfc_key_generate(HfcKey **ret)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	int ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &pkey) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		EVP_PKEY_free(pkey);
		return -EIO;
	}
	return key_wrap(pkey, true, ret);
}

/* PEM's callback for an encrypted private key: we take none (no passphrase prompts). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

int hfc_key_parse(const char *buf, size_t len, bool private, const char *display, HfcKey **ret,
		  HfcErr *err)
{
	if (len > HFC_KEY_FILE_MAX || len > INT32_MAX)
		return hfc_err_set(err, -EINVAL, "%s: not a key file (too large)", display);
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	EVP_PKEY *pkey = private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
				 : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!pkey) {
		/* Say what the file is when it is the other kind of key. */
		bool other = memmem(buf, len, private ? "PUBLIC KEY-----" : "PRIVATE KEY-----",
				    private ? 15 : 16) != NULL;
		return hfc_err_set(err, -EINVAL, "%s: %s", display,
				   other ? (private ? "a public key, not the private key to sign with"
						    : "a private key: give the public key (KEY.pub)")
					 : private ? "not a PEM private key (PKCS#8)"
						   : "not a PEM public key");
	}
	int r = key_wrap(pkey, private, ret);
	if (r == -EINVAL)
		return hfc_err_set(err, r, "%s: not an Ed25519 key", display);
	return r < 0 ? hfc_err_set(err, r, "out of memory") : 0;
}

int hfc_key_load(const char *path, bool private, HfcKey **ret, HfcErr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = hfc_read_input(path, HFC_KEY_FILE_MAX, &buf, &len);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", path,
				   r == -EFBIG ? "not a key file (too large)" : strerror(-r));
	r = hfc_key_parse(buf, len, private, path, ret, err);
	if (len)
		OPENSSL_cleanse(buf, len); /* a private key's PEM text */
	return r;
}

/* Writes k as PEM (its private or its public key) to a new file of mode at path: whole, never
 * replacing a file. */
static int pem_save(const char *path, mode_t mode, const HfcKey *k, bool private, HfcErr *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	int ok = private ? PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL)
			 : PEM_write_bio_PUBKEY(bio, k->pkey);
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	int r = ok == 1 && n > 0 ? 0 : -EIO;
	if (r == 0) {
		_cleanup_free_ char *copy = strdup(path);
		char *slash = copy ? strrchr(copy, '/') : NULL;
		const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
		const char *name = slash ? slash + 1 : path;
		if (slash)
			*slash = 0;
		_cleanup_close_ int dfd = copy ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		r = !copy ? -ENOMEM : dfd < 0 ? negative_errno() : !*name ? -EISDIR : 0;
		/* Created mode 0600 under a temporary name, then linked in without replacing. */
		if (r == 0)
			r = hfc_install_at(dfd, name, data, (size_t)n, mode, HFC_INSTALL_NOREPLACE);
	}
	if (n > 0)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free(bio);
	ERR_clear_error();
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", path,
				   r == -EEXIST ? "exists: a key is never overwritten" : strerror(-r));
	return 0;
}

int hfc_key_save(const HfcKey *k, const char *path, HfcErr *err)
{
	if (!k->private)
		return hfc_err_set(err, -EINVAL, "%s: not a private key", path);
	size_t n = strlen(path);
	_cleanup_free_ char *pub = malloc(n + 5);
	if (!pub)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	memcpy(pub, path, n);
	memcpy(pub + n, ".pub", 5);
	/* The public key first: a private key never exists without its public half. */
	int r = pem_save(pub, 0644, k, false, err);
	if (r < 0)
		return r;
	r = pem_save(path, 0600, k, true, err);
	if (r < 0)
		(void)unlink(pub);
	return r;
}

void hfc_key_public(const HfcKey *k, uint8_t out[HFC_PUBKEY_LEN])
{
	memcpy(out, k->pub, HFC_PUBKEY_LEN);
}

void hfc_key_id(const HfcKey *k, uint8_t out[HFC_KEY_ID_LEN])
{
	uint8_t h[32];
	if (hfc_digest(HFC_HASH_SHA256, k->pub, HFC_PUBKEY_LEN, h) < 0)
		memset(h, 0, sizeof(h));
	memcpy(out, h, HFC_KEY_ID_LEN);
}

bool hfc_key_is_private(const HfcKey *k)
{
	return k->private;
}

int hfc_sign(const HfcKey *k, const void *msg, size_t len, uint8_t sig[HFC_SIG_LEN])
{
	if (!k->private)
		return -EINVAL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = HFC_SIG_LEN;
	/* Ed25519 signs the message itself (no separate digest): EVP_DigestSign, one shot. */
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
		 EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == HFC_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : -EIO;
}

int hfc_verify(const HfcKey *k, const void *msg, size_t len, const uint8_t sig[HFC_SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	int r = -EIO;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1)
		r = EVP_DigestVerify(ctx, sig, HFC_SIG_LEN, msg, len) == 1 ? 0 : -EBADMSG;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void hfc_sig_b64_encode(const uint8_t sig[HFC_SIG_LEN], char out[HFC_SIG_B64_LEN + 1])
{
	size_t o = 0;
	for (size_t i = 0; i < HFC_SIG_LEN; i += 3) {
		uint32_t v = (uint32_t)sig[i] << 16;
		if (i + 1 < HFC_SIG_LEN)
			v |= (uint32_t)sig[i + 1] << 8;
		if (i + 2 < HFC_SIG_LEN)
			v |= sig[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < HFC_SIG_LEN ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < HFC_SIG_LEN ? b64[v & 63] : '=';
	}
	out[o] = 0;
}

int hfc_sig_b64_decode(const char *in, uint8_t sig[HFC_SIG_LEN])
{
	uint8_t tmp[HFC_SIG_LEN + 2];
	size_t o = 0;
	for (size_t i = 0; i < HFC_SIG_B64_LEN; i += 4) {
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			const char *p = in[i + j] ? strchr(b64, in[i + j]) : NULL;
			bool pad = i + 4 == HFC_SIG_B64_LEN && j >= 2 && in[i + j] == '=';
			if (!p && !pad)
				return -EINVAL;
			v = v << 6 | (pad ? 0 : (uint32_t)(p - b64));
		}
		tmp[o++] = (uint8_t)(v >> 16);
		tmp[o++] = (uint8_t)(v >> 8);
		tmp[o++] = (uint8_t)v;
	}
	/* Canonical only: exactly "==" at the end, and the bits it leaves unused zero. */
	char back[HFC_SIG_B64_LEN + 1];
	hfc_sig_b64_encode(tmp, back);
	if (memcmp(back, in, HFC_SIG_B64_LEN) != 0)
		return -EINVAL;
	memcpy(sig, tmp, HFC_SIG_LEN);
	return 0;
}
