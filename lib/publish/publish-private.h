/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Between the parts of publish.h's implementation: the one worker pool (pool.c), the site being
 * published (source.c), the rsync steps (push.c), the check over HTTP (check.c), and the run
 * they share (publish.c, status.c). Nothing outside lib/publish includes this.
 */

#include "publish/publish.h"

#include "base/hashset.h"
#include "client/http.h"
#include "site/store.h"

/* ---- pool.c: one pool of worker threads for mirrors and block checks ------------------ */

typedef struct PublishPool PublishPool;

/* Jobs submitted together, waited for together. Zero-initialise, then set pool. */
typedef struct PublishGroup {
	PublishPool *pool;
	size_t pending; /* queued or running; under the pool's lock */
} PublishGroup;

/* Starts up to n threads (at least one). Returns 0, or -errno when none could start. */
int publish_pool_new(size_t n, PublishPool **ret);

/* Stops and joins the threads once every queued job ran; NULL is fine. */
void publish_pool_free(PublishPool *p);

/* Queues fn(arg) in group g. Returns 0 or -ENOMEM (nothing queued). */
int publish_pool_submit(PublishGroup *g, void (*fn)(void *arg), void *arg);

/*
 * Waits until every job of g has run. With help, the caller runs g's queued jobs itself, so a
 * job may wait for the jobs it submitted without ever deadlocking the pool. With tick (may be
 * NULL), calls tick(ud) every 0.1 s and whenever a job ends.
 */
void publish_pool_wait(PublishGroup *g, bool help, void (*tick)(void *ud), void *ud);

/* ---- source.c: the local site being published ------------------------------------------ */

typedef struct PublishBlock {
	uint8_t hash[HFC_HASH_MAX];
	uint32_t stored;
	uint32_t len; /* uncompressed */
} PublishBlock;

typedef struct PublishSource {
	HfcSite *s;
	char *path;    /* absolute, for rsync */
	char *idx_buf; /* index.idx, byte for byte */
	size_t idx_len;
	HfcIndex *idx;
	PublishBlock *blocks; /* the distinct block files of the current version */
	size_t nblocks;
	uint64_t block_bytes;
	HfcHashMap *set; /* their hashes */
	HfcKey **keys;   /* the configuration's trusted keys */
	size_t nkeys;
} PublishSource;

/*
 * Opens the site under its shared lock (held until publish_source_done) and reads its current
 * version, which must be its version's own file byte for byte. Returns 0 or -errno with err.
 */
int publish_source_prepare(PublishSource *x, const char *path, HfcErr *err);

/* Loads the configuration's pubkey files into x->keys. Returns 0 or -errno with err. */
int publish_source_keys(PublishSource *x, const HfcPublishConfig *c, HfcErr *err);

/*
 * Checks, for require-signature, that every version of the site is signed by a trusted key and
 * that each signature holds; the current version's must not have expired at now (an old
 * version past its expiry is only unusable, as a client would find it). Returns 0, or the
 * first refusal (-ENOKEY, -EKEYREJECTED, -EBADMSG, -EKEYEXPIRED) or -errno, with err filled.
 */
int publish_source_signed(PublishSource *x, int64_t now, HfcErr *err);

/* What idx's signature line says and whether it holds against x's keys at now; buf/len is the
 * file idx was parsed from. */
void publish_sig_info(const PublishSource *x, const HfcIndex *idx, const char *buf, size_t len,
		      int64_t now, HfcSigInfo *out);

/* Releases the lock and everything x holds. */
void publish_source_done(PublishSource *x);

/* Counts the files and bytes a mirror gets of the site. Returns 0 or -errno. */
int publish_source_totals(const PublishSource *x, uint64_t *ret_files, uint64_t *ret_bytes);

/* Checks that the site holds every block file of its version. Returns 0 or -errno with err. */
int publish_source_complete(const PublishSource *x, HfcErr *err);

/*
 * Counts the block files of the site's version that theirs (NULL: no index) does not name.
 * Returns 0 or -ENOMEM.
 */
int publish_source_missing(const PublishSource *x, const HfcIndex *theirs, uint64_t *ret_blocks,
			   uint64_t *ret_bytes);

/* ---- publish.c: a run over the selected mirrors ------------------------------------------ */

typedef struct PublishRun PublishRun;

