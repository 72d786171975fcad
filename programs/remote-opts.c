/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "programs/remote-opts.h"

#include "base/fileio.h"
#include "programs/cli.h"
#include "programs/log.h"

#include <limits.h>
#include <string.h>

static int opt_pct(const char *name, const char *arg, unsigned *ret)
{
	uint64_t v;
	int r = hfc_opt_uint(name, arg, 0, 100, &v);
	*ret = (unsigned)v;
	return r;
}

static HfcKeyring trusted;

int hfc_remote_opt(int c, const char *arg, HfcRemoteOptions *o)
{
	uint64_t v = 0;
	int r = 0;
	switch (c) {
	case 'v':
		r = hfc_opt_uint("--version", arg, 1, HFC_VERSION_MAX, &v);
		o->version = (uint32_t)v;
		break;
	case 'c':
		r = hfc_opt_uint("--connections", arg, 1, 64, &v);
		o->http.connections = (unsigned)v;
		break;
	case HFC_OPT_TIMEOUT:
		r = hfc_opt_uint("--timeout", arg, 100, 3600000, &v);
		o->http.timeout_ms = (unsigned)v;
		break;
	case HFC_OPT_RETRIES:
		r = hfc_opt_uint("--retries", arg, 0, 100, &v);
		o->http.retries = (unsigned)v;
		break;
	case HFC_OPT_CACHE:
		o->cache_dir = arg;
		break;
	case HFC_OPT_CACHE_SIZE:
		r = hfc_opt_size("--cache-size", arg, UINT64_C(1) << 20, &o->cache_size);
		break;
	case HFC_OPT_CACHE_HIGH:
		r = opt_pct("--cache-high", arg, &o->cache_high_pct);
		break;
	case HFC_OPT_CACHE_LOW:
		r = opt_pct("--cache-low", arg, &o->cache_low_pct);
		break;
	case HFC_OPT_MEM_CACHE:
		r = hfc_opt_size("--mem-cache", arg, 0, &o->mem_cache);
		break;
	case HFC_OPT_READAHEAD:
		r = hfc_opt_uint("--readahead", arg, 0, 1024, &v);
		o->readahead = (unsigned)v;
		break;
	case HFC_OPT_TRACE:
		o->trace_path = arg;
		break;
	case HFC_OPT_PREFETCH:
		o->prefetch = arg ? arg : "auto";
		break;
	case HFC_OPT_PREFETCH_CONNECTIONS:
		r = hfc_opt_uint("--prefetch-connections", arg, 1, 64, &v);
		o->prefetch_connections = (unsigned)v;
		break;
	case HFC_OPT_PREFETCH_MEMORY:
		r = hfc_opt_size("--prefetch-memory", arg, UINT64_C(1) << 20, &o->prefetch_memory);
		break;
	case HFC_OPT_OFFLINE:
		o->offline_ok = true;
		break;
	case HFC_OPT_ALLOW_OLDER:
		o->allow_older = true;
		break;
	case HFC_OPT_ALLOW_REDIRECT_HOST:
		o->http.allow_redirect_host = true;
		break;
	case HFC_OPT_MAX_IMAGE_SIZE:
		r = hfc_opt_size("--max-image-size", arg, 0, &o->max_image_size);
		break;
	case HFC_OPT_PUBKEY:
		/* One process, one set of remote options: the keys live here until opts_done. */
		r = hfc_keyring_add(&trusted, arg); /* unreadable: exit 1, not a usage error */
		o->trusted = trusted.keys;
		o->ntrusted = trusted.n;
		break;
	case HFC_OPT_STATE:
		o->state_dir = arg;
		break;
	default:
		return 0;
	}
	return r < 0 ? r : 1;
}

int hfc_remote_opts_check(HfcRemoteOptions *o)
{
	static char prefetch_abs[PATH_MAX], cache_abs[PATH_MAX], state[PATH_MAX];
	if (o->cache_low_pct >= o->cache_high_pct) {
		hfc_log_error("--cache-low", "must be below --cache-high");
		return HFC_USAGE;
	}
	if (o->offline_ok && !o->cache_dir) {
		hfc_log_error("--offline", "needs --cache");
		return HFC_USAGE;
	}
	/* A daemon runs in "/": the paths it keeps are made absolute first. */
	if (o->prefetch && strcmp(o->prefetch, "auto") != 0) {
		if (!realpath(o->prefetch, prefetch_abs))
			return hfc_log_errno(-errno, o->prefetch);
		o->prefetch = prefetch_abs;
	}
	if (!o->state_dir)
		o->state_dir = getenv("HFC_STATE_DIR");
	if (!o->state_dir || !*o->state_dir) {
		const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
		if (geteuid() == 0)
			o->state_dir = "/var/lib/hfcloop";
		else if (xdg && *xdg == '/')
			snprintf(state, sizeof(state), "%s/hfcloop", xdg), o->state_dir = state;
		else if (home && *home == '/')
			snprintf(state, sizeof(state), "%s/.local/state/hfcloop", home),
				o->state_dir = state;
		else
			o->state_dir = NULL;
	}
	if (!o->state_dir) {
		/* Nowhere to keep it: the floor is off, and the user is told how to have one. */
		hfc_log_warn("no state directory (no HOME): the version floor is off; give --state DIR");
	} else if (o->state_dir[0] != '/') {
		/* Made now, to be made absolute: a daemon runs in "/". */
		int r = hfc_mkdir_p_mode(o->state_dir, 0700);
		if (r < 0)
			return hfc_log_errno(r, o->state_dir);
		if (!realpath(o->state_dir, state))
			return hfc_log_errno(-errno, o->state_dir);
		o->state_dir = state;
	}
	if (o->cache_dir) {
		int r = hfc_mkdir_p_mode(o->cache_dir, 0700);
		if (r < 0)
			return hfc_log_errno(r, o->cache_dir);
		if (!realpath(o->cache_dir, cache_abs))
			return hfc_log_errno(-errno, o->cache_dir);
		o->cache_dir = cache_abs;
	}
	return 0;
}

void hfc_remote_opts_done(HfcRemoteOptions *o)
{
	hfc_keyring_done(&trusted);
	o->trusted = NULL;
	o->ntrusted = 0;
}

void hfc_remote_opts_report(const HfcRemote *r)
{
	if (hfc_remote_offline(r))
		hfc_log_warn("offline: no mirror answered; using version %u from the cache's index",
			     hfc_remote_index(r)->version);
}
