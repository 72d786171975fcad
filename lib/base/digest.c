/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

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
