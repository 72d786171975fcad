/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "client/cache.h"

#include "base/fileio.h"
#include "base/hashset.h"
#include "site/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

typedef struct Node {
	uint8_t hash[HFC_HASH_MAX];
	uint64_t size;
	struct Node *prev, *next; /* LRU list: head is the most recent */
} Node;

/*
 * Every file of the cache is reached from a directory descriptor, one level at a time, never
 * through a symbolic link (O_NOFOLLOW on each): a link planted where a directory belongs
 * (blocks/ab -> elsewhere) must not lead writes, reads or deletions out of the cache. The cache
 * is the user's alone: directories 0700, files 0600.
 */
struct HfcCache {
	int fd;      /* the cache directory, as named */
	int bfd;     /* its blocks/ */
	int ifd;     /* its indexes/ */
	int lock_fd; /* held for the cache's lifetime: one process owns a cache directory */
	HfcHashAlgo algo;
	uint64_t high, low;
	pthread_mutex_t lock;
	HfcHashMap *map; /* hash -> Node* */
	Node *head, *tail;
	uint64_t bytes, files, evicted; /* block files */
	uint64_t index_bytes; /* of indexes/: counted against the bound, never evicted */
};

/* Opens the fan-out directory of names starting with byte b, made first when create. */
static int fanout_open(HfcCache *c, uint8_t b, bool create)
{
	char name[3];
	snprintf(name, sizeof(name), "%02x", b);
	if (create && mkdirat(c->bfd, name, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	int fd = openat(c->bfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? negative_errno() : fd;
}

/* Removes the block file of hash, if it is there (a link is removed, never followed). */
static void block_unlink(HfcCache *c, const uint8_t *hash)
{
	char name[2 * HFC_HASH_MAX + 1];
	hfc_hex_encode(hash, hfc_hash_len(c->algo), name);
	_cleanup_close_ int dfd = fanout_open(c, hash[0], false);
	if (dfd >= 0)
		(void)unlinkat(dfd, name, 0);
}

static void lru_unlink(HfcCache *c, Node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		c->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		c->tail = n->prev;
	n->prev = n->next = NULL;
}

/* Links n in after `after`, or at the head (the most recent) when after is NULL. */
static void lru_link(HfcCache *c, Node *n, Node *after)
{
	n->prev = after;
	n->next = after ? after->next : c->head;
	if (n->next)
		n->next->prev = n;
	else
		c->tail = n;
	if (after)
		after->next = n;
	else
		c->head = n;
}

/* Adds a node for a file on disk; called with the lock held. */
static int track(HfcCache *c, const uint8_t *hash, uint64_t size, bool recent)
{
	Node *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	memcpy(n->hash, hash, hfc_hash_len(c->algo));
	n->size = size;
	int r = hfc_hashmap_put(c->map, hash, (uint64_t)(uintptr_t)n, NULL);
	if (r <= 0) {
		free(n);
		return r < 0 ? r : 0;
	}
	lru_link(c, n, recent ? NULL : c->tail);
	c->bytes += size;
	c->files++;
	return 0;
}

static void untrack(HfcCache *c, Node *n)
{
	lru_unlink(c, n);
	(void)hfc_hashmap_remove(c->map, n->hash);
	c->bytes -= n->size;
	c->files--;
	free(n);
}

/*
 * Evicts least-recently-used block files down to the low-water mark; called with the lock held.
 * The indexes kept count too, but are not evicted: they are few, and what the cache is for.
 */
static void evict(HfcCache *c)
{
	if (c->bytes + c->index_bytes <= c->high)
		return;
	while (c->bytes + c->index_bytes > c->low && c->tail) {
		Node *n = c->tail;
		block_unlink(c, n->hash);
		untrack(c, n);
		c->evicted++;
	}
}

typedef struct Found {
	uint8_t hash[HFC_HASH_MAX];
	uint64_t size;
	struct timespec mtime;
} Found;

static int cmp_found(const void *a, const void *b)
{
	const Found *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec > y->mtime.tv_sec ? -1 : 1;
	return x->mtime.tv_nsec > y->mtime.tv_nsec ? -1 : x->mtime.tv_nsec < y->mtime.tv_nsec;
}

typedef struct Scan {
	Found *found;
	size_t n, cap;
	char link[HFC_LAYOUT_PATH_MAX + NAME_MAX + 2]; /* a symbolic link found: refused */
} Scan;

static int scan_entry(void *ud, int dir, const char *subdir, const char *name,
		      const uint8_t *hash, const struct stat *st)
{
	Scan *sc = ud;
	if (S_ISLNK(st->st_mode)) {
		/* The cache makes no links: one is planted, and would lead out of the cache. */
		snprintf(sc->link, sizeof(sc->link), "%s/%s", subdir, name);
		return -ELOOP;
	}
	if (hfc_is_tmp_name(name)) {
		(void)unlinkat(dir, name, 0); /* a write cut short by an earlier crash */
		return 0;
	}
	if (!hash)
		return 0;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 1024;
		Found *nf = realloc(sc->found, cap * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		sc->found = nf;
		sc->cap = cap;
	}
	Found *f = &sc->found[sc->n++];
	memcpy(f->hash, hash, HFC_HASH_MAX);
	f->size = (uint64_t)st->st_size;
	f->mtime = st->st_mtim;
	return 0;
}

/* "index.idx", "NNNNNN.idx" (indexes) or "NNNNNN.prof" (DLAHEAD profiles). */
static bool index_name_ok(const char *name)
{
	return strcmp(name, HFC_SITE_CURRENT) == 0 || hfc_layout_version(HFC_LAYOUT_INDEX, name) ||
	       hfc_layout_version(HFC_LAYOUT_PROFILE, name);
}

/*
 * Counts the index and profile files in indexes/ and removes temporary ones; a symbolic link
 * there is refused (its name in *ret_link). Returns 0 or -errno.
 */
static int scan_indexes(HfcCache *c, char *ret_link, size_t link_len)
{
	int fd = dup(c->ifd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int r = negative_errno();
		if (fd >= 0)
			close(fd);
		return r;
	}
	int r = 0;
	struct dirent *de;
	while (r >= 0 && (de = readdir(d))) {
		struct stat st;
		if (fstatat(c->ifd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			snprintf(ret_link, link_len, "%s/%s", HFC_SITE_INDEXES, de->d_name);
			r = -ELOOP;
		} else if (S_ISREG(st.st_mode) && hfc_is_tmp_name(de->d_name)) {
			(void)unlinkat(c->ifd, de->d_name, 0);
		} else if (S_ISREG(st.st_mode) && index_name_ok(de->d_name)) {
			c->index_bytes += (uint64_t)st.st_size;
		}
	}
	closedir(d);
	return r;
}

/* Indexes the files left by earlier mounts, most recently written first; -errno with err. */
static int scan(HfcCache *c, const char *dir, HfcErr *err)
{
	Scan sc = { 0 };
	int r = hfc_blocks_scan(c->fd, dir, c->algo, scan_entry, &sc, err);
	if (r >= 0)
		r = scan_indexes(c, sc.link, sizeof(sc.link));
	if (r == -ELOOP && sc.link[0])
		r = hfc_err_set(err, r,
				"%s/%s: a symbolic link in the cache, which makes none: refused "
				"(remove it, or use another cache directory)",
				dir, sc.link);
	if (r >= 0 && sc.n)
		qsort(sc.found, sc.n, sizeof(*sc.found), cmp_found);
	for (size_t i = 0; i < sc.n && r >= 0; i++)
		r = track(c, sc.found[i].hash, sc.found[i].size, false);
	free(sc.found);
	if (r < 0 && !(err && err->msg[0]))
		hfc_err_set(err, r, "%s: %s", dir, strerror(-r));
	return r;
}

/*
 * A directory of the cache's own (blocks/, indexes/) that others may enter becomes 0700: an
 * older cache was 0755, and these hold every cached byte.
 */
static void restrict_mode(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 077))
		(void)fchmod(fd, st.st_mode & 0700);
}

/*
 * Opens (making it 0700 first) the subdirectory sub of the cache, refusing a link or anything
 * else in its place. Returns the fd or -errno with err filled.
 */
static int subdir_open(HfcCache *c, const char *dir, const char *sub, HfcErr *err)
{
	if (mkdirat(c->fd, sub, 0700) < 0 && errno != EEXIST)
		goto fail;
	int fd = openat(c->fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		goto fail;
	restrict_mode(fd);
	return fd;
fail:;
	int r = negative_errno();
	if (r == -ELOOP || r == -ENOTDIR)
		return hfc_err_set(err, r,
				   "%s/%s: not a directory (a symbolic link?): refused (remove it, "
				   "or use another cache directory)",
				   dir, sub);
	return hfc_err_set(err, r, "%s/%s: %s", dir, sub, strerror(-r));
}

int hfc_cache_open(const char *dir, uint64_t size, unsigned high_pct, unsigned low_pct,
		   HfcHashAlgo algo, HfcCache **ret, HfcErr *err)
{
	if (high_pct == 0 || high_pct > 100 || low_pct >= high_pct)
		return hfc_err_set(err, -EINVAL, "cache: low-water mark must be below the high-water mark");
	/* Made private; one that exists is the user's to set (it may be a home directory). */
	int r = hfc_mkdir_p_mode(dir, 0700);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", dir, strerror(-r));
	HfcCache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->algo = algo;
	c->high = size / 100 * high_pct;
	c->low = size / 100 * low_pct;
	pthread_mutex_init(&c->lock, NULL);
	c->lock_fd = c->bfd = c->ifd = -1;
	/* The directory itself is named by the user: it may be reached through a link. */
	c->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->fd < 0) {
		r = negative_errno();
		hfc_cache_free(c);
		return hfc_err_set(err, r, "%s: %s", dir, strerror(-r));
	}
	/* The size accounting lives in this process: two owners would both overrun the bound. */
	c->lock_fd = openat(c->fd, HFC_SITE_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (c->lock_fd < 0 || flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = negative_errno();
		hfc_cache_free(c);
		if (r == -EWOULDBLOCK)
			return hfc_err_set(err, r, "%s: cache directory in use by another hfc process",
					   dir);
		return hfc_err_set(err, r, "%s/%s: %s", dir, HFC_SITE_LOCK, strerror(-r));
	}
	r = hfc_hashmap_new(hfc_hash_len(algo), &c->map);
	if (r < 0)
		hfc_err_set(err, r, "%s: %s", dir, strerror(-r));
	if (r >= 0 && (c->bfd = r = subdir_open(c, dir, HFC_SITE_BLOCKS, err)) >= 0 &&
	    (c->ifd = r = subdir_open(c, dir, HFC_SITE_INDEXES, err)) >= 0)
		r = scan(c, dir, err);
	if (r < 0) {
		hfc_cache_free(c);
		return r;
	}
	evict(c);
	*ret = c;
	return 0;
}

void hfc_cache_free(HfcCache *c)
{
	if (!c)
		return;
	while (c->head) {
		Node *n = c->head;
		c->head = n->next;
		free(n);
	}
	hfc_hashmap_free(c->map);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	if (c->bfd >= 0)
		close(c->bfd);
	if (c->ifd >= 0)
		close(c->ifd);
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int hfc_cache_get(HfcCache *c, const uint8_t *hash, uint32_t stored, void *buf)
{
	pthread_mutex_lock(&c->lock);
	uint64_t v;
	if (!hfc_hashmap_get(c->map, hash, &v)) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	Node *n = (Node *)(uintptr_t)v;
	lru_unlink(c, n);
	lru_link(c, n, NULL);
	pthread_mutex_unlock(&c->lock);

	char name[2 * HFC_HASH_MAX + 1];
	hfc_hex_encode(hash, hfc_hash_len(c->algo), name);
	_cleanup_close_ int dfd = fanout_open(c, hash[0], false);
	if (dfd < 0)
		return dfd == -ENOENT ? -ENOENT : dfd;
	/*
	 * O_NONBLOCK: a FIFO planted under a block's name must not hang the read (it, or a device,
	 * then fails the size check: their st_size is 0).
	 */
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : negative_errno(); /* evicted meanwhile */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if ((uint64_t)st.st_size != stored)
		return -EBADMSG;
	ssize_t got = hfc_pread_all(fd, buf, stored, 0);
	if (got < 0)
		return (int)got;
	if ((size_t)got != stored)
		return -EBADMSG;
	/* The mtime is the use time: a later mount rebuilds the LRU order from it. */
	(void)futimens(fd, NULL);
	return 0;
}

int hfc_cache_put(HfcCache *c, const uint8_t *hash, const void *data, size_t len)
{
	pthread_mutex_lock(&c->lock);
	bool have = hfc_hashmap_get(c->map, hash, NULL);
	pthread_mutex_unlock(&c->lock);
	if (have)
		return 0;
	char name[2 * HFC_HASH_MAX + 1];
	hfc_hex_encode(hash, hfc_hash_len(c->algo), name);
	_cleanup_close_ int dfd = fanout_open(c, hash[0], true);
	if (dfd < 0)
		return dfd;
	/*
	 * No fsync: a cache file lost or torn by a crash fails verification when read back and is
	 * fetched again. The rename still keeps a running reader from seeing a partial file.
	 */
	int r = hfc_install_at(dfd, name, data, len, 0600, HFC_INSTALL_NOSYNC);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	r = track(c, hash, len, true);
	evict(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

void hfc_cache_drop(HfcCache *c, const uint8_t *hash)
{
	pthread_mutex_lock(&c->lock);
	uint64_t v;
	if (hfc_hashmap_get(c->map, hash, &v))
		untrack(c, (Node *)(uintptr_t)v);
	block_unlink(c, hash);
	pthread_mutex_unlock(&c->lock);
}

void hfc_cache_usage(HfcCache *c, uint64_t *ret_bytes, uint64_t *ret_files, uint64_t *ret_evicted)
{
	pthread_mutex_lock(&c->lock);
	if (ret_bytes)
		*ret_bytes = c->bytes + c->index_bytes;
	if (ret_files)
		*ret_files = c->files;
	if (ret_evicted)
		*ret_evicted = c->evicted;
	pthread_mutex_unlock(&c->lock);
}

int hfc_cache_put_index(HfcCache *c, const char *name, const void *data, size_t len)
{
	if (!index_name_ok(name))
		return -EINVAL;
	struct stat st;
	bool had = fstatat(c->ifd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	uint64_t old = had ? (uint64_t)st.st_size : 0;
	/* The bound holds for indexes too: one that alone would fill the cache is not kept. */
	pthread_mutex_lock(&c->lock);
	bool fits = c->index_bytes - old + len <= c->high;
	pthread_mutex_unlock(&c->lock);
	if (!fits)
		return -EFBIG;
	/* A rename: whatever stands under the name (a link too) is replaced, never written into. */
	int r = hfc_write_atomic_at(c->ifd, name, data, len, 0600);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	c->index_bytes = c->index_bytes - old + len;
	evict(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int hfc_cache_get_index(HfcCache *c, const char *name, size_t max, char **ret, size_t *ret_len)
{
	if (!index_name_ok(name))
		return -EINVAL;
	return hfc_read_file_at(c->ifd, name, max, ret, ret_len);
}
