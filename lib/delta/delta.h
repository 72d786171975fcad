/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Delta bundles (docs/FORMAT.md §12): a tar that carries version B of a site to any site that
 * holds version A. Each block file new in B travels as a recipe of 4 KiB pages — a zero page, a
 * page of one of A's blocks, a page sent earlier in the bundle, or literal bytes — in one
 * compressed stream; the receiver rebuilds each block, checks it against its name, recompresses
 * it exactly as the source did and installs it with the site's own block transactions. A full
 * bundle carries plain block files instead. Everything read from a bundle is hostile input.
 */

#include "base/codec.h"
#include "base/progress.h"
#include "base/util.h"
#include "formats/index.h"
#include "formats/manifest.h"
#include "site/store.h"

/* A frame of the delta stream inflates to at most this many bytes. */
#define HFC_DELTA_FRAME_MAX (4u << 20)
/* The frame size the writer aims at. */
#define HFC_DELTA_FRAME_TARGET (1u << 20)
/* A REPEAT op may name one of this many most recent literal pages. */
#define HFC_DELTA_WINDOW 16384u

/* ---- making a bundle (the sending side) ---- */

typedef struct HfcBundleOptions {
	bool full;     /* plain block files: for sites that do not hold A */
	unsigned jobs; /* 0: all cores */
	int level;     /* compression level of the delta stream (0: HFC_DELTA_LEVEL_DEFAULT) */
	HfcProgress progress;
} HfcBundleOptions;

#define HFC_DELTA_LEVEL_DEFAULT 12

typedef struct HfcBundleResult {
	uint64_t blocks;       /* block files carried: recipes + raw */
	uint64_t recipes, raw; /* rebuilt from pages / sent as plain block files */
	uint64_t block_bytes;  /* stored bytes of the block files carried (the plain way) */
	uint64_t pages, zero_pages, copied_pages, repeated_pages, literal_pages;
	uint64_t delta_bytes;  /* the compressed delta stream */
	uint64_t bases;
	uint64_t bundle_bytes; /* the whole tar */
	double seconds;
} HfcBundleResult;

/*
 * Writes a bundle to out_path ("-": stdout; a file appears whole or not at all) that carries
 * version b of site s to any site holding version a (a may be NULL when o->full). Every block
 * file read is checked against its name. Returns 0 or -errno with err filled.
 */
int hfc_bundle_make(HfcSite *s, const HfcIndex *a, HfcIndex *b, const char *out_path,
		    const HfcBundleOptions *o, HfcBundleResult *res, HfcErr *err);

/* ---- reading a bundle ---- */

typedef struct HfcBundleReader HfcBundleReader;

/* One base block of the recipes: a block file of version A. */
typedef struct HfcBundleBase {
	uint8_t hash[HFC_HASH_MAX];
	uint32_t stored;
	uint32_t len;
} HfcBundleBase;

/* One block file the bundle carries, as hfc_bundle_reader_next() returns it. */
typedef struct HfcBundleBlock {
	uint8_t hash[HFC_HASH_MAX];
	uint32_t len;    /* uncompressed length */
	uint32_t stored; /* the block file's size */
	bool raw;        /* data holds the block file itself (stored bytes), not the block */
	int level;       /* recipes: the libdeflate level that reproduces the source's block file */
	uint8_t stored_sha256[32]; /* recipes: the SHA-256 of the source's block file */
} HfcBundleBlock;

/*
 * Supplies len bytes of base block `base` (an index into the bases table) at page `page`, for
 * a COPY op; the reader has checked that they lie inside the block. Returns 0 or -errno with err
 * filled.
 */
typedef int (*HfcBasePageFn)(void *ctx, uint64_t base, uint32_t page, void *out, size_t len,
			     HfcErr *err);

/*
 * Reads a bundle from fd (not owned) up to its block files: the manifest, B's index (parsed and
 * checked against the manifest), the profile and the bases table, each bounded before it is
 * read. display names the bundle in messages. Returns 0 or -errno with err filled.
 */
int hfc_bundle_reader_open(int fd, const char *display, HfcBundleReader **ret, HfcErr *err);

