/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Applying a bundle to a site. Everything the bundle claims is checked before it is used, and
 * nothing is written before the checks that need no block data have passed: the manifest, B's
 * index, the base and parent versions, the site's geometry and the presence of every base block.
 * Then the blocks are rebuilt (the reader runs under a lock, the checks and the compression in
 * parallel) into one block transaction; B's index is published last. Any failure aborts the
 * transaction, which removes every file it made: the site is as it was.
 */
#include "delta/delta-private.h"
#include "site/profiles.h"

#include "base/digest.h"
#include "base/fileio.h"
#include "base/pipeline.h"
#include "formats/profile.h"
#include "base/clock.h"
#include "base/progress.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>

#define FLUSH_BLOCKS 2048
#define BCACHE_BYTES (64u << 20)

typedef struct AWorker {
	HfcCodec *codecs[HFC_LEVEL_MAX + 1];
	uint8_t *buf, *scratch;
} AWorker;

typedef struct BCache {
	uint64_t base; /* UINT64_MAX: empty */
	uint64_t used;
	uint8_t *data;
} BCache;

typedef struct Applier {
	HfcSite *site;
	HfcBundleReader *rd;
	const char *display; /* the bundle */
	const HfcBundleBase *bases;
	size_t nbases;
	HfcHashAlgo algo;
	uint32_t bs;
	unsigned jobs;
	pthread_mutex_t lock; /* the reader and the base cache */
	BCache *cache;
	size_t ncache;
	uint64_t tick;
	HfcCodec *bcodec;
	uint8_t *bstored;
	HfcBlockTxn *txn;
	AWorker *ws;
	HfcErr *werr;
	HfcErr sink_err;
	HfcErr first_err; /* the first failure in time, under lock: what is reported */
	atomic_uint_fast64_t written, written_bytes, present;
	const HfcProgress *progress;
	uint64_t total;
} Applier;

static int site_block_err(Applier *ap, HfcErr *err, int r, const uint8_t *hash, const char *what)
{
	char p[HFC_BLOCK_PATH_MAX];
	hfc_block_path(ap->algo, hash, p);
	return hfc_err_set(err, r, "%s/%s: %s", hfc_site_path(ap->site), p, what);
}

/* The reader's COPY source: base blocks of SITE, decoded and checked, in an LRU cache. */
static int base_page(void *ctx, uint64_t base, uint32_t page, void *out, size_t len, HfcErr *err)
{
	Applier *ap = ctx;
	BCache *victim = NULL;
	for (size_t i = 0; i < ap->ncache; i++) {
		BCache *c = &ap->cache[i];
		if (c->base == base) {
			c->used = ++ap->tick;
			memcpy(out, c->data + (size_t)page * HFC_PAGE_SIZE, len);
			return 0;
		}
		if (!victim || c->used < victim->used)
			victim = c;
	}
	if (!victim->data && !(victim->data = malloc(ap->bs)))
		return hfc_err_set(err, -ENOMEM, "out of memory");
	victim->base = UINT64_MAX;
	const HfcBundleBase *b = &ap->bases[base];
	int r = hfc_site_block_read(ap->site, ap->algo, b->hash, b->stored, ap->bstored);
	if (r == -ENOENT)
		return site_block_err(ap, err, r, b->hash,
				      "missing, and the bundle copies pages from it; refused");
	if (r < 0)
		return site_block_err(ap, err, r, b->hash,
				      r == -EBADMSG ? "has the wrong size (run hfc-index verify)"
						    : strerror(-r));
	r = hfc_block_decode_verified(ap->bcodec, ap->algo, b->hash, ap->bstored, b->stored,
				      victim->data, b->len);
	if (r < 0)
		return site_block_err(ap, err, r, b->hash,
				      r == -EBADMSG ? "does not match its name (corrupt block file)"
						    : strerror(-r));
	victim->base = base;
	victim->used = ++ap->tick;
	memcpy(out, victim->data + (size_t)page * HFC_PAGE_SIZE, len);
	return 0;
}

static int apply_one(Applier *ap, unsigned worker, HfcErr *err);

static int apply_work(void *ctx, unsigned worker, uint64_t i, void *slot)
{
	(void)i;
	(void)slot;
	Applier *ap = ctx;
	HfcErr *err = &ap->werr[worker];
	int r = apply_one(ap, worker, err);
	if (r < 0) {
		pthread_mutex_lock(&ap->lock);
		if (!ap->first_err.msg[0])
			ap->first_err = *err;
		pthread_mutex_unlock(&ap->lock);
	}
	return r;
}

