/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/build.h"

#include "base/codec.h"
#include "base/fileio.h"
#include "base/hashset.h"
#include "base/pipeline.h"
#include "base/clock.h"
#include "base/progress.h"
#include "site/ahead.h"
#include "site/store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

/* An entry whose stored size is known only when the worker that claimed its hash finishes. */
#define STORED_PENDING UINT32_MAX
/* Batch renames every this many new blocks (one syncfs each). */
#define FLUSH_BLOCKS 2048

/*
 * The build cache (SITE/.hfc-build-cache, never published): the sha256 of every block of the
 * last build with its md5 name. Where the CPU hashes sha256 faster than md5 (SHA extensions),
 * a rebuild hashes each block with sha256 and takes the md5 name from this map, so an
 * unchanged block costs one fast hash. SHA-256 is collision-resistant, so the map cannot be
 * fooled by crafted content; the file carries its own sha256 against damage.
 */
#define BCACHE_MAGIC "hfc-build-cache 1\n"
#define BCACHE_REC (32 + 16)

typedef struct WorkerState {
	HfcCodec *codec;
	uint8_t *in, *out;
} WorkerState;

typedef struct Build {
	const HfcBuildOptions *o;
	int img_fd;
	bool seek_data; /* the image supports SEEK_DATA (holes need no reading) */
	HfcSite *site;  /* NULL for a dry run against a missing site */
	HfcBlockTxn *txn;
	HfcIndex *idx;
	HfcHashAlgo algo;
	size_t hash_len;
	WorkerState *ws;
	pthread_mutex_t lock;
	HfcHashMap *seen; /* hash -> stored size (STORED_PENDING while being written) */
	bool fast;        /* sha256 keys with the build cache (md5 sites on SHA-capable CPUs) */
	HfcHashMap *bc_old;    /* sha256 -> index into bc_md5 */
	uint8_t *bc_md5;       /* md5 names from the last build */
	uint8_t *bc_keys;      /* sha256 of each block of this build (nblocks * 32) */
	atomic_uint_fast64_t new_blocks, reused, zero, bytes_read, bytes_written, ahead;
	const HfcProgress *progress;
	const uint8_t *dirty;  /* NULL: every block; else only these were written */
	const HfcIndex *base;  /* the entries of blocks not written */
	const HfcBuildInput *in;
	HfcErr *err;
} Build;

