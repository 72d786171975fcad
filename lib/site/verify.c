/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/verify.h"

#include "base/fileio.h"
#include "base/pipeline.h"
#include "base/progress.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int hfc_index_account(const HfcIndex *idx, HfcHashMap *before, uint64_t *ret_new_blocks,
		      uint64_t *ret_new_bytes)
{
	uint64_t nb = 0, bytes = 0;
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		const HfcIndexEntry *e = &idx->entries[i];
		if (!e->stored)
			continue;
		int r = hfc_hashmap_put(before, e->hash, e->stored, NULL);
		if (r < 0)
			return r;
		if (r > 0) {
			nb++;
			bytes += e->stored;
		}
	}
	if (ret_new_blocks)
		*ret_new_blocks = nb;
	if (ret_new_bytes)
		*ret_new_bytes = bytes;
	return 0;
}

typedef struct Check {
	uint8_t hash[HFC_HASH_MAX];
	uint32_t stored;
	uint32_t len;     /* uncompressed length: the block size, or less for a last block */
	uint32_t version; /* the first version that names it, for messages */
} Check;

typedef struct Verifier {
	HfcSite *site;
	HfcHashAlgo algo;
	uint32_t block_size;
	Check *checks;
	HfcCodec **codecs;
	uint8_t **in, **out;
	HfcReportFn report;
	void *ud;
	pthread_mutex_t lock;
	HfcVerifyResult *res;
	const HfcProgress *progress;
	uint64_t total;
} Verifier;

_printf_(3, 4) static void finding(Verifier *v, bool fault, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&v->lock);
	if (fault)
		v->res->faults++;
	if (v->report)
		v->report(v->ud, fault, msg);
	pthread_mutex_unlock(&v->lock);
}

static int check_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	(void)slot;
	Verifier *v = ctx;
	const Check *c = &v->checks[i];
	char p[HFC_BLOCK_PATH_MAX];
	hfc_block_path(v->algo, c->hash, p);
	const char *sp = hfc_site_path(v->site);
	uint64_t size;
	int r = hfc_site_block_stat(v->site, v->algo, c->hash, &size);
	if (r == -ENOENT) {
		finding(v, true, "%s/%s: missing (named by version %u)", sp, p, c->version);
		return 0;
	}
	if (r < 0) {
		finding(v, true, "%s/%s: %s", sp, p, strerror(-r));
		return 0;
	}
	if (size != c->stored) {
		finding(v, true, "%s/%s: %llu bytes, but version %u says %u", sp, p,
			(unsigned long long)size, c->version, c->stored);
		return 0;
	}
	r = hfc_site_block_read(v->site, v->algo, c->hash, c->stored, v->in[worker]);
	if (r < 0) {
		finding(v, true, "%s/%s: %s", sp, p, strerror(-r));
		return 0;
	}
	r = hfc_block_decode_verified(v->codecs[worker], v->algo, c->hash, v->in[worker],
				      c->stored, v->out[worker], c->len);
	if (r < 0)
		finding(v, true, "%s/%s: %s", sp, p,
			r == -EBADMSG ? "does not match its name (corrupt block file)"
				      : strerror(-r));
	pthread_mutex_lock(&v->lock);
	v->res->blocks_checked++;
	v->res->bytes_checked += c->stored;
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static int check_sink(void *ctx, uint64_t i, void *slot)
{
	(void)slot;
	Verifier *v = ctx;
	hfc_progress(v->progress, "verify", i + 1, v->total);
	return 0;
}

typedef struct OrphanScan {
	Verifier *v;
	HfcHashMap *named;
} OrphanScan;

static int orphan_entry(void *ud, int dir, const char *subdir, const char *name,
			const uint8_t *hash, const struct stat *st)
{
	(void)dir;
	OrphanScan *o = ud;
	const char *sp = hfc_site_path(o->v->site);
	if (!hash) {
		finding(o->v, false, "%s/%s/%s: stray file (not a block file)", sp, subdir, name);
		return 0;
	}
	if (hfc_hashmap_get(o->named, hash, NULL))
		return 0;
	o->v->res->orphans++;
	o->v->res->orphan_bytes += (uint64_t)st->st_size;
	finding(o->v, false, "%s/%s/%s: orphan (no version names it)", sp, subdir, name);
	return 0;
}

/* Reports block files that no version names, and stray files in blocks/00 … blocks/ff. */
static int find_orphans(Verifier *v, HfcHashMap *named)
{
	OrphanScan o = { .v = v, .named = named };
	return hfc_blocks_scan(hfc_site_fd(v->site), hfc_site_path(v->site), v->algo, orphan_entry,
			       &o, NULL);
}

