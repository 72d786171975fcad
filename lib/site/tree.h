/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Building a version from a tree (an archive, a directory): the ext2 writer writes into an
 * overlay over the site's current image, and only the site blocks it changed are hashed,
 * compressed and stored; the others are the current version's index entries.
 */

#include "fs/tree.h"
#include "site/build.h"

typedef struct HfcTreeBuildOptions {
	HfcBuildOptions build;
	uint64_t size;            /* image bytes; 0: automatic (new layout) */
	uint64_t inodes;          /* 0: automatic */
	const char *fs_label;     /* the file system's volume label */
	const uint8_t *uuid;      /* 16 bytes, or NULL: derived from the tree */
	const uint8_t *hash_seed; /* 16 bytes, or NULL: derived from the tree */
	bool base;                /* update the site's current image in place of a new layout */
	const char *spool_dir;    /* the overlay's file: NULL for the site's directory */
} HfcTreeBuildOptions;

typedef struct HfcTreeBuildStats {
	uint64_t files_kept, files_written, data_bytes, blocks_written;
} HfcTreeBuildStats;

/*
 * Builds the next version of the site at site_path from t. The file system's times are
 * SOURCE_DATE_EPOCH's, else the newest entry's. Returns 0, or -errno with err filled; on any
 * failure the site is as it was.
 */
int hfc_build_tree(HfcTree *t, const char *site_path, const HfcTreeBuildOptions *o,
		   HfcBuildResult *res, HfcTreeBuildStats *stats, HfcErr *err);
