/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/codec.h"

#include <libdeflate.h>
#include <string.h>

struct HfcCodec {
	struct libdeflate_compressor *comp;
	struct libdeflate_decompressor *decomp;
	int level;
};

size_t hfc_codec_bound(size_t n)
{
	/*
	 * Deflate's worst case is stored blocks: 5 bytes per 64 KiB less one, plus zlib's 2-byte
	 * header and 4-byte Adler-32. libdeflate may cut stored blocks shorter; a generous margin
	 * keeps the bound independent of its version.
	 */
	return n + 5 * (n / 4096 + 1) + 6 + 64;
}

int hfc_codec_new(int level, HfcCodec **ret)
{
	if (level < HFC_LEVEL_MIN || level > HFC_LEVEL_MAX)
		return -EINVAL;
	HfcCodec *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->level = level;
	*ret = c;
	return 0;
}

void hfc_codec_free(HfcCodec *c)
{
	if (!c)
		return;
	if (c->comp)
		libdeflate_free_compressor(c->comp);
	if (c->decomp)
		libdeflate_free_decompressor(c->decomp);
	free(c);
}

ssize_t hfc_codec_compress(HfcCodec *c, const void *in, size_t inlen, void *out, size_t outcap)
{
	if (outcap < hfc_codec_bound(inlen))
		return -ENOBUFS;
	/* Made on first use: a decode-only codec never pays for the compressor's tables. */
	if (!c->comp) {
		c->comp = libdeflate_alloc_compressor(c->level);
		if (!c->comp)
			return -ENOMEM;
	}
	size_t n = libdeflate_zlib_compress(c->comp, in, inlen, out, outcap);
	if (n == 0)
		return -ENOBUFS;
	return (ssize_t)n;
}

int hfc_codec_decompress(HfcCodec *c, const void *in, size_t inlen, void *out, size_t expect)
{
	if (!c->decomp) {
		c->decomp = libdeflate_alloc_decompressor();
		if (!c->decomp)
			return -ENOMEM;
	}
	size_t actual_in = 0, actual_out = 0;
	enum libdeflate_result r = libdeflate_zlib_decompress_ex(c->decomp, in, inlen, out, expect,
								 &actual_in, &actual_out);
	/* Trailing bytes after the stream or a short result mean the file is not what was named. */
	if (r != LIBDEFLATE_SUCCESS || actual_in != inlen || actual_out != expect)
		return -EBADMSG;
	return 0;
}

bool hfc_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	/* Check a prefix byte by byte, then compare the buffer against itself shifted by 16. */
	size_t head = MIN(len, (size_t)16);
	for (size_t i = 0; i < head; i++)
		if (p[i])
			return false;
	return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}
