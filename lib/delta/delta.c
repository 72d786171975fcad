/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Delta bundles: the manifest, the page recipes and the bundle reader (docs/FORMAT.md §12).
 * Making a bundle is in delta-make.c, applying one in delta-apply.c.
 */
#include "delta/delta-private.h"

#include "fs/tar.h"
#include "base/digest.h"
#include "base/parse.h"
#include "formats/profile.h"

#include <stdio.h>
#include <string.h>

/* ---- manifest ---- */

static const char *const manifest_keys[] = {
	"kind",	     "base",	"target",	"hash",	   "block-size", "index-bytes",
	"profile-bytes", "bases", "recipes", "delta-bytes", "raw-blocks",
};

uint64_t hfc_bundle_delta_max(const HfcBundleManifest *m)
{
	/* The longest record: its fixed part, then a literal op and 4096 bytes for every page. */
	uint64_t pages = DIV_ROUND_UP((uint64_t)m->block_size, HFC_PAGE_SIZE);
	uint64_t rec = DELTA_REC_FIXED(hfc_hash_len(m->hash)) + pages * (1 + HFC_PAGE_SIZE);
	uint64_t l = m->recipes * rec;
	/* Framing: every frame but the last is at least HFC_DELTA_FRAME_MIN bytes inflated. */
	uint64_t frames = l / HFC_DELTA_FRAME_MIN + 1;
	return l + l / 512 + frames * (DELTA_FRAME_HDR + 128);
}

static bool is_hex_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* "N SHA256HEX" with 1 <= N <= HFC_VERSION_MAX. */
static int parse_version_sha(const char *v, size_t n, uint32_t *ret, uint8_t sha[32])
{
	const char *sp = memchr(v, ' ', n);
	uint64_t x;
	if (!sp || hfc_parse_canonical(v, (size_t)(sp - v), HFC_VERSION_MAX, &x) < 0 || x == 0)
		return -EINVAL;
	size_t hn = n - (size_t)(sp - v) - 1;
	if (hn != 64 || !is_hex_lower(sp + 1, 64) || hfc_hex_decode(sp + 1, 32, sha) < 0)
		return -EINVAL;
	*ret = (uint32_t)x;
	return 0;
}

