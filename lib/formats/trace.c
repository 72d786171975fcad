/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "formats/trace.h"

#include "base/lines.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

void hfc_trace_run_done(HfcTraceRun *run)
{
	free(run->blocks);
	free(run->first);
	*run = (HfcTraceRun){ 0 };
}

/* A trace being read: its lines, and the first-read time of every block so far. */
typedef struct Trace {
	HfcLines l;
	uint64_t image_size;
	uint32_t block_size;
	uint64_t nblocks;
	double *first; /* per block; < 0 when not read */
	size_t count;  /* blocks read */
	uint32_t version;
	bool have_q;   /* blkparse: the trace has queued (Q) reads, which are the ones used */
	uint64_t rank; /* sectors: the number of the next read, its time */
} Trace;

static void collect_range(Trace *t, uint64_t first_block, uint64_t last_block, double when)
{
	for (uint64_t b = first_block; b <= last_block && b < t->nblocks; b++) {
		if (t->first[b] < 0)
			t->count++;
		else if (t->first[b] <= when)
			continue;
		t->first[b] = when; /* the earliest read, whatever the order of the lines */
	}
}

/*
 * The blocks a read of count 512-byte sectors at sector covers, clipped to the image. Returns
 * false when it covers none (empty, or at or past the image's end).
 */