/* True when [off, off+len) of the image holds no data at all (a hole or past the data). */
static bool is_hole(Build *b, off_t off, size_t len)
{
	if (!b->seek_data)
		return false;
	off_t d = lseek(b->img_fd, off, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO; /* no data after off */
	return d >= off + (off_t)len;
}

static int build_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	(void)slot;
	Build *b = ctx;
	WorkerState *w = &b->ws[worker];
	HfcIndexEntry *e = &b->idx->entries[i];
	size_t len = hfc_index_block_len(b->idx, i);
	off_t off = (off_t)(i * b->idx->block_size);

	if (b->dirty && !(b->dirty[i / 8] & (1u << (i % 8)))) {
		/* Not written by this build: the base version's block, as it was. */
		const HfcIndexEntry *be = b->base && i < b->base->nblocks ? &b->base->entries[i] : NULL;
		if (be && be->stored && hfc_index_block_len(b->base, i) == len) {
			e->stored = be->stored;
			memcpy(e->hash, be->hash, b->hash_len);
			atomic_fetch_add(&b->reused, 1);
		} else {
			e->stored = 0;
			atomic_fetch_add(&b->zero, 1);
		}
		return 0;
	}
	HfcAheadBlock ab; /* encoded ahead: no reading, hashing or compressing left */
	bool ahead = b->in->ahead && hfc_ahead_take(b->in->ahead, i, b->in->gen[i], &ab);
	if (ahead)
		atomic_fetch_add(&b->ahead, 1);
	if (ahead && ab.zero) {
		atomic_fetch_add(&b->bytes_read, len);
		e->stored = 0;
		atomic_fetch_add(&b->zero, 1);
		return 0;
	}
	if (!ahead && is_hole(b, off, len)) {
		e->stored = 0;
		atomic_fetch_add(&b->zero, 1);
		return 0;
	}
	int r;
	uint64_t have;
	bool mapped = false;
	if (ahead) {
		atomic_fetch_add(&b->bytes_read, len);
		memcpy(e->hash, ab.hash, b->hash_len);
		goto claim;
	}
	if (b->in->read) {
		HfcErr rerr = { "" };
		int rr = b->in->read(b->in->read_ctx, w->in, len, (uint64_t)off, &rerr);
		if (rr < 0) {
			pthread_mutex_lock(&b->lock);
			*b->err = rerr;
			pthread_mutex_unlock(&b->lock);
			return rr;
		}
	}
	ssize_t n = b->in->read ? (ssize_t)len : hfc_pread_all(b->img_fd, w->in, len, off);
	if (n < 0)
		return hfc_err_set(b->err, (int)n, "reading image at offset %lld: %s",
				   (long long)off, strerror((int)-n));
	if ((size_t)n != len)
		return hfc_err_set(b->err, -EIO, "image shrank while reading (offset %lld)",
				   (long long)off);
	atomic_fetch_add(&b->bytes_read, len);
	if (hfc_is_zero(w->in, len)) {
		e->stored = 0;
		atomic_fetch_add(&b->zero, 1);
		return 0;
	}
	if (b->fast) {
		uint8_t *key = b->bc_keys + i * 32;
		uint64_t v;
		r = hfc_digest(HFC_HASH_SHA256, w->in, len, key);
		if (r >= 0 && b->bc_old && hfc_hashmap_get(b->bc_old, key, &v)) {
			memcpy(e->hash, b->bc_md5 + v * 16, 16);
			mapped = true;
		}
	}
	if (!mapped)
		r = hfc_digest(b->algo, w->in, len, e->hash);
	if (r < 0)
		return hfc_err_set(b->err, r, "hashing block %llu failed", (unsigned long long)i);

claim:
	/* Claim the hash: the first worker to see it decides whether it must be stored. */
	pthread_mutex_lock(&b->lock);
	r = hfc_hashmap_put(b->seen, e->hash, STORED_PENDING, &have);
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		return hfc_err_set(b->err, r, "out of memory");
	if (r == 0) {
		e->stored = STORED_PENDING; /* resolved after the run: the claimer may still work */
		atomic_fetch_add(&b->reused, 1);
		return 0;
	}

	uint64_t size = 0;
	r = b->site ? hfc_site_block_stat(b->site, b->algo, e->hash, &size) : -ENOENT;
	if (r >= 0 && size > 0 && size <= hfc_codec_bound(b->idx->block_size)) {
		/* The site holds it already: never compressed again. */
		atomic_fetch_add(&b->reused, 1);
	} else if (r < 0 && r != -ENOENT) {
		char p[HFC_BLOCK_PATH_MAX];
		hfc_block_path(b->algo, e->hash, p);
		return hfc_err_set(b->err, r, "%s/%s: %s", hfc_site_path(b->site), p, strerror(-r));
	} else {
		if (mapped) {
			/* About to store it: the name comes from the data itself, never from a map. */
			uint8_t real[HFC_HASH_MAX];
			r = hfc_digest(b->algo, w->in, len, real);
			if (r < 0)
				return hfc_err_set(b->err, r, "hashing block %llu failed",
						   (unsigned long long)i);
			if (memcmp(real, e->hash, b->hash_len) != 0)
				return hfc_err_set(b->err, -EBADMSG,
						   "%s/" HFC_SITE_BUILD_CACHE ": wrong entry (remove the file and run again)",
						   hfc_site_path(b->site));
		}
		const uint8_t *data = ahead ? ab.data : w->out;
		ssize_t c = ahead ? (ssize_t)ab.len
				  : hfc_codec_compress(w->codec, w->in, len, w->out,
						       hfc_codec_bound(b->idx->block_size));
		if (c < 0)
			return hfc_err_set(b->err, (int)c, "compressing block %llu: %s",
					   (unsigned long long)i, strerror((int)-c));
		if (b->txn) {
			r = hfc_block_txn_add(b->txn, b->algo, e->hash, data, (size_t)c);
			if (r < 0) {
				char p[HFC_BLOCK_PATH_MAX];
				hfc_block_path(b->algo, e->hash, p);
				return hfc_err_set(b->err, r, "%s/%s: %s", hfc_site_path(b->site), p,
						   strerror(-r));
			}
		}
		size = (uint64_t)c;
		atomic_fetch_add(&b->new_blocks, 1);
		atomic_fetch_add(&b->bytes_written, size);
	}
	e->stored = (uint32_t)size;
	pthread_mutex_lock(&b->lock);
	(void)hfc_hashmap_set(b->seen, e->hash, size);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int build_sink(void *ctx, uint64_t i, void *slot)
{
	(void)slot;
	Build *b = ctx;
	hfc_progress(b->progress, "build", MIN((i + 1) * b->idx->block_size, b->idx->image_size),
		     b->idx->image_size);
	if (b->txn && hfc_block_txn_pending(b->txn) >= FLUSH_BLOCKS) {
		int r = hfc_block_txn_flush(b->txn);
		if (r < 0)
			return hfc_err_set(b->err, r, "%s/blocks: %s", hfc_site_path(b->site),
					   strerror(-r));
	}
	return 0;
}

HfcHashAlgo hfc_build_hash(const HfcBuildOptions *o, const HfcIndex *prev)
{
	return prev ? prev->hash : o->hash_set ? o->hash : HFC_HASH_MD5;
}

int hfc_build_level(const HfcBuildOptions *o)
{
	return o->level ? o->level : HFC_LEVEL_DEFAULT;
}

/* True when this CPU hashes sha256 clearly faster than md5 (it has SHA extensions). */
static bool sha256_faster(void)
{
	static uint8_t buf[1 << 20];
	uint8_t out[32];
	double best[2] = { 1e9, 1e9 };
	for (int round = 0; round < 3; round++)
		for (int k = 0; k < 2; k++) {
			double t = hfc_monotonic();
			if (hfc_digest(k ? HFC_HASH_SHA256 : HFC_HASH_MD5, buf, sizeof(buf), out) < 0)
				return false;
			best[k] = MIN(best[k], hfc_monotonic() - t);
		}
	return best[1] * 1.3 < best[0];
}

/* Loads the build cache; any problem just means a slower build (it is only a cache). */
static void bcache_load(Build *b)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, ml = strlen(BCACHE_MAGIC);
	size_t max = ml + (size_t)HFC_INDEX_MAX_BLOCKS * BCACHE_REC + 32;
	if (hfc_read_file_at(hfc_site_fd(b->site), HFC_SITE_BUILD_CACHE, max, &buf, &len) < 0)
		return;
	if (len < ml + 32 || memcmp(buf, BCACHE_MAGIC, ml) != 0 || (len - ml - 32) % BCACHE_REC)
		return;
	uint8_t sum[32];
	if (hfc_digest(HFC_HASH_SHA256, buf, len - 32, sum) < 0 ||
	    memcmp(sum, buf + len - 32, 32) != 0)
		return;
	size_t n = (len - ml - 32) / BCACHE_REC;
	if (hfc_hashmap_new(32, &b->bc_old) < 0)
		return;
	b->bc_md5 = malloc(n ? n * 16 : 1);
	if (!b->bc_md5) {
		hfc_hashmap_free(b->bc_old);
		b->bc_old = NULL;
		return;
	}
	const uint8_t *rec = (const uint8_t *)buf + ml;
	for (size_t k = 0; k < n; k++, rec += BCACHE_REC) {
		memcpy(b->bc_md5 + k * 16, rec + 32, 16);
		if (hfc_hashmap_put(b->bc_old, rec, k, NULL) < 0) {
			hfc_hashmap_free(b->bc_old);
			b->bc_old = NULL;
			return;
		}
	}
}

