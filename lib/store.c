/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "store.h"

#include "fileio.h"

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
	char *path;
};

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
		static const char *const dirs[] = { "blocks", "indexes", "profiles" };
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
	*ret = s;
	return 0;
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
		int fd = openat(s->fd, ".lock", exclusive ? flags | O_CREAT : flags, 0644);
		if (fd < 0 && !exclusive && (errno == ENOENT || errno == EACCES || errno == EROFS))
			return 0;
		if (fd < 0) {
			int r = negative_errno();
			return hfc_err_set(err, r, "%s/.lock: %s", s->path, strerror(-r));
		}
		s->lock_fd = fd;
	}
	if (flock(s->lock_fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
		int r = negative_errno();
		if (r == -EWOULDBLOCK)
			return hfc_err_set(err, r, "%s: site is busy: another hfc process holds its lock",
					   s->path);
		return hfc_err_set(err, r, "%s/.lock: %s", s->path, strerror(-r));
	}
	s->exclusive = exclusive;
	return 0;
}

/* Parses "NNNNNN.idx" (at least six digits, canonical); returns the version or 0. */
static uint32_t version_from_name(const char *name)
{
	size_t n = strlen(name);
	if (n < 10 || n > 12 || strcmp(name + n - 4, ".idx") != 0)
		return 0;
	uint32_t v = 0;
	for (size_t i = 0; i < n - 4; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (uint32_t)(name[i] - '0');
	}
	char canon[16];
	snprintf(canon, sizeof(canon), "%06u.idx", v);
	return v > 0 && v <= HFC_VERSION_MAX && strcmp(canon, name) == 0 ? v : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int hfc_site_versions(HfcSite *s, uint32_t **ret, size_t *ret_n)
{
	int fd = openat(s->fd, "indexes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
		uint32_t x = version_from_name(de->d_name);
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
	char rel[32], display[PATH_MAX];
	if (v == 0)
		snprintf(rel, sizeof(rel), "index.idx");
	else
		snprintf(rel, sizeof(rel), "indexes/%06u.idx", v);
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

void hfc_block_path(HfcHashAlgo algo, const uint8_t *hash, char out[HFC_BLOCK_PATH_MAX])
{
	char hex[2 * HFC_HASH_MAX + 1];
	hfc_hex_encode(hash, hfc_hash_len(algo), hex);
	snprintf(out, HFC_BLOCK_PATH_MAX, "blocks/%.2s/%s", hex, hex);
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

static int write_noreplace_at(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[NAME_MAX + 1];
	hfc_tmp_name(name, tmp, sizeof(tmp));
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return negative_errno();
	int r = hfc_write_all(fd, data, len);
	if (r >= 0)
		r = hfc_fsync_fd(fd);
	if (close(fd) < 0 && r >= 0)
		r = negative_errno();
	/* A published version is immutable: never replace one that is already there. */
	if (r >= 0 && renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return hfc_fsync_fd(dirfd);
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
	_cleanup_free_ char *buf = NULL;
	size_t len;
	r = hfc_index_format(idx, &buf, &len);
	if (r < 0)
		return hfc_err_set(err, r, "formatting index: %s", strerror(-r));

	_cleanup_close_ int ifd = openat(s->fd, "indexes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ifd < 0) {
		r = negative_errno();
		return hfc_err_set(err, r, "%s/indexes: %s", s->path, strerror(-r));
	}
	char name[32];
	snprintf(name, sizeof(name), "%06u.idx", idx->version);
	r = write_noreplace_at(ifd, name, buf, len);
	if (r < 0)
		return hfc_err_set(err, r, "%s/indexes/%s: %s", s->path, name, strerror(-r));
	/* index.idx last: once it names a version, everything that version needs is durable. */
	r = hfc_write_atomic_at(s->fd, "index.idx", buf, len, 0644);
	if (r < 0) {
		/* Take the version back: its blocks may be removed by the caller's abort. */
		(void)unlinkat(ifd, name, 0);
		(void)fsync(ifd);
		return hfc_err_set(err, r, "%s/index.idx: %s", s->path, strerror(-r));
	}
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

static int clean_tmp_dir(int parent_fd, const char *sub, bool recurse)
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
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (hfc_is_tmp_name(de->d_name)) {
			if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && r == 0)
				r = negative_errno();
		} else if (recurse && de->d_type == DT_DIR && strlen(de->d_name) == 2) {
			int k = clean_tmp_dir(dirfd(d), de->d_name, false);
			if (k < 0 && r == 0)
				r = k;
		}
	}
	closedir(d);
	return r;
}

int hfc_site_clean_tmp(HfcSite *s)
{
	int r = clean_tmp_dir(s->fd, "blocks", true);
	int k = clean_tmp_dir(s->fd, "indexes", false);
	int p = clean_tmp_dir(s->fd, "profiles", false);
	int j = clean_tmp_dir(s->fd, ".", false);
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

static void txn_tmp_path(HfcHashAlgo algo, const uint8_t *hash, char *out, size_t outlen)
{
	char hex[2 * HFC_HASH_MAX + 1];
	hfc_hex_encode(hash, hfc_hash_len(algo), hex);
	snprintf(out, outlen, "blocks/%.2s/.%s.tmp.%ld", hex, hex, (long)getpid());
}

int hfc_block_txn_add(HfcBlockTxn *t, HfcHashAlgo algo, const uint8_t *hash, const void *data,
		      size_t len)
{
	char hex[3];
	hfc_hex_encode(hash, 1, hex);
	char dir[16];
	snprintf(dir, sizeof(dir), "blocks/%s", hex);
	if (mkdirat(t->site->fd, dir, 0755) < 0 && errno != EEXIST)
		return negative_errno();

	char tmp[HFC_BLOCK_PATH_MAX + 32];
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
		char tmp[HFC_BLOCK_PATH_MAX + 32], final[HFC_BLOCK_PATH_MAX];
		pthread_mutex_lock(&t->lock);
		TxnBlock b = t->blocks[i]; /* the array may move while workers add */
		pthread_mutex_unlock(&t->lock);
		txn_tmp_path(t->algo, b.hash, tmp, sizeof(tmp));
		hfc_block_path(t->algo, b.hash, final);
		if (renameat(t->site->fd, tmp, t->site->fd, final) < 0)
			return negative_errno();
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
		char dir[16];
		snprintf(dir, sizeof(dir), "blocks/%02x", i);
		_cleanup_close_ int fd = openat(t->site->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return negative_errno();
		r = hfc_fsync_fd(fd);
		if (r < 0)
			return r;
	}
	_cleanup_close_ int bfd = openat(t->site->fd, "blocks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
		char p[HFC_BLOCK_PATH_MAX + 32];
		if (i < t->renamed)
			hfc_block_path(t->algo, t->blocks[i].hash, p);
		else
			txn_tmp_path(t->algo, t->blocks[i].hash, p, sizeof(p));
		(void)unlinkat(t->site->fd, p, 0);
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
		char dir[16];
		snprintf(dir, sizeof(dir), "blocks/%02x", d);
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
	_cleanup_close_ int ifd = openat(s->fd, "indexes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ifd < 0)
		return negative_errno();
	char name[32];
	snprintf(name, sizeof(name), "%06u.idx", v);
	if (unlinkat(ifd, name, 0) < 0)
		return negative_errno();
	return hfc_fsync_fd(ifd);
}