struct PublishRun {
	const HfcPublishConfig *c;
	const HfcPublishOptions *o;
	PublishSource *src;
	HfcPublishResult *res;    /* hfc_publish_run */
	HfcPublishStatus *status; /* hfc_publish_status */
	const bool *selected;
	void (*fn)(PublishRun *run, size_t mirror);
	PublishPool *pool;
	size_t next;          /* the next mirror to take (atomic) */
	uint64_t done, total; /* progress, in bytes (atomics) */
};

/*
 * Runs run->fn for every selected mirror, at most `parallel` at once, on a pool of that many
 * threads times per_mirror (the jobs each mirror may add), and reports progress as `what`.
 * Returns 0, or -errno with err when no thread could start.
 */
int publish_each_mirror(PublishRun *run, unsigned parallel, unsigned per_mirror, const char *what,
			HfcErr *err);

/* Adds bytes to the run's progress (an HfcRsyncFileFn). */
void publish_progress_add(void *run, uint64_t bytes);

/* ---- push.c: rsync steps ------------------------------------------------------------------ */

typedef enum PublishStep {
	STEP_BLOCKS,  /* new block files only: immutable, never overwritten */
	STEP_INDEXES, /* indexes/ and profiles/ */
	STEP_CURRENT, /* index.idx, last */
	STEP_PRUNE_INDEXES,
	STEP_PRUNE_BLOCKS,
	STEP_REPAIR, /* block files a check found bad, sent again over the bad copies */
} PublishStep;

/* Returns the name of a step in reports ("blocks", "index.idx", "prune"...). */
const char *publish_step_name(PublishStep step);

/*
 * Builds the rsync command line of one step into a (files_from: the list of STEP_REPAIR).
 * Returns 0 or -ENOMEM.
 */
int publish_push_args(const PublishRun *run, size_t mirror, PublishStep step,
		      const char *files_from, HfcRsyncArgs *a);

/*
 * Runs one step for a mirror and adds its figures to sum. Returns 0 or -errno with err
 * ("step: what").
 */
int publish_push_step(PublishRun *run, size_t mirror, PublishStep step, const char *files_from,
		      HfcRsyncStats *sum, HfcErr *err);

/*
 * Sends the site's blocks[bad[0..nbad)] again, always, each over the mirror's copy by rename;
 * adds the figures to rep (repaired, sent). Returns 0 or -errno with err.
 */
int publish_push_repair(PublishRun *run, size_t mirror, const size_t *bad, size_t nbad,
			HfcMirrorReport *rep, HfcErr *err);

/* ---- check.c: a mirror over HTTP --------------------------------------------------------- */

/* Makes a fetcher for one mirror's URL only (never failed over). Returns 0 or -errno. */
int publish_mirror_http(const HfcPublishConfig *c, size_t mirror, HfcHttp **ret, HfcErr *err);

/*
 * Fetches url/path (through h) and, with ret_idx, parses it as an index. Returns 0, -ENOENT
 * when the mirror has no such file, or -errno, with err filled.
 */
int publish_fetch_index(HfcHttp *h, const char *url, const char *path, char **ret_buf,
			size_t *ret_len, HfcIndex **ret_idx, HfcErr *err);

/*
 * Checks that the mirror's index.idx and its version's file are the site's, byte for byte
 * (after a push, waiting up to verify.settle for a stale one). Returns 0, -EBADMSG or -errno,
 * with err filled; sets rep->version.
 */
int publish_check_indexes(PublishRun *run, size_t mirror, HfcHttp *h, HfcMirrorReport *rep,
			  HfcErr *err);

/*
 * Checks the indexes, then every block file of the version (HEAD, or GET and decode when
 * deep) on the pool. With ret_bad, returns the site's blocks[] indices found missing or bad (a
 * new array, or NULL). Returns 0, -EBADMSG when block files are bad, or -errno, with err.
 */
int publish_check_mirror(PublishRun *run, size_t mirror, HfcHttp *h, HfcMirrorReport *rep,
			 size_t **ret_bad, size_t *ret_nbad, HfcErr *err);

/*
 * Repairs the bad blocks a check found (publish_push_repair), then checks again, waiting up to
 * verify.settle for the server to serve the new copies. Returns 0 or -errno with err, and
 * *ret_step names what failed ("repair" or "verify").
 */
int publish_check_repair(PublishRun *run, size_t mirror, HfcHttp *h, HfcMirrorReport *rep,
			 const size_t *bad, size_t nbad, const char **ret_step, HfcErr *err);
