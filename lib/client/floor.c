/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "client/floor.h"

#include "base/digest.h"
#include "base/fileio.h"
#include "base/lines.h"
#include "formats/index.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define FLOOR_MAGIC "hfc-floor 1"
#define FLOOR_MAX_BYTES 4096

struct HfcFloor {
	int fd;
	char *dir;
};

int hfc_floor_open(const char *dir, HfcFloor **ret, HfcErr *err)
{
	int r = hfc_mkdir_p_mode(dir, 0700);
	if (r < 0)
		return hfc_err_set(err, r, "%s: cannot make the state directory: %s (--state DIR)",
				   dir, strerror(-r));
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = negative_errno();
		return hfc_err_set(err, r, "%s: %s", dir,
				   r == -ELOOP || r == -ENOTDIR ? "not a directory (a symbolic link?)"
								 : strerror(-r));
	}
	HfcFloor *f = calloc(1, sizeof(*f));
	if (!f || !(f->dir = strdup(dir))) {
		free(f);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	f->fd = TAKE_FD(fd);
	*ret = f;
	return 0;
}

void hfc_floor_free(HfcFloor *f)
{
	if (!f)
		return;
	close(f->fd);
	free(f->dir);
	free(f);
}

/* The file of an identity: "floor-" and 32 hex digits of the SHA-256 of the identity. */
static int file_name(const char *id, char out[64])
{
	uint8_t h[32];
	int r = hfc_digest(HFC_HASH_SHA256, id, strlen(id), h);
	if (r < 0)
		return r;
	char hex[33];
	hfc_hex_encode(h, 16, hex);
	snprintf(out, 64, "floor-%s", hex);
	return 0;
}

/* Reads the floor of one identity: the version, 0 when none, or -errno with err filled. */
static int64_t read_one(HfcFloor *f, const char *id, HfcErr *err)
{
	char name[64], display[4200];
	int r = file_name(id, name);
	if (r < 0)
		return r;
	snprintf(display, sizeof(display), "%s/%s", f->dir, name);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	r = hfc_read_file_at(f->fd, name, FLOOR_MAX_BYTES, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", display, strerror(-r));
	/* "hfc-floor 1", "identity ID", "version N": strict, as everything read back is. */
	HfcLines l;
	hfc_lines_init(&l, buf, len, display, err);
	const char *v;
	size_t vn;
	uint64_t ver;
	if (hfc_lines_next(&l) <= 0 || !hfc_lines_is(&l, FLOOR_MAGIC))
		return hfc_lines_fail(&l, "not a version floor file (remove it to start again)");
	if (hfc_lines_next(&l) <= 0 || hfc_lines_key(&l, "identity", &v, &vn) < 0 ||
	    vn != strlen(id) || memcmp(v, id, vn) != 0)
		return hfc_lines_fail(&l, "not the floor of %s", id);
	if (hfc_lines_next(&l) <= 0 || hfc_lines_key(&l, "version", &v, &vn) < 0 ||
	    hfc_parse_canonical(v, vn, HFC_VERSION_MAX, &ver) < 0)
		return hfc_lines_fail(&l, "bad version line");
	if (hfc_lines_next(&l) != 0)
		return hfc_lines_fail(&l, "unexpected data after the version");
	return (int64_t)ver;
}

int64_t hfc_floor_get(HfcFloor *f, const char *const *ids, size_t n, HfcErr *err)
{
	int64_t best = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t v = read_one(f, ids[i], err);
		if (v < 0)
			return v;
		best = MAX(best, v);
	}
	return best;
}

int hfc_floor_raise(HfcFloor *f, const char *const *ids, size_t n, uint32_t v, HfcErr *err)
{
	for (size_t i = 0; i < n; i++) {
		int64_t have = read_one(f, ids[i], err);
		if (have < 0)
			return (int)have;
		if (have >= v)
			continue;
		char name[64], text[4200];
		int r = file_name(ids[i], name);
		if (r < 0)
			return hfc_err_set(err, r, "%s: %s", f->dir, strerror(-r));
		int len = snprintf(text, sizeof(text), FLOOR_MAGIC "\nidentity %s\nversion %u\n",
				   ids[i], v);
		if (len < 0 || (size_t)len >= sizeof(text))
			return hfc_err_set(err, -ENAMETOOLONG, "%s: identity too long", f->dir);
		r = hfc_write_atomic_at(f->fd, name, text, (size_t)len, 0600);
		if (r < 0)
			return hfc_err_set(err, r, "%s/%s: %s", f->dir, name, strerror(-r));
	}
	return 0;
}
