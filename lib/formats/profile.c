/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "formats/profile.h"

#include "base/fileio.h"
#include "base/lines.h"

#include <sys/stat.h>

#include <fcntl.h>
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
	size_t above = l.pos;
	r = hfc_lines_next(&l);
	if (r <= 0)
		return r < 0 ? r : hfc_lines_fail(&l, "truncated: missing end line");
	uint8_t sha[32];
	r = hfc_lines_check_end(&l, above, "profile", sha);
	if (r < 0)
		return r;
	r = hfc_lines_next(&l);
	if (r < 0)
		return r;
	if (r > 0)
		return hfc_lines_fail(&l, "unexpected data after the end of the profile");
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

static int same_geometry(const HfcProfile *p, const HfcIndex *idx, HfcErr *err)
{
	if (p->image_size != idx->image_size || p->block_size != idx->block_size ||
	    p->hash != idx->hash)
		return hfc_err_set(err, -EINVAL,
				   "profile of another image: %" PRIu64 " bytes in %u-byte blocks (%s), "
				   "version %u has %" PRIu64 " bytes in %u-byte blocks (%s)",
				   p->image_size, p->block_size, hfc_hash_name(p->hash), idx->version,
				   idx->image_size, idx->block_size, hfc_hash_name(idx->hash));
	return 0;
}

