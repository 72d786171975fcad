/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading a bundle (docs/FORMAT.md §12): the tar's entries in their order, each bounded by the
 * manifest before it is read, then the recipes of the delta stream and the plain block files.
 * Everything is hostile input: no name becomes a path, no claimed size an allocation before the
 * bytes are there, and a block counts only when B names it, once, with its sizes.
 */
#include "delta/delta-private.h"

#include "base/digest.h"
#include "base/hashset.h"
#include "formats/profile.h"
#include "fs/tar.h"
#include "site/layout.h"

#include <stdio.h>
#include <string.h>

struct HfcBundleReader {
	HfcTarReader *tar;
	char *display;
	HfcBundleManifest m;
	HfcIndex *idx;
	HfcProfile *profile;
	HfcBundleBase *bases;
	size_t hl;
	HfcHashMap *names; /* B's names -> stored | len << 32 | SEEN */
	HfcCodec *codec;
	/* the delta stream */
	uint64_t delta_left; /* bytes of the delta entry not read yet */
	uint8_t *frame, *cframe;
	size_t frame_len, frame_pos;
	bool short_frame; /* a frame under HFC_DELTA_FRAME_MIN was read: it must be the last */
	uint64_t recipes_done, raw_done;
	bool have_last;
	uint64_t last_base;
	uint32_t last_page;
	uint8_t *ring;
	uint16_t *ring_len;
	size_t ring_cap; /* pages allocated in ring */
	uint64_t lit_count;
	bool done;
	int error; /* once a call fails, every later one fails the same way */
	HfcErr error_msg;
};

#define NAME_SEEN (UINT64_C(1) << 63)

const HfcBundleManifest *hfc_bundle_reader_manifest(const HfcBundleReader *r)
{
	return &r->m;
}

HfcIndex *hfc_bundle_reader_index(HfcBundleReader *r)
{
	return r->idx;
}

const HfcProfile *hfc_bundle_reader_profile(const HfcBundleReader *r)
{
	return r->profile;
}

const HfcBundleBase *hfc_bundle_reader_bases(const HfcBundleReader *r, size_t *ret_n)
{
	*ret_n = (size_t)r->m.bases;
	return r->bases;
}

void hfc_bundle_reader_free(HfcBundleReader *r)
{
	if (!r)
		return;
	hfc_tar_reader_free(r->tar);
	free(r->display);
	hfc_index_free(r->idx);
	hfc_profile_free(r->profile);
	free(r->bases);
	hfc_hashmap_free(r->names);
	hfc_codec_free(r->codec);
	free(r->frame);
	free(r->cframe);
	free(r->ring);
	free(r->ring_len);
	free(r);
}

/* ---- entries ---- */

/* The checks every entry passes before its name or size means anything. */
static int check_entry(HfcBundleReader *r, const HfcTarEntry *e, HfcErr *err)
{
	const char *n = e->name;
	bool dotdot = strcmp(n, "..") == 0 || strncmp(n, "../", 3) == 0 || strstr(n, "/../") ||
		      (strlen(n) >= 3 && strcmp(n + strlen(n) - 3, "/..") == 0);
	if (n[0] == '/' || dotdot)
		return hfc_err_set(err, -EBADMSG,
				   "%s: entry '%s': unsafe path (absolute or with '..'); refused",
				   r->display, n);
	static const char *const what[] = {
		[HFC_TAR_DIR] = "a directory",
		[HFC_TAR_SYMLINK] = "a symbolic link",
		[HFC_TAR_HARDLINK] = "a hard link",
		[HFC_TAR_DEVICE] = "a device",
		[HFC_TAR_OTHER] = "not a regular file",
	};
	if (e->type != HFC_TAR_FILE)
		return hfc_err_set(err, -EBADMSG,
				   "%s: entry '%s' is %s; a bundle holds regular files only",
				   r->display, n, what[e->type]);
	if (e->sparse)
		return hfc_err_set(err, -EBADMSG, "%s: entry '%s' is a sparse file; refused",
				   r->display, n);
	return 0;
}

