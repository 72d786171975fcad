/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signed indexes (docs/FORMAT.md §4.7): the signature line, making it, checking it. The
 * signature covers every byte of the file before the signature's own digits.
 */
#include "base/clock.h"
#include "formats/index.h"

#include <stdio.h>
#include <string.h>

/* The bytes after the signed ones: 88 base64 digits and the final LF. */
#define SIG_TAIL (HFC_SIG_B64_LEN + 1)

void hfc_index_sig_line(const HfcIndex *idx, char out[HFC_SIG_LINE_LEN + 1])
{
	char id[2 * HFC_KEY_ID_LEN + 1], t[21], b64[HFC_SIG_B64_LEN + 1];
	hfc_hex_encode(idx->sig.key_id, HFC_KEY_ID_LEN, id);
	hfc_format_time(idx->sig.expires, t, sizeof(t));
	hfc_sig_b64_encode(idx->sig.sig, b64);
	snprintf(out, HFC_SIG_LINE_LEN + 1, "signature ed25519 %s %s %s", id, t, b64);
}

int hfc_index_sign(HfcIndex *idx, const HfcKey *key, int64_t expires, char **ret_buf,
		   size_t *ret_len)
{
	if (!hfc_key_is_private(key))
		return -EINVAL;
	/* The file with the new line (the signature's digits still zero), then the digits. */
	idx->has_sig = true;
	hfc_key_id(key, idx->sig.key_id);
	idx->sig.expires = expires;
	memset(idx->sig.sig, 0, sizeof(idx->sig.sig));
	char *buf;
	size_t len;
	int r = hfc_index_format(idx, &buf, &len);
	if (r < 0)
		return r;
	r = hfc_sign(key, buf, len - SIG_TAIL, idx->sig.sig);
	if (r < 0) {
		free(buf);
		return r;
	}
	hfc_sig_b64_encode(idx->sig.sig, buf + len - SIG_TAIL);
	buf[len - 1] = '\n';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int hfc_index_verify(const HfcIndex *idx, const char *buf, size_t len, HfcKey *const *keys,
		     size_t nkeys, int64_t now, const char *display, HfcErr *err)
{
	char id[2 * HFC_KEY_ID_LEN + 1], t[32];
	if (!idx->has_sig)
		return hfc_err_set(err, -ENOKEY,
				   "%s: not signed (a signature by a trusted key is required)",
				   display);
	hfc_hex_encode(idx->sig.key_id, HFC_KEY_ID_LEN, id);
	const HfcKey *key = NULL;
	for (size_t i = 0; i < nkeys && !key; i++) {
		uint8_t kid[HFC_KEY_ID_LEN];
		hfc_key_id(keys[i], kid);
		if (memcmp(kid, idx->sig.key_id, HFC_KEY_ID_LEN) == 0)
			key = keys[i];
	}
	if (!key)
		return hfc_err_set(err, -EKEYREJECTED, "%s: signed by key %s, which is not trusted",
				   display, id);
	_cleanup_free_ char *made = NULL;
	if (!buf) {
		int r = hfc_index_format((HfcIndex *)idx, &made, &len);
		if (r < 0)
			return hfc_err_set(err, r, "%s: %s", display, strerror(-r));
		buf = made;
	}
	if (len < SIG_TAIL || hfc_verify(key, buf, len - SIG_TAIL, idx->sig.sig) < 0)
		return hfc_err_set(err, -EBADMSG, "%s: bad signature (key %s): not what the key signed",
				   display, id);
	if (now >= idx->sig.expires) {
		hfc_format_time(idx->sig.expires, t, sizeof(t));
		return hfc_err_set(err, -EKEYEXPIRED, "%s: signature expired at %s (key %s)", display,
				   t, id);
	}
	return 0;
}