int hfc_bundle_manifest_parse(const char *buf, size_t len, const char *fname,
			      HfcBundleManifest *ret, HfcErr *err)
{
	HfcBundleManifest m = { 0 };
	size_t pos = 0;
	unsigned line = 0;
	size_t ml = strlen(HFC_BUNDLE_MAGIC);
	if (len > HFC_BUNDLE_MANIFEST_MAX)
		return hfc_err_set(err, -EBADMSG, "%s: manifest longer than %u bytes", fname,
				   HFC_BUNDLE_MANIFEST_MAX);
	if (memchr(buf, 0, len))
		return hfc_err_set(err, -EBADMSG, "%s: NUL byte in the manifest", fname);
	for (unsigned k = 0; k <= ELEMENTSOF(manifest_keys) + 1; k++) {
		line++;
		const char *nl = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
		if (!nl)
			return hfc_err_set(err, -EBADMSG, "%s:%u: truncated manifest", fname, line);
		const char *s = buf + pos;
		size_t n = (size_t)(nl - s);
		size_t body = pos;
		pos += n + 1;
		if (k == 0) {
			if (n != ml || memcmp(s, HFC_BUNDLE_MAGIC, ml) != 0)
				return hfc_err_set(err, -EBADMSG, "%s:1: not a bundle manifest (expected '%s')",
						   fname, HFC_BUNDLE_MAGIC);
			continue;
		}
		const char *want = k <= ELEMENTSOF(manifest_keys) ? manifest_keys[k - 1] : "end";
		size_t kl = strlen(want);
		if (n < kl + 2 || memcmp(s, want, kl) != 0 || s[kl] != ' ')
			return hfc_err_set(err, -EBADMSG, "%s:%u: expected '%s'", fname, line, want);
		const char *v = s + kl + 1;
		size_t vn = n - kl - 1;
		uint64_t x = 0;
		int r = 0;
		switch (k) {
		case 1:
			if (vn == 5 && memcmp(v, "delta", 5) == 0)
				m.kind = HFC_BUNDLE_DELTA;
			else if (vn == 4 && memcmp(v, "full", 4) == 0)
				m.kind = HFC_BUNDLE_FULL;
			else
				r = -EINVAL;
			break;
		case 2:
			if (vn == 4 && memcmp(v, "none", 4) == 0)
				m.base = 0;
			else
				r = parse_version_sha(v, vn, &m.base, m.base_sha256);
			if (r >= 0 && (m.kind == HFC_BUNDLE_FULL) != (m.base == 0))
				return hfc_err_set(err, -EBADMSG,
						   "%s:%u: a %s bundle must have %s base", fname, line,
						   m.kind == HFC_BUNDLE_FULL ? "full" : "delta",
						   m.kind == HFC_BUNDLE_FULL ? "no" : "a");
			break;
		case 3:
			r = parse_version_sha(v, vn, &m.target, m.target_sha256);
			break;
		case 4:
			if (vn == 3 && memcmp(v, "md5", 3) == 0)
				m.hash = HFC_HASH_MD5;
			else if (vn == 6 && memcmp(v, "sha256", 6) == 0)
				m.hash = HFC_HASH_SHA256;
			else
				r = -EINVAL;
			break;
		case 5:
			r = hfc_parse_canonical(v, vn, HFC_BLOCK_SIZE_MAX, &x);
			if (r >= 0 && !hfc_block_size_valid(x))
				r = -EINVAL;
			m.block_size = (uint32_t)x;
			break;
		case 6:
			r = hfc_parse_canonical(v, vn, HFC_INDEX_MAX_BYTES, &m.index_bytes);
			if (r >= 0 && m.index_bytes == 0)
				r = -EINVAL;
			break;
		case 7:
			r = hfc_parse_canonical(v, vn, HFC_BUNDLE_PROFILE_MAX, &m.profile_bytes);
			break;
		case 8:
			r = hfc_parse_canonical(v, vn, HFC_INDEX_MAX_BLOCKS, &m.bases);
			break;
		case 9:
			r = hfc_parse_canonical(v, vn, HFC_INDEX_MAX_BLOCKS, &m.recipes);
			break;
		case 10:
			r = hfc_parse_canonical(v, vn, UINT64_MAX, &m.delta_bytes);
			if (r >= 0 && m.delta_bytes > hfc_bundle_delta_max(&m))
				return hfc_err_set(err, -EBADMSG,
						   "%s:%u: delta-bytes %llu is more than %llu recipes can need",
						   fname, line, (unsigned long long)m.delta_bytes,
						   (unsigned long long)m.recipes);
			break;
		case 11:
			r = hfc_parse_canonical(v, vn, HFC_INDEX_MAX_BLOCKS, &m.raw_blocks);
			if (r >= 0 && m.recipes + m.raw_blocks > HFC_INDEX_MAX_BLOCKS)
				r = -EINVAL;
			break;
		default: {
			uint8_t want_sha[32], got[32];
			if (vn != 64 || !is_hex_lower(v, 64) || hfc_hex_decode(v, 32, want_sha) < 0)
				return hfc_err_set(err, -EBADMSG, "%s:%u: bad end line", fname, line);
			r = hfc_digest(HFC_HASH_SHA256, buf, body, got);
			if (r < 0)
				return hfc_err_set(err, r, "%s: hashing failed", fname);
			if (memcmp(got, want_sha, 32) != 0)
				return hfc_err_set(err, -EBADMSG,
						   "%s:%u: end checksum does not match the manifest",
						   fname, line);
			break;
		}
		}
		if (r < 0)
			return hfc_err_set(err, -EBADMSG, "%s:%u: bad value for '%s'", fname, line,
					   want);
	}
	if (pos != len)
		return hfc_err_set(err, -EBADMSG, "%s:%u: data after the end of the manifest", fname,
				   line + 1);
	if (m.kind == HFC_BUNDLE_FULL && (m.bases || m.recipes || m.delta_bytes))
		return hfc_err_set(err, -EBADMSG, "%s: a full bundle has no recipes", fname);
	if ((m.recipes == 0) != (m.delta_bytes == 0))
		return hfc_err_set(err, -EBADMSG, "%s: recipes and delta-bytes disagree", fname);
	*ret = m;
	return 0;
}

