/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A build from a cloop file: its blocks are inflated as the build reads the image. */
#include "site/build.h"

#include "base/codec.h"
#include "base/fileio.h"
#include "formats/cloop.h"
#include "site/store.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What one reader needs; a small pool, since the build reads from several threads. */
typedef struct Slot {
	HfcCodec *codec;
	uint8_t *in, *out;
	struct Slot *next;
} Slot;

typedef struct Cloop {
	int fd;
	const char *display;
	HfcCloop c;
	pthread_mutex_t lock;
	Slot *free_slots;
} Cloop;

static void slot_free(Slot *s)
{
	if (!s)
		return;
	hfc_codec_free(s->codec);
	free(s->in);
	free(s->out);
	free(s);
}

static Slot *slot_get(Cloop *cl)
{
	pthread_mutex_lock(&cl->lock);
	Slot *s = cl->free_slots;
	if (s)
		cl->free_slots = s->next;
	pthread_mutex_unlock(&cl->lock);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	size_t bs = cl->c.block_size;
	s->in = malloc(bs + bs / 16000 * 5 + 128);
	s->out = malloc(bs);
	if (!s->in || !s->out || hfc_codec_new(HFC_LEVEL_MIN, &s->codec) < 0) {
		slot_free(s);
		return NULL;
	}
	return s;
}

static void slot_put(Cloop *cl, Slot *s)
{
	pthread_mutex_lock(&cl->lock);
	s->next = cl->free_slots;
	cl->free_slots = s;
	pthread_mutex_unlock(&cl->lock);
}

static int cloop_read(void *ctx, void *buf, size_t len, uint64_t off, HfcErr *err)
{
	Cloop *cl = ctx;
	uint64_t bs = cl->c.block_size;
	Slot *s = slot_get(cl);
	if (!s)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	int r = 0;
	for (uint64_t i = off / bs; len > 0; i++) {
		uint64_t a = cl->c.offsets[i], z = cl->c.offsets[i + 1];
		ssize_t n = hfc_pread_all(cl->fd, s->in, (size_t)(z - a), (off_t)a);
		if (n < 0 || (uint64_t)n != z - a) {
			r = hfc_err_set(err, n < 0 ? (int)n : -EIO, "%s: reading cloop block %" PRIu64
					": %s", cl->display, i, n < 0 ? strerror((int)-n) : "short read");
			break;
		}
		r = hfc_codec_decompress(s->codec, s->in, (size_t)n, s->out, (size_t)bs);
		if (r < 0) {
			r = hfc_err_set(err, -EBADMSG, "%s: cloop block %" PRIu64 " is corrupt",
					cl->display, i);
			break;
		}
		uint64_t in = off - i * bs;
		size_t take = (size_t)MIN((uint64_t)len, bs - in);
		memcpy(buf, s->out + in, take);
		buf = (char *)buf + take;
		off += take;
		len -= take;
	}
	slot_put(cl, s);
	return r;
}

int hfc_build_cloop(const char *cloop_path, const char *site_path, const HfcBuildOptions *o,
		    HfcBuildResult *res, HfcErr *err)
{
	Cloop cl = { .display = cloop_path };
	cl.fd = open(cloop_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (cl.fd < 0) {
		int r = negative_errno();
		return hfc_err_set(err, r, "%s: %s", cloop_path, strerror(-r));
	}
	pthread_mutex_init(&cl.lock, NULL);
	uint8_t head[HFC_CLOOP_HEADER + 8];
	struct stat st;
	int r = 0;
	_cleanup_free_ uint8_t *table = NULL;
	_cleanup_(hfc_site_freep) HfcSite *site = NULL; /* before any goto: clang refuses a jump past it */
	if (fstat(cl.fd, &st) < 0) {
		r = negative_errno();
		r = hfc_err_set(err, r, "%s: %s", cloop_path, strerror(-r));
		goto out;
	}
	ssize_t n = hfc_pread_all(cl.fd, head, sizeof(head), 0);
	r = hfc_cloop_parse_header(head, n < 0 ? 0 : (size_t)n, cloop_path, &cl.c, err);
	if (r < 0)
		goto out;
	uint64_t tlen = hfc_cloop_table_end(cl.c.nblocks) - sizeof(head);
	if (hfc_cloop_table_end(cl.c.nblocks) > (uint64_t)st.st_size) {
		r = hfc_err_set(err, -EINVAL, "%s: the cloop offset table is truncated", cloop_path);
		goto out;
	}
	table = malloc(tlen);
	if (!table) {
		r = hfc_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	n = hfc_pread_all(cl.fd, table, tlen, (off_t)sizeof(head));
	r = hfc_cloop_parse_table(&cl.c, table, n < 0 ? 0 : (size_t)n, (uint64_t)st.st_size,
				  cloop_path, err);
	if (r < 0)
		goto out;
	HfcBuildInput in = { .fd = -1, .size = (uint64_t)cl.c.nblocks * cl.c.block_size,
			     .display = cloop_path, .read = cloop_read, .read_ctx = &cl };
	r = hfc_build_site_open(site_path, o->dry_run, &site, err);
	if (r >= 0)
		r = hfc_build_input(site, site_path, &in, o, res, err);
out:
	while (cl.free_slots) {
		Slot *s = cl.free_slots;
		cl.free_slots = s->next;
		slot_free(s);
	}
	hfc_cloop_clear(&cl.c);
	pthread_mutex_destroy(&cl.lock);
	close(cl.fd);
	return r;
}