static bool sector_range(const Trace *t, uint64_t sector, uint64_t count, uint64_t *ret_first,
			 uint64_t *ret_last)
{
	uint64_t off = sector * 512;
	if (count == 0 || off >= t->image_size)
		return false;
	uint64_t end = MIN(off + count * 512, t->image_size);
	*ret_first = off / t->block_size;
	*ret_last = (end - 1) / t->block_size;
	return true;
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

/* ---- the formats: each reads the current line into the trace, 0 or -EBADMSG ---- */

/* "# hfc-trace 1 version V image-size N block-size B", then "<µs> <block> hit|miss <b> <µs>". */
static int client_line(Trace *t)
{
	HfcLines *l = &t->l;
	char copy[1100], *f[10];
	if (l->line == 1) {
		uint64_t v, is, bs;
		size_t n = fields(l, copy, sizeof(copy), f, 10);
		if (n != 9 || strcmp(f[1], "hfc-trace") != 0 || strcmp(f[2], "1") != 0 ||
		    strcmp(f[3], "version") != 0 || !is_uint(f[4], &v) ||
		    strcmp(f[5], "image-size") != 0 || !is_uint(f[6], &is) ||
		    strcmp(f[7], "block-size") != 0 || !is_uint(f[8], &bs))
			return hfc_lines_fail(l, "bad client trace header");
		if (is != t->image_size || bs != t->block_size)
			return hfc_lines_fail(l, "trace of another image (%" PRIu64 " bytes, block size %" PRIu64 ")",
					      is, bs);
		t->version = (uint32_t)MIN(v, (uint64_t)HFC_VERSION_MAX);
		return 0;
	}
	uint64_t us, block;
	size_t n = fields(l, copy, sizeof(copy), f, 6);
	if (n != 5 || !is_uint(f[0], &us) || !is_uint(f[1], &block) ||
	    (strcmp(f[2], "hit") != 0 && strcmp(f[2], "miss") != 0))
		return hfc_lines_fail(l, "expected '<µs> <block> hit|miss <bytes> <µs>'");
	if (block >= t->nblocks)
		return hfc_lines_fail(l, "block %" PRIu64 " beyond the image", block);
	collect_range(t, block, block, (double)us / 1e6);
	return 0;
}

/*
 * "7,0  1  1  0.000000000  4162  Q  R 131072 + 256 [qemu]": a read queued at a sector. Returns
 * true for an event of a read, with its sector, count, time and action letter.
 */
static bool blkparse_event(const HfcLines *l, uint64_t *sector, uint64_t *count, double *when,
			   char *action)
{
	char copy[1100], *f[12];
	size_t n = fields(l, copy, sizeof(copy), f, 12);
	if (n < 10 || !strchr(f[0], ',') || strcmp(f[8], "+") != 0)
		return false;
	if (!strchr(f[6], 'R') || !is_uint(f[7], sector) || !is_uint(f[9], count))
		return false;
	char *end;
	*when = strtod(f[3], &end);
	if (*end || *when < 0)
		return false;
	*action = f[5][0];
	return f[5][1] == 0;
}

/* Read events of one action (Q, else D); other events and summaries are skipped. */
static int blkparse_line(Trace *t)
{
	uint64_t sector, count, b0, b1;
	double when;
	char a;
	if (!blkparse_event(&t->l, &sector, &count, &when, &a) || a != (t->have_q ? 'Q' : 'D'))
		return 0;
	if (count != 0 && sector <= UINT64_MAX / 512 && sector_range(t, sector, count, &b0, &b1))
		collect_range(t, b0, b1, when);
	return 0;
}

/* "SECTOR COUNT", one read per line in order; empty lines are skipped. */
static int sectors_line(Trace *t)
{
	char copy[1100], *f[3];
	uint64_t sector, count, b0, b1;
	size_t n = fields(&t->l, copy, sizeof(copy), f, 3);
	if (n == 0)
		return 0;
	if (n != 2 || !is_uint(f[0], &sector) || !is_uint(f[1], &count) ||
	    sector > UINT64_MAX / 512 || count > UINT64_MAX / 512)
		return hfc_lines_fail(&t->l, "expected '<sector> <count>' (512-byte sectors)");
	if (sector_range(t, sector, count, &b0, &b1))
		collect_range(t, b0, b1, (double)t->rank++);
	return 0;
}

/* A client trace by its header, else blkparse by a read event in the first 50 lines. */
static HfcTraceFormat detect(const char *buf, size_t len, const char *fname)
{
	if (len >= 13 && memcmp(buf, "# hfc-trace 1", 13) == 0)
		return HFC_TRACE_CLIENT;
	HfcLines probe;
	hfc_lines_init(&probe, buf, len, fname, NULL);
	uint64_t s, c;
	double when;
	char a;
	for (int k = 0; k < 50 && hfc_lines_next(&probe) > 0; k++)
		if (blkparse_event(&probe, &s, &c, &when, &a))
			return HFC_TRACE_BLKPARSE;
	return HFC_TRACE_SECTORS;
}

/* Whether a blkparse trace has queued reads: those are used, else the issued (D) ones. */
static bool has_queued(const char *buf, size_t len, const char *fname)
{
	HfcLines probe;
	hfc_lines_init(&probe, buf, len, fname, NULL);
	uint64_t s, c;
	double when;
	char a;
	while (hfc_lines_next(&probe) > 0)
		if (blkparse_event(&probe, &s, &c, &when, &a) && a == 'Q')
			return true;
	return false;
}

/* The blocks read, ascending, with their first-read times. */
static int make_run(const Trace *t, HfcTraceRun *ret)
{
	HfcTraceRun run = { .n = t->count };
	run.blocks = malloc((t->count ? t->count : 1) * sizeof(uint64_t));
	run.first = malloc((t->count ? t->count : 1) * sizeof(double));
	if (!run.blocks || !run.first) {
		hfc_trace_run_done(&run);
		return -ENOMEM;
	}
	size_t k = 0;
	for (uint64_t b = 0; b < t->nblocks; b++)
		if (t->first[b] >= 0) {
			run.blocks[k] = b;
			run.first[k] = t->first[b];
			k++;
		}
	*ret = run;
	return 0;
}

int hfc_trace_parse(const char *buf, size_t len, const char *fname, HfcTraceFormat fmt,
		    uint64_t image_size, uint32_t block_size, HfcTraceRun *ret,
		    uint32_t *ret_version, HfcErr *err)
{
	static int (*const readers[])(Trace *t) = {
		[HFC_TRACE_CLIENT] = client_line,
		[HFC_TRACE_BLKPARSE] = blkparse_line,
		[HFC_TRACE_SECTORS] = sectors_line,
	};
	Trace t = {
		.image_size = image_size,
		.block_size = block_size,
		.nblocks = DIV_ROUND_UP(image_size, block_size),
	};
	hfc_lines_init(&t.l, buf, len, fname, err);
	*ret_version = 0;
	if (len > HFC_TRACE_MAX_BYTES)
		return hfc_lines_fail(&t.l, "trace larger than %zu bytes", HFC_TRACE_MAX_BYTES);
	/* A trace of a client that was killed may end in a cut-off line: leave it out. */
	while (len > 0 && buf[len - 1] != '\n')
		len--;
	t.l.len = len;
	if (fmt == HFC_TRACE_AUTO)
		fmt = detect(buf, len, fname);
	if (fmt == HFC_TRACE_BLKPARSE)
		t.have_q = has_queued(buf, len, fname);
	t.first = malloc((t.nblocks ? t.nblocks : 1) * sizeof(double));
	if (!t.first)
		return -ENOMEM;
	for (uint64_t b = 0; b < t.nblocks; b++)
		t.first[b] = -1;
	int r;
	while ((r = hfc_lines_next(&t.l)) > 0 && (r = readers[fmt](&t)) >= 0)
		;
	if (r >= 0)
		r = make_run(&t, ret);
	free(t.first);
	*ret_version = t.version;
	return r;
}

int hfc_trace_coverage(const HfcTraceRun *run, const HfcProfile *p, const HfcIndex *idx,
		       size_t *ret_read, size_t *ret_covered)
{
	uint64_t nb = DIV_ROUND_UP(p->image_size, p->block_size);
	_cleanup_free_ uint8_t *in = calloc(nb / 8 + 1, 1);
	if (!in)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++)
		if (p->e[i].block < nb)
			in[p->e[i].block / 8] |= (uint8_t)(1u << (p->e[i].block % 8));
	size_t read = 0, covered = 0;
	for (size_t i = 0; i < run->n; i++) {
		uint64_t b = run->blocks[i];
		/* Zero blocks cost nothing to read: a profile leaves them out, and so does this. */
		if (idx && (b >= idx->nblocks || !idx->entries[b].stored))
			continue;
		read++;
		if (b < nb && in[b / 8] & (1u << (b % 8)))
			covered++;
	}
	*ret_read = read;
	*ret_covered = covered;
	return 0;
}

/* ---- merging runs ---- */

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
	_cleanup_free_ uint32_t *cnt = calloc(nb ? nb : 1, sizeof(uint32_t));
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
	_cleanup_free_ Cand *cand = calloc(ncand ? ncand : 1, sizeof(Cand));
	_cleanup_free_ double *times = calloc(nruns ? nruns : 1, sizeof(double));
	_cleanup_free_ size_t *pos = calloc(nruns ? nruns : 1, sizeof(size_t));
	_cleanup_(hfc_profile_freep) HfcProfile *p = calloc(1, sizeof(*p));
	if (!cand || !times || !pos || !p || !(p->e = calloc(ncand ? ncand : 1, sizeof(*p->e))))
		return -ENOMEM;
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
	*ret = TAKE_PTR(p);
	return 0;
}