/* Reads the next entry, which must be `name` of exactly `size` bytes. */
static int expect_entry(HfcBundleReader *r, const char *name, uint64_t size, HfcErr *err)
{
	HfcTarEntry e;
	int k = hfc_tar_reader_next(r->tar, &e, err);
	if (k < 0)
		return k;
	if (k == 0)
		return hfc_err_set(err, -EBADMSG, "%s: truncated bundle: entry '%s' is missing",
				   r->display, name);
	k = check_entry(r, &e, err);
	if (k < 0)
		return k;
	if (strcmp(e.name, name) != 0)
		return hfc_err_set(err, -EBADMSG, "%s: unexpected entry '%s' (expected '%s')",
				   r->display, e.name, name);
	if (e.size != size)
		return hfc_err_set(err, -EBADMSG,
				   "%s: entry '%s' claims %llu bytes, the manifest says %llu; refused",
				   r->display, name, (unsigned long long)e.size,
				   (unsigned long long)size);
	return 0;
}

/*
 * Reads the current entry's size bytes into a new buffer, growing it as data arrives: a claimed
 * size is not trusted with an allocation until the bytes are really there.
 */
static int read_entry_alloc(HfcBundleReader *r, uint64_t size, uint8_t **ret, HfcErr *err)
{
	size_t cap = (size_t)MIN(size, (uint64_t)1 << 20), have = 0;
	_cleanup_free_ uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	while (have < size) {
		if (have == cap) {
			size_t ncap = (size_t)MIN((uint64_t)cap * 2, size);
			uint8_t *nb = realloc(buf, ncap);
			if (!nb)
				return hfc_err_set(err, -ENOMEM, "out of memory");
			buf = nb;
			cap = ncap;
		}
		size_t chunk = MIN(cap - have, (size_t)1 << 20);
		int k = hfc_tar_reader_read(r->tar, buf + have, chunk, err);
		if (k < 0)
			return k;
		have += chunk;
	}
	*ret = TAKE_PTR(buf);
	return 0;
}

/* A text entry: how to parse it, named "display:entry" in its messages. */
typedef int (*TextParseFn)(HfcBundleReader *r, const char *buf, size_t len, const char *where,
			   HfcErr *err);

/* Reads the current entry (size bytes) and hands it to parse. */
static int read_text(HfcBundleReader *r, const char *entry, uint64_t size, TextParseFn parse,
		     HfcErr *err)
{
	_cleanup_free_ uint8_t *buf = NULL;
	int k = read_entry_alloc(r, size, &buf, err);
	if (k < 0)
		return k;
	char where[4096];
	snprintf(where, sizeof(where), "%s:%s", r->display, entry);
	return parse(r, (const char *)buf, (size_t)size, where, err);
}

static int parse_manifest(HfcBundleReader *r, const char *buf, size_t len, const char *where,
			  HfcErr *err)
{
	int k = hfc_bundle_manifest_parse(buf, len, where, &r->m, err);
	r->hl = hfc_hash_len(r->m.hash);
	return k;
}

static int parse_index(HfcBundleReader *r, const char *buf, size_t len, const char *where,
		       HfcErr *err)
{
	int k = hfc_index_parse(buf, len, where, &r->idx, err);
	if (k < 0)
		return k;
	if (r->idx->version != r->m.target || memcmp(r->idx->end_sha256, r->m.target_sha256, 32) ||
	    r->idx->block_size != r->m.block_size || r->idx->hash != r->m.hash)
		return hfc_err_set(err, -EBADMSG,
				   "%s: index.idx is not the version %u the manifest names",
				   r->display, r->m.target);
	return 0;
}