/* Saves the map for this build's blocks; failure only costs the next build time. */
static void bcache_save(Build *b)
{
	size_t ml = strlen(BCACHE_MAGIC), n = 0;
	uint8_t *buf = malloc(ml + (size_t)b->idx->nblocks * BCACHE_REC + 32);
	if (!buf)
		return;
	memcpy(buf, BCACHE_MAGIC, ml);
	uint8_t *p = buf + ml;
	for (uint64_t i = 0; i < b->idx->nblocks; i++) {
		if (!b->idx->entries[i].stored)
			continue;
		memcpy(p, b->bc_keys + i * 32, 32);
		memcpy(p + 32, b->idx->entries[i].hash, 16);
		p += BCACHE_REC;
		n++;
	}
	size_t len = ml + n * BCACHE_REC;
	if (hfc_digest(HFC_HASH_SHA256, buf, len, buf + len) == 0)
		(void)hfc_write_atomic_at(hfc_site_fd(b->site), HFC_SITE_BUILD_CACHE, buf, len + 32, 0644);
	free(buf);
}

static int image_open(const char *path, uint64_t *ret_size, bool *ret_seek, HfcErr *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int r = negative_errno();
		return hfc_err_set(err, r, "%s: %s", path, strerror(-r));
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = negative_errno();
		close(fd);
		return hfc_err_set(err, r, "%s: %s", path, strerror(-r));
	}
	if (S_ISREG(st.st_mode)) {
		*ret_size = (uint64_t)st.st_size;
		*ret_seek = lseek(fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
	} else if (S_ISBLK(st.st_mode)) {
		uint64_t sz;
		if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
			int r = negative_errno();
			close(fd);
			return hfc_err_set(err, r, "%s: cannot get device size: %s", path,
					   strerror(-r));
		}
		*ret_size = sz;
		*ret_seek = false;
	} else {
		close(fd);
		return hfc_err_set(err, -EINVAL, "%s: not a regular file or block device", path);
	}
	if (*ret_size > HFC_IMAGE_SIZE_MAX) {
		close(fd);
		return hfc_err_set(err, -EFBIG, "%s: image larger than %llu bytes", path,
				   (unsigned long long)HFC_IMAGE_SIZE_MAX);
	}
	return fd;
}