int hfc_bundle_manifest_format(const HfcBundleManifest *m, char **ret_buf, size_t *ret_len)
{
	char *buf = malloc(HFC_BUNDLE_MANIFEST_MAX);
	if (!buf)
		return -ENOMEM;
	char bsha[65] = "", tsha[65], base[96];
	if (m->base) {
		hfc_hex_encode(m->base_sha256, 32, bsha);
		snprintf(base, sizeof(base), "%u %s", m->base, bsha);
	} else {
		snprintf(base, sizeof(base), "none");
	}
	hfc_hex_encode(m->target_sha256, 32, tsha);
	int n = snprintf(buf, HFC_BUNDLE_MANIFEST_MAX,
			 "%s\nkind %s\nbase %s\ntarget %u %s\nhash %s\nblock-size %u\n"
			 "index-bytes %llu\nprofile-bytes %llu\nbases %llu\nrecipes %llu\n"
			 "delta-bytes %llu\nraw-blocks %llu\n",
			 HFC_BUNDLE_MAGIC, m->kind == HFC_BUNDLE_FULL ? "full" : "delta", base,
			 m->target, tsha, hfc_hash_name(m->hash), m->block_size,
			 (unsigned long long)m->index_bytes, (unsigned long long)m->profile_bytes,
			 (unsigned long long)m->bases, (unsigned long long)m->recipes,
			 (unsigned long long)m->delta_bytes, (unsigned long long)m->raw_blocks);
	uint8_t sha[32];
	char hex[65];
	if (n < 0 || n + 70 > (int)HFC_BUNDLE_MANIFEST_MAX ||
	    hfc_digest(HFC_HASH_SHA256, buf, (size_t)n, sha) < 0) {
		free(buf);
		return -EINVAL;
	}
	hfc_hex_encode(sha, 32, hex);
	n += snprintf(buf + n, HFC_BUNDLE_MANIFEST_MAX - (size_t)n, "end %s\n", hex);
	*ret_buf = buf;
	*ret_len = (size_t)n;
	return 0;
}

/* ---- pages ---- */

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t hfc_page_key(const void *data, size_t len)
{
	/* Four independent lanes so the multiplies overlap; a murmur-style finish mixes them. */
	const uint8_t *p = data;
	const uint64_t k1 = 0x9e3779b97f4a7c15ULL, k2 = 0xc2b2ae3d27d4eb4fULL;
	uint64_t h[4] = { k1 ^ len, k2, k1 + k2, ~k1 };
	size_t i = 0;
	for (; i + 32 <= len; i += 32)
		for (int j = 0; j < 4; j++) {
			uint64_t w;
			memcpy(&w, p + i + 8 * j, 8);
			h[j] = rotl(h[j] ^ (w * k2), 31) * k1;
		}
	uint64_t x = rotl(h[0], 1) + rotl(h[1], 7) + rotl(h[2], 12) + rotl(h[3], 18);
	for (; i < len; i++)
		x = (x ^ p[i]) * k1;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

int page_map_init(PageMap *m, uint64_t max_entries)
{
	size_t cap = 64;
	while (cap < max_entries * 2 && cap < ((size_t)1 << 40))
		cap <<= 1;
	m->e = malloc(cap * sizeof(*m->e));
	if (!m->e)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		m->e[i].val = PAGE_MAP_EMPTY;
	m->cap = cap;
	m->n = 0;
	return 0;
}

void page_map_done(PageMap *m)
{
	free(m->e);
	m->e = NULL;
}

static PageSlot *page_map_find(const PageMap *m, uint64_t key)
{
	for (size_t i = (size_t)key & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		PageSlot *s = &m->e[i];
		if (s->val == PAGE_MAP_EMPTY || s->key == key)
			return s;
	}
}

bool page_map_get(const PageMap *m, uint64_t key, uint64_t *ret)
{
	const PageSlot *s = page_map_find(m, key);
	if (s->val == PAGE_MAP_EMPTY)
		return false;
	*ret = s->val;
	return true;
}

int page_map_put(PageMap *m, uint64_t key, uint64_t val, bool replace)
{
	PageSlot *s = page_map_find(m, key);
	if (s->val != PAGE_MAP_EMPTY) {
		if (replace)
			s->val = val;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap) {
		/* Grow: only the literal map can outgrow its first estimate. */
		PageMap nm;
		int r = page_map_init(&nm, (uint64_t)m->cap);
		if (r < 0)
			return r;
		for (size_t i = 0; i < m->cap; i++)
			if (m->e[i].val != PAGE_MAP_EMPTY)
				*page_map_find(&nm, m->e[i].key) = m->e[i];
		nm.n = m->n;
		free(m->e);
		*m = nm;
		s = page_map_find(m, key);
	}
	s->key = key;
	s->val = val;
	m->n++;
	return 1;
}

/* ---- the reader ---- */

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
	int error;        /* once a call fails, every later one fails the same way */
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
 * Reads a whole entry of size bytes into a new buffer, growing it as data arrives: a claimed
 * size is not trusted with an allocation until the bytes are really there.
 */
static int read_entry_alloc(HfcBundleReader *r, uint64_t size, uint8_t **ret, HfcErr *err)
{
	size_t cap = (size_t)MIN(size, (uint64_t)1 << 20), have = 0;
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	while (have < size) {
		if (have == cap) {
			size_t ncap = (size_t)MIN((uint64_t)cap * 2, size);
			uint8_t *nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				return hfc_err_set(err, -ENOMEM, "out of memory");
			}
			buf = nb;
			cap = ncap;
		}
		size_t chunk = MIN(cap - have, (size_t)1 << 20);
		int k = hfc_tar_reader_read(r->tar, buf + have, chunk, err);
		if (k < 0) {
			free(buf);
			return k;
		}
		have += chunk;
	}
	*ret = buf;
	return 0;
}