/* Checked like any profile, and against B: it is installed as B's. */
static int parse_profile(HfcBundleReader *r, const char *buf, size_t len, const char *where,
			 HfcErr *err)
{
	int k = hfc_profile_parse(buf, len, where, &r->profile, err);
	if (k < 0)
		return k;
	if (r->profile->version != r->m.target)
		return hfc_err_set(err, -EBADMSG, "%s: profile is for version %u, not %u",
				   r->display, r->profile->version, r->m.target);
	if (hfc_profile_match(r->profile, r->idx, NULL, NULL, NULL, err) < 0)
		return hfc_err_set(err, -EBADMSG, "%s: profile does not fit version %u's image",
				   r->display, r->m.target);
	return 0;
}

/* The manifest: first, short, and it bounds everything after it. */
static int read_manifest(HfcBundleReader *r, HfcErr *err)
{
	HfcTarEntry e;
	int k = hfc_tar_reader_next(r->tar, &e, err);
	if (k == 0 || k == -EBADMSG)
		return hfc_err_set(err, -EBADMSG, "%s: not a bundle (no tar archive starting with "
						  "an hfc-bundle entry)", r->display);
	if (k < 0)
		return k;
	k = check_entry(r, &e, err);
	if (k < 0)
		return k;
	if (strcmp(e.name, "hfc-bundle") != 0)
		return hfc_err_set(err, -EBADMSG,
				   "%s: not a bundle (first entry '%s', not 'hfc-bundle')", r->display,
				   e.name);
	if (e.size > HFC_BUNDLE_MANIFEST_MAX)
		return hfc_err_set(err, -EBADMSG, "%s: manifest claims %llu bytes; refused",
				   r->display, (unsigned long long)e.size);
	return read_text(r, "hfc-bundle", e.size, parse_manifest, err);
}

/* The bases table: each entry's sizes in range before a COPY may use them. */
static int read_bases(HfcBundleReader *r, HfcErr *err)
{
	size_t rec = r->hl + 8;
	int k = expect_entry(r, "bases", r->m.bases * rec, err);
	if (k < 0 || r->m.bases == 0)
		return k;
	_cleanup_free_ uint8_t *buf = NULL;
	k = read_entry_alloc(r, r->m.bases * rec, &buf, err);
	if (k < 0)
		return k;
	r->bases = calloc((size_t)r->m.bases, sizeof(*r->bases));
	if (!r->bases)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	size_t bound = hfc_codec_bound(r->m.block_size);
	for (uint64_t i = 0; i < r->m.bases; i++) {
		const uint8_t *p = buf + i * rec;
		HfcBundleBase *b = &r->bases[i];
		memcpy(b->hash, p, r->hl);
		b->stored = get_u32(p + r->hl);
		b->len = get_u32(p + r->hl + 4);
		if (b->stored == 0 || b->stored > bound || b->len == 0 || b->len > r->m.block_size)
			return hfc_err_set(err, -EBADMSG, "%s: bases: entry %llu is out of range",
					   r->display, (unsigned long long)i);
	}
	return 0;
}

