/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "formats/index.h"

#include "base/codec.h"
#include "base/fileio.h"
#include "base/lines.h"
#include "base/text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool hfc_block_size_valid(uint64_t bs)
{
	return bs >= HFC_BLOCK_SIZE_MIN && bs <= HFC_BLOCK_SIZE_MAX && bs % 512 == 0;
}

int hfc_index_new(uint64_t image_size, uint32_t block_size, HfcHashAlgo hash, HfcIndex **ret)
{
	if (!hfc_block_size_valid(block_size) || image_size > HFC_IMAGE_SIZE_MAX)
		return -EINVAL;
	uint64_t n = DIV_ROUND_UP(image_size, block_size);
	if (n > HFC_INDEX_MAX_BLOCKS)
		return -EFBIG;
	HfcIndex *idx = calloc(1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	idx->entries = calloc(n ? n : 1, sizeof(HfcIndexEntry));
	if (!idx->entries) {
		free(idx);
		return -ENOMEM;
	}
	idx->image_size = image_size;
	idx->block_size = block_size;
	idx->hash = hash;
	idx->nblocks = n;
	*ret = idx;
	return 0;
}

void hfc_index_free(HfcIndex *idx)
{
	if (!idx)
		return;
	free(idx->entries);
	free(idx);
}

/* The index parser reads with the shared strict line reader (lines.c). */
typedef HfcLines Parser;
#define fail hfc_lines_fail
#define next_line hfc_lines_next
#define line_is hfc_lines_is
#define parse_u64 hfc_parse_canonical

static const char *const header_keys[] = {
	"version", "parent", "created", "label", "image-size", "block-size", "hash", "compression",
	"blocks",
};

static int key_index(const char *key, size_t n)
{
	for (size_t i = 0; i < ELEMENTSOF(header_keys); i++)
		if (strlen(header_keys[i]) == n && memcmp(header_keys[i], key, n) == 0)
			return (int)i;
	return -1;
}

static bool utf8_printable(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = hfc_utf8_printable_len((const char *)s + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

bool hfc_label_valid(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= HFC_LABEL_MAX && utf8_printable((const unsigned char *)s, n);
}

static int parse_header_value(Parser *p, HfcIndex *idx, int k, const char *v, size_t n)
{
	uint64_t x;
	switch (k) {
	case 0:
		if (parse_u64(v, n, HFC_VERSION_MAX, &x) < 0 || x == 0)
			return fail(p, "bad version: must be a number from 1 to %u", HFC_VERSION_MAX);
		idx->version = (uint32_t)x;
		return 0;
	case 1: {
		if (n == 4 && memcmp(v, "none", 4) == 0) {
			idx->parent = 0;
			return 0;
		}
		const char *sp = memchr(v, ' ', n);
		if (!sp || parse_u64(v, (size_t)(sp - v), HFC_VERSION_MAX, &x) < 0 || x == 0 ||
		    x >= idx->version)
			return fail(p, "bad parent: expected 'none' or an earlier version and its sha256");
		size_t hl = n - (size_t)(sp - v) - 1;
		if (hl != 64 || hfc_hex_decode(sp + 1, 32, idx->parent_sha256) < 0)
			return fail(p, "bad parent: checksum is not 64 lowercase hex digits");
		idx->parent = (uint32_t)x;
		return 0;
	}
	case 2:
		if (hfc_parse_time(v, n, 0, &idx->created) < 0)
			return fail(p, "bad created time: expected YYYY-MM-DDTHH:MM:SSZ");
		return 0;
	case 3:
		if (n == 0 || n > HFC_LABEL_MAX || !utf8_printable((const unsigned char *)v, n))
			return fail(p, "bad label: 1 to %d printable UTF-8 bytes", HFC_LABEL_MAX);
		memcpy(idx->label, v, n);
		idx->label[n] = 0;
		return 0;
	case 4:
		if (parse_u64(v, n, HFC_IMAGE_SIZE_MAX, &idx->image_size) < 0)
			return fail(p, "bad image-size: must be a number up to %" PRIu64,
				    HFC_IMAGE_SIZE_MAX);
		return 0;
	case 5:
		if (parse_u64(v, n, HFC_BLOCK_SIZE_MAX, &x) < 0 || !hfc_block_size_valid(x))
			return fail(p, "bad block-size: a multiple of 512 from %u to %u expected",
				    HFC_BLOCK_SIZE_MIN, HFC_BLOCK_SIZE_MAX);
		idx->block_size = (uint32_t)x;
		return 0;
	case 6: {
		char name[8] = "";
		if (n < sizeof(name))
			memcpy(name, v, n), name[n] = 0;
		if (hfc_hash_from_name(name, &idx->hash) < 0)
			return fail(p, "bad hash: 'md5' or 'sha256' expected");
		return 0;
	}
	case 7:
		if (n != 4 || memcmp(v, "zlib", 4) != 0)
			return fail(p, "bad compression: only 'zlib' is supported");
		return 0;
	case 8:
		if (parse_u64(v, n, HFC_INDEX_MAX_BLOCKS, &idx->nblocks) < 0)
			return fail(p, "bad blocks: must be a number up to %u", HFC_INDEX_MAX_BLOCKS);
		if (idx->nblocks != DIV_ROUND_UP(idx->image_size, idx->block_size))
			return fail(p, "blocks %" PRIu64 " does not match image-size %" PRIu64
				       " at block-size %u",
				    idx->nblocks, idx->image_size, idx->block_size);
		return 0;
	}
	return -EINVAL;
}

static int parse_signature(Parser *p, HfcIndex *idx)
{
	/* "signature ed25519 <key id> <expires> <signature>": checked here, verified by
	 * hfc_index_verify() (signature.c) for a client that trusts keys. */
	const char *s = p->cur;
	if (p->curlen != HFC_SIG_LINE_LEN || memcmp(s, "signature ed25519 ", 18) != 0 ||
	    s[34] != ' ' || s[55] != ' ')
		return fail(p, "bad signature line");
	if (hfc_hex_decode(s + 18, HFC_KEY_ID_LEN, idx->sig.key_id) < 0)
		return fail(p, "bad signature line: key id is not 16 lowercase hex digits");
	if (hfc_parse_time(s + 35, 20, 0, &idx->sig.expires) < 0)
		return fail(p, "bad signature line: expiry is not YYYY-MM-DDTHH:MM:SSZ");
	if (hfc_sig_b64_decode(s + 56, idx->sig.sig) < 0)
		return fail(p, "bad signature line: signature is not canonical base64");
	idx->has_sig = true;
	return 0;
}

/*
 * Reads the magic line and the header up to and with the blocks line into idx. Returns 0, or
 * -EBADMSG with *ret_short set when the input ended before the header did (more may come).
 */
static int parse_header(Parser *p, HfcIndex *idx, bool *ret_short)
{
	*ret_short = false;
	int r = next_line(p);
	if (r < 0)
		return r;
	if (r == 0) {
		*ret_short = true;
		p->line = 1;
		return fail(p, "empty file, not an hfc index");
	}
	if (!line_is(p, HFC_INDEX_MAGIC)) {
		if (p->curlen > 10 && memcmp(p->cur, "hfc-index ", 10) == 0)
			return fail(p, "unsupported index format '%.*s'", (int)MIN(p->curlen, 40u),
				    p->cur);
		return fail(p, "not an hfc index (first line must be '%s')", HFC_INDEX_MAGIC);
	}

	bool seen[ELEMENTSOF(header_keys)] = { false };
	size_t want = 0;
	while (want < ELEMENTSOF(header_keys)) {
		r = next_line(p);
		if (r < 0)
			return r;
		if (r == 0) {
			*ret_short = true;
			return fail(p, "truncated: missing key '%s'", header_keys[want == 3 ? 4 : want]);
		}
		const char *sp = memchr(p->cur, ' ', p->curlen);
		size_t klen = sp ? (size_t)(sp - p->cur) : p->curlen;
		int k = key_index(p->cur, klen);
		if (k < 0) {
			if (p->curlen == 0)
				return fail(p, "empty line in header");
			return fail(p, "unknown key '%.*s'", (int)MIN(klen, 40u), p->cur);
		}
		if (seen[k])
			return fail(p, "duplicate key '%s'", header_keys[k]);
		/* The label is the one optional key; all others stand in a fixed order. */
		if ((size_t)k != want && !(want == 3 && k == 4)) {
			if ((size_t)k > want)
				return fail(p, "missing key '%s'", header_keys[want == 3 ? 4 : want]);
			return fail(p, "key '%s' out of order", header_keys[k]);
		}
		if (!sp)
			return fail(p, "key '%s' has no value", header_keys[k]);
		seen[k] = true;
		r = parse_header_value(p, idx, k, sp + 1, p->curlen - klen - 1);
		if (r < 0)
			return r;
		want = (size_t)k + 1;
	}
	return 0;
}

/* The longest block line of an index with this header, its LF included. */
static size_t block_line_max(const HfcIndex *idx)
{
	int digits = snprintf(NULL, 0, "%" PRIu64, (uint64_t)hfc_codec_bound(idx->block_size));
	return 2 * hfc_hash_len(idx->hash) + 1 + (size_t)digits + 1;
}

int hfc_index_peek_header(const char *buf, size_t len, HfcIndex *ret, size_t *ret_max)
{
	/* Whole lines only: the last one may still be on its way. */
	size_t n = len;
	while (n > 0 && buf[n - 1] != '\n')
		n--;
	Parser p;
	hfc_lines_init(&p, buf, n, "", NULL);
	*ret = (HfcIndex){ 0 };
	bool short_input;
	int r = parse_header(&p, ret, &short_input);
	if (r < 0)
		return short_input && len < HFC_INDEX_HEADER_MAX ? 0 : r;
	/* The end line and a signature line follow the block lines. */
	size_t trailer = 4 + 64 + 1 + HFC_SIG_LINE_LEN + 1;
	*ret_max = p.pos + (size_t)ret->nblocks * block_line_max(ret) + trailer;
	return 1;
}

int hfc_index_parse(const char *buf, size_t len, const char *fname, HfcIndex **ret, HfcErr *err)
{
	Parser p;
	hfc_lines_init(&p, buf, len, fname, err);
	_cleanup_(hfc_index_freep) HfcIndex *idx = calloc(1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	if (len > HFC_INDEX_MAX_BYTES)
		return fail(&p, "index larger than %zu bytes", HFC_INDEX_MAX_BYTES);
	bool short_input;
	int r = parse_header(&p, idx, &short_input);
	if (r < 0)
		return r;

	/*
	 * The entries grow as block lines come, never ahead of them: a small file that claims
	 * 2^24 blocks costs what its lines are worth, not 600 MB up front.
	 */
	size_t cap = 0;
	size_t hl = hfc_hash_len(idx->hash);
	uint64_t maxstored = hfc_codec_bound(idx->block_size);
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		r = next_line(&p);
		if (r < 0)
			return r;
		if (r == 0 || (p.curlen >= 4 && memcmp(p.cur, "end ", 4) == 0))
			return fail(&p, "expected %" PRIu64 " block lines, found %" PRIu64
					 "%s",
				    idx->nblocks, i, r == 0 ? " (truncated)" : "");
		if (i == cap) {
			size_t ncap = (size_t)MIN((uint64_t)MAX(cap * 2, (size_t)1024), idx->nblocks);
			HfcIndexEntry *ne = realloc(idx->entries, ncap * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			memset(ne + cap, 0, (ncap - cap) * sizeof(*ne));
			idx->entries = ne;
			cap = ncap;
		}
		if (line_is(&p, "-"))
			continue;
		const char *sp = memchr(p.cur, ' ', p.curlen);
		size_t nlen = sp ? (size_t)(sp - p.cur) : p.curlen;
		if (nlen != 2 * hl || hfc_hex_decode(p.cur, hl, idx->entries[i].hash) < 0)
			return fail(&p, "bad block name: expected %zu lowercase hex digits (%s) or '-'",
				    2 * hl, hfc_hash_name(idx->hash));
		uint64_t stored;
		if (!sp || parse_u64(sp + 1, p.curlen - nlen - 1, UINT32_MAX, &stored) < 0)
			return fail(&p, "bad block line: expected '<name> <stored bytes>'");
		if (stored == 0 || stored > maxstored)
			return fail(&p, "stored size %" PRIu64 " out of range (1 to %" PRIu64 ")",
				    stored, maxstored);
		idx->entries[i].stored = (uint32_t)stored;
	}
	if (!idx->entries && !(idx->entries = calloc(1, sizeof(HfcIndexEntry))))
		return -ENOMEM;

	size_t end_start = p.pos;
	r = next_line(&p);
	if (r < 0)
		return r;
	if (r == 0)
		return fail(&p, "truncated: missing end line");
	if (p.curlen < 4 || memcmp(p.cur, "end ", 4) != 0)
		return fail(&p, "expected 'end' line after %" PRIu64 " block lines (wrong block count?)",
			    idx->nblocks);
	r = hfc_lines_check_end(&p, end_start, "index", idx->end_sha256);
	if (r < 0)
		return r;

	r = next_line(&p);
	if (r < 0)
		return r;
	if (r > 0) {
		if (p.curlen >= 10 && memcmp(p.cur, "signature ", 10) == 0) {
			r = parse_signature(&p, idx);
			if (r < 0)
				return r;
			r = next_line(&p);
			if (r < 0)
				return r;
		}
		if (r > 0)
			return fail(&p, "unexpected data after the end of the index");
	}
	*ret = TAKE_PTR(idx);
	return 0;
}

int hfc_index_load_at(int dirfd, const char *path, const char *display, HfcIndex **ret,
		      HfcErr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = hfc_read_file_at(dirfd, path, HFC_INDEX_MAX_BYTES, &buf, &len);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", display,
				   r == -EFBIG ? "index file too large" : strerror(-r));
	return hfc_index_parse(buf, len, display, ret, err);
}

/* A growable output buffer for the writer. */
typedef struct Out {
	char *buf;
	size_t len, cap;
	bool oom;
} Out;

_printf_(2, 3) static void out_printf(Out *o, const char *fmt, ...)
{
	if (o->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t ncap = o->cap * 2 + (size_t)n + 1;
		char *nb = realloc(o->buf, ncap);
		if (!nb) {
			o->oom = true;
			return;
		}
		o->buf = nb;
		o->cap = ncap;
	}
}

int hfc_index_format(HfcIndex *idx, char **ret_buf, size_t *ret_len)
{
	size_t hl = hfc_hash_len(idx->hash);
	Out o = { .cap = 1024 + idx->nblocks * (2 * hl + 12) };
	o.buf = malloc(o.cap);
	if (!o.buf)
		return -ENOMEM;
	char t[32], hex[2 * HFC_HASH_MAX + 1];
	hfc_format_time(idx->created, t, sizeof(t));
	out_printf(&o, "%s\nversion %u\n", HFC_INDEX_MAGIC, idx->version);
	if (idx->parent) {
		hfc_hex_encode(idx->parent_sha256, 32, hex);
		out_printf(&o, "parent %u %s\n", idx->parent, hex);
	} else {
		out_printf(&o, "parent none\n");
	}
	out_printf(&o, "created %s\n", t);
	if (idx->label[0])
		out_printf(&o, "label %s\n", idx->label);
	out_printf(&o, "image-size %" PRIu64 "\nblock-size %u\nhash %s\ncompression zlib\nblocks %" PRIu64 "\n",
		   idx->image_size, idx->block_size, hfc_hash_name(idx->hash), idx->nblocks);
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		if (idx->entries[i].stored == 0) {
			out_printf(&o, "-\n");
			continue;
		}
		hfc_hex_encode(idx->entries[i].hash, hl, hex);
		out_printf(&o, "%s %u\n", hex, idx->entries[i].stored);
	}
	if (o.oom) {
		free(o.buf);
		return -ENOMEM;
	}
	int r = hfc_digest(HFC_HASH_SHA256, o.buf, o.len, idx->end_sha256);
	if (r < 0) {
		free(o.buf);
		return r;
	}
	hfc_hex_encode(idx->end_sha256, 32, hex);
	out_printf(&o, "end %s\n", hex);
	if (idx->has_sig) {
		char line[HFC_SIG_LINE_LEN + 1];
		hfc_index_sig_line(idx, line);
		out_printf(&o, "%s\n", line);
	}
	if (o.oom) {
		free(o.buf);
		return -ENOMEM;
	}
	*ret_buf = o.buf;
	*ret_len = o.len;
	return 0;
}