static int apply_one(Applier *ap, unsigned worker, HfcErr *err)
{
	AWorker *w = &ap->ws[worker];
	HfcBundleBlock b;
	pthread_mutex_lock(&ap->lock);
	int r = hfc_bundle_reader_next(ap->rd, base_page, ap, &b, w->buf, err);
	pthread_mutex_unlock(&ap->lock);
	if (r == 0)
		r = hfc_err_set(err, -EBADMSG, "%s: truncated bundle", ap->display);
	if (r < 0)
		return r;
	char hex[2 * HFC_HASH_MAX + 1];
	hfc_hex_encode(b.hash, hfc_hash_len(ap->algo), hex);

	uint64_t size;
	r = hfc_site_block_stat(ap->site, ap->algo, b.hash, &size);
	if (r >= 0 && size == b.stored) {
		/* Already there (a re-run, or SITE holds more than version A): nothing to write. */
		atomic_fetch_add(&ap->present, 1);
		return 0;
	}
	if (r >= 0)
		return site_block_err(ap, err, -EBADMSG, b.hash,
				      "exists with the wrong size (run hfc-index verify); refused");
	if (r != -ENOENT)
		return site_block_err(ap, err, r, b.hash, strerror(-r));

	const void *file;
	r = hfc_bundle_block_encode(&b, ap->algo, w->codecs, w->buf, w->scratch, &file);
	if (r == -EBADMSG)
		return hfc_err_set(err, r, "%s: block %s %s does not match its name (corrupt bundle)",
				   ap->display, hex, b.raw ? "(block file)" : "rebuilt from its recipe");
	if (r == -EILSEQ)
		return hfc_err_set(err, r,
				   "%s: block %s: recompressing at level %d does not reproduce the source's block file (another libdeflate?); use a full bundle (hfc-diff --full)",
				   ap->display, hex, b.level);
	if (r < 0)
		return hfc_err_set(err, r, "%s: block %s: %s", ap->display, hex, strerror(-r));

	r = hfc_block_txn_add(ap->txn, ap->algo, b.hash, file, b.stored);
	if (r < 0)
		return site_block_err(ap, err, r, b.hash, strerror(-r));
	atomic_fetch_add(&ap->written, 1);
	atomic_fetch_add(&ap->written_bytes, b.stored);
	return 0;
}

static int apply_sink(void *ctx, uint64_t i, void *slot)
{
	(void)slot;
	Applier *ap = ctx;
	hfc_progress(ap->progress, "apply", i + 1, ap->total);
	if (hfc_block_txn_pending(ap->txn) >= FLUSH_BLOCKS) {
		int r = hfc_block_txn_flush(ap->txn);
		if (r < 0)
			return hfc_err_set(&ap->sink_err, r, "%s/blocks: %s", hfc_site_path(ap->site),
					   strerror(-r));
	}
	return 0;
}

static void applier_free(Applier *ap)
{
	if (ap->ws)
		for (unsigned j = 0; j < ap->jobs; j++) {
			for (int l = 0; l <= HFC_LEVEL_MAX; l++)
				hfc_codec_free(ap->ws[j].codecs[l]);
			free(ap->ws[j].buf);
			free(ap->ws[j].scratch);
		}
	free(ap->ws);
	free(ap->werr);
	if (ap->cache)
		for (size_t i = 0; i < ap->ncache; i++)
			free(ap->cache[i].data);
	free(ap->cache);
	hfc_codec_free(ap->bcodec);
	free(ap->bstored);
	pthread_mutex_destroy(&ap->lock);
}

/* Rebuilds and writes every block file the bundle carries into ap->txn. */
static int write_blocks(Applier *ap, uint64_t n, const HfcProgress *progress, HfcErr *err)
{
	ap->ws = calloc(ap->jobs, sizeof(*ap->ws));
	ap->werr = calloc(ap->jobs, sizeof(*ap->werr));
	ap->ncache = MAX((size_t)4, (size_t)BCACHE_BYTES / ap->bs);
	ap->cache = calloc(ap->ncache, sizeof(*ap->cache));
	ap->bstored = malloc(hfc_codec_bound(ap->bs));
	if (!ap->ws || !ap->werr || !ap->cache || !ap->bstored ||
	    hfc_codec_new(HFC_LEVEL_DEFAULT, &ap->bcodec) < 0)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < ap->ncache; i++)
		ap->cache[i].base = UINT64_MAX;
	for (unsigned j = 0; j < ap->jobs; j++) {
		ap->ws[j].buf = malloc(hfc_codec_bound(ap->bs));
		ap->ws[j].scratch = malloc(hfc_codec_bound(ap->bs));
		if (!ap->ws[j].buf || !ap->ws[j].scratch)
			return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	ap->progress = progress;
	ap->total = n;
	int r = hfc_pipeline_run(n, ap->jobs, ap->jobs * 2, 0, apply_work, apply_sink, ap);
	if (r < 0)
		return delta_pipeline_err(r, &ap->first_err, &ap->sink_err, ap->werr, ap->jobs,
					  err);
	/* The bundle must end here: no entry after the last block file. */
	HfcBundleBlock b;
	r = hfc_bundle_reader_next(ap->rd, base_page, ap, &b, ap->ws[0].buf, err);
	if (r > 0)
		r = hfc_err_set(err, -EBADMSG, "%s: more block files than the manifest says",
				ap->display);
	return r;
}