/* Frees a reader; NULL is fine. */
void hfc_bundle_reader_free(HfcBundleReader *r);

static inline void hfc_bundle_reader_freep(HfcBundleReader **r)
{
	hfc_bundle_reader_free(*r);
}

/* Returns the manifest. */
const HfcBundleManifest *hfc_bundle_reader_manifest(const HfcBundleReader *r);

/* Returns B's index (owned by the reader; callers may publish it). */
HfcIndex *hfc_bundle_reader_index(HfcBundleReader *r);

typedef struct HfcProfile HfcProfile;

/* Returns B's profile (parsed and checked against B), or NULL when the bundle has none. */
const HfcProfile *hfc_bundle_reader_profile(const HfcBundleReader *r);

/* Returns the bases table and sets its length. */
const HfcBundleBase *hfc_bundle_reader_bases(const HfcBundleReader *r, size_t *ret_n);

/*
 * Produces the next block file: recipes first, then raw block files. Writes the block's bytes
 * (raw: the block file's bytes) to buf, which holds hfc_codec_bound(block_size) bytes. Every
 * block is one B names, with B's length and stored size, carried once. Returns 1, 0 when the
 * bundle is complete (every count of the manifest met, nothing after it), or -errno with err
 * filled. Not thread-safe.
 */
int hfc_bundle_reader_next(HfcBundleReader *r, HfcBasePageFn get, void *ctx, HfcBundleBlock *ret,
			   void *buf, HfcErr *err);

/*
 * Turns a block from the reader into the block file to install, checking it: a rebuilt block
 * must hash to its name and recompress to the source's exact block file; a raw one must
 * decompress to its length and hash to its name. codecs holds HFC_LEVEL_MAX + 1 codec pointers
 * (NULL: made on demand, freed by the caller); scratch holds bound(len) bytes. Sets *ret_file
 * to buf or scratch. Returns 0, -EBADMSG when the block is not what the bundle says, -EILSEQ
 * when recompressing does not reproduce the source's block file (another libdeflate), or -errno.
 */
int hfc_bundle_block_encode(const HfcBundleBlock *b, HfcHashAlgo algo, HfcCodec **codecs,
			    void *buf, void *scratch, const void **ret_file);

/* ---- applying a bundle (the receiving side) ---- */

typedef struct HfcApplyOptions {
	bool force;    /* accept a base or parent other than SITE's current version, or a
			  version other than the next one */
	unsigned jobs; /* 0: all cores */
	HfcProgress progress;
	HfcKey *const *trusted; /* with ntrusted > 0: the bundle's index must be signed by one */
	size_t ntrusted;
	int64_t now;		 /* for the signature's expiry */
	const HfcKey *sign_key;	 /* sign what is published (NULL: keep the bundle's signature) */
	int64_t sign_expires;
} HfcApplyOptions;

typedef struct HfcApplyResult {
	HfcBundleKind kind;
	uint32_t base, version;
	bool already;          /* SITE had the version: nothing was done (but maybe resigned) */
	bool resigned;         /* ... except taking the bundle's newer signature (with trust) */
	bool parent_rewritten; /* --force published it with SITE's latest version as parent */
	bool parent_kept;      /* published on a new site with a parent it does not hold */
	uint64_t blocks;       /* block files the bundle carries */
	uint64_t written, written_bytes; /* block files installed */
	uint64_t present;      /* carried blocks SITE already had */
	uint64_t bundle_bytes;
	double seconds;
} HfcApplyResult;

/*
 * Applies the bundle at bundle_path ("-": stdin) to the site at site_path under its exclusive
 * lock: checks the bundle's signature (with trusted keys) and the bundle against SITE — B must
 * be the version after SITE's newest unless force —, rebuilds and installs the block files,
 * then publishes B (its index last). On any failure SITE is left as it was. Returns 0 or
 * -errno with err filled.
 */
int hfc_bundle_apply(const char *bundle_path, const char *site_path, const HfcApplyOptions *o,
		     HfcApplyResult *res, HfcErr *err);