/* True when the new index has the same image and blocks as the previous version. */
static bool same_blocks(const HfcIndex *a, const HfcIndex *b, size_t hl)
{
	if (a->image_size != b->image_size || a->block_size != b->block_size ||
	    a->hash != b->hash)
		return false;
	for (uint64_t i = 0; i < a->nblocks; i++) {
		const HfcIndexEntry *x = &a->entries[i], *y = &b->entries[i];
		if (x->stored != y->stored || (x->stored && memcmp(x->hash, y->hash, hl) != 0))
			return false;
	}
	return true;
}

int hfc_build_site_open(const char *site_path, bool dry_run, HfcSite **ret, HfcErr *err)
{
	_cleanup_(hfc_site_freep) HfcSite *site = NULL;
	struct stat sst;
	*ret = NULL;
	if (dry_run && stat(site_path, &sst) != 0)
		return 0;
	int r = hfc_site_open(site_path, !dry_run, &site, err);
	if (r < 0)
		return r;
	if (!dry_run) {
		r = hfc_site_lock(site, true, err);
		if (r < 0)
			return r;
		r = hfc_site_clean_tmp(site);
		if (r < 0)
			return hfc_err_set(err, r, "%s: removing stale temporary files: %s", site_path,
					   strerror(-r));
	}
	*ret = TAKE_PTR(site);
	return 0;
}

