/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/store.h"

#include "base/fileio.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

struct HfcSite {
	int fd;
	int lock_fd;
	bool exclusive; /* the lock held is exclusive: removals are allowed */
	bool created;	/* hfc_site_open() made the directory */
	char *path;
	const HfcKey *signer; /* signs what is published; NULL: nothing is signed */
	int64_t sign_expires;
};

void hfc_site_set_signer(HfcSite *s, const HfcKey *key, int64_t expires)
{
	s->signer = key;
	s->sign_expires = expires;
}

int hfc_site_fd(const HfcSite *s)
{
	return s->fd;
}

const char *hfc_site_path(const HfcSite *s)
{
	return s->path;
}

static int ensure_dir_at(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return negative_errno();
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int hfc_site_open(const char *path, bool create, HfcSite **ret, HfcErr *err)
{
	int r;
	struct stat st;
	bool created = create && stat(path, &st) < 0 && errno == ENOENT;
	if (create) {
		r = hfc_mkdir_p(path);
		if (r < 0)
			return hfc_err_set(err, r, "%s: cannot create site: %s", path, strerror(-r));
	}
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = negative_errno();
		return hfc_err_set(err, r, "%s: %s", path,
				   r == -ENOENT ? "no such site" : strerror(-r));
	}
	if (create) {
		static const char *const dirs[] = { HFC_SITE_BLOCKS, HFC_SITE_INDEXES,
						    HFC_SITE_PROFILES };
		for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
			r = ensure_dir_at(fd, dirs[i]);
			if (r < 0)
				return hfc_err_set(err, r, "%s/%s: %s", path, dirs[i], strerror(-r));
		}
	}
	HfcSite *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	if (!s->path) {
		free(s);
		return -ENOMEM;
	}
	s->fd = TAKE_FD(fd);
	s->lock_fd = -1;
	s->created = created;
	*ret = s;
	return 0;
}

void hfc_site_remove_new(HfcSite *s)
{
	if (!s->created)
		return;
	/* Directories go only when empty: nothing but what this run made is removed. */
	static const char *const dirs[] = { HFC_SITE_BLOCKS, HFC_SITE_INDEXES, HFC_SITE_PROFILES };
	(void)unlinkat(s->fd, HFC_SITE_LOCK, 0);
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
		(void)unlinkat(s->fd, dirs[i], AT_REMOVEDIR);
	(void)rmdir(s->path);
}

void hfc_site_free(HfcSite *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	close(s->fd);
	free(s->path);
	free(s);
}

