/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hfc_publish_status: each mirror's index.idx over HTTP, compared with the site's. */
#include "publish/publish-private.h"

#include "base/clock.h"
#include "site/layout.h"

#include <stdio.h>
#include <string.h>

static void status_one(PublishRun *run, size_t mi)
{
	HfcMirrorStatus *st = &run->status->mirrors[mi];
	const PublishSource *src = run->src;
	_cleanup_(hfc_http_freep) HfcHttp *h = NULL;
	int r = publish_mirror_http(run->c, mi, &h, &st->err);
	if (r < 0)
		return;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	_cleanup_(hfc_index_freep) HfcIndex *theirs = NULL;
	r = publish_fetch_index(h, run->c->mirrors[mi].url, HFC_SITE_CURRENT, &buf, &len, &theirs,
				&st->err);
	if (r == -ENOENT) {
		/* Never published: everything is missing. */
		st->ok = st->empty = true;
		st->behind = src->idx->version;
		st->err.msg[0] = 0;
	} else if (r < 0) {
		return;
	} else {
		st->ok = true;
		st->current = len == src->idx_len && memcmp(buf, src->idx_buf, len) == 0;
		st->version = theirs->version;
		st->created = theirs->created;
		snprintf(st->label, sizeof(st->label), "%s", theirs->label);
		st->behind = (int64_t)src->idx->version - (int64_t)theirs->version;
		publish_sig_info(src, theirs, buf, len, run->status->now, &st->sig);
	}
	if (publish_source_missing(src, theirs, &st->missing_blocks, &st->missing_bytes) < 0) {
		st->ok = false;
		hfc_err_set(&st->err, -ENOMEM, "out of memory");
	}
}

void hfc_publish_status_free(HfcPublishStatus *s)
{
	if (!s)
		return;
	free(s->mirrors);
	free(s);
}

int hfc_publish_status(const HfcPublishConfig *c, const bool *selected, HfcPublishStatus **ret,
		       HfcErr *err)
{
	PublishSource src = { 0 };
	_cleanup_(hfc_publish_status_freep) HfcPublishStatus *st = NULL;
	int r = publish_source_prepare(&src, c->site, err);
	if (r >= 0)
		r = publish_source_keys(&src, c, err);
	if (r >= 0 && (!(st = calloc(1, sizeof(*st))) ||
		       !(st->mirrors = calloc(c->nmirrors, sizeof(HfcMirrorStatus)))))
		r = hfc_err_set(err, -ENOMEM, "out of memory");
	if (r >= 0) {
		st->nmirrors = c->nmirrors;
		st->version = src.idx->version;
		st->created = src.idx->created;
		st->now = hfc_realtime();
		publish_sig_info(&src, src.idx, src.idx_buf, src.idx_len, st->now, &st->sig);
		for (size_t i = 0; i < c->nmirrors; i++)
			st->mirrors[i].selected = !selected || selected[i];
		HfcPublishOptions o = { 0 };
		PublishRun run = { .c = c, .o = &o, .src = &src, .status = st, .selected = selected,
				   .fn = status_one };
		/* Asking is cheap: every mirror at once, so one slow mirror delays nothing. */
		r = publish_each_mirror(&run, HFC_PUBLISH_MAX_MIRRORS, 1, "status", err);
	}
	publish_source_done(&src);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(st);
	return 0;
}
