/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The local site being published: its current version, its block files, its totals. */
#include "publish/publish-private.h"

#include "base/fileio.h"
#include "site/layout.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void publish_source_done(PublishSource *x)
{
	hfc_site_free(x->s);
	free(x->path);
	free(x->idx_buf);
	hfc_index_free(x->idx);
	free(x->blocks);
	hfc_hashmap_free(x->set);
	for (size_t i = 0; i < x->nkeys; i++)
		hfc_key_free(x->keys[i]);
	free(x->keys);
	*x = (PublishSource){ 0 };
}

/* The distinct block files of the version, in index order: what every mirror must hold. */
static int collect_blocks(PublishSource *x, HfcErr *err)
{
	int r = hfc_hashmap_new(hfc_hash_len(x->idx->hash), &x->set);
	if (r < 0)
		return hfc_err_set(err, r, "out of memory");
	size_t cap = 0;
	for (uint64_t i = 0; i < x->idx->nblocks; i++) {
		const HfcIndexEntry *e = &x->idx->entries[i];
		if (!e->stored)
			continue;
		r = hfc_hashmap_put(x->set, e->hash, e->stored, NULL);
		if (r < 0)
			return hfc_err_set(err, r, "out of memory");
		if (r == 0)
			continue;
		if (x->nblocks == cap) {
			cap = cap ? cap * 2 : 1024;
			PublishBlock *nb = realloc(x->blocks, cap * sizeof(PublishBlock));
			if (!nb)
				return hfc_err_set(err, -ENOMEM, "out of memory");
			x->blocks = nb;
		}
		PublishBlock *b = &x->blocks[x->nblocks++];
		memcpy(b->hash, e->hash, sizeof(b->hash));
		b->stored = e->stored;
		b->len = (uint32_t)hfc_index_block_len(x->idx, i);
		x->block_bytes += e->stored;
	}
	return 0;
}

int publish_source_prepare(PublishSource *x, const char *path, HfcErr *err)
{
	int r = hfc_site_open(path, false, &x->s, err);
	if (r < 0)
		return r;
	/* Held until the end: no writer publishes or prunes while mirrors are pushed. */
	r = hfc_site_lock(x->s, false, err);
	if (r < 0)
		return r;
	if (!(x->path = realpath(path, NULL)))
		return hfc_err_set(err, negative_errno(), "%s: %s", path, strerror(errno));
	r = hfc_read_file_at(hfc_site_fd(x->s), HFC_SITE_CURRENT, HFC_INDEX_MAX_BYTES, &x->idx_buf,
			     &x->idx_len);
	if (r == -ENOENT)
		return hfc_err_set(err, r, "%s: no %s: nothing to publish", path, HFC_SITE_CURRENT);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s: %s", path, HFC_SITE_CURRENT, strerror(-r));
	_cleanup_free_ char *display = NULL;
	if (asprintf(&display, "%s/%s", path, HFC_SITE_CURRENT) < 0)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	r = hfc_index_parse(x->idx_buf, x->idx_len, display, &x->idx, err);
	if (r < 0)
		return r;
	/* index.idx must be the copy of its version's file: a site mid-write is not published. */
	char rel[HFC_LAYOUT_PATH_MAX];
	hfc_layout_path(HFC_LAYOUT_INDEX, x->idx->version, rel);
	_cleanup_free_ char *vbuf = NULL;
	size_t vlen;
	r = hfc_read_file_at(hfc_site_fd(x->s), rel, HFC_INDEX_MAX_BYTES, &vbuf, &vlen);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s: %s", path, rel, strerror(-r));
	if (vlen != x->idx_len || memcmp(vbuf, x->idx_buf, vlen) != 0)
		return hfc_err_set(err, -EBADMSG, "%s: %s differs from %s", path, HFC_SITE_CURRENT,
				   rel);
	return collect_blocks(x, err);
}

int publish_source_keys(PublishSource *x, const HfcPublishConfig *c, HfcErr *err)
{
	if (c->npubkeys == 0)
		return 0;
	if (!(x->keys = calloc(c->npubkeys, sizeof(HfcKey *))))
		return hfc_err_set(err, -ENOMEM, "out of memory");
	for (; x->nkeys < c->npubkeys; x->nkeys++) {
		int r = hfc_key_load(c->pubkeys[x->nkeys], false, &x->keys[x->nkeys], err);
		if (r < 0)
			return r;
	}
	return 0;
}

int publish_source_signed(PublishSource *x, int64_t now, HfcErr *err)
{
	_cleanup_free_ char *display = NULL;
	if (asprintf(&display, "%s/%s", x->path, HFC_SITE_CURRENT) < 0)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	int r = hfc_index_verify(x->idx, x->idx_buf, x->idx_len, x->keys, x->nkeys, now, display,
				 err);
	if (r < 0)
		return r;
	_cleanup_free_ uint32_t *versions = NULL;
	size_t nv;
	if ((r = hfc_site_versions(x->s, &versions, &nv)) < 0)
		return hfc_err_set(err, r, "%s: %s", x->path, strerror(-r));
	for (size_t k = 0; k < nv; k++) {
		if (versions[k] == x->idx->version)
			continue; /* index.idx is its copy, checked above */
		_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
		if ((r = hfc_site_load_index(x->s, versions[k], &idx, err)) < 0)
			return r;
		char rel[HFC_LAYOUT_PATH_MAX];
		hfc_layout_path(HFC_LAYOUT_INDEX, versions[k], rel);
		free(display);
		if (asprintf(&display, "%s/%s", x->path, rel) < 0) {
			display = NULL;
			return hfc_err_set(err, -ENOMEM, "out of memory");
		}
		r = hfc_index_verify(idx, NULL, 0, x->keys, x->nkeys, now, display, err);
		if (r < 0 && r != -EKEYEXPIRED)
			return r;
	}
	err->msg[0] = 0;
	return 0;
}