/* Checks that every block file idx names is in the site with its stored size. */
static int check_complete(HfcSite *s, const HfcIndex *idx, const char *display, HfcErr *err)
{
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		const HfcIndexEntry *e = &idx->entries[i];
		if (!e->stored)
			continue;
		uint64_t size;
		int r = hfc_site_block_stat(s, idx->hash, e->hash, &size);
		if (r >= 0 && size == e->stored)
			continue;
		char p[HFC_BLOCK_PATH_MAX];
		hfc_block_path(idx->hash, e->hash, p);
		if (r == -ENOENT)
			return hfc_err_set(err, -EBADMSG,
					   "%s: does not carry %s, which version %u names and %s lacks; refused",
					   display, p, idx->version, hfc_site_path(s));
		return hfc_err_set(err, r < 0 ? r : -EBADMSG, "%s/%s: %s", hfc_site_path(s), p,
				   r < 0 ? strerror(-r) : "has the wrong size (run hfc-index verify)");
	}
	return 0;
}

/*
 * The checks that need SITE but no block data; they change nothing. Sets *ret_already when B is
 * there already, *ret_dangling when indexes/B.idx is there without index.idx naming it.
 */
static int check_site(HfcSite *s, HfcBundleReader *rd, const char *display, bool force,
		      bool trusted, HfcApplyResult *res, bool *ret_already, bool *ret_dangling,
		      HfcErr *err)
{
	const HfcBundleManifest *m = hfc_bundle_reader_manifest(rd);
	const HfcIndex *b = hfc_bundle_reader_index(rd);
	const char *sp = hfc_site_path(s);
	uint32_t latest;
	int r = hfc_site_latest(s, &latest);
	if (r < 0)
		return hfc_err_set(err, r, "%s/indexes: %s", sp, strerror(-r));
	_cleanup_(hfc_index_freep) HfcIndex *cur = NULL, *last = NULL, *have = NULL;
	if (latest) {
		r = hfc_site_load_index(s, 0, &cur, err);
		if (r < 0)
			return r;
	}

	/* Applied before? Then there is nothing to do, or an interrupted publish to finish. */
	if (latest >= b->version) {
		r = hfc_site_load_index(s, b->version, &have, err);
		if (r == -ENOENT)
			return hfc_err_set(err, -EEXIST,
					   "%s: is at version %u, past the bundle's version %u; refused",
					   sp, latest, b->version);
		if (r < 0)
			return r;
		if (memcmp(have->end_sha256, b->end_sha256, 32) != 0)
			return hfc_err_set(err, -EEXIST,
					   "%s: has a different version %u than the bundle's; refused",
					   sp, b->version);
		if (cur->version >= b->version || b->version != latest) {
			*ret_already = true;
			/*
			 * The same version with a newer signature (a renewal upstream): with trusted
			 * keys, which checked it, the site takes the new signature line.
			 */
			if (trusted && b->has_sig &&
			    (!have->has_sig || b->sig.expires > have->sig.expires)) {
				r = hfc_site_put_signed(s, (HfcIndex *)b, err);
				if (r < 0)
					return r;
				res->resigned = true;
			}
			return 0;
		}
		/*
		 * indexes/B.idx is there but index.idx still names an older version: a publish
		 * was cut short. Readers never rely on such a file (docs/FORMAT.md §8): it is
		 * taken back just before B is published again, and checked as if absent.
		 */
		_cleanup_free_ uint32_t *vs = NULL;
		size_t nv;
		r = hfc_site_versions(s, &vs, &nv);
		if (r < 0)
			return hfc_err_set(err, r, "%s/indexes: %s", sp, strerror(-r));
		latest = 0;
		for (size_t k = 0; k < nv; k++)
			if (vs[k] < b->version)
				latest = vs[k];
		*ret_dangling = true;
	}

	if (m->kind == HFC_BUNDLE_DELTA) {
		bool ok = cur && cur->version == m->base &&
			  !memcmp(cur->end_sha256, m->base_sha256, 32);
		if (!ok && !force) {
			if (cur)
				return hfc_err_set(err, -EINVAL,
						   "%s: made for version %u, but %s is at version %u%s; refused (--force to apply anyway)",
						   display, m->base, sp, cur->version,
						   cur->version == m->base ? " (with other contents)" : "");
			return hfc_err_set(err, -EINVAL,
					   "%s: made for version %u, but %s has no version; refused",
					   display, m->base, sp);
		}
	}
	if (latest) {
		r = hfc_site_load_index(s, latest, &last, err);
		if (r < 0)
			return r;
		if (last->block_size != b->block_size || last->hash != b->hash)
			return hfc_err_set(err, -EINVAL,
					   "%s: %s uses block size %u and %s; the bundle %u and %s; refused",
					   display, sp, last->block_size, hfc_hash_name(last->hash),
					   b->block_size, hfc_hash_name(b->hash));
	}
	bool parent_ok = latest ? b->parent == latest &&
					  !memcmp(b->parent_sha256, last->end_sha256, 32)
				: b->parent == 0;
	if (!parent_ok && latest == 0) {
		/*
		 * A new site (a mirror seeded with a full bundle): B is published as it is, its
		 * parent line naming a version this site never had, as after a prune. Later
		 * bundles then follow it without --force.
		 */
		res->parent_kept = true;
	} else if (!parent_ok) {
		if (!force)
			return hfc_err_set(err, -EINVAL,
					   "%s: version %u follows version %u, but %s's newest version is %u; refused (--force publishes it as the child of %u)",
					   display, b->version, b->parent, sp, latest, latest);
		res->parent_rewritten = true;
	}
	if (b->version <= latest)
		return hfc_err_set(err, -EEXIST, "%s: version %u is not newer than %s's %u; refused",
				   display, b->version, sp, latest);
	/* A bundle carries the next version: a jump would use up version numbers for good. */
	if (latest && b->version != latest + 1 && !force)
		return hfc_err_set(err, -EINVAL,
				   "%s: version %u does not follow %s's newest version %u; refused (--force publishes it anyway)",
				   display, b->version, sp, latest);

	/* Every base block must be here before a single byte is written. */
	size_t nb;
	const HfcBundleBase *bases = hfc_bundle_reader_bases(rd, &nb);
	for (size_t i = 0; i < nb; i++) {
		uint64_t size;
		r = hfc_site_block_stat(s, b->hash, bases[i].hash, &size);
		if (r >= 0 && size == bases[i].stored)
			continue;
		char p[HFC_BLOCK_PATH_MAX];
		hfc_block_path(b->hash, bases[i].hash, p);
		return hfc_err_set(err, r == -ENOENT ? -ENOENT : -EBADMSG,
				   "%s: its recipes copy pages from %s, which %s %s; refused", display,
				   p, sp, r == -ENOENT ? "lacks" : "holds damaged");
	}
	return 0;
}

