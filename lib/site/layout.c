/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/layout.h"

#include "formats/index.h"

#include <stdio.h>
#include <string.h>

const char *const hfc_layout_private[] = { HFC_SITE_LOCK, HFC_SITE_BUILD_CACHE, HFC_SITE_TREE,
						 NULL };

static const char *const dirs[] = { [HFC_LAYOUT_INDEX] = HFC_SITE_INDEXES,
				    [HFC_LAYOUT_PROFILE] = HFC_SITE_PROFILES };
static const char *const exts[] = { [HFC_LAYOUT_INDEX] = ".idx", [HFC_LAYOUT_PROFILE] = ".prof" };

const char *hfc_layout_dir(HfcLayoutKind k)
{
	return dirs[k];
}

void hfc_layout_name(HfcLayoutKind k, uint32_t v, char out[HFC_LAYOUT_PATH_MAX])
{
	snprintf(out, HFC_LAYOUT_PATH_MAX, "%06u%s", v, exts[k]);
}

void hfc_layout_path(HfcLayoutKind k, uint32_t v, char out[HFC_LAYOUT_PATH_MAX])
{
	if (k == HFC_LAYOUT_INDEX && v == 0)
		snprintf(out, HFC_LAYOUT_PATH_MAX, "%s", HFC_SITE_CURRENT);
	else
		snprintf(out, HFC_LAYOUT_PATH_MAX, "%s/%06u%s", dirs[k], v, exts[k]);
}

uint32_t hfc_layout_version(HfcLayoutKind k, const char *name)
{
	size_t n = strlen(name), e = strlen(exts[k]);
	if (n < 6 + e || n > 8 + e || strcmp(name + n - e, exts[k]) != 0)
		return 0;
	uint32_t v = 0;
	for (size_t i = 0; i < n - e; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (uint32_t)(name[i] - '0');
	}
	char canon[HFC_LAYOUT_PATH_MAX];
	hfc_layout_name(k, v, canon);
	return v > 0 && v <= HFC_VERSION_MAX && strcmp(canon, name) == 0 ? v : 0;
}

void hfc_block_path(HfcHashAlgo algo, const uint8_t *hash, char out[HFC_BLOCK_PATH_MAX])
{
	char hex[2 * HFC_HASH_MAX + 1];
	hfc_hex_encode(hash, hfc_hash_len(algo), hex);
	snprintf(out, HFC_BLOCK_PATH_MAX, "%s/%.2s/%s", HFC_SITE_BLOCKS, hex, hex);
}

void hfc_block_dir(uint8_t b, char out[HFC_LAYOUT_PATH_MAX])
{
	snprintf(out, HFC_LAYOUT_PATH_MAX, "%s/%02x", HFC_SITE_BLOCKS, b);
}

bool hfc_block_name_parse(HfcHashAlgo algo, uint8_t dir_byte, const char *name, uint8_t *ret_hash)
{
	size_t hl = hfc_hash_len(algo);
	return strlen(name) == 2 * hl && hfc_hex_decode(name, hl, ret_hash) == 0 &&
	       ret_hash[0] == dir_byte;
}