void publish_sig_info(const PublishSource *x, const HfcIndex *idx, const char *buf, size_t len,
		      int64_t now, HfcSigInfo *out)
{
	*out = (HfcSigInfo){ HFC_SIG_NONE };
	if (!idx->has_sig)
		return;
	memcpy(out->key_id, idx->sig.key_id, sizeof(out->key_id));
	out->expires = idx->sig.expires;
	out->state = HFC_SIG_UNCHECKED;
	if (x->nkeys == 0)
		return;
	HfcErr e;
	switch (hfc_index_verify(idx, buf, len, x->keys, x->nkeys, now, "", &e)) {
	case 0:
		out->state = HFC_SIG_GOOD;
		break;
	case -EKEYREJECTED:
		out->state = HFC_SIG_UNTRUSTED;
		break;
	case -EKEYEXPIRED:
		out->state = HFC_SIG_EXPIRED;
		break;
	default:
		out->state = HFC_SIG_BAD;
		break;
	}
}

const char *hfc_sig_state_name(HfcSigState s)
{
	static const char *const names[] = { "unsigned", "unchecked", "good",
					     "untrusted", "bad", "expired" };
	return (size_t)s < ELEMENTSOF(names) ? names[s] : "?";
}

/* Counts the regular files a mirror gets (no dot files) under dirfd/name, depth-limited. */
static int count_tree(int dirfd, const char *name, unsigned depth, uint64_t *files,
		      uint64_t *bytes)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : negative_errno();
	if (S_ISREG(st.st_mode)) {
		(*files)++;
		*bytes += (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISDIR(st.st_mode) || depth == 0)
		return 0;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d)
		return negative_errno();
	int dfd = TAKE_FD(fd); /* the stream owns it now */
	int r = 0;
	struct dirent *de;
	while (r >= 0 && (errno = 0, de = readdir(d)))
		if (de->d_name[0] != '.')
			r = count_tree(dfd, de->d_name, depth - 1, files, bytes);
	if (r >= 0 && errno)
		r = negative_errno();
	closedir(d);
	return r;
}

int publish_source_totals(const PublishSource *x, uint64_t *ret_files, uint64_t *ret_bytes)
{
	static const char *const parts[] = { HFC_SITE_CURRENT, HFC_SITE_INDEXES, HFC_SITE_PROFILES,
					     HFC_SITE_BLOCKS };
	*ret_files = *ret_bytes = 0;
	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		int r = count_tree(hfc_site_fd(x->s), parts[i], 3, ret_files, ret_bytes);
		if (r < 0)
			return r;
	}
	return 0;
}

int publish_source_complete(const PublishSource *x, HfcErr *err)
{
	for (size_t i = 0; i < x->nblocks; i++) {
		uint64_t size;
		int r = hfc_site_block_stat(x->s, x->idx->hash, x->blocks[i].hash, &size);
		if (r < 0 || size != x->blocks[i].stored) {
			char path[HFC_BLOCK_PATH_MAX];
			hfc_block_path(x->idx->hash, x->blocks[i].hash, path);
			return hfc_err_set(err, r < 0 ? r : -EBADMSG,
					   "%s/%s: %s; not pruning mirrors against an incomplete site",
					   x->path, path, r < 0 ? strerror(-r) : "wrong size");
		}
	}
	return 0;
}

int publish_source_missing(const PublishSource *x, const HfcIndex *theirs, uint64_t *ret_blocks,
			   uint64_t *ret_bytes)
{
	*ret_blocks = x->nblocks;
	*ret_bytes = x->block_bytes;
	/* Another hash names other files: every block file is missing. */
	if (!theirs || theirs->hash != x->idx->hash)
		return 0;
	_cleanup_(hfc_hashmap_freep) HfcHashMap *m = NULL;
	if (hfc_hashmap_new(hfc_hash_len(theirs->hash), &m) < 0)
		return -ENOMEM;
	for (uint64_t i = 0; i < theirs->nblocks; i++)
		if (theirs->entries[i].stored && hfc_hashmap_put(m, theirs->entries[i].hash, 0, NULL) < 0)
			return -ENOMEM;
	uint64_t n = 0, bytes = 0;
	for (size_t i = 0; i < x->nblocks; i++)
		if (!hfc_hashmap_get(m, x->blocks[i].hash, NULL)) {
			n++;
			bytes += x->blocks[i].stored;
		}
	*ret_blocks = n;
	*ret_bytes = bytes;
	return 0;
}
