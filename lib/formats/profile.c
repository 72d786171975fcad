/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "formats/profile.h"

#include "base/fileio.h"
#include "base/lines.h"
#include "formats/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void hfc_profile_free(HfcProfile *p)
{
	if (!p)
		return;
	free(p->e);
	free(p);
}

static int header_u64(HfcLines *l, const char *key, uint64_t max, uint64_t *ret)
{
	int r = hfc_lines_next(l);
	if (r < 0)
		return r;
	if (r == 0)
		return hfc_lines_fail(l, "truncated: missing '%s'", key);
	const char *v;
	size_t n;
	r = hfc_lines_key(l, key, &v, &n);
	if (r < 0)
		return r;
	if (hfc_parse_canonical(v, n, max, ret) < 0)
		return hfc_lines_fail(l, "bad %s: a number up to %" PRIu64 " expected", key, max);
	return 0;
}

int hfc_profile_parse(const char *buf, size_t len, const char *fname, HfcProfile **ret,
		      HfcErr *err)
{
	HfcLines l;
	hfc_lines_init(&l, buf, len, fname, err);
	_cleanup_(hfc_profile_freep) HfcProfile *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int r = hfc_lines_next(&l);
	if (r < 0)
		return r;
	if (r == 0 || !hfc_lines_is(&l, HFC_PROFILE_MAGIC)) {
		l.line = MAX(l.line, 1u);
		return hfc_lines_fail(&l, "not an hfc profile (first line must be '%s')",
				      HFC_PROFILE_MAGIC);
	}
	uint64_t v, nb;
	if ((r = header_u64(&l, "version", HFC_VERSION_MAX, &v)) < 0)
		return r;
	if (v == 0)
		return hfc_lines_fail(&l, "bad version: must be 1 or more");
	p->version = (uint32_t)v;
	if ((r = header_u64(&l, "image-size", HFC_IMAGE_SIZE_MAX, &p->image_size)) < 0)
		return r;
	if ((r = header_u64(&l, "block-size", HFC_BLOCK_SIZE_MAX, &v)) < 0)
		return r;
	if (!hfc_block_size_valid(v))
		return hfc_lines_fail(&l, "bad block-size: a multiple of 512 from %u to %u expected",
				      HFC_BLOCK_SIZE_MIN, HFC_BLOCK_SIZE_MAX);
	p->block_size = (uint32_t)v;
	uint64_t nblocks = DIV_ROUND_UP(p->image_size, p->block_size);
	if (nblocks > HFC_INDEX_MAX_BLOCKS)
		return hfc_lines_fail(&l, "image-size too large for the block size");
	r = hfc_lines_next(&l);
	if (r <= 0)
		return r < 0 ? r : hfc_lines_fail(&l, "truncated: missing 'hash'");
	if (hfc_lines_is(&l, "hash md5"))
		p->hash = HFC_HASH_MD5;
	else if (hfc_lines_is(&l, "hash sha256"))
		p->hash = HFC_HASH_SHA256;
	else
		return hfc_lines_fail(&l, "expected 'hash md5' or 'hash sha256'");
	if ((r = header_u64(&l, "blocks", nblocks, &nb)) < 0)
		return r;
	/* The entries grow as lines come, as an index's do: a claim costs nothing by itself. */
	size_t cap = 0;
	uint8_t *seen = calloc(nblocks / 8 + 1, 1);
	if (!seen)
		return -ENOMEM;
	size_t hl = hfc_hash_len(p->hash);
	for (uint64_t i = 0; i < nb; i++) {
		r = hfc_lines_next(&l);
		if (r <= 0 || (l.curlen >= 4 && memcmp(l.cur, "end ", 4) == 0)) {
			free(seen);
			return r < 0 ? r
				     : hfc_lines_fail(&l, "expected %" PRIu64 " block lines, found %" PRIu64,
						      nb, i);
		}
		if (i == cap) {
			size_t ncap = (size_t)MIN((uint64_t)MAX(cap * 2, (size_t)1024), nb);
			HfcProfileEntry *ne = realloc(p->e, ncap * sizeof(*ne));
			if (!ne) {
				free(seen);
				return -ENOMEM;
			}
			/* Zeroed as calloc did: a short hash leaves the rest of the field unset. */
			memset(ne + cap, 0, (ncap - cap) * sizeof(*ne));
			p->e = ne;
			cap = ncap;
		}
		const char *sp = memchr(l.cur, ' ', l.curlen);
		uint64_t b;
		if (!sp || hfc_parse_canonical(l.cur, (size_t)(sp - l.cur), UINT64_MAX, &b) < 0 ||
		    (size_t)(l.cur + l.curlen - sp - 1) != 2 * hl ||
		    hfc_hex_decode(sp + 1, hl, p->e[i].hash) < 0) {
			free(seen);
			return hfc_lines_fail(&l, "expected '<block number> <%zu lowercase hex digits>'",
					      2 * hl);
		}
		if (b >= nblocks) {
			free(seen);
			return hfc_lines_fail(&l, "block %" PRIu64 " beyond the image (%" PRIu64 " blocks)",
					      b, nblocks);
		}
		if (seen[b / 8] & (1u << (b % 8))) {
			free(seen);
			return hfc_lines_fail(&l, "block %" PRIu64 " listed twice", b);
		}
		seen[b / 8] |= (uint8_t)(1u << (b % 8));
		p->e[i].block = b;
	}
	free(seen);
	p->n = nb;
	if (!p->e && !(p->e = calloc(1, sizeof(*p->e))))
		return -ENOMEM;
	r = hfc_text_end(&l, "profile");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}