/* B's names: each carried block must be one of them, with its length and size. */
static int load_names(HfcBundleReader *r, HfcErr *err)
{
	int k = hfc_hashmap_new(r->hl, &r->names);
	if (k < 0)
		return hfc_err_set(err, k, "out of memory");
	for (uint64_t i = 0; i < r->idx->nblocks; i++) {
		const HfcIndexEntry *x = &r->idx->entries[i];
		if (!x->stored)
			continue;
		uint64_t v = x->stored | (uint64_t)hfc_index_block_len(r->idx, i) << 32;
		if (hfc_hashmap_put(r->names, x->hash, v, NULL) < 0)
			return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

int hfc_bundle_reader_open(int fd, const char *display, HfcBundleReader **ret, HfcErr *err)
{
	_cleanup_(hfc_bundle_reader_freep) HfcBundleReader *r = calloc(1, sizeof(*r));
	if (!r || !(r->display = strdup(display)))
		return hfc_err_set(err, -ENOMEM, "out of memory");
	int k = hfc_tar_reader_new(fd, display, &r->tar, err);
	if (k == -EBADMSG)
		return hfc_err_set(err, k, "%s: not a bundle (no tar archive starting with an "
					   "hfc-bundle entry)", display);
	if (k >= 0)
		k = read_manifest(r, err);
	if (k >= 0)
		k = expect_entry(r, HFC_SITE_CURRENT, r->m.index_bytes, err);
	if (k >= 0)
		k = read_text(r, HFC_SITE_CURRENT, r->m.index_bytes, parse_index, err);
	if (k >= 0 && r->m.profile_bytes) {
		k = expect_entry(r, "profile", r->m.profile_bytes, err);
		if (k >= 0)
			k = read_text(r, "profile", r->m.profile_bytes, parse_profile, err);
	}
	if (k >= 0 && r->m.kind == HFC_BUNDLE_DELTA) {
		k = read_bases(r, err);
		if (k >= 0)
			k = expect_entry(r, "delta", r->m.delta_bytes, err);
		r->delta_left = r->m.delta_bytes;
	}
	if (k >= 0)
		k = load_names(r, err);
	if (k >= 0 && (k = hfc_codec_new(HFC_LEVEL_DEFAULT, &r->codec)) < 0)
		hfc_err_set(err, k, "out of memory");
	if (k < 0)
		return k;
	*ret = TAKE_PTR(r);
	return 0;
}

/* ---- the delta stream ---- */

/* Loads the next frame of the delta stream. */
static int next_frame(HfcBundleReader *r, HfcErr *err)
{
	if (r->delta_left == 0)
		return hfc_err_set(err, -EBADMSG, "%s: delta: stream ends in the middle of a recipe",
				   r->display);
	if (r->short_frame)
		return hfc_err_set(err, -EBADMSG, "%s: delta: a short frame is not the last one",
				   r->display);
	uint8_t hdr[HFC_DELTA_FRAME_HDR];
	if (r->delta_left < sizeof(hdr))
		return hfc_err_set(err, -EBADMSG, "%s: delta: truncated frame header", r->display);
	int k = hfc_tar_reader_read(r->tar, hdr, sizeof(hdr), err);
	if (k < 0)
		return k;
	r->delta_left -= sizeof(hdr);
	uint32_t clen = get_u32(hdr), ulen = get_u32(hdr + 4);
	if (ulen == 0 || ulen > HFC_DELTA_FRAME_MAX || clen == 0 || clen > hfc_codec_bound(ulen) ||
	    clen > r->delta_left)
		return hfc_err_set(err, -EBADMSG, "%s: delta: bad frame header (%u -> %u bytes)",
				   r->display, clen, ulen);
	if (!r->frame) {
		r->frame = malloc(HFC_DELTA_FRAME_MAX);
		r->cframe = malloc(hfc_codec_bound(HFC_DELTA_FRAME_MAX));
		if (!r->frame || !r->cframe)
			return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	k = hfc_tar_reader_read(r->tar, r->cframe, clen, err);
	if (k < 0)
		return k;
	r->delta_left -= clen;
	k = hfc_codec_decompress(r->codec, r->cframe, clen, r->frame, ulen);
	if (k < 0)
		return hfc_err_set(err, k, "%s: delta: corrupt frame (%s)", r->display,
				   k == -EBADMSG ? "bad zlib stream or checksum" : strerror(-k));
	r->frame_len = ulen;
	r->frame_pos = 0;
	r->short_frame = ulen < HFC_DELTA_FRAME_MIN;
	return 0;
}

static int stream_read(HfcBundleReader *r, void *dst, size_t n, HfcErr *err)
{
	uint8_t *p = dst;
	while (n > 0) {
		if (r->frame_pos == r->frame_len) {
			int k = next_frame(r, err);
			if (k < 0)
				return k;
		}
		size_t c = MIN(n, r->frame_len - r->frame_pos);
		memcpy(p, r->frame + r->frame_pos, c);
		r->frame_pos += c;
		p += c;
		n -= c;
	}
	return 0;
}

/* Looks a carried block up in B's names and marks it carried. */
static int claim_name(HfcBundleReader *r, const uint8_t *hash, uint32_t len, uint32_t stored,
		      HfcErr *err)
{
	char hex[2 * HFC_HASH_MAX + 1];
	hfc_hex_encode(hash, r->hl, hex);
	uint64_t v;
	if (!hfc_hashmap_get(r->names, hash, &v))
		return hfc_err_set(err, -EBADMSG, "%s: block %s is not named by version %u", r->display,
				   hex, r->m.target);
	if (v & NAME_SEEN)
		return hfc_err_set(err, -EBADMSG, "%s: block %s is carried twice", r->display, hex);
	if ((uint32_t)v != stored || (uint32_t)(v >> 32 & 0x7fffffff) != len)
		return hfc_err_set(err, -EBADMSG,
				   "%s: block %s: length or stored size differs from version %u",
				   r->display, hex, r->m.target);
	(void)hfc_hashmap_set(r->names, hash, v | NAME_SEEN);
	return 0;
}

static int ring_put(HfcBundleReader *r, const uint8_t *page, size_t n, HfcErr *err)
{
	size_t slot = (size_t)(r->lit_count % HFC_DELTA_WINDOW);
	if (slot >= r->ring_cap) {
		size_t ncap = r->ring_cap ? MIN(r->ring_cap * 2, (size_t)HFC_DELTA_WINDOW) : 256;
		uint8_t *nr = realloc(r->ring, ncap * HFC_PAGE_SIZE);
		if (!nr)
			return hfc_err_set(err, -ENOMEM, "out of memory");
		r->ring = nr;
		r->ring_cap = ncap;
		if (!r->ring_len && !(r->ring_len = calloc(HFC_DELTA_WINDOW, sizeof(uint16_t))))
			return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(r->ring + slot * HFC_PAGE_SIZE, page, n);
	r->ring_len[slot] = (uint16_t)(n - 1);
	r->lit_count++;
	return 0;
}

/* A COPY or NEXT op: n bytes of a base block's page, checked to lie inside the block. */
static int copy_page(HfcBundleReader *r, uint8_t op, HfcBasePageFn get, void *ctx, uint8_t *dst,
		     size_t n, HfcErr *err)
{
	uint64_t base;
	uint32_t page;
	if (op == DELTA_OP_COPY) {
		uint8_t a[6];
		int k = stream_read(r, a, sizeof(a), err);
		if (k < 0)
			return k;
		base = get_u32(a);
		page = get_u16(a + 4);
	} else {
		if (!r->have_last)
			return hfc_err_set(err, -EBADMSG, "%s: delta: NEXT without a COPY before it",
					   r->display);
		base = r->last_base;
		page = r->last_page + 1;
	}
	if (base >= r->m.bases || (uint64_t)page * HFC_PAGE_SIZE + n > r->bases[base].len)
		return hfc_err_set(err, -EBADMSG,
				   "%s: delta: page copy out of range (base %llu, page %u)",
				   r->display, (unsigned long long)base, page);
	int k = get(ctx, base, page, dst, n, err);
	if (k < 0)
		return k;
	r->have_last = true;
	r->last_base = base;
	r->last_page = page;
	return 0;
}

/* A REPEAT op: a recent literal page of this page's length again. */
static int repeat_page(HfcBundleReader *r, uint8_t *dst, size_t n, HfcErr *err)
{
	uint8_t a[2];
	int k = stream_read(r, a, sizeof(a), err);
	if (k < 0)
		return k;
	uint32_t d = get_u16(a);
	if (d == 0 || d > HFC_DELTA_WINDOW || d > r->lit_count)
		return hfc_err_set(err, -EBADMSG, "%s: delta: repeat of page -%u is out of range",
				   r->display, d);
	size_t slot = (size_t)((r->lit_count - d) % HFC_DELTA_WINDOW);
	if ((size_t)r->ring_len[slot] + 1 != n)
		return hfc_err_set(err, -EBADMSG, "%s: delta: repeat of a page of another length",
				   r->display);
	memcpy(dst, r->ring + slot * HFC_PAGE_SIZE, n);
	return 0;
}

static int next_recipe(HfcBundleReader *r, HfcBasePageFn get, void *ctx, HfcBundleBlock *b,
		       uint8_t *out, HfcErr *err)
{
	uint8_t hdr[HFC_DELTA_REC_FIXED(HFC_HASH_MAX)];
	size_t hl = r->hl;
	int k = stream_read(r, hdr, HFC_DELTA_REC_FIXED(hl), err);
	if (k < 0)
		return k;
	*b = (HfcBundleBlock){ 0 };
	memcpy(b->hash, hdr, hl);
	b->len = get_u32(hdr + hl);
	b->stored = get_u32(hdr + hl + 4);
	b->level = hdr[hl + 8];
	memcpy(b->stored_sha256, hdr + hl + 9, 32);
	if (b->level < HFC_LEVEL_MIN || b->level > HFC_LEVEL_MAX)
		return hfc_err_set(err, -EBADMSG, "%s: delta: recipe %llu: bad level %d", r->display,
				   (unsigned long long)r->recipes_done, b->level);
	k = claim_name(r, b->hash, b->len, b->stored, err);
	if (k < 0)
		return k;
	uint32_t pages = DIV_ROUND_UP(b->len, HFC_PAGE_SIZE);
	for (uint32_t p = 0; p < pages && k >= 0; p++) {
		size_t n = delta_page_len(b->len, p);
		uint8_t *dst = out + (size_t)p * HFC_PAGE_SIZE;
		uint8_t op;
		k = stream_read(r, &op, 1, err);
		if (k < 0)
			return k;
		switch (op) {
		case DELTA_OP_ZERO:
			memset(dst, 0, n);
			break;
		case DELTA_OP_COPY:
		case DELTA_OP_NEXT:
			k = copy_page(r, op, get, ctx, dst, n, err);
			break;
		case DELTA_OP_LIT:
			k = stream_read(r, dst, n, err);
			if (k >= 0)
				k = ring_put(r, dst, n, err);
			break;
		case DELTA_OP_REPEAT:
			k = repeat_page(r, dst, n, err);
			break;
		default:
			return hfc_err_set(err, -EBADMSG, "%s: delta: unknown op %u", r->display, op);
		}
	}
	return k;
}

/* ---- plain block files ---- */

/* blocks/XY/NAME exactly: the path the site's layout gives NAME, a name of the site's hash. */
static bool block_entry_name(const char *name, HfcHashAlgo algo, uint8_t *hash)
{
	const char *leaf = strrchr(name, '/');
	uint8_t dir;
	if (!leaf || leaf - name < 2 || hfc_hex_decode(leaf - 2, 1, &dir) < 0 ||
	    !hfc_block_name_parse(algo, dir, leaf + 1, hash))
		return false;
	char p[HFC_BLOCK_PATH_MAX];
	hfc_block_path(algo, hash, p);
	return strcmp(p, name) == 0;
}

static int next_raw(HfcBundleReader *r, HfcBundleBlock *b, void *buf, HfcErr *err)
{
	HfcTarEntry e;
	int k = hfc_tar_reader_next(r->tar, &e, err);
	if (k < 0)
		return k;
	if (k == 0) {
		if (r->raw_done < r->m.raw_blocks)
			return hfc_err_set(err, -EBADMSG,
					   "%s: truncated bundle: %llu of %llu block files", r->display,
					   (unsigned long long)r->raw_done,
					   (unsigned long long)r->m.raw_blocks);
		r->done = true;
		return 0;
	}
	k = check_entry(r, &e, err);
	if (k < 0)
		return k;
	if (r->raw_done == r->m.raw_blocks)
		return hfc_err_set(err, -EBADMSG, "%s: unexpected entry '%s' after the last block file",
				   r->display, e.name);
	*b = (HfcBundleBlock){ .raw = true };
	if (!block_entry_name(e.name, r->m.hash, b->hash))
		return hfc_err_set(err, -EBADMSG, "%s: unexpected entry '%s' (expected a block file)",
				   r->display, e.name);
	uint64_t v;
	if (!hfc_hashmap_get(r->names, b->hash, &v))
		return hfc_err_set(err, -EBADMSG, "%s: %s is not named by version %u", r->display,
				   e.name, r->m.target);
	if (e.size != (uint32_t)v)
		return hfc_err_set(err, -EBADMSG,
				   "%s: entry '%s' claims %llu bytes, version %u says %u; refused",
				   r->display, e.name, (unsigned long long)e.size, r->m.target,
				   (uint32_t)v);
	b->stored = (uint32_t)v;
	b->len = (uint32_t)(v >> 32 & 0x7fffffff);
	k = claim_name(r, b->hash, b->len, b->stored, err);
	if (k < 0)
		return k;
	k = hfc_tar_reader_read(r->tar, buf, b->stored, err);
	if (k < 0)
		return k;
	r->raw_done++;
	return 1;
}

static int reader_next(HfcBundleReader *r, HfcBasePageFn get, void *ctx, HfcBundleBlock *ret,
		       void *buf, HfcErr *err)
{
	if (r->done)
		return 0;
	if (r->recipes_done == r->m.recipes)
		return next_raw(r, ret, buf, err);
	int k = next_recipe(r, get, ctx, ret, buf, err);
	if (k < 0)
		return k;
	r->recipes_done++;
	if (r->recipes_done == r->m.recipes && (r->frame_pos != r->frame_len || r->delta_left != 0))
		return hfc_err_set(err, -EBADMSG, "%s: delta: data after the last recipe",
				   r->display);
	return 1;
}

int hfc_bundle_reader_next(HfcBundleReader *r, HfcBasePageFn get, void *ctx, HfcBundleBlock *ret,
			   void *buf, HfcErr *err)
{
	/* The stream has no resynchronisation point: after an error, nothing read is trusted. */
	if (r->error) {
		if (err)
			*err = r->error_msg;
		return r->error;
	}
	HfcErr e = { "" };
	int k = reader_next(r, get, ctx, ret, buf, &e);
	if (k < 0) {
		r->error = k;
		r->error_msg = e;
	}
	if (err)
		*err = e;
	return k;
}

int hfc_bundle_block_encode(const HfcBundleBlock *b, HfcHashAlgo algo, HfcCodec **codecs,
			    void *buf, void *scratch, const void **ret_file)
{
	int level = b->raw ? HFC_LEVEL_DEFAULT : b->level;
	if (level < HFC_LEVEL_MIN || level > HFC_LEVEL_MAX)
		return -EINVAL;
	if (!codecs[level]) {
		int r = hfc_codec_new(level, &codecs[level]);
		if (r < 0)
			return r;
	}
	if (b->raw) {
		int r = hfc_block_decode_verified(codecs[level], algo, b->hash, buf, b->stored,
						  scratch, b->len);
		if (r < 0)
			return r;
		*ret_file = buf;
		return 0;
	}
	uint8_t got[HFC_HASH_MAX];
	int r = hfc_digest(algo, buf, b->len, got);
	if (r < 0)
		return r;
	if (memcmp(got, b->hash, hfc_hash_len(algo)) != 0)
		return -EBADMSG;
	ssize_t n = hfc_codec_compress(codecs[level], buf, b->len, scratch,
				       hfc_codec_bound(b->len));
	if (n < 0)
		return (int)n;
	uint8_t sha[32];
	if ((size_t)n != b->stored || hfc_digest(HFC_HASH_SHA256, scratch, (size_t)n, sha) < 0 ||
	    memcmp(sha, b->stored_sha256, 32) != 0)
		return -EILSEQ;
	*ret_file = scratch;
	return 0;
}
