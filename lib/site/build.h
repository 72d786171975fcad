/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Building a new version of a site from an image: hash, dedupe, compress, store, publish. */

#include "base/progress.h"
#include "formats/index.h"
#include "base/util.h"

typedef struct HfcBuildOptions {
	uint32_t block_size; /* 0: the site's, or the default for a new site */
	HfcHashAlgo hash;
	bool hash_set;      /* false: the site's, or md5 for a new site */
	unsigned jobs;      /* 0: all cores */
	int level;          /* 0: default */
	const char *label;  /* NULL or empty: none */
	bool dry_run;       /* compute everything, write nothing */
	bool force_version; /* publish a new version even when nothing changed */
	HfcProgress progress; /* reports "build" in bytes of the image */
	const HfcKey *sign_key; /* sign the version (NULL: unsigned) */
	int64_t sign_expires;	/* its signature's expiry */
} HfcBuildOptions;

typedef struct HfcBuildResult {
	uint32_t version;   /* the version published (or that would be), or the unchanged one */
	bool published;     /* false when the image equals the current version, or dry run */
	bool unchanged;     /* the image equals the newest version: nothing to publish */
	uint64_t image_size, blocks, new_blocks, reused, zero;
	uint64_t bytes_read, bytes_written;
	uint64_t ahead;     /* blocks taken encoded ahead (HfcBuildInput.ahead) */
	double seconds;
} HfcBuildResult;

/*
 * Builds the next version of the site at site_path from the image file or block device at
 * image_path. Returns 0, or -errno with err filled; on failure the site is as it was.
 */
int hfc_build(const char *image_path, const char *site_path, const HfcBuildOptions *o,
	      HfcBuildResult *res, HfcErr *err);

typedef struct HfcSite HfcSite;

/* An image already open: for builds whose image is not a file named by the user. */
typedef struct HfcBuildInput {
	int fd;               /* read with pread */
	uint64_t size;
	bool seek_data;       /* fd answers SEEK_DATA (holes are skipped unread) */
	const uint8_t *dirty; /* NULL: every block; else a bitmap of the blocks written ... */
	const HfcIndex *base; /* ... and the others are base's blocks (NULL: zero) */
	const char *display;  /* the input, for messages */
	/* Instead of fd: reads len bytes at off (from several threads at once); 0 or -errno. */
	int (*read)(void *ctx, void *buf, size_t len, uint64_t off, HfcErr *err);
	void *read_ctx;
	/* Blocks encoded ahead (site/ahead.h, stopped), each valid for gen[i]; NULL: none. */
	const struct HfcAhead *ahead;
	const uint32_t *gen;
} HfcBuildInput;

/* The hash of the blocks of a build with options o onto a site whose newest index is prev
 * (NULL: none): the site's, else o's, else md5. */
HfcHashAlgo hfc_build_hash(const HfcBuildOptions *o, const HfcIndex *prev);

/* The compression level of a build with options o. */
int hfc_build_level(const HfcBuildOptions *o);

/*
 * Builds the next version of the site from the image inside a cloop file (formats/cloop.h),
 * decompressed block by block as the build reads it: no temporary image. Returns 0 or -errno
 * with err filled; on failure the site is as it was.
 */
int hfc_build_cloop(const char *cloop_path, const char *site_path, const HfcBuildOptions *o,
		    HfcBuildResult *res, HfcErr *err);

/*
 * Opens and locks the site at site_path for a build (made when missing, unless dry_run; a dry
 * run against a missing site sets *ret to NULL). Returns 0 or -errno with err filled.
 */
int hfc_build_site_open(const char *site_path, bool dry_run, HfcSite **ret, HfcErr *err);

/*
 * hfc_build() for an image already open, with the site open and locked (NULL: a dry run
 * against a missing site). Returns 0, or -errno with err filled; on failure the site is as it
 * was.
 */
int hfc_build_input(HfcSite *site, const char *site_path, const HfcBuildInput *in,
		    const HfcBuildOptions *o, HfcBuildResult *res, HfcErr *err);
