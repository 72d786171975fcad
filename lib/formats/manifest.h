/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The manifest of a bundle (docs/FORMAT.md §12.2): the first entry, "hfc-bundle", a strict text
 * file in the style of the index that says what the bundle carries and bounds the size of every
 * entry after it. Parsed as hostile input; errors name "file:line".
 */

#include "base/digest.h"
#include "base/util.h"

#define HFC_BUNDLE_MAGIC "hfc-bundle 1"
/* The manifest entry is at most this long. */
#define HFC_BUNDLE_MANIFEST_MAX 4096u
/* A profile carried in a bundle is at most this long. */
#define HFC_BUNDLE_PROFILE_MAX (64u << 20)

/* The sizes of the delta stream (§12.5, §12.6) that bound what a manifest may claim. */
#define HFC_PAGE_SIZE 4096u
/* Every frame but the last inflates to at least this many bytes (bounds the framing overhead). */
#define HFC_DELTA_FRAME_MIN 65536u
/* A frame header: u32 compressed length, u32 inflated length. */
#define HFC_DELTA_FRAME_HDR 8u
/* A record's fixed part: name, u32 length, u32 stored size, u8 level, sha256 of the file. */
#define HFC_DELTA_REC_FIXED(hl) ((hl) + 4 + 4 + 1 + 32)

typedef enum HfcBundleKind {
	HFC_BUNDLE_DELTA,
	HFC_BUNDLE_FULL,
} HfcBundleKind;

/* The first entry of a bundle, "hfc-bundle": what it carries, and the sizes of everything. */
typedef struct HfcBundleManifest {
	HfcBundleKind kind;
	uint32_t base; /* the version the recipes need (0: none; full bundles) */
	uint8_t base_sha256[32];
	uint32_t target; /* the version the bundle carries */
	uint8_t target_sha256[32];
	HfcHashAlgo hash;
	uint32_t block_size;
	uint64_t index_bytes;
	uint64_t profile_bytes; /* 0: no profile */
	uint64_t bases;         /* entries of the bases table (delta only) */
	uint64_t recipes;       /* blocks rebuilt from the delta stream */
	uint64_t delta_bytes;   /* bytes of the delta entry (delta only) */
	uint64_t raw_blocks;    /* plain block files carried as blocks/XY/NAME entries */
} HfcBundleManifest;

/* Returns the most bytes a delta entry of m may have: larger claims are refused unread. */
uint64_t hfc_bundle_delta_max(const HfcBundleManifest *m);

/*
 * Parses a manifest (len bytes). fname names it in errors ("fname:line: what"). Returns 0 or
 * -EBADMSG with err filled.
 */
int hfc_bundle_manifest_parse(const char *buf, size_t len, const char *fname,
			      HfcBundleManifest *ret, HfcErr *err);

/* Serialises a manifest (with its end line) into a new buffer; returns 0 or -errno. */
int hfc_bundle_manifest_format(const HfcBundleManifest *m, char **ret_buf, size_t *ret_len);
