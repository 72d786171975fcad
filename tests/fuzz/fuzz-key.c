/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for key files (base/sign.h): any input is refused cleanly, as a private or
 * a public key, or gives an Ed25519 key whose id and public half can be taken and that signs
 * (a private key) what its public half verifies.
 */
#include "base/sign.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int private = 0; private < 2; private++) {
		HfcKey *k = NULL;
		HfcErr err = { "" };
		int r = hfc_key_parse((const char *)data, size, private, "fuzz", &k, &err);
		if (r < 0) {
			if ((r != -EINVAL && r != -ENOMEM) || k || strncmp(err.msg, "fuzz", 4) != 0)
				abort();
			continue;
		}
		uint8_t id[HFC_KEY_ID_LEN], pub[HFC_PUBKEY_LEN], sig[HFC_SIG_LEN];
		hfc_key_id(k, id);
		hfc_key_public(k, pub);
		if (hfc_key_is_private(k) != (private != 0))
			abort();
		if (private && (hfc_sign(k, data, size, sig) < 0 || hfc_verify(k, data, size, sig) < 0))
			abort();
		hfc_key_free(k);
	}
	return 0;
}
