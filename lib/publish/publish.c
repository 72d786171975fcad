/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hfc_publish_run: for each selected mirror, push (push.c), check (check.c), repair and prune,
 * `parallel` mirrors at once on the run's one pool; a failing mirror does not stop the others.
 */
#include "publish/publish-private.h"

#include "base/clock.h"
#include "site/layout.h"

#include <string.h>

void publish_progress_add(void *ud, uint64_t bytes)
{
	PublishRun *run = ud;
	__atomic_add_fetch(&run->done, bytes, __ATOMIC_RELAXED);
}

/* A job of the pool: takes the next selected mirror until there is none left. */
static void mirror_job(void *ud)
{
	PublishRun *run = ud;
	for (;;) {
		size_t i = __atomic_fetch_add(&run->next, 1, __ATOMIC_RELAXED);
		if (i >= run->c->nmirrors)
			break;
		if (!run->selected || run->selected[i])
			run->fn(run, i);
	}
}

typedef struct Tick {
	const PublishRun *run;
	const char *what;
} Tick;

static void draw(void *ud)
{
	const Tick *t = ud;
	/* Nothing to draw until a mirror has said how much it needs. */
	uint64_t total = __atomic_load_n(&t->run->total, __ATOMIC_RELAXED);
	if (total)
		hfc_progress(&t->run->o->progress, t->what,
			     __atomic_load_n(&t->run->done, __ATOMIC_RELAXED), total);
}

int publish_each_mirror(PublishRun *run, unsigned parallel, unsigned per_mirror, const char *what,
			HfcErr *err)
{
	size_t n = 0;
	for (size_t i = 0; i < run->c->nmirrors; i++)
		if (!run->selected || run->selected[i])
			n++;
	size_t at_once = MIN((size_t)MAX(parallel, 1u), n);
	if (at_once == 0)
		return 0;
	int r = publish_pool_new(at_once * MAX(per_mirror, 1u), &run->pool);
	if (r < 0)
		return hfc_err_set(err, r, "cannot start a thread: %s", strerror(-r));
	PublishGroup g = { .pool = run->pool };
	size_t queued = 0;
	for (; queued < at_once; queued++)
		if (publish_pool_submit(&g, mirror_job, run) < 0)
			break;
	if (queued == 0)
		r = hfc_err_set(err, -ENOMEM, "out of memory");
	/* This thread draws the bar; the pool's threads do the work. */
	Tick t = { run, what };
	publish_pool_wait(&g, false, draw, &t);
	publish_pool_free(run->pool);
	run->pool = NULL;
	return r;
}

static void fail_step(HfcMirrorReport *rep, const char *step, int r, const HfcErr *e)
{
	rep->ok = false;
	rep->failed = step;
	if (e && e->msg[0])
		rep->err = *e;
	else
		hfc_err_set(&rep->err, r, "%s", strerror(r < 0 ? -r : EIO));
}

/* Where the mirror stands before the push, for the report and the bar (not needed to push). */
static void look_before(PublishRun *run, size_t mi, HfcHttp *h, HfcMirrorReport *rep)
{
	_cleanup_(hfc_index_freep) HfcIndex *theirs = NULL;
	int r = publish_fetch_index(h, run->c->mirrors[mi].url, HFC_SITE_CURRENT, NULL, NULL,
				    &theirs, NULL);
	if (r >= 0 || r == -ENOENT) {
		rep->before_known = true;
		rep->version_before = theirs ? theirs->version : 0;
		rep->version = rep->version_before;
	}
	/* The bar's share of this mirror: what it lacks, then the check of every block. */
	uint64_t blocks, bytes;
	if (publish_source_missing(run->src, theirs, &blocks, &bytes) < 0)
		bytes = run->src->block_bytes;
	__atomic_add_fetch(&run->total, bytes + (run->o->dry_run ? 0 : run->src->block_bytes),
			   __ATOMIC_RELAXED);
}

/* The three steps, in the order that keeps the mirror consistent; the failed one in *ret_step. */
static int push(PublishRun *run, size_t mi, HfcMirrorReport *rep, const char **ret_step,
		HfcErr *err)
{
	static const PublishStep steps[] = { STEP_BLOCKS, STEP_INDEXES, STEP_CURRENT };
	for (size_t s = 0; s < ELEMENTSOF(steps); s++) {
		*ret_step = publish_step_name(steps[s]);
		int r = publish_push_step(run, mi, steps[s], NULL, &rep->sent, err);
		if (r < 0)
			return r;
	}
	rep->pushed = true;
	return 0;
}

/* Checks the mirror and, when asked, repairs what the check found; the failed step too. */
static int verify(PublishRun *run, size_t mi, HfcHttp *h, HfcMirrorReport *rep,
		  const char **ret_step, HfcErr *err)
{
	_cleanup_free_ size_t *bad = NULL;
	size_t nbad = 0;
	*ret_step = "verify";
	int r = publish_check_mirror(run, mi, h, rep, run->o->repair ? &bad : NULL, &nbad, err);
	if (r < 0 && bad)
		r = publish_check_repair(run, mi, h, rep, bad, nbad, ret_step, err);
	if (r >= 0)
		rep->verified = true;
	return r;
}

