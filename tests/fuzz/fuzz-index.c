/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the index parser: any input must be rejected cleanly or parse into an
 * index that formats back to exactly the same bytes (the format is canonical).
 */
#include "formats/index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size)
{
	HfcIndex *idx = NULL;
	HfcErr err = { "" };
	int r = hfc_index_parse((const char *)data, size, "fuzz", &idx, &err);
	if (r < 0) {
		if (r != -EBADMSG && r != -ENOMEM)
			abort();
		if (r == -EBADMSG && strncmp(err.msg, "fuzz:", 5) != 0)
			abort(); /* every rejection names file:line */
		return;
	}
	if (idx->has_sig) {
		/* A signature that parses must be refused by a key that never made it. */
		static HfcKey *key;
		if (!key && hfc_key_generate(&key) < 0)
			abort();
		HfcErr e2 = { "" };
		int v = hfc_index_verify(idx, (const char *)data, size, &key, 1, 0, "fuzz", &e2);
		if (v != -EKEYREJECTED && v != -EBADMSG)
			abort();
	}
	char *buf = NULL;
	size_t len = 0;
	if (hfc_index_format(idx, &buf, &len) < 0)
		abort();
	if (len != size || memcmp(buf, data, size) != 0)
		abort();
	free(buf);
	hfc_index_free(idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size);
	/*
	 * Mutations almost never keep the end checksum right, which would hide everything the
	 * parser does after it: also try the input as the text above a correct end line.
	 */
	uint8_t *body = malloc(size + 70);
	if (!body)
		return 0;
	memcpy(body, data, size);
	uint8_t sha[32];
	if (hfc_digest(HFC_HASH_SHA256, data, size, sha) == 0) {
		char hex[65];
		hfc_hex_encode(sha, 32, hex);
		memcpy(body + size, "end ", 4);
		memcpy(body + size + 4, hex, 64);
		body[size + 68] = '\n';
		check(body, size + 69);
	}
	free(body);
	/* And with the last 145 bytes as a signature line after that end line. */
	if (size > HFC_SIG_LINE_LEN + 1) {
		size_t above = size - HFC_SIG_LINE_LEN - 1;
		body = malloc(size + 70);
		if (!body || hfc_digest(HFC_HASH_SHA256, data, above, sha) < 0) {
			free(body);
			return 0;
		}
		char hex[65];
		hfc_hex_encode(sha, 32, hex);
		memcpy(body, data, above);
		memcpy(body + above, "end ", 4);
		memcpy(body + above + 4, hex, 64);
		body[above + 68] = '\n';
		memcpy(body + above + 69, data + above, size - above);
		check(body, size + 69);
		free(body);
	}
	return 0;
}
