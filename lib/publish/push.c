/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rsync steps of a push and their command lines. Each step is its own rsync run, so that a
 * mirror gets new block files, then indexes/ and profiles/, then index.idx, each only after the
 * one before succeeded (docs/MIRRORING.md §1).
 */
#include "publish/publish-private.h"

#include "base/fileio.h"
#include "site/layout.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *publish_step_name(PublishStep step)
{
	static const char *const names[] = { HFC_SITE_BLOCKS, HFC_SITE_INDEXES, HFC_SITE_CURRENT,
					     "prune",	      "prune",		"repair" };
	return names[step];
}

/* What every step says to rsync, whatever it sends. */
static void common_args(const PublishRun *run, const HfcPublishMirror *m, HfcRsyncArgs *a)
{
	const HfcPublishConfig *c = run->c;
	hfc_rsync_args_add(a, c->rsync);
	hfc_rsync_args_add(a, "-rt");
	hfc_rsync_args_add(a, "--no-human-readable");
	hfc_rsync_args_add(a, "--stats");
	hfc_rsync_args_add(a, HFC_RSYNC_OUT_FORMAT);
	/* A mirror is served by a web server: what arrives must be readable by everyone. */
	hfc_rsync_args_add(a, "--chmod=D0755,F0644");
	if (c->timeout)
		hfc_rsync_args_addf(a, "--timeout=%u", c->timeout);
	if (m->kind == HFC_RSYNC_DAEMON) {
		hfc_rsync_args_addf(a, "--contimeout=%u", c->contimeout);
		hfc_rsync_args_add(a, "--no-motd");
	}
	if (c->bwlimit)
		hfc_rsync_args_addf(a, "--bwlimit=%" PRIu64, MAX(c->bwlimit / 1024, (uint64_t)1));
	if (c->ssh && m->kind == HFC_RSYNC_SSH)
		hfc_rsync_args_addf(a, "--rsh=%s", c->ssh);
	if (m->password_file)
		hfc_rsync_args_addf(a, "--password-file=%s", m->password_file);
	if (run->o->dry_run)
		hfc_rsync_args_add(a, "--dry-run");
	/* Never sent: writers' lock, build cache, temporary files (ours and rsync's). */
	hfc_rsync_args_addf(a, "--exclude=%s", HFC_TMP_GLOB);
	for (size_t i = 0; hfc_layout_private[i]; i++)
		hfc_rsync_args_addf(a, "--exclude=/%s", hfc_layout_private[i]);
	hfc_rsync_args_add(a, "--exclude=.~tmp~/");
}

/* A prune step sends and changes nothing: it only deletes what the site no longer has. */
static void prune_args(HfcRsyncArgs *a)
{
	hfc_rsync_args_add(a, "--existing");
	hfc_rsync_args_add(a, "--ignore-existing");
	hfc_rsync_args_add(a, "--delete");
	/*
	 * "*deleting NAME" lines: the count of what went, whatever --stats says of it. This
	 * --out-format replaces the common one (the last given wins; --itemize-changes would
	 * not: an --out-format without %i hides it), and a prune step sends nothing to count.
	 */
	hfc_rsync_args_add(a, "--out-format=%i %n");
}

