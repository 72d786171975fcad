/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DLAHEAD prefetch of a remote image: the blocks a boot read (a profile, docs/FORMAT.md §10)
 * are fetched in that order by the fetcher (fetcher.c), ahead of the reads, and stay pinned
 * in memory until a read uses them, within prefetch_memory.
 */
#include "client/remote-private.h"

#include "site/layout.h"
#include "site/store.h"

#include <string.h>

bool remote_prefetch_next(HfcRemote *r, uint64_t *block, size_t *ret_reserved)
{
	size_t hl = r->hash_len;
	while (r->profile && r->pf_next < r->profile->n) {
		/* Reserve the block's memory first: loads together stay within the bound, and one
		 * block always fits, whatever the block size. */
		if (r->pinned_bytes + r->pf_reserved > 0 &&
		    r->pinned_bytes + r->pf_reserved + r->idx->block_size > r->o.prefetch_memory)
			return false;
		const HfcProfileEntry *pe = &r->profile->e[r->pf_next++];
		const HfcIndexEntry *ie = &r->idx->entries[pe->block];
		if (!ie->stored || memcmp(ie->hash, pe->hash, hl) != 0)
			continue; /* changed since the profile was made: counted as skipped */
		if (remote_memcache_has(r, ie->hash)) {
			r->st.prefetch_present++; /* a read (or a repeat in the profile) came first */
			continue;
		}
		size_t len = hfc_index_block_len(r->idx, pe->block);
		r->pf_reserved += len;
		*block = pe->block;
		*ret_reserved = len;
		return true;
	}
	return false;
}

int remote_prefetch_open(HfcRemote *r, HfcErr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	char display[4200];
	int k;
	if (strcmp(r->o.prefetch, "auto") == 0) {
		char path[HFC_LAYOUT_PATH_MAX], name[HFC_LAYOUT_PATH_MAX];
		hfc_layout_path(HFC_LAYOUT_PROFILE, r->idx->version, path);
		hfc_layout_name(HFC_LAYOUT_PROFILE, r->idx->version, name);
		HfcErr ferr = { "" };
		/* Bounded by the index, as the index is by its header: no endless profile. */
		size_t max = hfc_profile_max_bytes(r->idx);
		k = hfc_http_get_alloc(r->http, path, max, 0, &buf, &len, &ferr);
		bool cached = false;
		if (k < 0 && r->cache && r->o.offline_ok &&
		    hfc_cache_get_index(r->cache, name, max, &buf, &len) == 0)
			cached = true; /* offline: the profile this cache saw with the index */
		else if (k == -ENOENT)
			return hfc_err_set(err, k, "%s: the site has no profile for version %u",
					   path, r->idx->version);
		else if (k < 0)
			return hfc_err_set(err, k, "%s", ferr.msg);
		snprintf(display, sizeof(display), "%s%s", cached ? "cache/" : "", path);
		k = hfc_profile_parse(buf, len, display, &r->profile, err);
		if (k < 0)
			return k;
		if (r->profile->version != r->idx->version)
			return hfc_err_set(err, -EBADMSG,
					   "%s:2: version %u in a profile named for version %u",
					   display, r->profile->version, r->idx->version);
		/* Kept for offline use only once it parsed and names the right version. */
		if (r->cache && !cached)
			(void)hfc_cache_put_index(r->cache, name, buf, len);
	} else {
		snprintf(display, sizeof(display), "%s", r->o.prefetch);
		k = hfc_profile_load(r->o.prefetch, &r->profile, err);
		if (k < 0)
			return k;
	}
	size_t same;
	k = hfc_profile_check(r->profile, r->idx, display, &same, err);
	if (k < 0)
		return k;
	r->st.prefetch_total = same;
	r->st.prefetch_skipped = r->profile->n - same;
	return 0;
}

void remote_prefetch_stop(HfcRemote *r)
{
	hfc_profile_free(r->profile);
	r->profile = NULL;
}
