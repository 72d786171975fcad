/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for digest.c: known hash vectors and the strict lowercase hex codec. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "base/digest.h"

static void check_digest(HfcHashAlgo algo, const char *data, const char *want_hex)
{
	uint8_t out[HFC_HASH_MAX];
	char hex[2 * HFC_HASH_MAX + 1];
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(hfc_digest(algo, data, strlen(data), out), 0);
	hfc_hex_encode(out, hfc_hash_len(algo), hex);
	assert_string_equal(hex, want_hex);
}

static void test_md5_vectors(void **state)
{
	(void)state;
	/* RFC 1321, appendix A.5 */
	check_digest(HFC_HASH_MD5, "", "d41d8cd98f00b204e9800998ecf8427e");
	check_digest(HFC_HASH_MD5, "a", "0cc175b9c0f1b6a831c399e269772661");
	check_digest(HFC_HASH_MD5, "abc", "900150983cd24fb0d6963f7d28e17f72");
	check_digest(HFC_HASH_MD5, "message digest", "f96b697d7cb7938d525a2f31aaf161d0");
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	/* FIPS 180-2, appendix B */
	check_digest(HFC_HASH_SHA256, "",
		     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_digest(HFC_HASH_SHA256, "abc",
		     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_digest(HFC_HASH_SHA256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_digest_writes_exact_length(void **state)
{
	(void)state;
	uint8_t out[HFC_HASH_MAX + 4];
	memset(out, 0x5a, sizeof(out));
	assert_int_equal(hfc_digest(HFC_HASH_MD5, "abc", 3, out), 0);
	for (size_t i = 16; i < sizeof(out); i++)
		assert_int_equal(out[i], 0x5a);
	memset(out, 0x5a, sizeof(out));
	assert_int_equal(hfc_digest(HFC_HASH_SHA256, "abc", 3, out), 0);
	for (size_t i = 32; i < sizeof(out); i++)
		assert_int_equal(out[i], 0x5a);
}

static void *digest_thread(void *arg)
{
	(void)arg;
	uint8_t out[32];
	char hex[65];
	for (int i = 0; i < 2000; i++) {
		if (hfc_digest(HFC_HASH_SHA256, "abc", 3, out) < 0)
			return (void *)1;
		hfc_hex_encode(out, 32, hex);
		if (strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
			return (void *)1;
	}
	return NULL;
}

/* The algorithms are fetched once on first use; several threads may race to be first. */
static void test_digest_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, digest_thread, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *ret;
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
}

static void test_hash_names(void **state)
{
	(void)state;
	HfcHashAlgo a;
	assert_int_equal(hfc_hash_len(HFC_HASH_MD5), 16);
	assert_int_equal(hfc_hash_len(HFC_HASH_SHA256), 32);
	assert_string_equal(hfc_hash_name(HFC_HASH_MD5), "md5");
	assert_string_equal(hfc_hash_name(HFC_HASH_SHA256), "sha256");
	assert_int_equal(hfc_hash_from_name("md5", &a), 0);
	assert_int_equal(a, HFC_HASH_MD5);
	assert_int_equal(hfc_hash_from_name("sha256", &a), 0);
	assert_int_equal(a, HFC_HASH_SHA256);
	static const char *const bad[] = { "", "MD5", "SHA256", "sha-256", "sha1", "md5 ", " md5",
					   "sha2566", "md" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hfc_hash_from_name(bad[i], &a), -EINVAL);
}

static void test_hex_encode(void **state)
{
	(void)state;
	const uint8_t in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff };
	char out[2 * sizeof(in) + 2];
	memset(out, 'x', sizeof(out));
	hfc_hex_encode(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abcdefff");
	assert_int_equal(out[2 * sizeof(in) + 1], 'x');
	hfc_hex_encode(in, 0, out);
	assert_string_equal(out, "");
}

static void test_hex_roundtrip_all_bytes(void **state)
{
	(void)state;
	uint8_t in[256], back[256];
	char hex[513];
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	hfc_hex_encode(in, 256, hex);
	assert_int_equal(strlen(hex), 512);
	for (int i = 0; i < 512; i++)
		assert_true((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
	memset(back, 0, sizeof(back));
	assert_int_equal(hfc_hex_decode(hex, 256, back), 0);
	assert_memory_equal(in, back, 256);
}

static void test_hex_decode(void **state)
{
	(void)state;
	uint8_t out[4];
	assert_int_equal(hfc_hex_decode("deadbeef", 4, out), 0);
	assert_int_equal(out[0], 0xde);
	assert_int_equal(out[1], 0xad);
	assert_int_equal(out[2], 0xbe);
	assert_int_equal(out[3], 0xef);
	/* Only 2*len digits are read: what follows does not matter and no NUL is needed. */
	const char nonul[4] = { '0', 'a', 'Z', 'Z' };
	assert_int_equal(hfc_hex_decode(nonul, 1, out), 0);
	assert_int_equal(out[0], 0x0a);
	assert_int_equal(hfc_hex_decode("", 0, out), 0);
}

static void test_hex_decode_rejects_uppercase(void **state)
{
	(void)state;
	uint8_t out[4];
	assert_int_equal(hfc_hex_decode("DEADBEEF", 4, out), -EINVAL);
	assert_int_equal(hfc_hex_decode("deadbeeF", 4, out), -EINVAL);
	assert_int_equal(hfc_hex_decode("Aa", 1, out), -EINVAL);
	assert_int_equal(hfc_hex_decode("aA", 1, out), -EINVAL);
	/* Every uppercase letter, in either digit position. */
	for (char c = 'A'; c <= 'Z'; c++) {
		char s[3] = { c, '0', 0 };
		assert_int_equal(hfc_hex_decode(s, 1, out), -EINVAL);
		s[0] = '0';
		s[1] = c;
		assert_int_equal(hfc_hex_decode(s, 1, out), -EINVAL);
	}
}

static void test_hex_decode_rejects_non_hex(void **state)
{
	(void)state;
	uint8_t out[2];
	int accepted = 0;
	/* Every byte value except 0-9 a-f is rejected, in the first and in the second digit. */
	for (int c = 0; c < 256; c++) {
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
		char s[4] = { (char)c, '0', '0', (char)c };
		int r1 = hfc_hex_decode(s, 1, out);
		int r2 = hfc_hex_decode(s + 2, 1, out);
		assert_int_equal(r1, hex ? 0 : -EINVAL);
		assert_int_equal(r2, hex ? 0 : -EINVAL);
		accepted += hex;
	}
	assert_int_equal(accepted, 16);
	assert_int_equal(hfc_hex_decode("0g", 1, out), -EINVAL);
	assert_int_equal(hfc_hex_decode(" 0", 1, out), -EINVAL);
	assert_int_equal(hfc_hex_decode("-1", 1, out), -EINVAL);
	assert_int_equal(hfc_hex_decode("0x", 1, out), -EINVAL);
	/* A short string: its NUL is not a digit. */
	assert_int_equal(hfc_hex_decode("abc", 2, out), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md5_vectors),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_digest_writes_exact_length),
		cmocka_unit_test(test_digest_threads),
		cmocka_unit_test(test_hash_names),
		cmocka_unit_test(test_hex_encode),
		cmocka_unit_test(test_hex_roundtrip_all_bytes),
		cmocka_unit_test(test_hex_decode),
		cmocka_unit_test(test_hex_decode_rejects_uppercase),
		cmocka_unit_test(test_hex_decode_rejects_non_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
