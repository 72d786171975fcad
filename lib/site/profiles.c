/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "site/profiles.h"

#include "base/fileio.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int hfc_site_profile_install(HfcSite *s, const HfcIndex *idx, HfcProfile *p, const char *display,
			     bool *ret_made, HfcErr *err)
{
	size_t same, changed, zero;
	HfcErr e = { "" };
	int r = hfc_profile_match(p, idx, &same, &changed, &zero, &e);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", display, e.msg);
	/* Clients prefetch by the names: every one must be the version's. */
	if (changed || zero)
		return hfc_err_set(err, -EINVAL,
				   "%s: made for version %u: %zu of its %zu blocks differ at version %u (hfc-profile carry makes one for it)",
				   display, p->version, changed + zero, p->n, idx->version);
	p->version = idx->version; /* the same blocks: valid for this version as it stands */
	_cleanup_free_ char *buf = NULL;
	size_t len;
	r = hfc_profile_format(p, &buf, &len);
	if (r < 0)
		return hfc_err_set(err, r, "profile: %s", strerror(-r));
	const char *sp = hfc_site_path(s);
	if (mkdirat(hfc_site_fd(s), HFC_SITE_PROFILES, 0755) < 0 && errno != EEXIST) {
		r = negative_errno();
		return hfc_err_set(err, r, "%s/%s: %s", sp, HFC_SITE_PROFILES, strerror(-r));
	}
	_cleanup_close_ int fd = openat(hfc_site_fd(s), HFC_SITE_PROFILES,
					O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = negative_errno();
		return hfc_err_set(err, r, "%s/%s: %s", sp, HFC_SITE_PROFILES, strerror(-r));
	}
	char name[HFC_LAYOUT_PATH_MAX];
	hfc_layout_name(HFC_LAYOUT_PROFILE, p->version, name);
	struct stat st;
	bool made = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0;
	r = hfc_write_atomic_at(fd, name, buf, len, 0644);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s/%s: %s", sp, HFC_SITE_PROFILES, name, strerror(-r));
	if (ret_made)
		*ret_made = made;
	return 0;
}

int hfc_site_profile_remove(HfcSite *s, uint32_t v)
{
	char rel[HFC_LAYOUT_PATH_MAX];
	hfc_layout_path(HFC_LAYOUT_PROFILE, v, rel);
	if (unlinkat(hfc_site_fd(s), rel, 0) < 0 && errno != ENOENT)
		return negative_errno();
	return 0;
}
