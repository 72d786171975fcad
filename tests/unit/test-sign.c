/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for base/sign.h (in base/crypto.c): Ed25519 key files in PEM, key ids, signatures
 * (RFC 8032's first test vector), forgeries refused, canonical base64.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/digest.h"
#include "base/sign.h"
#include "formats/index.h"
#include "helpers.h"

/* RFC 8032 §7.1, TEST 1: the secret key as PKCS#8 PEM, its public key as SPKI PEM. */
static const char rfc_priv[] = "-----BEGIN PRIVATE KEY-----\n"
			       "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
			       "-----END PRIVATE KEY-----\n";
static const char rfc_pub[] = "-----BEGIN PUBLIC KEY-----\n"
			      "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
			      "-----END PUBLIC KEY-----\n";
static const char rfc_pub_hex[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/* The signature of the empty message. */
static const char rfc_sig_hex[] =
	"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

static HfcKey *parse(const char *pem, bool private)
{
	HfcKey *k = NULL;
	HfcErr err = { "" };
	int r = hfc_key_parse(pem, strlen(pem), private, "test", &k, &err);
	if (r < 0)
		fail_msg("hfc_key_parse: %d %s", r, err.msg);
	return k;
}

static void test_rfc8032(void **state)
{
	(void)state;
	HfcKey *priv = parse(rfc_priv, true), *pub = parse(rfc_pub, false);
	uint8_t raw[HFC_PUBKEY_LEN], want[HFC_PUBKEY_LEN], sig[HFC_SIG_LEN], wsig[HFC_SIG_LEN];
	assert_int_equal(hfc_hex_decode(rfc_pub_hex, sizeof(want), want), 0);
	assert_int_equal(hfc_hex_decode(rfc_sig_hex, sizeof(wsig), wsig), 0);
	hfc_key_public(priv, raw);
	assert_memory_equal(raw, want, sizeof(raw));
	hfc_key_public(pub, raw);
	assert_memory_equal(raw, want, sizeof(raw));
	assert_true(hfc_key_is_private(priv));
	assert_false(hfc_key_is_private(pub));
	/* Ed25519 is deterministic: the RFC's signature, byte for byte. */
	assert_int_equal(hfc_sign(priv, "", 0, sig), 0);
	assert_memory_equal(sig, wsig, sizeof(sig));
	assert_int_equal(hfc_verify(pub, "", 0, sig), 0);
	/* A public key cannot sign. */
	assert_int_equal(hfc_sign(pub, "", 0, sig), -EINVAL);
	/* The key id: the first 8 bytes of SHA-256 of the raw public key. */
	uint8_t id[HFC_KEY_ID_LEN], h[32];
	hfc_key_id(pub, id);
	assert_int_equal(hfc_digest(HFC_HASH_SHA256, want, sizeof(want), h), 0);
	assert_memory_equal(id, h, sizeof(id));
	hfc_key_free(priv);
	hfc_key_free(pub);
}

static void test_forgeries(void **state)
{
	(void)state;
	HfcKey *a = NULL, *b = NULL;
	assert_int_equal(hfc_key_generate(&a), 0);
	assert_int_equal(hfc_key_generate(&b), 0);
	static const char msg[] = "hfc-index 1\nversion 7\n";
	uint8_t sig[HFC_SIG_LEN], bad[HFC_SIG_LEN];
	assert_int_equal(hfc_sign(a, msg, sizeof(msg) - 1, sig), 0);
	assert_int_equal(hfc_verify(a, msg, sizeof(msg) - 1, sig), 0);
	/* Another key, another message, a flipped bit, all zeros: each refused. */
	assert_int_equal(hfc_verify(b, msg, sizeof(msg) - 1, sig), -EBADMSG);
	assert_int_equal(hfc_verify(a, msg, sizeof(msg) - 2, sig), -EBADMSG);
	for (size_t i = 0; i < HFC_SIG_LEN; i += 7) {
		memcpy(bad, sig, sizeof(bad));
		bad[i] ^= 0x01;
		assert_int_equal(hfc_verify(a, msg, sizeof(msg) - 1, bad), -EBADMSG);
	}
	memset(bad, 0, sizeof(bad));
	assert_int_equal(hfc_verify(a, msg, sizeof(msg) - 1, bad), -EBADMSG);
	uint8_t ida[HFC_KEY_ID_LEN], idb[HFC_KEY_ID_LEN];
	hfc_key_id(a, ida);
	hfc_key_id(b, idb);
	assert_memory_not_equal(ida, idb, sizeof(ida));
	hfc_key_free(a);
	hfc_key_free(b);
}

static void test_key_files(void **state)
{
	(void)state;
	Scratch s;
	assert_int_equal(scratch_open(&s, "sign"), 0);
	char path[PATH_MAX + 8], pub[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/k", s.path);
	snprintf(pub, sizeof(pub), "%s/k.pub", s.path);
	HfcKey *k = NULL, *back = NULL, *bpub = NULL;
	HfcErr err = { "" };
	assert_int_equal(hfc_key_generate(&k), 0);
	assert_int_equal(hfc_key_save(k, path, &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0); /* the secret is the owner's alone */
	assert_int_equal(stat(pub, &st), 0);
	assert_int_equal(st.st_mode & 0777 & ~0644, 0);
	assert_int_equal(count_tmp_at(s.fd, "."), 0);
	/* Never overwritten: the old key stays, and the message says why. */
	HfcKey *k2 = NULL;
	assert_int_equal(hfc_key_generate(&k2), 0);
	assert_int_equal(hfc_key_save(k2, path, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "never overwritten"));
	hfc_key_free(k2);

	assert_int_equal(hfc_key_load(path, true, &back, &err), 0);
	assert_int_equal(hfc_key_load(pub, false, &bpub, &err), 0);
	uint8_t r1[HFC_PUBKEY_LEN], r2[HFC_PUBKEY_LEN], r3[HFC_PUBKEY_LEN];
	hfc_key_public(k, r1);
	hfc_key_public(back, r2);
	hfc_key_public(bpub, r3);
	assert_memory_equal(r1, r2, sizeof(r1));
	assert_memory_equal(r1, r3, sizeof(r1));
	uint8_t sig[HFC_SIG_LEN];
	assert_int_equal(hfc_sign(back, "x", 1, sig), 0);
	assert_int_equal(hfc_verify(bpub, "x", 1, sig), 0);

	/* The wrong kind of key file is named as such. */
	HfcKey *x = NULL;
	assert_int_equal(hfc_key_load(path, false, &x, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "a private key: give the public key"));
	assert_int_equal(hfc_key_load(pub, true, &x, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "a public key, not the private key"));
	assert_int_equal(hfc_key_load("/nonexistent/key", true, &x, &err), -ENOENT);
	assert_null(x);
	hfc_key_free(k);
	hfc_key_free(back);
	hfc_key_free(bpub);
	assert_int_equal(scratch_close(&s), 0);
}

static void test_bad_keys(void **state)
{
	(void)state;
	/* An RSA key is a PEM key, but not Ed25519. */
	static const char rsa_pub[] =
		"-----BEGIN PUBLIC KEY-----\n"
		"MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMmgkbmSyDxdl1iCDcL2Gu3DK9qjJJKu\n"
		"HiY6b8qrS9hhLM0h8aVoWYM3Dkdy4D1K+O9FBbqr5D15D4oxGCk8l9sCAwEAAQ==\n"
		"-----END PUBLIC KEY-----\n";
	static const char *const bad[] = {
		"", "-----BEGIN PUBLIC KEY-----\n", "not a key\n", rsa_pub,
		"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		HfcKey *k = NULL;
		HfcErr err = { "" };
		int r = hfc_key_parse(bad[i], strlen(bad[i]), false, "pk", &k, &err);
		if (r != -EINVAL || k || strncmp(err.msg, "pk: ", 4) != 0)
			fail_msg("case %zu: r=%d msg=%s", i, r, err.msg);
	}
	/* Far too large to be a key: refused before any parsing. */
	size_t n = HFC_KEY_FILE_MAX + 1;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 'A', n);
	HfcKey *k = NULL;
	HfcErr err = { "" };
	assert_int_equal(hfc_key_parse(big, n, false, "pk", &k, &err), -EINVAL);
	free(big);
}

static void test_b64(void **state)
{
	(void)state;
	uint8_t sig[HFC_SIG_LEN], back[HFC_SIG_LEN];
	char s[HFC_SIG_B64_LEN + 1];
	for (int round = 0; round < 50; round++) {
		fill_random(sig, sizeof(sig), (uint64_t)round + 1);
		hfc_sig_b64_encode(sig, s);
		assert_int_equal(strlen(s), HFC_SIG_B64_LEN);
		assert_string_equal(s + HFC_SIG_B64_LEN - 2, "==");
		assert_int_equal(hfc_sig_b64_decode(s, back), 0);
		assert_memory_equal(sig, back, sizeof(sig));
	}
	/* Non-canonical spellings of the same bits, and foreign characters, are refused. */
	hfc_sig_b64_encode(sig, s);
	char t[HFC_SIG_B64_LEN + 1];
	memcpy(t, s, sizeof(t));
	t[HFC_SIG_B64_LEN - 3] ^= 1; /* the last digit's unused bits */
	if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
		   t[HFC_SIG_B64_LEN - 3]))
		assert_int_not_equal(hfc_sig_b64_decode(t, back) == 0 &&
					     memcmp(back, sig, sizeof(sig)) == 0,
				     1);
	static const char *const junk[] = { "=", "-", "_", " ", "\n" };
	for (size_t i = 0; i < ELEMENTSOF(junk); i++) {
		memcpy(t, s, sizeof(t));
		t[10] = junk[i][0];
		assert_int_equal(hfc_sig_b64_decode(t, back), -EINVAL);
	}
	memcpy(t, s, sizeof(t));
	t[HFC_SIG_B64_LEN - 1] = 'A';
	assert_int_equal(hfc_sig_b64_decode(t, back), -EINVAL);
}

/* A small index to sign: three blocks, one of them zero. */
static HfcIndex *small_index(void)
{
	HfcIndex *idx;
	assert_int_equal(hfc_index_new(3 * 4096, 4096, HFC_HASH_SHA256, &idx), 0);
	idx->version = 7;
	idx->created = 1700000000;
	for (int i = 0; i < 3; i += 2) {
		memset(idx->entries[i].hash, i + 1, 32);
		idx->entries[i].stored = 100 + (uint32_t)i;
	}
	return idx;
}

static void test_index_signatures(void **state)
{
	(void)state;
	HfcKey *a = NULL, *b = NULL;
	assert_int_equal(hfc_key_generate(&a), 0);
	assert_int_equal(hfc_key_generate(&b), 0);
	HfcKey *ab[] = { b, a }, *just_b[] = { b };
	int64_t now = 1800000000, exp = now + 3600;
	HfcIndex *idx = small_index();
	char *buf;
	size_t len;
	HfcErr err = { "" };
	/* Unsigned: refused when keys are asked for. */
	assert_int_equal(hfc_index_verify(idx, NULL, 0, ab, 2, now, "x", &err), -ENOKEY);
	assert_non_null(strstr(err.msg, "x: not signed"));

	assert_int_equal(hfc_index_sign(idx, a, exp, &buf, &len), 0);
	uint8_t end[32];
	memcpy(end, idx->end_sha256, 32);
	/* The signed file parses back to the same index and signature; the bytes verify. */
	HfcIndex *back = NULL;
	assert_int_equal(hfc_index_parse(buf, len, "s.idx", &back, &err), 0);
	assert_true(back->has_sig);
	assert_memory_equal(back->end_sha256, end, 32);
	assert_int_equal(hfc_index_verify(back, buf, len, ab, 2, now, "s.idx", &err), 0);
	assert_int_equal(hfc_index_verify(back, NULL, 0, ab, 2, now, "s.idx", &err), 0);
	/* The signature is over every byte but its digits and the LF: checked with raw Ed25519. */
	assert_int_equal(hfc_verify(a, buf, len - HFC_SIG_B64_LEN - 1, back->sig.sig), 0);
	/* A key not trusted, expiry, a byte changed anywhere above the digits: each refused. */
	assert_int_equal(hfc_index_verify(back, buf, len, just_b, 1, now, "s.idx", &err),
			 -EKEYREJECTED);
	assert_non_null(strstr(err.msg, "which is not trusted"));
	assert_int_equal(hfc_index_verify(back, buf, len, ab, 2, exp, "s.idx", &err), -EKEYEXPIRED);
	assert_non_null(strstr(err.msg, "signature expired at"));
	for (size_t at = 0; at < len - HFC_SIG_B64_LEN - 1; at += 37) {
		buf[at] ^= 1;
		assert_int_equal(hfc_index_verify(back, buf, len, ab, 2, now, "s.idx", &err),
				 -EBADMSG);
		buf[at] ^= 1;
	}
	/* A later expiry is a new signature of the same bytes above it: the end checksum stays. */
	char *buf2;
	size_t len2;
	assert_int_equal(hfc_index_sign(back, a, exp + 86400, &buf2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(back->end_sha256, end, 32);
	assert_memory_equal(buf2, buf, len - HFC_SIG_LINE_LEN - 1);
	assert_int_equal(hfc_index_verify(back, buf2, len2, ab, 2, exp, "s.idx", &err), 0);
	/* Another version's signature on this one: refused. */
	back->version = 8;
	assert_int_equal(hfc_index_verify(back, NULL, 0, ab, 2, now, "s.idx", &err), -EBADMSG);
	/* A public key cannot sign. */
	HfcKey *pub = parse(rfc_pub, false);
	assert_int_equal(hfc_index_sign(idx, pub, exp, &buf2, &len2), -EINVAL);
	hfc_key_free(pub);
	free(buf2);
	free(buf);
	hfc_index_free(back);
	hfc_index_free(idx);
	hfc_key_free(a);
	hfc_key_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8032), cmocka_unit_test(test_forgeries),
		cmocka_unit_test(test_key_files), cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_b64), cmocka_unit_test(test_index_signatures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