size_t hfc_profile_max_bytes(const HfcIndex *idx)
{
	/* The header's lines are short; its numbers are bounded by the index's own. */
	size_t header = 256;
	int digits = snprintf(NULL, 0, "%" PRIu64, idx->nblocks ? idx->nblocks - 1 : 0);
	size_t line = (size_t)digits + 1 + 2 * hfc_hash_len(idx->hash) + 1;
	return header + (size_t)idx->nblocks * line + 4 + 64 + 1;
}

int hfc_profile_load(const char *path, HfcProfile **ret, HfcErr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = hfc_read_input(path, HFC_INDEX_MAX_BYTES, &buf, &len);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", path,
				   r == -EFBIG ? "profile too large" : strerror(-r));
	return hfc_profile_parse(buf, len, path, ret, err);
}

int hfc_profile_format(const HfcProfile *p, char **ret_buf, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	size_t hl = hfc_hash_len(p->hash);
	fprintf(f, "%s\nversion %u\nimage-size %" PRIu64 "\nblock-size %u\nhash %s\nblocks %zu\n",
		HFC_PROFILE_MAGIC, p->version, p->image_size, p->block_size,
		hfc_hash_name(p->hash), p->n);
	char hex[2 * HFC_HASH_MAX + 1];
	for (size_t i = 0; i < p->n; i++) {
		hfc_hex_encode(p->e[i].hash, hl, hex);
		fprintf(f, "%" PRIu64 " %s\n", p->e[i].block, hex);
	}
	if (fflush(f) != 0) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	uint8_t sha[32];
	char shahex[65];
	if (hfc_digest(HFC_HASH_SHA256, buf, len, sha) < 0) {
		fclose(f);
		free(buf);
		return -EIO;
	}
	hfc_hex_encode(sha, 32, shahex);
	fprintf(f, "end %s\n", shahex);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

/* A profile of another image is refused; display (may be NULL) names it in the message. */
static int same_geometry(const HfcProfile *p, const HfcIndex *idx, const char *display,
			 HfcErr *err)
{
	if (p->image_size != idx->image_size || p->block_size != idx->block_size ||
	    p->hash != idx->hash)
		return hfc_err_set(err, -EINVAL,
				   "%s%sprofile of another image: %" PRIu64 " bytes in %u-byte blocks (%s), "
				   "version %u has %" PRIu64 " bytes in %u-byte blocks (%s)",
				   display ? display : "", display ? ": " : "", p->image_size,
				   p->block_size, hfc_hash_name(p->hash), idx->version,
				   idx->image_size, idx->block_size, hfc_hash_name(idx->hash));
	return 0;
}

int hfc_profile_match(const HfcProfile *p, const HfcIndex *idx, size_t *ret_same,
		      size_t *ret_changed, size_t *ret_zero, HfcErr *err)
{
	int r = same_geometry(p, idx, NULL, err);
	if (r < 0)
		return r;
	size_t same = 0, changed = 0, zero = 0, hl = hfc_hash_len(idx->hash);
	for (size_t i = 0; i < p->n; i++) {
		const HfcIndexEntry *e = &idx->entries[p->e[i].block];
		if (!e->stored)
			zero++;
		else if (memcmp(e->hash, p->e[i].hash, hl) == 0)
			same++;
		else
			changed++;
	}
	if (ret_same)
		*ret_same = same;
	if (ret_changed)
		*ret_changed = changed;
	if (ret_zero)
		*ret_zero = zero;
	return 0;
}

uint64_t hfc_profile_fetch_bytes(const HfcProfile *p, const HfcIndex *idx)
{
	uint64_t bytes = 0;
	size_t hl = hfc_hash_len(idx->hash);
	for (size_t i = 0; i < p->n; i++) {
		if (p->e[i].block >= idx->nblocks)
			continue;
		const HfcIndexEntry *e = &idx->entries[p->e[i].block];
		if (e->stored && memcmp(e->hash, p->e[i].hash, hl) == 0)
			bytes += e->stored;
	}
	return bytes;
}

int hfc_profile_carry(const HfcProfile *p, const HfcIndex *idx, HfcProfile **ret, HfcErr *err)
{
	int r = same_geometry(p, idx, NULL, err);
	if (r < 0)
		return r;
	HfcProfile *q = calloc(1, sizeof(*q));
	if (!q || !(q->e = calloc(p->n ? p->n : 1, sizeof(*q->e)))) {
		free(q);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	q->version = idx->version;
	q->image_size = idx->image_size;
	q->block_size = idx->block_size;
	q->hash = idx->hash;
	for (size_t i = 0; i < p->n; i++) {
		const HfcIndexEntry *e = &idx->entries[p->e[i].block];
		if (!e->stored)
			continue;
		q->e[q->n].block = p->e[i].block;
		memcpy(q->e[q->n].hash, e->hash, HFC_HASH_MAX);
		q->n++;
	}
	*ret = q;
	return 0;
}

int hfc_profile_check(const HfcProfile *p, const HfcIndex *idx, const char *display,
		      size_t *ret_same, HfcErr *err)
{
	int r = same_geometry(p, idx, display, err);
	if (r < 0)
		return r;
	size_t same;
	(void)hfc_profile_match(p, idx, &same, NULL, NULL, NULL);
	/* Most blocks of a boot survive an update; a profile sharing few names is not ours. */
	if (p->n && same * 2 < p->n)
		return hfc_err_set(err, -EINVAL,
				   "%s: profile does not match version %u of this site (%zu of %zu blocks)",
				   display, idx->version, same, p->n);
	if (ret_same)
		*ret_same = same;
	return 0;
}
