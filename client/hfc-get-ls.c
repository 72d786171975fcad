/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-get --ls: the listing of lib/fs/ext2 formatted as ls(1) does; the library only lists. */
#include "client/hfc-get-ls.h"

#include "programs/log.h"

#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The ten characters of ls -l's first column: type, then rwx three times with s/S and t/T. */
static void mode_string(uint32_t m, char s[11])
{
	switch (m & S_IFMT) {
	case S_IFREG: s[0] = '-'; break;
	case S_IFDIR: s[0] = 'd'; break;
	case S_IFLNK: s[0] = 'l'; break;
	case S_IFCHR: s[0] = 'c'; break;
	case S_IFBLK: s[0] = 'b'; break;
	case S_IFIFO: s[0] = 'p'; break;
	case S_IFSOCK: s[0] = 's'; break;
	default: s[0] = '?'; break;
	}
	for (int k = 0; k < 3; k++) {
		unsigned bits = (m >> (6 - 3 * k)) & 7;
		s[1 + 3 * k] = bits & 4 ? 'r' : '-';
		s[2 + 3 * k] = bits & 2 ? 'w' : '-';
		s[3 + 3 * k] = bits & 1 ? 'x' : '-';
	}
	if (m & S_ISUID)
		s[3] = s[3] == 'x' ? 's' : 'S';
	if (m & S_ISGID)
		s[6] = s[6] == 'x' ? 's' : 'S';
	if (m & S_ISVTX)
		s[9] = s[9] == 'x' ? 't' : 'T';
	s[10] = 0;
}

static int width_u64(uint64_t v)
{
	return snprintf(NULL, 0, "%" PRIu64, v);
}

static void print_long(const HfcExt2Listing *l, FILE *out)
{
	/* Numbers are right-aligned in columns as wide as their widest value, as ls -l does. */
	int wl = 1, wu = 1, wg = 1, ws = 1;
	for (size_t i = 0; i < l->n; i++) {
		const HfcExt2Entry *e = &l->entries[i];
		wl = MAX(wl, width_u64(e->links));
		wu = MAX(wu, width_u64(e->uid));
		wg = MAX(wg, width_u64(e->gid));
		ws = MAX(ws, width_u64(e->size));
	}
	for (size_t i = 0; i < l->n; i++) {
		const HfcExt2Entry *e = &l->entries[i];
		char mode[11], date[32] = "xxxx-xx-xx xx:xx";
		mode_string(e->mode, mode);
		time_t t = (time_t)e->mtime;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
		fprintf(out, "%s %*" PRIu32 " %*" PRIu32 " %*" PRIu32 " %*" PRIu64 " %s ", mode, wl,
			e->links, wu, e->uid, wg, e->gid, ws, e->size, date);
		hfc_fputs_escaped(e->name, out);
		if (e->target) {
			fputs(" -> ", out);
			hfc_fputs_escaped(e->target, out);
		}
		fputc('\n', out);
	}
}

int get_ls(HfcExt2 *fs, const char *path, bool long_format, FILE *out, HfcErr *err)
{
	/* As ls(1): -l shows a symlink itself; without, one that leads to a directory lists it. */
	_cleanup_(hfc_ext2_listing_free) HfcExt2Listing l = { 0 };
	int r = hfc_ext2_list(fs, path, long_format ? HFC_EXT2_LIST_STAT : HFC_EXT2_LIST_FOLLOW, &l,
			      err);
	if (r < 0)
		return r;
	if (long_format)
		print_long(&l, out);
	else
		for (size_t i = 0; i < l.n; i++) {
			/* Names are bytes from the image: shown as ls -b would, never raw. */
			hfc_fputs_escaped(l.entries[i].name, out);
			fputc('\n', out);
		}
	if (fflush(out) != 0 || ferror(out)) {
		r = negative_errno();
		return hfc_err_set(err, r, "writing the listing of %s: %s", path, strerror(-r));
	}
	return 0;
}
