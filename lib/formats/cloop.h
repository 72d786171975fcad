/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The cloop format (compressed loop images, as cloop-utils' create_compressed_fs writes them,
 * version 2.0): a 128-byte preamble (a shell script naming "V2.0"), the block size and the
 * number of blocks (32-bit big-endian), then n+1 64-bit big-endian offsets: block i's zlib
 * stream is bytes [off[i], off[i+1]) of the file, and inflates to exactly block_size bytes
 * (the last block is padded with zeros). The parser treats the header as hostile.
 */

#include "base/util.h"

#define HFC_CLOOP_HEADER 128
#define HFC_CLOOP_BLOCK_MAX (64u << 20)

typedef struct HfcCloop {
	uint32_t block_size;
	uint32_t nblocks;
	uint64_t *offsets; /* nblocks + 1, ascending */
} HfcCloop;

/* Bytes of the header and offset table of a cloop file with nblocks blocks. */
static inline uint64_t hfc_cloop_table_end(uint32_t nblocks)
{
	return HFC_CLOOP_HEADER + 8 + ((uint64_t)nblocks + 1) * 8;
}

/*
 * Parses the first HFC_CLOOP_HEADER + 8 bytes of a cloop file (the preamble, block size and
 * count) into *ret (offsets not yet read). Returns 0, -EINVAL with err filled (not cloop, a
 * block size that is not a multiple of 512 up to 64 MiB), -EOPNOTSUPP for another version.
 */
int hfc_cloop_parse_header(const void *buf, size_t len, const char *display, HfcCloop *ret,
			   HfcErr *err);

/*
 * Parses the offset table (hfc_cloop_table_end() - HFC_CLOOP_HEADER - 8 bytes) of c, for a
 * file of file_size bytes: every offset past the table, ascending, within the file, no block
 * longer than its worst-case zlib size. Returns 0 or -EINVAL with err filled.
 */
int hfc_cloop_parse_table(HfcCloop *c, const void *buf, size_t len, uint64_t file_size,
			  const char *display, HfcErr *err);

/* Frees c's offsets. */
void hfc_cloop_clear(HfcCloop *c);