int publish_push_args(const PublishRun *run, size_t mirror, PublishStep step,
		      const char *files_from, HfcRsyncArgs *a)
{
	const HfcPublishMirror *m = &run->c->mirrors[mirror];
	common_args(run, m, a);
	switch (step) {
	case STEP_BLOCKS:
	case STEP_PRUNE_BLOCKS:
		if (step == STEP_BLOCKS)
			hfc_rsync_args_add(a, "--ignore-existing");
		else
			prune_args(a);
		hfc_rsync_args_addf(a, "--include=/%s/", HFC_SITE_BLOCKS);
		hfc_rsync_args_addf(a, "--include=/%s/[0-9a-f][0-9a-f]/", HFC_SITE_BLOCKS);
		hfc_rsync_args_addf(a, "--include=/%s/[0-9a-f][0-9a-f]/%s", HFC_SITE_BLOCKS,
				    step == STEP_BLOCKS ? "[0-9a-f]*" : "*");
		break;
	case STEP_INDEXES:
	case STEP_PRUNE_INDEXES:
		if (step == STEP_INDEXES) {
			hfc_rsync_args_add(a, "--delay-updates");
			/* By content, not size and time: a renewed signature rewrites an index to the
			 * same size, often within the same second, and must still reach the mirror.
			 * Indexes and profiles are few and small beside the blocks. */
			hfc_rsync_args_add(a, "--checksum");
		} else {
			prune_args(a);
		}
		hfc_rsync_args_addf(a, "--include=/%s/", HFC_SITE_INDEXES);
		hfc_rsync_args_addf(a, "--include=/%s/[0-9]*.idx", HFC_SITE_INDEXES);
		hfc_rsync_args_addf(a, "--include=/%s/", HFC_SITE_PROFILES);
		hfc_rsync_args_addf(a, "--include=/%s/**", HFC_SITE_PROFILES);
		break;
	case STEP_CURRENT:
		/* Always sent (a rollback can have the size and time of the old file), and
		 * replaced by rename on the mirror: readers see the old or the new one. */
		hfc_rsync_args_add(a, "--ignore-times");
		hfc_rsync_args_add(a, "--delay-updates");
		hfc_rsync_args_addf(a, "--include=/%s", HFC_SITE_CURRENT);
		break;
	case STEP_REPAIR:
		/* Only the listed files, always sent: a bad copy is replaced by rename. */
		hfc_rsync_args_add(a, "--ignore-times");
		hfc_rsync_args_addf(a, "--files-from=%s", files_from);
		break;
	}
	if (step != STEP_REPAIR)
		hfc_rsync_args_add(a, "--exclude=*");
	hfc_rsync_args_add(a, "--");
	hfc_rsync_args_addf(a, "%s/", run->src->path);
	size_t tl = strlen(m->target);
	hfc_rsync_args_addf(a, "%s%s", m->target, tl && m->target[tl - 1] == '/' ? "" : "/");
	return a->error;
}

static void stats_add(HfcRsyncStats *sum, const HfcRsyncStats *st)
{
	sum->files += st->files;
	sum->bytes += st->bytes;
	sum->sent += st->sent;
	sum->received += st->received;
	sum->deleted += st->deleted;
	sum->seconds += st->seconds;
}

int publish_push_step(PublishRun *run, size_t mirror, PublishStep step, const char *files_from,
		      HfcRsyncStats *sum, HfcErr *err)
{
	const char *name = publish_step_name(step);
	_cleanup_(hfc_rsync_args_donep) HfcRsyncArgs a = { 0 };
	int r = publish_push_args(run, mirror, step, files_from, &a);
	if (r < 0)
		return hfc_err_set(err, r, "%s: out of memory", name);
	HfcRsyncStats st;
	HfcErr e = { "" };
	r = hfc_rsync_run((const char *const *)a.v, publish_progress_add, run, &st, &e);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", name, e.msg);
	stats_add(sum, &st);
	return 0;
}

/* Writes the site-relative paths of the bad block files, one a line, to a new temporary file. */
static int write_list(const PublishRun *run, const size_t *bad, size_t nbad, char **ret_path,
		      HfcErr *err)
{
	const char *dir = getenv("TMPDIR");
	_cleanup_free_ char *list = NULL;
	if (asprintf(&list, "%s/hfc-publish-repair.XXXXXX", dir && *dir ? dir : "/tmp") < 0)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	int fd = mkostemp(list, O_CLOEXEC);
	if (fd < 0)
		return hfc_err_set(err, negative_errno(), "%s: %s", list, strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int r = negative_errno();
		close(fd);
		unlink(list);
		return hfc_err_set(err, r, "%s: %s", list, strerror(-r));
	}
	for (size_t k = 0; k < nbad; k++) {
		char path[HFC_BLOCK_PATH_MAX];
		hfc_block_path(run->src->idx->hash, run->src->blocks[bad[k]].hash, path);
		fprintf(f, "%s\n", path);
	}
	if (fclose(f) != 0) {
		int r = negative_errno();
		unlink(list);
		return hfc_err_set(err, r, "%s: %s", list, strerror(-r));
	}
	*ret_path = TAKE_PTR(list);
	return 0;
}

int publish_push_repair(PublishRun *run, size_t mirror, const size_t *bad, size_t nbad,
			HfcMirrorReport *rep, HfcErr *err)
{
	_cleanup_free_ char *list = NULL;
	int r = write_list(run, bad, nbad, &list, err);
	if (r < 0)
		return r;
	HfcRsyncStats st = { 0 };
	r = publish_push_step(run, mirror, STEP_REPAIR, list, &st, err);
	unlink(list);
	if (r < 0)
		return r;
	rep->repaired = st.files;
	stats_add(&rep->sent, &st);
	return 0;
}