int hfc_build(const char *image_path, const char *site_path, const HfcBuildOptions *o,
	      HfcBuildResult *res, HfcErr *err)
{
	HfcBuildInput in = { .display = image_path };
	_cleanup_close_ int img = image_open(image_path, &in.size, &in.seek_data, err);
	if (img < 0)
		return img;
	in.fd = img;
	_cleanup_(hfc_site_freep) HfcSite *site = NULL;
	int r = hfc_build_site_open(site_path, o->dry_run, &site, err);
	if (r < 0)
		return r;
	return hfc_build_input(site, site_path, &in, o, res, err);
}

int hfc_build_input(HfcSite *site, const char *site_path, const HfcBuildInput *in,
		    const HfcBuildOptions *o, HfcBuildResult *res, HfcErr *err)
{
	double t0 = hfc_monotonic();
	Build b = { .o = o, .img_fd = in->fd, .seek_data = in->seek_data, .err = err,
		    .dirty = in->dirty, .base = in->base, .in = in };
	_cleanup_(hfc_index_freep) HfcIndex *prev = NULL;
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	_cleanup_(hfc_hashmap_freep) HfcHashMap *seen = NULL;
	uint64_t image_size = in->size;
	const char *image_path = in->display;
	unsigned jobs = o->jobs ? o->jobs : hfc_cpu_count();
	int r;
	if (image_size > HFC_IMAGE_SIZE_MAX)
		return hfc_err_set(err, -EFBIG, "%s: image larger than %llu bytes", image_path,
				   (unsigned long long)HFC_IMAGE_SIZE_MAX);
	if (site && !o->dry_run) /* the versions this build publishes are signed (if asked) */
		hfc_site_set_signer(site, o->sign_key, o->sign_expires);

	uint32_t latest = 0;
	if (site) {
		r = hfc_site_latest(site, &latest);
		if (r < 0)
			return hfc_err_set(err, r, "%s/indexes: %s", site_path, strerror(-r));
	}
	uint32_t bs = o->block_size ? o->block_size : HFC_BLOCK_SIZE_DEFAULT;
	HfcHashAlgo algo = hfc_build_hash(o, NULL);
	if (latest) {
		r = hfc_site_load_index(site, latest, &prev, err);
		if (r < 0)
			return r;
		/* A site's block size and hash are fixed by its first version. */
		if (o->block_size && o->block_size != prev->block_size)
			return hfc_err_set(err, -EINVAL,
					   "%s: site uses block size %u; cannot build with %u",
					   site_path, prev->block_size, o->block_size);
		if (o->hash_set && o->hash != prev->hash)
			return hfc_err_set(err, -EINVAL, "%s: site uses hash %s; cannot build with %s",
					   site_path, hfc_hash_name(prev->hash),
					   hfc_hash_name(o->hash));
		bs = prev->block_size;
		algo = hfc_build_hash(o, prev);
	}
	if (latest >= HFC_VERSION_MAX)
		return hfc_err_set(err, -EOVERFLOW, "%s: no version numbers left", site_path);

	r = hfc_index_new(image_size, bs, algo, &idx);
	if (r < 0)
		return hfc_err_set(err, r, "%s: image of %llu bytes is too large for block size %u",
				   image_path, (unsigned long long)image_size, bs);
	r = hfc_hashmap_new(hfc_hash_len(algo), &seen);
	if (r < 0)
		return hfc_err_set(err, r, "out of memory");
	b.idx = idx;
	b.algo = algo;
	b.hash_len = hfc_hash_len(algo);
	b.seen = seen;
	b.site = site;
	/* Zero blocks are never hashed: leave their keys zero, they are never saved. */
	if (algo == HFC_HASH_MD5 && site && !b.dirty && sha256_faster()) {
		b.bc_keys = calloc(idx->nblocks ? idx->nblocks : 1, 32);
		b.fast = b.bc_keys != NULL;
		if (b.fast)
			bcache_load(&b);
	}
	pthread_mutex_init(&b.lock, NULL);

	b.ws = calloc(jobs, sizeof(WorkerState));
	if (!b.ws) {
		r = hfc_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned j = 0; j < jobs; j++) {
		r = hfc_codec_new(hfc_build_level(o), &b.ws[j].codec);
		b.ws[j].in = malloc(bs);
		b.ws[j].out = malloc(hfc_codec_bound(bs));
		if (r < 0 || !b.ws[j].in || !b.ws[j].out) {
			r = hfc_err_set(err, r < 0 ? r : -ENOMEM, "out of memory");
			goto out;
		}
	}
	if (site && !o->dry_run) {
		r = hfc_block_txn_new(site, &b.txn);
		if (r < 0) {
			r = hfc_err_set(err, r, "out of memory");
			goto out;
		}
	}

	b.progress = &o->progress;
	HfcErr werr = { "" };
	b.err = &werr;
	r = hfc_pipeline_run(idx->nblocks, jobs, jobs * 4, 0, build_work, build_sink, &b);
	b.err = err;
	if (r < 0) {
		if (err)
			*err = werr;
		if (!werr.msg[0])
			hfc_err_set(err, r, "%s: %s", image_path, strerror(-r));
		goto out;
	}

	for (uint64_t i = 0; i < idx->nblocks; i++) {
		HfcIndexEntry *e = &idx->entries[i];
		if (e->stored == STORED_PENDING) {
			uint64_t v = 0;
			(void)hfc_hashmap_get(seen, e->hash, &v);
			e->stored = (uint32_t)v;
		}
	}

	res->image_size = image_size;
	res->blocks = idx->nblocks;
	res->new_blocks = b.new_blocks;
	res->reused = b.reused;
	res->zero = b.zero;
	res->bytes_read = b.bytes_read;
	res->bytes_written = b.bytes_written;
	res->ahead = b.ahead;
	res->version = latest + 1;
	res->published = false;

	/* Commit first: even an unchanged image may have restored a block file that was lost. */
	if (b.txn) {
		r = hfc_block_txn_commit(b.txn);
		if (r < 0) {
			hfc_err_set(err, r, "%s/blocks: %s", site_path, strerror(-r));
			goto out;
		}
		if (b.fast)
			bcache_save(&b);
	}
	if (prev && !o->force_version && same_blocks(idx, prev, b.hash_len)) {
		res->version = latest;
		res->unchanged = true;
		r = 0;
		goto out;
	}
	if (o->dry_run) {
		r = 0;
		goto out;
	}
	idx->version = latest + 1;
	idx->created = hfc_now();
	if (o->label && o->label[0]) {
		if (!hfc_label_valid(o->label)) {
			r = hfc_err_set(err, -EINVAL, "label: 1 to %d printable UTF-8 bytes expected",
					HFC_LABEL_MAX);
			goto out;
		}
		snprintf(idx->label, sizeof(idx->label), "%s", o->label);
	}
	r = hfc_site_publish(site, idx, err);
	if (r < 0)
		goto out;
	res->published = true;
out:
	if (r < 0 && b.txn) {
		hfc_block_txn_abort(b.txn);
		b.txn = NULL;
	}
	hfc_block_txn_free(b.txn);
	if (b.ws)
		for (unsigned j = 0; j < jobs; j++) {
			hfc_codec_free(b.ws[j].codec);
			free(b.ws[j].in);
			free(b.ws[j].out);
		}
	free(b.ws);
	free(b.bc_keys);
	free(b.bc_md5);
	hfc_hashmap_free(b.bc_old);
	pthread_mutex_destroy(&b.lock);
	res->seconds = hfc_monotonic() - t0;
	return r;
}
