/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/history.h"

#include "base/fileio.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- diff ---- */

int hfc_site_names_before(HfcSite *s, uint32_t before, HfcHashMap *known, HfcErr *err)
{
	_cleanup_free_ uint32_t *vs = NULL;
	size_t n;
	int r = hfc_site_versions(s, &vs, &n);
	if (r < 0)
		return hfc_err_set(err, r, "%s/indexes: %s", hfc_site_path(s), strerror(-r));
	for (size_t k = 0; k < n && (before == 0 || vs[k] < before); k++) {
		_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
		r = hfc_site_load_index(s, vs[k], &idx, err);
		if (r < 0)
			return r;
		for (uint64_t i = 0; i < idx->nblocks; i++) {
			const HfcIndexEntry *e = &idx->entries[i];
			if (e->stored && hfc_hashmap_put(known, e->hash, e->stored, NULL) < 0)
				return hfc_err_set(err, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

static bool entry_equal(const HfcIndexEntry *x, const HfcIndexEntry *y, size_t hl)
{
	return x->stored == y->stored && (!x->stored || memcmp(x->hash, y->hash, hl) == 0);
}

int hfc_diff(const HfcIndex *a, const HfcIndex *b, HfcHashMap *known, HfcDiffNewFn fn,
	     void *userdata, HfcDiffResult *res)
{
	*res = (HfcDiffResult){ .blocks_a = a->nblocks, .blocks_b = b->nblocks };
	if (a->block_size != b->block_size || a->hash != b->hash)
		return -EINVAL;
	size_t hl = hfc_hash_len(b->hash);
	uint64_t n = MAX(a->nblocks, b->nblocks);
	for (uint64_t i = 0; i < n; i++) {
		/* A position one side lacks counts as changed, as does a last block that grew. */
		if (i >= a->nblocks || i >= b->nblocks ||
		    hfc_index_block_len(a, i) != hfc_index_block_len(b, i) ||
		    !entry_equal(&a->entries[i], &b->entries[i], hl))
			res->changed++;
	}
	res->same = res->changed == 0 && a->image_size == b->image_size;
	for (uint64_t i = 0; i < a->nblocks; i++) {
		const HfcIndexEntry *e = &a->entries[i];
		if (e->stored && hfc_hashmap_put(known, e->hash, e->stored, NULL) < 0)
			return -ENOMEM;
	}
	_cleanup_(hfc_hashmap_freep) HfcHashMap *mine = NULL;
	int r = hfc_hashmap_new(hl, &mine);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < b->nblocks; i++) {
		const HfcIndexEntry *e = &b->entries[i];
		if (!e->stored)
			continue;
		r = hfc_hashmap_put(mine, e->hash, 0, NULL);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		res->stored_b += e->stored;
		if (hfc_hashmap_get(known, e->hash, NULL))
			continue;
		res->new_blocks++;
		res->new_bytes += e->stored;
		if (fn) {
			r = fn(userdata, e->hash, e->stored);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- rollback ---- */

int hfc_site_rollback(HfcSite *s, uint32_t target, HfcRollbackResult *res, HfcErr *err)
{
	*res = (HfcRollbackResult){ .target = target };
	const char *sp = hfc_site_path(s);
	int r = hfc_site_lock(s, true, err);
	if (r < 0)
		return r;
	r = hfc_site_clean_tmp(s);
	if (r < 0)
		return hfc_err_set(err, r, "%s: removing stale temporary files: %s", sp, strerror(-r));
	uint32_t latest;
	r = hfc_site_latest(s, &latest);
	if (r < 0)
		return hfc_err_set(err, r, "%s/indexes: %s", sp, strerror(-r));
	if (latest == 0)
		return hfc_err_set(err, -ENOENT, "%s: no versions published", sp);
	if (latest >= HFC_VERSION_MAX)
		return hfc_err_set(err, -EOVERFLOW, "%s: no version numbers left", sp);
	_cleanup_(hfc_index_freep) HfcIndex *cur = NULL, *idx = NULL;
	r = hfc_site_load_index(s, 0, &cur, err);
	if (r < 0)
		return r;
	res->from = cur->version;
	r = hfc_site_load_index(s, target, &idx, err);
	if (r == -ENOENT)
		return hfc_err_set(err, r, "%s: no version %u (see hfc-index list)", sp, target);
	if (r < 0)
		return r;
	if (target == cur->version)
		return hfc_err_set(err, -EINVAL, "%s: version %u is the current version already", sp,
				   target);
	if (idx->block_size != cur->block_size || idx->hash != cur->hash)
		return hfc_err_set(err, -EINVAL, "%s: version %u has another block size or hash", sp,
				   target);
	/* Every block the old version names must still be here (a prune may have taken some). */
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		const HfcIndexEntry *e = &idx->entries[i];
		if (!e->stored)
			continue;
		uint64_t size;
		r = hfc_site_block_stat(s, idx->hash, e->hash, &size);
		if (r >= 0 && size == e->stored)
			continue;
		char p[HFC_BLOCK_PATH_MAX];
		hfc_block_path(idx->hash, e->hash, p);
		return hfc_err_set(err, r < 0 ? r : -EBADMSG,
				   "%s/%s: %s; cannot roll back to version %u", sp, p,
				   r == -ENOENT ? "missing"
				   : r < 0	? strerror(-r)
						: "has the wrong size",
				   target);
	}
	/* A new version, not an old one made current: clients never see the number go down. */
	idx->version = latest + 1;
	idx->created = hfc_now();
	snprintf(idx->label, sizeof(idx->label), "rollback to %u", target);
	idx->has_sig = false; /* version N's signature does not cover the new version */
	r = hfc_site_publish(s, idx, err);
	if (r < 0)
		return r;
	res->version = idx->version;
	res->blocks = idx->nblocks;
	return 0;
}

/* ---- prune ---- */

void hfc_prune_result_done(HfcPruneResult *res)
{
	free(res->kept);
	free(res->removed);
	res->kept = res->removed = NULL;
}

static int push_u32(uint32_t **v, size_t *n, uint32_t x)
{
	uint32_t *nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = x;
	*v = nv;
	return 0;
}

typedef struct Unkept {
	const HfcHashMap *keep;
	size_t hl, n, cap;
	uint8_t *v;
	HfcPruneResult *res;
} Unkept;

static int unkept_entry(void *ud, int dir, const char *subdir, const char *name,
			const uint8_t *hash, const struct stat *st)
{
	(void)dir, (void)subdir, (void)name;
	Unkept *u = ud;
	/* Only block files of the site's hash are candidates; the rest stays. */
	if (!hash)
		return 0;
	if (hfc_hashmap_get(u->keep, hash, NULL)) {
		u->res->blocks_kept++;
		u->res->kept_bytes += (uint64_t)st->st_size;
		return 0;
	}
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 256;
		uint8_t *nv = realloc(u->v, cap * u->hl);
		if (!nv)
			return -ENOMEM;
		u->v = nv;
		u->cap = cap;
	}
	memcpy(u->v + u->n++ * u->hl, hash, u->hl);
	u->res->blocks_removed++;
	u->res->block_bytes += (uint64_t)st->st_size;
	return 0;
}

/* Lists the block files of the site that `keep` does not name (hashes, hl bytes each). */
static int scan_unkept(HfcSite *s, HfcHashAlgo algo, const HfcHashMap *keep, uint8_t **ret,
		       size_t *ret_n, HfcPruneResult *res, HfcErr *err)
{
	Unkept u = { .keep = keep, .hl = hfc_hash_len(algo), .res = res };
	int r = hfc_blocks_scan(hfc_site_fd(s), hfc_site_path(s), algo, unkept_entry, &u, err);
	if (r < 0) {
		free(u.v);
		return r == -ENOMEM ? hfc_err_set(err, r, "out of memory") : r;
	}
	*ret = u.v;
	*ret_n = u.n;
	return 0;
}

int hfc_site_prune(HfcSite *s, const HfcPruneOptions *o, HfcPruneResult *res, HfcErr *err)
{
	*res = (HfcPruneResult){ 0 };
	const char *sp = hfc_site_path(s);
	int r = hfc_site_lock(s, o->yes, err);
	if (r < 0)
		return r;
	if (o->yes) {
		r = hfc_site_clean_tmp(s);
		if (r < 0)
			return hfc_err_set(err, r, "%s: removing stale temporary files: %s", sp,
					   strerror(-r));
	}
	_cleanup_free_ uint32_t *vs = NULL;
	size_t nv;
	r = hfc_site_versions(s, &vs, &nv);
	if (r < 0)
		return hfc_err_set(err, r, "%s/indexes: %s", sp, strerror(-r));
	if (nv == 0)
		return hfc_err_set(err, -ENOENT, "%s: no versions published", sp);
	_cleanup_(hfc_index_freep) HfcIndex *cur = NULL;
	r = hfc_site_load_index(s, 0, &cur, err);
	if (r < 0)
		return r;
	res->current = cur->version;
	HfcHashAlgo algo = cur->hash;
	_cleanup_(hfc_hashmap_freep) HfcHashMap *keep = NULL, *curset = NULL;
	if (hfc_hashmap_new(hfc_hash_len(algo), &keep) < 0 ||
	    hfc_hashmap_new(hfc_hash_len(algo), &curset) < 0)
		return hfc_err_set(err, -ENOMEM, "out of memory");

	/*
	 * Every index is read, kept or not: one that does not parse stops the prune, since what it
	 * names cannot be known. Indexes of removed versions are counted, never trusted further.
	 */
	for (size_t k = 0; k < nv; k++) {
		_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
		r = hfc_site_load_index(s, vs[k], &idx, err);
		if (r < 0)
			return r;
		char rel[HFC_LAYOUT_PATH_MAX];
		hfc_layout_path(HFC_LAYOUT_INDEX, vs[k], rel);
		if (idx->hash != algo)
			return hfc_err_set(err, -EINVAL, "%s/%s: another hash than the current version",
					   sp, rel);
		bool kept = nv - k <= o->keep || vs[k] == cur->version || vs[k] > cur->version ||
			    (o->since_set && idx->created >= o->since);
		if (kept)
			r = push_u32(&res->kept, &res->n_kept, vs[k]);
		else
			r = push_u32(&res->removed, &res->n_removed, vs[k]);
		if (r < 0)
			return hfc_err_set(err, r, "out of memory");
		if (!kept) {
			struct stat st;
			if (fstatat(hfc_site_fd(s), rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
				res->index_bytes += (uint64_t)st.st_size;
			hfc_layout_path(HFC_LAYOUT_PROFILE, vs[k], rel);
			if (fstatat(hfc_site_fd(s), rel, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode))
				res->index_bytes += (uint64_t)st.st_size;
			continue;
		}
		for (uint64_t i = 0; i < idx->nblocks; i++) {
			const HfcIndexEntry *e = &idx->entries[i];
			if (e->stored && hfc_hashmap_put(keep, e->hash, 0, NULL) < 0)
				return hfc_err_set(err, -ENOMEM, "out of memory");
		}
	}
	/* index.idx itself, whatever indexes/ says: its blocks are never candidates. */
	for (uint64_t i = 0; i < cur->nblocks; i++) {
		const HfcIndexEntry *e = &cur->entries[i];
		if (e->stored && (hfc_hashmap_put(keep, e->hash, 0, NULL) < 0 ||
				  hfc_hashmap_put(curset, e->hash, 0, NULL) < 0))
			return hfc_err_set(err, -ENOMEM, "out of memory");
	}

	_cleanup_free_ uint8_t *gone = NULL;
	size_t ngone = 0;
	r = scan_unkept(s, algo, keep, &gone, &ngone, res, err);
	if (r < 0)
		return r;
	size_t hl = hfc_hash_len(algo);
	for (size_t i = 0; i < ngone; i++)
		if (hfc_hashmap_get(curset, gone + i * hl, NULL))
			return hfc_err_set(err, -EFAULT,
					   "%s: internal error: a block of the current version was chosen for removal",
					   sp);
	if (!o->yes)
		return 0;

	/* Indexes first: at no moment does a version name a block file that is gone. */
	for (size_t k = 0; k < res->n_removed; k++) {
		uint32_t v = res->removed[k];
		char rel[HFC_LAYOUT_PATH_MAX];
		hfc_layout_path(HFC_LAYOUT_INDEX, v, rel);
		r = hfc_site_version_remove(s, v);
		if (r < 0 && r != -ENOENT)
			return hfc_err_set(err, r, "%s/%s: %s", sp, rel, strerror(-r));
		hfc_layout_path(HFC_LAYOUT_PROFILE, v, rel);
		if (unlinkat(hfc_site_fd(s), rel, 0) < 0 && errno != ENOENT)
			return hfc_err_set(err, negative_errno(), "%s/%s: %s", sp, rel,
					   strerror(errno));
	}
	r = hfc_site_blocks_remove(s, algo, gone, ngone, NULL);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s: %s", sp, HFC_SITE_BLOCKS, strerror(-r));
	res->deleted = true;
	return 0;
}
