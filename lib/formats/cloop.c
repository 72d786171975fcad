/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "formats/cloop.h"

#include <inttypes.h>
#include <string.h>

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int hfc_cloop_parse_header(const void *buf, size_t len, const char *display, HfcCloop *ret,
			   HfcErr *err)
{
	const uint8_t *p = buf;
	memset(ret, 0, sizeof(*ret));
	if (len < HFC_CLOOP_HEADER + 8 || memcmp(p, "#!/bin/sh", 9) != 0)
		return hfc_err_set(err, -EINVAL, "%s: not a cloop file", display);
	/* The version is named in the preamble: "#V2.0 Format" (cloop-utils 2.x and 3.x). */
	const char *v = memmem(p, HFC_CLOOP_HEADER, "#V", 2);
	if (!v || v + 5 > (const char *)p + HFC_CLOOP_HEADER)
		return hfc_err_set(err, -EINVAL, "%s: not a cloop file (no version)", display);
	if (memcmp(v, "#V2.0", 5) != 0)
		return hfc_err_set(err, -EOPNOTSUPP, "%s: cloop version %.4s: only V2.0 is read",
				   display, v + 2);
	uint32_t bs = be32(p + HFC_CLOOP_HEADER), n = be32(p + HFC_CLOOP_HEADER + 4);
	if (bs == 0 || bs % 512 || bs > HFC_CLOOP_BLOCK_MAX)
		return hfc_err_set(err, -EINVAL, "%s: cloop block size %" PRIu32 " is not a "
				   "multiple of 512 up to 64 MiB", display, bs);
	if (n == UINT32_MAX)
		return hfc_err_set(err, -EINVAL, "%s: cloop block count too large", display);
	ret->block_size = bs;
	ret->nblocks = n;
	return 0;
}

int hfc_cloop_parse_table(HfcCloop *c, const void *buf, size_t len, uint64_t file_size,
			  const char *display, HfcErr *err)
{
	uint64_t want = ((uint64_t)c->nblocks + 1) * 8;
	if (len < want)
		return hfc_err_set(err, -EINVAL, "%s: the cloop offset table is truncated", display);
	c->offsets = malloc(want);
	if (!c->offsets)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	const uint8_t *p = buf;
	uint64_t table_end = hfc_cloop_table_end(c->nblocks);
	/* zlib's worst case: stored blocks of 64 KiB, 5 bytes each, plus header and checksum. */
	uint64_t bound = (uint64_t)c->block_size + c->block_size / 16000 * 5 + 64 + 6;
	for (uint64_t i = 0; i <= c->nblocks; i++) {
		c->offsets[i] = be64(p + 8 * i);
		uint64_t o = c->offsets[i];
		if (o < table_end || o > file_size ||
		    (i && (o < c->offsets[i - 1] || o - c->offsets[i - 1] > bound))) {
			hfc_cloop_clear(c);
			return hfc_err_set(err, -EINVAL,
					   "%s: cloop offset %" PRIu64 " (%" PRIu64 ") is out of order "
					   "or outside the file", display, i, o);
		}
	}
	return 0;
}

void hfc_cloop_clear(HfcCloop *c)
{
	free(c->offsets);
	c->offsets = NULL;
}
