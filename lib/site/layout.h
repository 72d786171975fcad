/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Every name in the layout of a site (docs/FORMAT.md §2), and of a client's cache, which keeps
 * the same layout: nothing else in the project spells them.
 *
 *   index.idx                the current version
 *   indexes/NNNNNN.idx       every version
 *   profiles/NNNNNN.prof     DLAHEAD profiles, per version
 *   blocks/ab/ab…            block files, named by the hash of their content
 *   .lock                    the writers' lock (never published)
 *   .hfc-build-cache         hfc-mkimage's local cache (never published)
 *   .hfc-tree                the content hash of each file of the newest version built from a
 *                            tree, by inode, for --base (never published)
 * and temporary names (base/fileio.h) for anything on its way to one of these.
 */

#include "base/digest.h"
#include "base/util.h"

#define HFC_SITE_CURRENT "index.idx"
#define HFC_SITE_INDEXES "indexes"
#define HFC_SITE_PROFILES "profiles"
#define HFC_SITE_BLOCKS "blocks"
#define HFC_SITE_LOCK ".lock"
#define HFC_SITE_BUILD_CACHE ".hfc-build-cache"
#define HFC_SITE_TREE ".hfc-tree"

/* Room for any relative path of the layout but a block's: "profiles/" + 8 digits + ".prof". */
#define HFC_LAYOUT_PATH_MAX 32
/* "blocks/" + 2 + "/" + 64 + NUL */
#define HFC_BLOCK_PATH_MAX 80

/* The kinds of per-version files. */
typedef enum HfcLayoutKind {
	HFC_LAYOUT_INDEX,   /* indexes/NNNNNN.idx */
	HFC_LAYOUT_PROFILE, /* profiles/NNNNNN.prof */
} HfcLayoutKind;

/* Writes the name of version v's file of kind k inside its directory ("000012.idx"). */
void hfc_layout_name(HfcLayoutKind k, uint32_t v, char out[HFC_LAYOUT_PATH_MAX]);

/*
 * Writes the site-relative path of version v's file of kind k ("indexes/000012.idx"); for an
 * index, v == 0 means the current one ("index.idx").
 */
void hfc_layout_path(HfcLayoutKind k, uint32_t v, char out[HFC_LAYOUT_PATH_MAX]);

/* Returns the directory of kind k ("indexes" or "profiles"). */
const char *hfc_layout_dir(HfcLayoutKind k);

/* Returns the version a name of kind k stands for (canonical: "000012.idx"), or 0. */
uint32_t hfc_layout_version(HfcLayoutKind k, const char *name);

/* Writes the relative path of a block file ("blocks/ab/ab…") into out. */
void hfc_block_path(HfcHashAlgo algo, const uint8_t *hash, char out[HFC_BLOCK_PATH_MAX]);

/* Writes the fan-out directory of block names starting with byte b ("blocks/ab"). */
void hfc_block_dir(uint8_t b, char out[HFC_LAYOUT_PATH_MAX]);

/*
 * Parses a fan-out entry: name must be the hex of a hash of algo whose first byte is the
 * directory's (dir_byte). Returns true and the hash.
 */
bool hfc_block_name_parse(HfcHashAlgo algo, uint8_t dir_byte, const char *name, uint8_t *ret_hash);

/* The top-level files of a site that are never published (rsync excludes, anchored). */
extern const char *const hfc_layout_private[];