int hfc_profile_match(const HfcProfile *p, const HfcIndex *idx, size_t *ret_same,
		      size_t *ret_changed, size_t *ret_zero, HfcErr *err)
{
	int r = same_geometry(p, idx, err);
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

int hfc_profile_carry(const HfcProfile *p, const HfcIndex *idx, HfcProfile **ret, HfcErr *err)
{
	int r = same_geometry(p, idx, err);
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

uint32_t hfc_trace_version(const char *buf, size_t len)
{
	unsigned long long v;
	char head[128];
	size_t n = MIN(len, sizeof(head) - 1);
	memcpy(head, buf, n);
	head[n] = 0;
	if (sscanf(head, "# hfc-trace 1 version %llu ", &v) != 1 || v == 0 || v > HFC_VERSION_MAX)
		return 0;
	return (uint32_t)v;
}

int hfc_profile_check(const HfcProfile *p, const HfcIndex *idx, const char *display,
		      size_t *ret_same, HfcErr *err)
{
	size_t same, changed, zero;
	HfcErr e = { "" };
	int r = hfc_profile_match(p, idx, &same, &changed, &zero, &e);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", display, e.msg);
	/* Most blocks of a boot survive an update; a profile sharing few names is not ours. */
	if (p->n && same * 2 < p->n)
		return hfc_err_set(err, -EINVAL,
				   "%s: profile does not match version %u of this site (%zu of %zu blocks)",
				   display, idx->version, same, p->n);
	if (ret_same)
		*ret_same = same;
	return 0;
}

int hfc_trace_format_from_name(const char *s, HfcTraceFormat *ret)
{
	static const char *const names[] = { "auto", "client", "blkparse", "sectors" };
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (HfcTraceFormat)i;
			return 0;
		}
	return -EINVAL;
}

void hfc_trace_run_done(HfcTraceRun *run)
{
	free(run->blocks);
	free(run->first);
	*run = (HfcTraceRun){ 0 };
}

/* Collects first-read times per block while a trace is read. */
typedef struct Collect {
	uint64_t nblocks;
	double *first; /* per block; < 0 when not read */
	size_t count;
} Collect;

static void collect_range(Collect *c, uint64_t first_block, uint64_t last_block, double t)
{
	for (uint64_t b = first_block; b <= last_block && b < c->nblocks; b++) {
		if (c->first[b] < 0)
			c->count++;
		else if (c->first[b] <= t)
			continue;
		c->first[b] = t; /* the earliest read, whatever the order of the lines */
	}
}

/* Splits the current line into up to max whitespace-separated fields (in a copy). */
static size_t fields(const HfcLines *l, char *copy, size_t cap, char **f, size_t max)
{
	size_t n = MIN(l->curlen, cap - 1);
	memcpy(copy, l->cur, n);
	copy[n] = 0;
	size_t k = 0;
	for (char *s = strtok(copy, " \t"); s && k < max; s = strtok(NULL, " \t"))
		f[k++] = s;
	return k;
}

static bool is_uint(const char *s, uint64_t *ret)
{
	return hfc_parse_canonical(s, strlen(s), UINT64_MAX, ret) == 0;
}

/* "7,0  1  1  0.000000000  4162  Q  R 131072 + 256 [qemu]": a read queued at a sector. */
static int blkparse_line(const HfcLines *l, uint64_t *sector, uint64_t *count, double *t,
			 char *action)
{
	char copy[1100], *f[12];
	size_t n = fields(l, copy, sizeof(copy), f, 12);
	if (n < 10 || !strchr(f[0], ',') || strcmp(f[8], "+") != 0)
		return 0;
	if (!strchr(f[6], 'R') || !is_uint(f[7], sector) || !is_uint(f[9], count))
		return 0;
	char *end;
	*t = strtod(f[3], &end);
	if (*end || *t < 0)
		return 0;
	*action = f[5][0];
	return f[5][1] == 0 ? 1 : 0;
}

int hfc_trace_parse(const char *buf, size_t len, const char *fname, HfcTraceFormat fmt,
		    uint64_t image_size, uint32_t block_size, HfcTraceRun *ret,
		    uint32_t *ret_version, HfcErr *err)
{
	HfcLines l;
	hfc_lines_init(&l, buf, len, fname, err);
	*ret_version = 0;
	if (len > HFC_TRACE_MAX_BYTES)
		return hfc_lines_fail(&l, "trace larger than %zu bytes", HFC_TRACE_MAX_BYTES);
	/* A trace of a client that was killed may end in a cut-off line: leave it out. */
	while (len > 0 && buf[len - 1] != '\n')
		len--;
	l.len = len;
	if (fmt == HFC_TRACE_AUTO) {
		fmt = len >= 13 && memcmp(buf, "# hfc-trace 1", 13) == 0 ? HFC_TRACE_CLIENT
									 : HFC_TRACE_SECTORS;
		/* blkparse output is recognised by its first event line. */
		HfcLines probe;
		hfc_lines_init(&probe, buf, len, fname, NULL);
		uint64_t s, c;
		double t;
		char a;
		for (int k = 0; fmt == HFC_TRACE_SECTORS && k < 50 && hfc_lines_next(&probe) > 0; k++)
			if (blkparse_line(&probe, &s, &c, &t, &a))
				fmt = HFC_TRACE_BLKPARSE;
	}
	Collect c = { .nblocks = DIV_ROUND_UP(image_size, block_size) };
	c.first = malloc((c.nblocks ? c.nblocks : 1) * sizeof(double));
	if (!c.first)
		return -ENOMEM;
	for (uint64_t b = 0; b < c.nblocks; b++)
		c.first[b] = -1;
	int r;
	uint64_t rank = 0;
	bool have_q = false;
	if (fmt == HFC_TRACE_BLKPARSE) {
		/* Use queued (Q) events; traces without them fall back to issued (D) ones. */
		HfcLines probe;
		hfc_lines_init(&probe, buf, len, fname, NULL);
		uint64_t s, n;
		double t;
		char a;
		while (!have_q && hfc_lines_next(&probe) > 0)
			have_q = blkparse_line(&probe, &s, &n, &t, &a) && a == 'Q';
	}
	while ((r = hfc_lines_next(&l)) > 0) {
		char copy[1100], *f[8];
		uint64_t sector, count, block;
		if (fmt == HFC_TRACE_CLIENT) {
			if (l.line == 1) {
				/* "# hfc-trace 1 version V image-size N block-size B" */
				char hcopy[1100], *g[10];
				uint64_t v, is, bs;
				size_t m = fields(&l, hcopy, sizeof(hcopy), g, 10);
				if (m != 9 || strcmp(g[1], "hfc-trace") != 0 || strcmp(g[2], "1") != 0 ||
				    strcmp(g[3], "version") != 0 || !is_uint(g[4], &v) ||
				    strcmp(g[5], "image-size") != 0 || !is_uint(g[6], &is) ||
				    strcmp(g[7], "block-size") != 0 || !is_uint(g[8], &bs)) {
					r = hfc_lines_fail(&l, "bad client trace header");
					break;
				}
				if (is != image_size || bs != block_size) {
					r = hfc_lines_fail(&l, "trace of another image (%" PRIu64 " bytes, block size %" PRIu64 ")",
							   is, bs);
					break;
				}
				*ret_version = (uint32_t)MIN(v, (uint64_t)HFC_VERSION_MAX);
				continue;
			}
			size_t n = fields(&l, copy, sizeof(copy), f, 6);
			uint64_t us;
			if (n != 5 || !is_uint(f[0], &us) || !is_uint(f[1], &block) ||
			    (strcmp(f[2], "hit") != 0 && strcmp(f[2], "miss") != 0)) {
				r = hfc_lines_fail(&l, "expected '<µs> <block> hit|miss <bytes> <µs>'");
				break;
			}
			if (block >= c.nblocks) {
				r = hfc_lines_fail(&l, "block %" PRIu64 " beyond the image", block);
				break;
			}
			collect_range(&c, block, block, (double)us / 1e6);
		} else if (fmt == HFC_TRACE_BLKPARSE) {
			double t;
			char a;
			if (!blkparse_line(&l, &sector, &count, &t, &a) || a != (have_q ? 'Q' : 'D'))
				continue; /* other events, summaries */
			if (count == 0 || sector > UINT64_MAX / 512)
				continue;
			uint64_t off = sector * 512;
			if (off >= image_size)
				continue;
			uint64_t end = MIN(off + count * 512, image_size);
			collect_range(&c, off / block_size, (end - 1) / block_size, t);
		} else {
			size_t n = fields(&l, copy, sizeof(copy), f, 3);
			if (n == 0)
				continue;
			if (n != 2 || !is_uint(f[0], &sector) || !is_uint(f[1], &count) ||
			    sector > UINT64_MAX / 512 || count > UINT64_MAX / 512) {
				r = hfc_lines_fail(&l, "expected '<sector> <count>' (512-byte sectors)");
				break;
			}
			uint64_t off = sector * 512;
			if (count == 0 || off >= image_size)
				continue;
			uint64_t end = MIN(off + count * 512, image_size);
			collect_range(&c, off / block_size, (end - 1) / block_size, (double)rank++);
		}
	}
	if (r < 0) {
		free(c.first);
		return r;
	}
	HfcTraceRun run = { .n = c.count };
	run.blocks = malloc((c.count ? c.count : 1) * sizeof(uint64_t));
	run.first = malloc((c.count ? c.count : 1) * sizeof(double));
	if (!run.blocks || !run.first) {
		free(c.first);
		hfc_trace_run_done(&run);
		return -ENOMEM;
	}
	size_t k = 0;
	for (uint64_t b = 0; b < c.nblocks; b++)
		if (c.first[b] >= 0) {
			run.blocks[k] = b;
			run.first[k] = c.first[b];
			k++;
		}
	free(c.first);
	*ret = run;
	return 0;
}

typedef struct Cand {
	uint64_t block;
	double median;
} Cand;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmp_cand(const void *a, const void *b)
{
	const Cand *x = a, *y = b;
	if (x->median != y->median)
		return x->median < y->median ? -1 : 1;
	return x->block < y->block ? -1 : x->block > y->block;
}

int hfc_profile_from_runs(const HfcTraceRun *runs, size_t nruns, double min_share,
			  const HfcIndex *idx, HfcProfile **ret)
{
	uint64_t nb = idx->nblocks;
	/* Per block: the runs' first-read times (runs are sorted by block). */
	uint32_t *cnt = calloc(nb ? nb : 1, sizeof(uint32_t));
	if (!cnt)
		return -ENOMEM;
	for (size_t r = 0; r < nruns; r++)
		for (size_t i = 0; i < runs[r].n; i++)
			if (runs[r].blocks[i] < nb)
				cnt[runs[r].blocks[i]]++;
	double need = min_share * (double)nruns;
	size_t ncand = 0;
	for (uint64_t b = 0; b < nb; b++)
		if (cnt[b] && (double)cnt[b] + 1e-9 >= need && idx->entries[b].stored)
			ncand++;
	Cand *cand = calloc(ncand ? ncand : 1, sizeof(Cand));
	double *times = calloc(nruns ? nruns : 1, sizeof(double));
	size_t *pos = calloc(nruns ? nruns : 1, sizeof(size_t));
	HfcProfile *p = calloc(1, sizeof(*p));
	if (!cand || !times || !pos || !p || !(p->e = calloc(ncand ? ncand : 1, sizeof(*p->e)))) {
		free(cnt), free(cand), free(times), free(pos);
		hfc_profile_free(p);
		return -ENOMEM;
	}
	size_t k = 0;
	for (uint64_t b = 0; b < nb; b++) {
		size_t m = 0;
		for (size_t r = 0; r < nruns; r++) {
			while (pos[r] < runs[r].n && runs[r].blocks[pos[r]] < b)
				pos[r]++;
			if (pos[r] < runs[r].n && runs[r].blocks[pos[r]] == b)
				times[m++] = runs[r].first[pos[r]];
		}
		if (!m || (double)m + 1e-9 < need || !idx->entries[b].stored)
			continue;
		qsort(times, m, sizeof(double), cmp_double);
		double med = m % 2 ? times[m / 2] : (times[m / 2 - 1] + times[m / 2]) / 2;
		cand[k++] = (Cand){ .block = b, .median = med };
	}
	qsort(cand, k, sizeof(Cand), cmp_cand);
	p->version = idx->version;
	p->image_size = idx->image_size;
	p->block_size = idx->block_size;
	p->hash = idx->hash;
	p->n = k;
	for (size_t i = 0; i < k; i++) {
		p->e[i].block = cand[i].block;
		memcpy(p->e[i].hash, idx->entries[cand[i].block].hash, HFC_HASH_MAX);
	}
	free(cnt), free(cand), free(times), free(pos);
	*ret = p;
	return 0;
}
