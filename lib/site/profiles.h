/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * DLAHEAD profiles in a site: profiles/NNNNNN.prof of each version. A profile is installed for
 * a version only when every one of its block names is that version's (clients prefetch by
 * name); hfc_profile_carry() makes one that is.
 */

#include "formats/profile.h"
#include "site/store.h"

/*
 * Installs p as the profile of idx's version (idx need not be published yet: a bundle installs
 * its profile before its index), atomically. Refuses (-EINVAL, err names display) a profile of
 * another image or with a block whose name differs from idx's or is zero there. On success
 * p->version is idx's and *ret_made (may be NULL) says whether the file is new. The caller
 * holds the site's exclusive lock. Returns 0 or -errno with err filled.
 */
int hfc_site_profile_install(HfcSite *s, const HfcIndex *idx, HfcProfile *p, const char *display,
			     bool *ret_made, HfcErr *err);

/* Removes version v's profile (missing is fine); returns 0 or -errno. */
int hfc_site_profile_remove(HfcSite *s, uint32_t v);