/* Installs the bundle's profile for B; *ret_made when it was not there. */
static int install_profile(HfcSite *s, HfcBundleReader *rd, const char *display, bool *ret_made,
			   HfcErr *err)
{
	const HfcProfile *p = hfc_bundle_reader_profile(rd);
	if (!p)
		return 0;
	HfcProfile copy = *p; /* the install sets its version; the reader's stays as read */
	return hfc_site_profile_install(s, hfc_bundle_reader_index(rd), &copy, display, ret_made,
					err);
}

int hfc_bundle_apply(const char *bundle_path, const char *site_path, const HfcApplyOptions *o,
		     HfcApplyResult *res, HfcErr *err)
{
	double t0 = hfc_monotonic();
	*res = (HfcApplyResult){ 0 };
	bool is_stdin = strcmp(bundle_path, "-") == 0;
	const char *display = is_stdin ? "stdin" : bundle_path;
	_cleanup_close_ int fd = is_stdin ? -1
					  : open(bundle_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (!is_stdin && fd < 0)
		return hfc_err_set(err, negative_errno(), "%s: %s", bundle_path, strerror(errno));
	struct stat st;
	if (fstat(is_stdin ? STDIN_FILENO : fd, &st) < 0)
		return hfc_err_set(err, negative_errno(), "%s: %s", display, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return hfc_err_set(err, -EISDIR, "%s: is a directory, not a bundle", display);
	res->bundle_bytes = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;

	_cleanup_(hfc_bundle_reader_freep) HfcBundleReader *rd = NULL;
	int r = hfc_bundle_reader_open(is_stdin ? STDIN_FILENO : fd, display, &rd, err);
	if (r < 0)
		return r;
	const HfcBundleManifest *m = hfc_bundle_reader_manifest(rd);
	HfcIndex *b = hfc_bundle_reader_index(rd);
	res->kind = m->kind;
	res->base = m->base;
	res->version = b->version;
	res->blocks = m->recipes + m->raw_blocks;
	/* A bundle from a hostile hand is refused before SITE is even opened. */
	if (o->ntrusted) {
		char what[PATH_MAX + 16];
		snprintf(what, sizeof(what), "%s: index.idx", display);
		r = hfc_index_verify(b, NULL, 0, o->trusted, o->ntrusted, o->now, what, err);
		if (r < 0)
			return r;
	}

	/* A full bundle may make a new site (a new mirror); a delta needs one holding A. */
	if (stat(site_path, &st) < 0 && (errno != ENOENT || m->kind != HFC_BUNDLE_FULL))
		return hfc_err_set(err, negative_errno(), "%s: %s", site_path,
				   errno == ENOENT ? "no such site" : strerror(errno));
	/* A full bundle makes what a site needs, in a new or an empty directory alike. */
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	r = hfc_site_open(site_path, m->kind == HFC_BUNDLE_FULL, &s, err);
	if (r < 0)
		return r;
	r = hfc_site_lock(s, true, err);
	if (r < 0)
		goto fail_site;
	hfc_site_set_signer(s, o->sign_key, o->sign_expires);
	r = hfc_site_clean_tmp(s);
	if (r < 0) {
		r = hfc_err_set(err, r, "%s: removing stale temporary files: %s", site_path,
				strerror(-r));
		goto fail_site;
	}
	bool already = false, dangling = false;
	r = check_site(s, rd, display, o->force, o->ntrusted > 0, res, &already, &dangling, err);
	if (r < 0)
		goto fail_site;
	if (already) {
		res->already = true;
		res->seconds = hfc_monotonic() - t0;
		return 0;
	}

	Applier ap = {
		.site = s, .rd = rd, .display = display, .algo = b->hash, .bs = b->block_size,
		.jobs = o->jobs ? o->jobs : hfc_cpu_count(),
	};
	ap.bases = hfc_bundle_reader_bases(rd, &ap.nbases);
	pthread_mutex_init(&ap.lock, NULL);
	atomic_init(&ap.written, 0);
	atomic_init(&ap.written_bytes, 0);
	atomic_init(&ap.present, 0);
	bool profile_made = false;
	r = hfc_block_txn_new(s, &ap.txn);
	if (r < 0) {
		r = hfc_err_set(err, r, "out of memory");
		goto fail;
	}
	r = write_blocks(&ap, res->blocks, &o->progress, err);
	if (r < 0)
		goto fail;
	r = hfc_block_txn_commit(ap.txn);
	if (r < 0) {
		r = hfc_err_set(err, r, "%s/blocks: %s", site_path, strerror(-r));
		goto fail;
	}
	r = check_complete(s, b, display, err);
	if (r < 0)
		goto fail;
	r = install_profile(s, rd, display, &profile_made, err);
	if (r < 0)
		goto fail;
	if (dangling) {
		/* An interrupted publish of B: its index goes again, through the publish below. */
		char rel[HFC_LAYOUT_PATH_MAX];
		hfc_layout_path(HFC_LAYOUT_INDEX, b->version, rel);
		if (unlinkat(hfc_site_fd(s), rel, 0) < 0 && errno != ENOENT) {
			r = hfc_err_set(err, negative_errno(), "%s/%s: %s", site_path, rel,
					strerror(errno));
			goto fail;
		}
	}
	/* Last: B's index, through the same publish as every build (indexes/ then index.idx). */
	r = res->parent_kept ? hfc_site_publish_as_is(s, b, err) : hfc_site_publish(s, b, err);
	if (r < 0)
		goto fail;
	hfc_block_txn_free(ap.txn);
	res->written = ap.written;
	res->written_bytes = ap.written_bytes;
	res->present = ap.present;
	applier_free(&ap);
	res->seconds = hfc_monotonic() - t0;
	return 0;

fail:
	hfc_block_txn_abort(ap.txn);
	if (profile_made)
		(void)hfc_site_profile_remove(s, b->version);
	applier_free(&ap);
fail_site:
	/* A site this run created: leave nothing behind. */
	hfc_site_remove_new(s);
	return r;
}
