/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The block codec: zlib streams (RFC 1950). Compression uses libdeflate (faster than zlib at the
 * same level and ratio); the output is plain zlib and decodes with zlib's inflate.
 */

#include "base/util.h"

typedef struct HfcCodec HfcCodec;

#define HFC_LEVEL_MIN 1
#define HFC_LEVEL_MAX 12
#define HFC_LEVEL_DEFAULT 6

/* Returns the largest stored size a block of n bytes may have (what index parsers accept). */
size_t hfc_codec_bound(size_t n);

/* Makes a codec for one thread at a compression level 1..12; returns 0 or -errno. */
int hfc_codec_new(int level, HfcCodec **ret);

/* Frees a codec; NULL is fine. */
void hfc_codec_free(HfcCodec *c);

static inline void hfc_codec_freep(HfcCodec **c)
{
	hfc_codec_free(*c);
}

/* Compresses in into out (outcap >= hfc_codec_bound(inlen)); returns the stored size or -errno. */
ssize_t hfc_codec_compress(HfcCodec *c, const void *in, size_t inlen, void *out, size_t outcap);

/*
 * Decompresses a stored block that must expand to exactly expect bytes; returns 0, or -EBADMSG
 * for a corrupt stream, a bad checksum or a wrong length.
 */
int hfc_codec_decompress(HfcCodec *c, const void *in, size_t inlen, void *out, size_t expect);

/* True when all len bytes are zero. */
bool hfc_is_zero(const void *buf, size_t len);