int hfc_bundle_reader_open(int fd, const char *display, HfcBundleReader **ret, HfcErr *err)
{
	HfcBundleReader *r = calloc(1, sizeof(*r));
	if (!r || !(r->display = strdup(display))) {
		free(r);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	char where[4096];
	_cleanup_free_ uint8_t *buf = NULL;
	int k = hfc_tar_reader_new(fd, display, &r->tar, err);
	if (k == -EBADMSG)
		k = hfc_err_set(err, k, "%s: not a bundle (no tar archive starting with an "
					"hfc-bundle entry)", display);
	if (k < 0)
		goto fail;

	/* The manifest: first, short, and it bounds everything after it. */
	HfcTarEntry e;
	k = hfc_tar_reader_next(r->tar, &e, err);
	if (k == 0 || k == -EBADMSG)
		k = hfc_err_set(err, -EBADMSG, "%s: not a bundle (no tar archive starting with "
					       "an hfc-bundle entry)", display);
	if (k < 0)
		goto fail;
	k = check_entry(r, &e, err);
	if (k < 0)
		goto fail;
	if (strcmp(e.name, "hfc-bundle") != 0) {
		k = hfc_err_set(err, -EBADMSG, "%s: not a bundle (first entry '%s', not 'hfc-bundle')",
				display, e.name);
		goto fail;
	}
	if (e.size > HFC_BUNDLE_MANIFEST_MAX) {
		k = hfc_err_set(err, -EBADMSG, "%s: manifest claims %llu bytes; refused", display,
				(unsigned long long)e.size);
		goto fail;
	}
	k = read_entry_alloc(r, e.size, &buf, err);
	if (k < 0)
		goto fail;
	snprintf(where, sizeof(where), "%s:hfc-bundle", display);
	k = hfc_bundle_manifest_parse((const char *)buf, (size_t)e.size, where, &r->m, err);
	if (k < 0)
		goto fail;
	free(TAKE_PTR(buf));
	r->hl = hfc_hash_len(r->m.hash);

	/* B's index, checked against the manifest's target. */
	k = expect_entry(r, HFC_SITE_CURRENT, r->m.index_bytes, err);
	if (k < 0)
		goto fail;
	k = read_entry_alloc(r, r->m.index_bytes, &buf, err);
	if (k < 0)
		goto fail;
	snprintf(where, sizeof(where), "%s:index.idx", display);
	k = hfc_index_parse((const char *)buf, (size_t)r->m.index_bytes, where, &r->idx, err);
	if (k < 0)
		goto fail;
	free(TAKE_PTR(buf));
	if (r->idx->version != r->m.target || memcmp(r->idx->end_sha256, r->m.target_sha256, 32) ||
	    r->idx->block_size != r->m.block_size || r->idx->hash != r->m.hash) {
		k = hfc_err_set(err, -EBADMSG,
				"%s: index.idx is not the version %u the manifest names", display,
				r->m.target);
		goto fail;
	}

	if (r->m.profile_bytes) {
		k = expect_entry(r, "profile", r->m.profile_bytes, err);
		if (k < 0)
			goto fail;
		k = read_entry_alloc(r, r->m.profile_bytes, &buf, err);
		if (k < 0)
			goto fail;
		/* Checked like any profile, and against B: it is installed as B's. */
		snprintf(where, sizeof(where), "%s:profile", display);
		k = hfc_profile_parse((const char *)buf, (size_t)r->m.profile_bytes, where,
				      &r->profile, err);
		if (k < 0)
			goto fail;
		free(TAKE_PTR(buf));
		if (r->profile->version != r->m.target) {
			k = hfc_err_set(err, -EBADMSG, "%s: profile is for version %u, not %u", display,
					r->profile->version, r->m.target);
			goto fail;
		}
		k = hfc_profile_match(r->profile, r->idx, NULL, NULL, NULL, err);
		if (k < 0) {
			k = hfc_err_set(err, -EBADMSG, "%s: profile does not fit version %u's image",
					display, r->m.target);
			goto fail;
		}
	}

	if (r->m.kind == HFC_BUNDLE_DELTA) {
		size_t rec = r->hl + 8;
		k = expect_entry(r, "bases", r->m.bases * rec, err);
		if (k < 0)
			goto fail;
		if (r->m.bases) {
			k = read_entry_alloc(r, r->m.bases * rec, &buf, err);
			if (k < 0)
				goto fail;
			r->bases = calloc((size_t)r->m.bases, sizeof(*r->bases));
			if (!r->bases) {
				k = hfc_err_set(err, -ENOMEM, "out of memory");
				goto fail;
			}
			size_t bound = hfc_codec_bound(r->m.block_size);
			for (uint64_t i = 0; i < r->m.bases; i++) {
				const uint8_t *p = buf + i * rec;
				HfcBundleBase *b = &r->bases[i];
				memcpy(b->hash, p, r->hl);
				b->stored = get_u32(p + r->hl);
				b->len = get_u32(p + r->hl + 4);
				if (b->stored == 0 || b->stored > bound || b->len == 0 ||
				    b->len > r->m.block_size) {
					k = hfc_err_set(err, -EBADMSG,
							"%s: bases: entry %llu is out of range",
							display, (unsigned long long)i);
					goto fail;
				}
			}
			free(TAKE_PTR(buf));
		}
		k = expect_entry(r, "delta", r->m.delta_bytes, err);
		if (k < 0)
			goto fail;
		r->delta_left = r->m.delta_bytes;
	}

	/* B's names: each carried block must be one of them, with its length and size. */
	k = hfc_hashmap_new(r->hl, &r->names);
	if (k < 0) {
		k = hfc_err_set(err, k, "out of memory");
		goto fail;
	}
	for (uint64_t i = 0; i < r->idx->nblocks; i++) {
		const HfcIndexEntry *x = &r->idx->entries[i];
		if (!x->stored)
			continue;
		uint64_t v = x->stored | (uint64_t)hfc_index_block_len(r->idx, i) << 32;
		if (hfc_hashmap_put(r->names, x->hash, v, NULL) < 0) {
			k = hfc_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	k = hfc_codec_new(HFC_LEVEL_DEFAULT, &r->codec);
	if (k < 0) {
		k = hfc_err_set(err, k, "out of memory");
		goto fail;
	}
	*ret = r;
	return 0;
fail:
	hfc_bundle_reader_free(r);
	return k;
}

/* Loads the next frame of the delta stream. */
static int next_frame(HfcBundleReader *r, HfcErr *err)
{
	if (r->delta_left == 0)
		return hfc_err_set(err, -EBADMSG, "%s: delta: stream ends in the middle of a recipe",
				   r->display);
	if (r->short_frame)
		return hfc_err_set(err, -EBADMSG, "%s: delta: a short frame is not the last one",
				   r->display);
	uint8_t hdr[DELTA_FRAME_HDR];
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

static int next_recipe(HfcBundleReader *r, HfcBasePageFn get, void *ctx, HfcBundleBlock *b,
		       uint8_t *out, HfcErr *err)
{
	uint8_t hdr[DELTA_REC_FIXED(HFC_HASH_MAX)];
	size_t hl = r->hl;
	int k = stream_read(r, hdr, DELTA_REC_FIXED(hl), err);
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
	for (uint32_t p = 0; p < pages; p++) {
		size_t n = MIN((size_t)HFC_PAGE_SIZE, (size_t)b->len - (size_t)p * HFC_PAGE_SIZE);
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
		case DELTA_OP_NEXT: {
			uint64_t base;
			uint32_t page;
			if (op == DELTA_OP_COPY) {
				uint8_t a[6];
				k = stream_read(r, a, sizeof(a), err);
				if (k < 0)
					return k;
				base = get_u32(a);
				page = get_u16(a + 4);
			} else {
				if (!r->have_last)
					return hfc_err_set(err, -EBADMSG,
							   "%s: delta: NEXT without a COPY before it",
							   r->display);
				base = r->last_base;
				page = r->last_page + 1;
			}
			if (base >= r->m.bases ||
			    (uint64_t)page * HFC_PAGE_SIZE + n > r->bases[base].len)
				return hfc_err_set(err, -EBADMSG,
						   "%s: delta: page copy out of range (base %llu, page %u)",
						   r->display, (unsigned long long)base, page);
			k = get(ctx, base, page, dst, n, err);
			if (k < 0)
				return k;
			r->have_last = true;
			r->last_base = base;
			r->last_page = page;
			break;
		}
		case DELTA_OP_LIT:
			k = stream_read(r, dst, n, err);
			if (k >= 0)
				k = ring_put(r, dst, n, err);
			if (k < 0)
				return k;
			break;
		case DELTA_OP_REPEAT: {
			uint8_t a[2];
			k = stream_read(r, a, sizeof(a), err);
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
			break;
		}
		default:
			return hfc_err_set(err, -EBADMSG, "%s: delta: unknown op %u", r->display, op);
		}
	}
	return 0;
}

static bool block_entry_name(const char *name, size_t hl, uint8_t *hash)
{
	/* blocks/XY/NAME exactly, XY the first two digits of NAME */
	size_t n = strlen(name);
	if (n != 10 + 2 * hl || strncmp(name, "blocks/", 7) != 0 || name[9] != '/' ||
	    memcmp(name + 7, name + 10, 2) != 0)
		return false;
	return is_hex_lower(name + 10, 2 * hl) && hfc_hex_decode(name + 10, hl, hash) == 0;
}

static int reader_next(HfcBundleReader *r, HfcBasePageFn get, void *ctx, HfcBundleBlock *ret,
		       void *buf, HfcErr *err);

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

static int reader_next(HfcBundleReader *r, HfcBasePageFn get, void *ctx, HfcBundleBlock *ret,
		       void *buf, HfcErr *err)
{
	if (r->done)
		return 0;
	if (r->recipes_done < r->m.recipes) {
		int k = next_recipe(r, get, ctx, ret, buf, err);
		if (k < 0)
			return k;
		r->recipes_done++;
		if (r->recipes_done == r->m.recipes &&
		    (r->frame_pos != r->frame_len || r->delta_left != 0))
			return hfc_err_set(err, -EBADMSG, "%s: delta: data after the last recipe",
					   r->display);
		return 1;
	}
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
	HfcBundleBlock *b = ret;
	*b = (HfcBundleBlock){ .raw = true };
	if (!block_entry_name(e.name, r->hl, b->hash))
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