int hfc_site_lock(HfcSite *s, bool exclusive, HfcErr *err)
{
	if (s->lock_fd < 0) {
		int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
		/* Readers may not be allowed to create the lock file; a missing one means no writer. */
		int fd = openat(s->fd, HFC_SITE_LOCK, exclusive ? flags | O_CREAT : flags, 0644);
		if (fd < 0 && !exclusive && (errno == ENOENT || errno == EACCES || errno == EROFS))
			return 0;
		if (fd < 0) {
			int r = negative_errno();
			return hfc_err_set(err, r, "%s/%s: %s", s->path, HFC_SITE_LOCK, strerror(-r));
		}
		s->lock_fd = fd;
	}
	if (flock(s->lock_fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
		int r = negative_errno();
		if (r == -EWOULDBLOCK)
			return hfc_err_set(err, r, "%s: site is busy: another hfc process holds its lock",
					   s->path);
		return hfc_err_set(err, r, "%s/%s: %s", s->path, HFC_SITE_LOCK, strerror(-r));
	}
	s->exclusive = exclusive;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int hfc_site_versions(HfcSite *s, uint32_t **ret, size_t *ret_n)
{
	int fd = openat(s->fd, HFC_SITE_INDEXES, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			*ret = NULL;
			*ret_n = 0;
			return 0;
		}
		return negative_errno();
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		uint32_t x = hfc_layout_version(HFC_LAYOUT_INDEX, de->d_name);
		if (!x)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			uint32_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = x;
	}
	int r = errno ? -errno : 0;
	closedir(d);
	if (r < 0) {
		free(v);
		return r;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_u32);
	*ret = v;
	*ret_n = n;
	return 0;
}

int hfc_site_latest(HfcSite *s, uint32_t *ret)
{
	_cleanup_free_ uint32_t *v = NULL;
	size_t n;
	int r = hfc_site_versions(s, &v, &n);
	if (r < 0)
		return r;
	*ret = n ? v[n - 1] : 0;
	return 0;
}

int hfc_site_load_index(HfcSite *s, uint32_t v, HfcIndex **ret, HfcErr *err)
{
	char rel[HFC_LAYOUT_PATH_MAX], display[PATH_MAX];
	hfc_layout_path(HFC_LAYOUT_INDEX, v, rel);
	snprintf(display, sizeof(display), "%s/%s", s->path, rel);
	HfcIndex *idx;
	int r = hfc_index_load_at(s->fd, rel, display, &idx, err);
	if (r < 0)
		return r;
	if (v != 0 && idx->version != v) {
		uint32_t got = idx->version;
		hfc_index_free(idx);
		return hfc_err_set(err, -EBADMSG, "%s:2: version %u in a file named for version %u",
				   display, got, v);
	}
	*ret = idx;
	return 0;
}

int hfc_site_block_stat(HfcSite *s, HfcHashAlgo algo, const uint8_t *hash, uint64_t *ret_size)
{
	char p[HFC_BLOCK_PATH_MAX];
	hfc_block_path(algo, hash, p);
	struct stat st;
	if (fstatat(s->fd, p, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if (ret_size)
		*ret_size = (uint64_t)st.st_size;
	return 0;
}

int hfc_site_block_read(HfcSite *s, HfcHashAlgo algo, const uint8_t *hash, uint32_t stored,
			void *buf)
{
	char p[HFC_BLOCK_PATH_MAX];
	hfc_block_path(algo, hash, p);
	_cleanup_close_ int fd = openat(s->fd, p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	struct stat st;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != stored)
		return -EBADMSG;
	ssize_t n = hfc_pread_all(fd, buf, stored, 0);
	if (n < 0)
		return (int)n;
	return (size_t)n == stored ? 0 : -EBADMSG;
}

int hfc_block_decode_verified(HfcCodec *c, HfcHashAlgo algo, const uint8_t *hash,
			      const void *stored, size_t stored_len, void *out, size_t expect)
{
	int r = hfc_codec_decompress(c, stored, stored_len, out, expect);
	if (r < 0)
		return r;
	uint8_t got[HFC_HASH_MAX];
	r = hfc_digest(algo, out, expect, got);
	if (r < 0)
		return r;
	return memcmp(got, hash, hfc_hash_len(algo)) == 0 ? 0 : -EBADMSG;
}

static int site_publish(HfcSite *s, HfcIndex *idx, bool as_is, HfcErr *err)
{
	uint32_t latest;
	int r = hfc_site_latest(s, &latest);
	if (r < 0)
		return hfc_err_set(err, r, "%s/indexes: %s", s->path, strerror(-r));
	if (idx->version <= latest)
		return hfc_err_set(err, -EEXIST, "%s: version %u is not newer than version %u",
				   s->path, idx->version, latest);
	if (as_is && latest)
		return hfc_err_set(err, -EEXIST, "%s: has versions: a version keeps its parent line only on a new site",
				   s->path);
	uint32_t signed_parent = idx->parent;
	uint8_t signed_parent_sha[32];
	memcpy(signed_parent_sha, idx->parent_sha256, 32);
	if (!as_is)
		idx->parent = 0;
	if (latest) {
		/*
		 * The parent is named by its end checksum: it commits to every byte of the parent's
		 * content, and stays the same when a signature line is added to the parent later.
		 */
		_cleanup_(hfc_index_freep) HfcIndex *parent = NULL;
		r = hfc_site_load_index(s, latest, &parent, err);
		if (r < 0)
			return r;
		memcpy(idx->parent_sha256, parent->end_sha256, 32);
		idx->parent = latest;
	}
	/* A signature made over another parent line no longer holds: it goes (or is made anew). */
	if (idx->has_sig && (idx->parent != signed_parent ||
			     (idx->parent && memcmp(signed_parent_sha, idx->parent_sha256, 32) != 0)))
		idx->has_sig = false;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	r = s->signer ? hfc_index_sign(idx, s->signer, s->sign_expires, &buf, &len)
		      : hfc_index_format(idx, &buf, &len);
	if (r < 0)
		return hfc_err_set(err, r, "formatting index: %s", strerror(-r));

	_cleanup_close_ int ifd =
		openat(s->fd, HFC_SITE_INDEXES, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (ifd < 0) {
		r = negative_errno();
		return hfc_err_set(err, r, "%s/%s: %s", s->path, HFC_SITE_INDEXES, strerror(-r));
	}
	char name[HFC_LAYOUT_PATH_MAX];
	hfc_layout_name(HFC_LAYOUT_INDEX, idx->version, name);
	/* A published version is immutable: never replace one that is already there. */
	r = hfc_install_at(ifd, name, buf, len, 0644, HFC_INSTALL_NOREPLACE);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s/%s: %s", s->path, HFC_SITE_INDEXES, name,
				   strerror(-r));
	/* index.idx last: once it names a version, everything that version needs is durable. */
	r = hfc_write_atomic_at(s->fd, HFC_SITE_CURRENT, buf, len, 0644);
	if (r < 0) {
		/* Take the version back: its blocks may be removed by the caller's abort. */
		(void)unlinkat(ifd, name, 0);
		(void)fsync(ifd);
		return hfc_err_set(err, r, "%s/%s: %s", s->path, HFC_SITE_CURRENT, strerror(-r));
	}
	return 0;
}

int hfc_site_put_signed(HfcSite *s, HfcIndex *idx, HfcErr *err)
{
	if (!s->exclusive)
		return hfc_err_set(err, -ENOLCK, "%s: not locked for writing", s->path);
	uint32_t v = idx->version;
	_cleanup_(hfc_index_freep) HfcIndex *have = NULL, *cur = NULL;
	int r = hfc_site_load_index(s, v, &have, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	r = hfc_index_format(idx, &buf, &len);
	if (r < 0)
		return hfc_err_set(err, r, "formatting version %u: %s", v, strerror(-r));
	/* Only the signature line may change: every byte the end line covers stays. */
	if (memcmp(have->end_sha256, idx->end_sha256, 32) != 0)
		return hfc_err_set(err, -EBADMSG, "%s: not the same version %u as the site's",
				   s->path, v);
	r = hfc_site_load_index(s, 0, &cur, NULL);
	bool current = r >= 0 && cur->version == v;
	_cleanup_close_ int ifd =
		openat(s->fd, HFC_SITE_INDEXES, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	char name[HFC_LAYOUT_PATH_MAX];
	hfc_layout_name(HFC_LAYOUT_INDEX, v, name);
	r = ifd < 0 ? negative_errno() : hfc_write_atomic_at(ifd, name, buf, len, 0644);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s/%s: %s", s->path, HFC_SITE_INDEXES, name,
				   strerror(-r));
	/* index.idx after its version file, as a publish does: readers never see it ahead. */
	if (current) {
		r = hfc_write_atomic_at(s->fd, HFC_SITE_CURRENT, buf, len, 0644);
		if (r < 0)
			return hfc_err_set(err, r, "%s/%s: %s", s->path, HFC_SITE_CURRENT,
					   strerror(-r));
	}
	return 0;
}

int hfc_site_resign(HfcSite *s, uint32_t v, const HfcKey *key, int64_t expires, HfcIndex **ret,
		    HfcErr *err)
{
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	int r = hfc_site_load_index(s, v, &idx, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	r = hfc_index_sign(idx, key, expires, &buf, &len);
	if (r < 0)
		return hfc_err_set(err, r, "signing version %u: %s", v, strerror(-r));
	r = hfc_site_put_signed(s, idx, err);
	if (r < 0)
		return r;
	if (ret)
		*ret = TAKE_PTR(idx);
	return 0;
}

int hfc_site_publish(HfcSite *s, HfcIndex *idx, HfcErr *err)
{
	return site_publish(s, idx, false, err);
}

int hfc_site_publish_as_is(HfcSite *s, HfcIndex *idx, HfcErr *err)
{
	return site_publish(s, idx, true, err);
}

/* Walks one fan-out directory (fd owned here); returns fn's negative result or 0. */
static int scan_fanout(int fd, const char *sub, uint8_t d, HfcHashAlgo algo, HfcBlockScanFn fn,
		       void *userdata)
{
	DIR *dir = fdopendir(fd);
	if (!dir) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	int r = 0;
	struct dirent *de;
	while (r >= 0 && (de = readdir(dir))) {
		const char *n = de->d_name;
		struct stat st;
		uint8_t h[HFC_HASH_MAX] = { 0 };
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
		    fstatat(dirfd(dir), n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		bool block = S_ISREG(st.st_mode) && hfc_block_name_parse(algo, d, n, h);
		r = fn(userdata, dirfd(dir), sub, n, block ? h : NULL, &st);
	}
	closedir(dir);
	return r;
}

int hfc_blocks_scan(int top, const char *display, HfcHashAlgo algo, HfcBlockScanFn fn,
		    void *userdata, HfcErr *err)
{
	_cleanup_close_ int bfd =
		openat(top, HFC_SITE_BLOCKS, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (bfd < 0) {
		int r = negative_errno();
		return r == -ENOENT ? 0
				    : hfc_err_set(err, r, "%s/%s: %s", display, HFC_SITE_BLOCKS,
						  strerror(-r));
	}
	int r = 0;
	for (unsigned d = 0; d < 256 && r >= 0; d++) {
		char sub[HFC_LAYOUT_PATH_MAX], name[3];
		hfc_block_dir((uint8_t)d, sub);
		snprintf(name, sizeof(name), "%02x", d);
		/* Relative to blocks/ itself: no component of the path is a link followed. */
		int fd = openat(bfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			r = scan_fanout(fd, sub, (uint8_t)d, algo, fn, userdata);
			continue;
		}
		r = negative_errno();
		struct stat st;
		if (r == -ENOENT) {
			r = 0;
		} else if ((r == -ENOTDIR || r == -ELOOP) &&
			   fstatat(bfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			/* A link or a file where a fan-out directory belongs: a stray, not a stop. */
			r = fn(userdata, bfd, HFC_SITE_BLOCKS, name, NULL, &st);
		} else {
			return hfc_err_set(err, r, "%s/%s: %s", display, sub, strerror(-r));
		}
	}
	return r < 0 ? r : 0;
}

/* Removes the temporary files directly in sub (not below it). */
static int clean_tmp_dir(int parent_fd, const char *sub)
{
	int fd = openat(parent_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (hfc_is_tmp_name(de->d_name) && unlinkat(dirfd(d), de->d_name, 0) < 0 &&
		    errno != ENOENT && r == 0)
			r = negative_errno();
	}
	closedir(d);
	return r;
}

static int clean_tmp_block(void *ud, int dir, const char *subdir, const char *name,
			   const uint8_t *hash, const struct stat *st)
{
	(void)ud, (void)subdir, (void)hash;
	if (S_ISREG(st->st_mode) && hfc_is_tmp_name(name) && unlinkat(dir, name, 0) < 0 &&
	    errno != ENOENT)
		return negative_errno();
	return 0;
}

int hfc_site_clean_tmp(HfcSite *s)
{
	/* Every fan-out directory, whatever the file system says of its entries' types. */
	int r = hfc_blocks_scan(s->fd, s->path, HFC_HASH_MD5, clean_tmp_block, NULL, NULL);
	int k = clean_tmp_dir(s->fd, HFC_SITE_INDEXES);
	int p = clean_tmp_dir(s->fd, HFC_SITE_PROFILES);
	int j = clean_tmp_dir(s->fd, ".");
	return r < 0 ? r : k < 0 ? k : p < 0 ? p : j;
}

/* ---- block transactions ---- */

typedef struct TxnBlock {
	uint8_t hash[HFC_HASH_MAX];
} TxnBlock;

struct HfcBlockTxn {
	HfcSite *site;
	pthread_mutex_t lock;
	HfcHashAlgo algo;
	TxnBlock *blocks;
	size_t n, cap;
	size_t renamed; /* blocks[0..renamed) are under their final names */
	uint8_t touched[256]; /* fan-out directories with renamed files, to fsync at commit */
	uint8_t made[256];    /* fan-out directories this transaction created */
};

int hfc_block_txn_new(HfcSite *s, HfcBlockTxn **ret)
{
	HfcBlockTxn *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->site = s;
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

/* "blocks/ab/" + ".<64 hex>.tmp.<pid>" */
#define TXN_TMP_MAX (HFC_LAYOUT_PATH_MAX + 96)

/* A block's temporary path: its name is unique in the transaction, so no counter is needed. */
static void txn_tmp_path(HfcHashAlgo algo, const uint8_t *hash, char *out, size_t outlen)
{
	char hex[2 * HFC_HASH_MAX + 1], dir[HFC_LAYOUT_PATH_MAX], tmp[90];
	hfc_hex_encode(hash, hfc_hash_len(algo), hex);
	hfc_block_dir(hash[0], dir);
	hfc_tmp_name_pid(hex, tmp, sizeof(tmp));
	snprintf(out, outlen, "%s/%s", dir, tmp);
}

int hfc_block_txn_add(HfcBlockTxn *t, HfcHashAlgo algo, const uint8_t *hash, const void *data,
		      size_t len)
{
	char dir[HFC_LAYOUT_PATH_MAX];
	hfc_block_dir(hash[0], dir);
	if (mkdirat(t->site->fd, dir, 0755) == 0) {
		pthread_mutex_lock(&t->lock);
		t->made[hash[0]] = 1;
		pthread_mutex_unlock(&t->lock);
	} else if (errno != EEXIST) {
		return negative_errno();
	}

	char tmp[TXN_TMP_MAX];
	txn_tmp_path(algo, hash, tmp, sizeof(tmp));
	int fd = openat(t->site->fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			0644);
	if (fd < 0)
		return negative_errno();
	int r = hfc_write_all(fd, data, len);
	/*
	 * Start writeback now: the data goes to disk while the build goes on, and the syncfs()
	 * before the renames finds little left to write. Only a hint; errors surface in syncfs().
	 */
	if (r >= 0)
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(fd) < 0 && r >= 0)
		r = negative_errno();
	if (r >= 0) {
		pthread_mutex_lock(&t->lock);
		if (t->n == t->cap) {
			size_t ncap = t->cap ? t->cap * 2 : 256;
			TxnBlock *nb = realloc(t->blocks, ncap * sizeof(*nb));
			if (nb) {
				t->blocks = nb;
				t->cap = ncap;
			} else {
				r = -ENOMEM;
			}
		}
		if (r >= 0) {
			t->algo = algo;
			memcpy(t->blocks[t->n++].hash, hash, hfc_hash_len(algo));
		}
		pthread_mutex_unlock(&t->lock);
	}
	if (r < 0)
		(void)unlinkat(t->site->fd, tmp, 0);
	return r;
}

size_t hfc_block_txn_pending(HfcBlockTxn *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = t->n - t->renamed;
	pthread_mutex_unlock(&t->lock);
	return n;
}

int hfc_block_txn_flush(HfcBlockTxn *t)
{
	pthread_mutex_lock(&t->lock);
	size_t end = t->n;
	pthread_mutex_unlock(&t->lock);
	if (end == t->renamed)
		return 0;
	/* One syncfs for the whole batch: far cheaper than an fsync per block file. */
	if (syncfs(t->site->fd) < 0)
		return negative_errno();
	for (size_t i = t->renamed; i < end; i++) {
		char tmp[TXN_TMP_MAX], final[HFC_BLOCK_PATH_MAX];
		pthread_mutex_lock(&t->lock);
		TxnBlock b = t->blocks[i]; /* the array may move while workers add */
		pthread_mutex_unlock(&t->lock);
		txn_tmp_path(t->algo, b.hash, tmp, sizeof(tmp));
		hfc_block_path(t->algo, b.hash, final);
		/* Made durable by the syncfs above; the directories are fsynced at commit. */
		int r = hfc_install_tmp_at(t->site->fd, -1, tmp, final, HFC_INSTALL_NOSYNC);
		if (r < 0)
			return r;
		t->touched[b.hash[0]] = 1;
		t->renamed = i + 1;
	}
	return 0;
}

int hfc_block_txn_commit(HfcBlockTxn *t)
{
	int r = hfc_block_txn_flush(t);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < 256; i++) {
		if (!t->touched[i])
			continue;
		char dir[HFC_LAYOUT_PATH_MAX];
		hfc_block_dir((uint8_t)i, dir);
		_cleanup_close_ int fd = openat(t->site->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return negative_errno();
		r = hfc_fsync_fd(fd);
		if (r < 0)
			return r;
	}
	_cleanup_close_ int bfd =
		openat(t->site->fd, HFC_SITE_BLOCKS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0)
		return negative_errno();
	return hfc_fsync_fd(bfd);
}

void hfc_block_txn_free(HfcBlockTxn *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->blocks);
	free(t);
}

void hfc_block_txn_abort(HfcBlockTxn *t)
{
	if (!t)
		return;
	/*
	 * Every block here was missing (or damaged: empty or oversized) when it was added under the
	 * site lock, so no version relies on these files: safe to remove.
	 */
	for (size_t i = 0; i < t->n; i++) {
		char p[TXN_TMP_MAX];
		if (i < t->renamed)
			hfc_block_path(t->algo, t->blocks[i].hash, p);
		else
			txn_tmp_path(t->algo, t->blocks[i].hash, p, sizeof(p));
		(void)unlinkat(t->site->fd, p, 0);
	}
	for (unsigned i = 0; i < 256; i++) {
		if (!t->made[i])
			continue;
		char dir[HFC_LAYOUT_PATH_MAX];
		hfc_block_dir((uint8_t)i, dir);
		(void)unlinkat(t->site->fd, dir, AT_REMOVEDIR); /* only when empty */
	}
	hfc_block_txn_free(t);
}

/* ---- removals (pruning) ---- */

int hfc_site_blocks_remove(HfcSite *s, HfcHashAlgo algo, const uint8_t *hashes, size_t n,
			   uint64_t *ret_removed)
{
	if (!s->exclusive)
		return -ENOLCK;
	size_t hl = hfc_hash_len(algo);
	uint8_t touched[256] = { 0 };
	uint64_t removed = 0;
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		char p[HFC_BLOCK_PATH_MAX];
		hfc_block_path(algo, hashes + i * hl, p);
		if (unlinkat(s->fd, p, 0) < 0) {
			if (errno == ENOENT)
				continue;
			r = negative_errno();
			break;
		}
		touched[hashes[i * hl]] = 1;
		removed++;
	}
	/* Make the removals durable, whatever happened: they are done. */
	for (unsigned d = 0; d < 256; d++) {
		if (!touched[d])
			continue;
		char dir[HFC_LAYOUT_PATH_MAX];
		hfc_block_dir((uint8_t)d, dir);
		_cleanup_close_ int fd = openat(s->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int k = fd < 0 ? negative_errno() : hfc_fsync_fd(fd);
		if (k < 0 && r == 0)
			r = k;
	}
	if (ret_removed)
		*ret_removed = removed;
	return r;
}

int hfc_site_version_remove(HfcSite *s, uint32_t v)
{
	if (!s->exclusive)
		return -ENOLCK;
	uint32_t latest;
	int r = hfc_site_latest(s, &latest);
	if (r < 0)
		return r;
	/* The newest version is what index.idx names (or is about to): never removed. */
	if (v >= latest)
		return -EBUSY;
	_cleanup_close_ int ifd = openat(s->fd, HFC_SITE_INDEXES, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ifd < 0)
		return negative_errno();
	char name[HFC_LAYOUT_PATH_MAX];
	hfc_layout_name(HFC_LAYOUT_INDEX, v, name);
	if (unlinkat(ifd, name, 0) < 0)
		return negative_errno();
	return hfc_fsync_fd(ifd);
}
