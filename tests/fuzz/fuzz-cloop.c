/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the cloop header and offset table: any input must be rejected cleanly
 * or give a table whose blocks lie past the table, in order, inside the file and no longer
 * than a block can compress to.
 */
#include "formats/cloop.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	HfcCloop c;
	HfcErr err = { "" };
	int r = hfc_cloop_parse_header(data, size, "fuzz", &c, &err);
	if (r < 0) {
		if ((r != -EINVAL && r != -EOPNOTSUPP) || strncmp(err.msg, "fuzz:", 5) != 0)
			abort();
		return 0;
	}
	if (c.block_size == 0 || c.block_size % 512 || c.block_size > HFC_CLOOP_BLOCK_MAX)
		abort();
	uint64_t head = HFC_CLOOP_HEADER + 8;
	r = hfc_cloop_parse_table(&c, data + head, size - head, size, "fuzz", &err);
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			abort();
		if (c.offsets)
			abort(); /* a rejected table owns nothing */
		return 0;
	}
	uint64_t end = hfc_cloop_table_end(c.nblocks);
	for (uint64_t i = 0; i <= c.nblocks; i++) {
		if (c.offsets[i] < end || c.offsets[i] > size)
			abort();
		if (i && c.offsets[i] < c.offsets[i - 1])
			abort();
	}
	hfc_cloop_clear(&c);
	return 0;
}