/*
 * The mirror's index.idx is the site's now, and the site's current version names no file the
 * site pruned: old indexes go first, then the block files.
 */
static int prune(PublishRun *run, size_t mi, HfcHttp *h, HfcMirrorReport *rep, HfcErr *err)
{
	int r = 0;
	/* A dry run sends nothing: prune (-n) only a mirror that is already current. */
	if (run->o->dry_run)
		r = publish_check_indexes(run, mi, h, rep, err);
	HfcRsyncStats st = { 0 };
	if (r >= 0)
		r = publish_push_step(run, mi, STEP_PRUNE_INDEXES, NULL, &st, err);
	if (r >= 0)
		r = publish_push_step(run, mi, STEP_PRUNE_BLOCKS, NULL, &st, err);
	rep->deleted = st.deleted;
	if (r >= 0)
		rep->pruned = true;
	return r;
}

static void publish_one(PublishRun *run, size_t mi)
{
	const HfcPublishOptions *o = run->o;
	HfcMirrorReport *rep = &run->res->mirrors[mi];
	double t0 = hfc_monotonic();
	HfcErr e = { "" };
	const char *step = "verify";
	rep->ok = true;
	_cleanup_(hfc_http_freep) HfcHttp *h = NULL;
	int r = publish_mirror_http(run->c, mi, &h, &e);
	if (r >= 0 && !o->verify_only) {
		look_before(run, mi, h, rep);
		r = push(run, mi, rep, &step, &e);
	} else if (r >= 0) {
		__atomic_add_fetch(&run->total, run->src->block_bytes, __ATOMIC_RELAXED);
	}
	if (r >= 0 && !o->dry_run)
		r = verify(run, mi, h, rep, &step, &e);
	if (r >= 0 && o->prune) {
		step = "prune";
		r = prune(run, mi, h, rep, &e);
	}
	if (r < 0)
		fail_step(rep, step, r, &e);
	rep->seconds = hfc_monotonic() - t0;
}

void hfc_publish_result_free(HfcPublishResult *r)
{
	if (!r)
		return;
	free(r->mirrors);
	free(r);
}

/* The result's site figures and one report a mirror. */
static int result_new(const HfcPublishConfig *c, const HfcPublishOptions *o,
		      const PublishSource *src, HfcPublishResult **ret, HfcErr *err)
{
	_cleanup_(hfc_publish_result_freep) HfcPublishResult *res = calloc(1, sizeof(*res));
	if (!res || !(res->mirrors = calloc(c->nmirrors, sizeof(HfcMirrorReport))))
		return hfc_err_set(err, -ENOMEM, "out of memory");
	res->nmirrors = c->nmirrors;
	res->version = src->idx->version;
	res->blocks = src->nblocks;
	res->block_bytes = src->block_bytes;
	int r = publish_source_totals(src, &res->site_files, &res->site_bytes);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", src->path, strerror(-r));
	for (size_t i = 0; i < c->nmirrors; i++)
		res->mirrors[i].selected = !o->selected || o->selected[i];
	*ret = TAKE_PTR(res);
	return 0;
}

int hfc_publish_run(const HfcPublishConfig *c, const HfcPublishOptions *o,
		    HfcPublishResult **ret, HfcErr *err)
{
	double t0 = hfc_monotonic();
	PublishSource src = { 0 };
	_cleanup_(hfc_publish_result_freep) HfcPublishResult *res = NULL;
	int64_t now = hfc_realtime();
	int r = publish_source_prepare(&src, c->site, err);
	if (r >= 0)
		r = publish_source_keys(&src, c, err);
	/* Before anything is sent: a site that must be signed and is not goes nowhere. */
	if (r >= 0 && c->require_signature && !o->verify_only)
		r = publish_source_signed(&src, now, err);
	if (r >= 0 && o->prune)
		r = publish_source_complete(&src, err);
	if (r >= 0)
		r = result_new(c, o, &src, &res, err);
	if (r >= 0) {
		publish_sig_info(&src, src.idx, src.idx_buf, src.idx_len, now, &res->sig);
		PublishRun run = { .c = c, .o = o, .src = &src, .res = res, .selected = o->selected,
				   .fn = publish_one };
		/* Each mirror's check runs verify.connections block checks at once. */
		r = publish_each_mirror(&run, o->parallel ? o->parallel : c->parallel,
					o->dry_run ? 1 : c->verify_connections,
					o->verify_only ? "verify" : "publish", err);
	}
	publish_source_done(&src);
	if (r < 0)
		return r;
	res->seconds = hfc_monotonic() - t0;
	*ret = TAKE_PTR(res);
	return 0;
}