int hfc_site_verify(HfcSite *s, unsigned jobs, const HfcVerifyKeys *keys,
		    const HfcProgress *progress, HfcReportFn report, void *userdata,
		    HfcVerifyResult *res)
{
	*res = (HfcVerifyResult){ 0 };
	if (jobs == 0)
		jobs = hfc_cpu_count();
	Verifier v = { .site = s, .report = report, .ud = userdata, .res = res };
	pthread_mutex_init(&v.lock, NULL);
	_cleanup_free_ uint32_t *versions = NULL;
	size_t nv;
	_cleanup_(hfc_hashmap_freep) HfcHashMap *named = NULL;
	int r = hfc_site_versions(s, &versions, &nv);
	if (r < 0)
		goto out;
	res->versions = (uint32_t)nv;
	if (nv == 0) {
		finding(&v, true, "%s: no versions published", hfc_site_path(s));
		r = 0;
		goto out;
	}

	size_t nchecks = 0, cap = 0;
	bool have_params = false;
	for (size_t k = 0; k < nv; k++) {
		HfcErr err = { "" };
		_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
		r = hfc_site_load_index(s, versions[k], &idx, &err);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			finding(&v, true, "%s", err.msg);
			continue;
		}
		if (!have_params) {
			v.algo = idx->hash;
			v.block_size = idx->block_size;
			have_params = true;
			r = hfc_hashmap_new(hfc_hash_len(v.algo), &named);
			if (r < 0)
				goto out;
		}
		char rel[HFC_LAYOUT_PATH_MAX], display[PATH_MAX + HFC_LAYOUT_PATH_MAX];
		hfc_layout_path(HFC_LAYOUT_INDEX, versions[k], rel);
		snprintf(display, sizeof(display), "%s/%s", hfc_site_path(s), rel);
		if (keys && keys->nkeys) {
			r = hfc_index_verify(idx, NULL, 0, keys->keys, keys->nkeys, keys->now, display,
					     &err);
			if (r == -ENOMEM)
				goto out;
			if (r == 0)
				res->signed_ok++;
			else
				finding(&v, r != -EKEYEXPIRED || k + 1 == nv, "%s", err.msg);
			r = 0;
		}
		if (idx->hash != v.algo || idx->block_size != v.block_size) {
			finding(&v, true, "%s/%s: block size or hash differs from the site's",
				hfc_site_path(s), rel);
			continue;
		}
		for (uint64_t i = 0; i < idx->nblocks; i++) {
			const HfcIndexEntry *e = &idx->entries[i];
			if (!e->stored)
				continue;
			uint64_t have;
			r = hfc_hashmap_put(named, e->hash, e->stored, &have);
			if (r < 0)
				goto out;
			if (r == 0) {
				if (have != e->stored) {
					char hex[2 * HFC_HASH_MAX + 1];
					hfc_hex_encode(e->hash, hfc_hash_len(v.algo), hex);
					finding(&v, true, "%s/%s: block %s stored size %u differs from %llu in another version",
						hfc_site_path(s), rel, hex, e->stored,
						(unsigned long long)have);
				}
				continue;
			}
			if (nchecks == cap) {
				cap = cap ? cap * 2 : 1024;
				Check *nc = realloc(v.checks, cap * sizeof(Check));
				if (!nc) {
					r = -ENOMEM;
					goto out;
				}
				v.checks = nc;
			}
			Check *c = &v.checks[nchecks++];
			memcpy(c->hash, e->hash, HFC_HASH_MAX);
			c->stored = e->stored;
			c->len = (uint32_t)hfc_index_block_len(idx, i);
			c->version = versions[k];
		}
	}

	/* index.idx must be the newest version, byte for byte. */
	{
		_cleanup_free_ char *cur = NULL, *want = NULL;
		size_t curlen, wantlen;
		char rel[HFC_LAYOUT_PATH_MAX];
		hfc_layout_path(HFC_LAYOUT_INDEX, versions[nv - 1], rel);
		int a = hfc_read_file_at(hfc_site_fd(s), HFC_SITE_CURRENT, HFC_INDEX_MAX_BYTES, &cur,
					 &curlen);
		int b = hfc_read_file_at(hfc_site_fd(s), rel, HFC_INDEX_MAX_BYTES, &want, &wantlen);
		if (a < 0)
			finding(&v, true, "%s/index.idx: %s", hfc_site_path(s), strerror(-a));
		else if (b >= 0 && (curlen != wantlen || memcmp(cur, want, curlen) != 0))
			finding(&v, true, "%s/index.idx: differs from %s (the newest version)",
				hfc_site_path(s), rel);
	}

	if (have_params) {
		v.codecs = calloc(jobs, sizeof(*v.codecs));
		v.in = calloc(jobs, sizeof(*v.in));
		v.out = calloc(jobs, sizeof(*v.out));
		r = -ENOMEM;
		if (!v.codecs || !v.in || !v.out)
			goto out;
		for (unsigned j = 0; j < jobs; j++) {
			if (hfc_codec_new(HFC_LEVEL_DEFAULT, &v.codecs[j]) < 0)
				goto out;
			v.in[j] = malloc(hfc_codec_bound(v.block_size));
			v.out[j] = malloc(v.block_size);
			if (!v.in[j] || !v.out[j])
				goto out;
		}
		v.progress = progress;
		v.total = nchecks;
		r = hfc_pipeline_run(nchecks, jobs, jobs * 4, 0, check_work, check_sink, &v);
		if (r < 0)
			goto out;
		r = find_orphans(&v, named);
	}
out:
	if (v.codecs)
		for (unsigned j = 0; j < jobs; j++) {
			hfc_codec_free(v.codecs[j]);
			free(v.in ? v.in[j] : NULL);
			free(v.out ? v.out[j] : NULL);
		}
	free(v.codecs);
	free(v.in);
	free(v.out);
	free(v.checks);
	pthread_mutex_destroy(&v.lock);
	return r;
}
