/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The publish.yaml schema over config.c's typed getters: which keys, their defaults and ranges,
 * and what a mirror's name, target and URL may be.
 */
#include "publish/publish.h"

#include "base/parse.h"
#include "publish/config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const top_required[] = { "site", "mirrors", NULL };
static const char *const top_optional[] = { "parallel",  "rsync",	 "verify",
					    "require-signature", "pubkey", "expiry-warning",
					    NULL };
static const char *const rsync_optional[] = { "program", "bwlimit", "timeout", "contimeout",
					       "ssh", NULL };
static const char *const verify_optional[] = { "connections", "timeout", "retries", "settle",
						NULL };
static const char *const mirror_required[] = { "name", "target", "url", NULL };
static const char *const mirror_optional[] = { "password_file", NULL };

void hfc_publish_config_free(HfcPublishConfig *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nmirrors; i++) {
		free(c->mirrors[i].name);
		free(c->mirrors[i].target);
		free(c->mirrors[i].url);
		free(c->mirrors[i].password_file);
	}
	free(c->mirrors);
	for (size_t i = 0; i < c->npubkeys; i++)
		free(c->pubkeys[i]);
	free(c->pubkeys);
	free(c->file);
	free(c->site);
	free(c->rsync);
	free(c->ssh);
	free(c);
}

/* A path from the file, made absolute against the file's own directory. */
static char *resolve_path(const char *basedir, const char *p)
{
	char *out;
	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", basedir, p) < 0)
		return NULL;
	return out;
}

/* The directory of fname, absolute (the file need not exist: unit tests parse text). */
static char *base_dir(const char *fname)
{
	const char *slash = strrchr(fname, '/');
	char *dir = slash ? strndup(fname, slash == fname ? 1 : (size_t)(slash - fname))
			  : strdup(".");
	if (!dir || dir[0] == '/')
		return dir;
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd))) {
		free(dir);
		return NULL;
	}
	char *abs;
	int k = strcmp(dir, ".") == 0 ? asprintf(&abs, "%s", cwd) : asprintf(&abs, "%s/%s", cwd, dir);
	free(dir);
	return k < 0 ? NULL : abs;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || !strchr("._-", ch)))
			return false;
	}
	return true;
}

static bool url_ok(const char *u)
{
	static const char *const schemes[] = { "http://", "https://", "file://" };
	for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(u, schemes[i], n) == 0 && u[n] && !strpbrk(u, " \t\"'<>\\^`{|}"))
			return true;
	}
	return false;
}

/* Gets an optional string and copies it; *ret stays as it is when the key is absent. */
static int opt_string(const HfcConfig *cfg, const HfcConfigNode *map, const char *key,
		      const char *what, char **ret, HfcErr *err)
{
	const HfcConfigNode *n = hfc_config_get(map, key);
	if (!n)
		return 0;
	const char *s;
	int r = hfc_config_string(cfg, n, what, &s, err);
	if (r < 0)
		return r;
	char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	free(*ret);
	*ret = copy;
	return 0;
}

static int opt_uint(const HfcConfig *cfg, const HfcConfigNode *map, const char *key,
		    const char *what, uint64_t min, uint64_t max, unsigned *ret, HfcErr *err)
{
	const HfcConfigNode *n = hfc_config_get(map, key);
	if (!n)
		return 0;
	uint64_t v;
	int r = hfc_config_uint(cfg, n, what, min, max, &v, err);
	if (r < 0)
		return r;
	*ret = (unsigned)v;
	return 0;
}

static int parse_mirror(const HfcConfig *cfg, const HfcConfigNode *n, size_t i,
			const char *basedir, HfcPublishConfig *c, HfcErr *err)
{
	char what[96];
	/* Messages name the mirror as the file does, when it can. */
	const HfcConfigNode *peek = hfc_config_get(n, "name");
	const char *pname;
	if (peek && hfc_config_string(cfg, peek, "name", &pname, NULL) == 0 && name_ok(pname))
		snprintf(what, sizeof(what), "mirror '%s'", pname);
	else
		snprintf(what, sizeof(what), "mirror %zu", i + 1);
	int r = hfc_config_check_map(cfg, n, what, mirror_required, mirror_optional, err);
	if (r < 0)
		return r;
	HfcPublishMirror *m = &c->mirrors[i];
	const HfcConfigNode *nn = hfc_config_get(n, "name"), *nt = hfc_config_get(n, "target"),
			    *nu = hfc_config_get(n, "url"), *np = hfc_config_get(n, "password_file");
	const char *name, *target, *url;
	if ((r = hfc_config_string(cfg, nn, "name", &name, err)) < 0)
		return r;
	if (!name_ok(name))
		return hfc_config_error(cfg, nn, err, -EBADMSG,
					"name: '%.64s' is not a name (1 to 64 letters, digits, "
					"'.', '_' or '-')",
					name);
	for (size_t k = 0; k < i; k++)
		if (strcmp(c->mirrors[k].name, name) == 0)
			return hfc_config_error(cfg, nn, err, -EBADMSG,
						"name: a second mirror called '%s'", name);
	if (!(m->name = strdup(name)))
		return -ENOMEM;

	if ((r = hfc_config_string(cfg, nt, "target", &target, err)) < 0)
		return r;
	/* A relative local path is relative to this file; "host:path" is not a local path. */
	const char *colon = strchr(target, ':'), *slash = strchr(target, '/');
	bool local = !strstr(target, "://") && !(colon && (!slash || colon < slash));
	m->target = local && target[0] != '-' ? resolve_path(basedir, target) : strdup(target);
	if (!m->target)
		return -ENOMEM;
	const char *why = NULL;
	if (hfc_rsync_target_check(m->target, &m->kind, &why) < 0)
		return hfc_config_error(cfg, nt, err, -EBADMSG, "target: '%.200s': %s", target,
					why);

	if ((r = hfc_config_string(cfg, nu, "url", &url, err)) < 0)
		return r;
	if (!url_ok(url))
		return hfc_config_error(cfg, nu, err, -EBADMSG,
					"url: '%.200s' is not an http://, https:// or file:// URL",
					url);
	if (!(m->url = strdup(url)))
		return -ENOMEM;

	if (np) {
		const char *pf;
		if ((r = hfc_config_string(cfg, np, "password_file", &pf, err)) < 0)
			return r;
		if (m->kind != HFC_RSYNC_DAEMON)
			return hfc_config_error(cfg, np, err, -EBADMSG,
						"password_file: only for rsync:// targets");
		if (!(m->password_file = resolve_path(basedir, pf)))
			return -ENOMEM;
	}
	return 0;
}

/* pubkey: one key file or a list of them (two while a key is rotated), relative to the file. */
static int parse_pubkeys(const HfcConfig *cfg, const HfcConfigNode *n, const char *basedir,
			 HfcPublishConfig *c, HfcErr *err)
{
	size_t nk = hfc_config_list_len(n);
	bool list = nk > 0;
	if (!list)
		nk = 1;
	if (nk > HFC_PUBLISH_MAX_PUBKEYS)
		return hfc_config_error(cfg, hfc_config_list_item(n, HFC_PUBLISH_MAX_PUBKEYS), err,
					-EBADMSG, "pubkey: more than %d keys",
					HFC_PUBLISH_MAX_PUBKEYS);
	if (!(c->pubkeys = calloc(nk, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < nk; i++) {
		const char *path;
		int r = hfc_config_string(cfg, list ? hfc_config_list_item(n, i) : n, "pubkey",
					  &path, err);
		if (r < 0)
			return r;
		if (!(c->pubkeys[i] = resolve_path(basedir, path)))
			return -ENOMEM;
		c->npubkeys = i + 1;
	}
	return 0;
}

/* require-signature, pubkey and expiry-warning: what a site must be to be pushed. */
static int parse_signature(const HfcConfig *cfg, const HfcConfigNode *root, const char *basedir,
			   HfcPublishConfig *c, HfcErr *err)
{
	const HfcConfigNode *req = hfc_config_get(root, "require-signature"),
			    *pk = hfc_config_get(root, "pubkey"),
			    *warn = hfc_config_get(root, "expiry-warning");
	int r;
	if (req && (r = hfc_config_bool(cfg, req, "require-signature", &c->require_signature,
					 err)) < 0)
		return r;
	if (pk && (r = parse_pubkeys(cfg, pk, basedir, c, err)) < 0)
		return r;
	if (c->require_signature && c->npubkeys == 0)
		return hfc_config_error(cfg, req, err, -EBADMSG,
					"require-signature: needs pubkey, the key files to check "
					"the signature against");
	if (warn) {
		const char *w;
		int64_t secs;
		if ((r = hfc_config_string(cfg, warn, "expiry-warning", &w, err)) < 0)
			return r;
		if (hfc_parse_duration(w, &secs) < 0)
			return hfc_config_error(cfg, warn, err, -EBADMSG,
						"expiry-warning: '%.64s' is not a duration "
						"(like 7d or 36h)",
						w);
		c->expiry_warning = secs;
	}
	return 0;
}

/* The settings of a parsed file (consumed: text and file alike come through here). */
static int from_config(HfcConfig *cfg_owned, HfcPublishConfig **ret, HfcErr *err)
{
	_cleanup_(hfc_config_freep) HfcConfig *cfg = cfg_owned;
	const char *fname = hfc_config_file(cfg);
	const HfcConfigNode *root = hfc_config_root(cfg);
	int r = hfc_config_check_map(cfg, root, "the file", top_required, top_optional, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *basedir = base_dir(fname);
	HfcPublishConfig *c = calloc(1, sizeof(*c));
	if (!basedir || !c) {
		free(c);
		return hfc_err_set(err, -ENOMEM, "out of memory");
	}
	c->parallel = 2;
	c->timeout = 600;
	c->contimeout = 30;
	c->verify_connections = 8;
	c->verify_timeout_ms = 30000;
	c->verify_retries = 2;
	c->verify_settle_ms = 10000;
	c->expiry_warning = 7 * 86400;
	c->file = strdup(fname);
	c->rsync = strdup("rsync");
	if (!c->file || !c->rsync) {
		r = -ENOMEM;
		goto fail;
	}

	const HfcConfigNode *n = hfc_config_get(root, "site");
	const char *site;
	if ((r = hfc_config_string(cfg, n, "site", &site, err)) < 0)
		goto fail;
	if (!(c->site = resolve_path(basedir, site))) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = opt_uint(cfg, root, "parallel", "parallel", 1, HFC_PUBLISH_MAX_MIRRORS,
			  &c->parallel, err)) < 0)
		goto fail;

	if ((n = hfc_config_get(root, "rsync"))) {
		if ((r = hfc_config_check_map(cfg, n, "rsync", NULL, rsync_optional, err)) < 0)
			goto fail;
		if ((r = opt_string(cfg, n, "program", "rsync.program", &c->rsync, err)) < 0)
			goto fail;
		if (c->rsync[0] == '-' || (strchr(c->rsync, '/') && c->rsync[0] != '/')) {
			r = hfc_config_error(cfg, hfc_config_get(n, "program"), err, -EBADMSG,
					     "rsync.program: a program name or an absolute path");
			goto fail;
		}
		const HfcConfigNode *b = hfc_config_get(n, "bwlimit");
		if (b && (r = hfc_config_size(cfg, b, "rsync.bwlimit", UINT64_C(1) << 40,
					      &c->bwlimit, err)) < 0)
			goto fail;
		if ((r = opt_uint(cfg, n, "timeout", "rsync.timeout", 0, 86400, &c->timeout, err)) <
		    0)
			goto fail;
		if ((r = opt_uint(cfg, n, "contimeout", "rsync.contimeout", 1, 3600, &c->contimeout,
				  err)) < 0)
			goto fail;
		if ((r = opt_string(cfg, n, "ssh", "rsync.ssh", &c->ssh, err)) < 0)
			goto fail;
	}
	if ((n = hfc_config_get(root, "verify"))) {
		unsigned t = c->verify_timeout_ms / 1000, settle = c->verify_settle_ms / 1000;
		if ((r = hfc_config_check_map(cfg, n, "verify", NULL, verify_optional, err)) < 0 ||
		    (r = opt_uint(cfg, n, "settle", "verify.settle", 0, 600, &settle, err)) < 0 ||
		    (r = opt_uint(cfg, n, "connections", "verify.connections", 1, 64,
				  &c->verify_connections, err)) < 0 ||
		    (r = opt_uint(cfg, n, "timeout", "verify.timeout", 1, 3600, &t, err)) < 0 ||
		    (r = opt_uint(cfg, n, "retries", "verify.retries", 0, 100, &c->verify_retries,
				  err)) < 0)
			goto fail;
		c->verify_timeout_ms = t * 1000;
		c->verify_settle_ms = settle * 1000;
	}

	if ((r = parse_signature(cfg, root, basedir, c, err)) < 0)
		goto fail;

	n = hfc_config_get(root, "mirrors");
	if ((r = hfc_config_check_list(cfg, n, "mirrors", err)) < 0)
		goto fail;
	size_t nm = hfc_config_list_len(n);
	if (nm > HFC_PUBLISH_MAX_MIRRORS) {
		r = hfc_config_error(cfg, hfc_config_list_item(n, HFC_PUBLISH_MAX_MIRRORS), err,
				     -EBADMSG, "mirrors: more than %d", HFC_PUBLISH_MAX_MIRRORS);
		goto fail;
	}
	c->mirrors = calloc(nm, sizeof(*c->mirrors));
	if (!c->mirrors) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < nm; i++) {
		c->nmirrors = i + 1; /* what parse_mirror fills is freed on failure */
		if ((r = parse_mirror(cfg, hfc_config_list_item(n, i), i, basedir, c, err)) < 0)
			goto fail;
	}
	*ret = c;
	return 0;
fail:
	if (r == -ENOMEM)
		hfc_err_set(err, r, "out of memory");
	hfc_publish_config_free(c);
	return r;
}

int hfc_publish_config_parse(const char *buf, size_t len, const char *fname,
			     HfcPublishConfig **ret, HfcErr *err)
{
	HfcConfig *cfg = NULL;
	int r = hfc_config_parse(buf, len, fname, &cfg, err);
	return r < 0 ? r : from_config(cfg, ret, err);
}

int hfc_publish_config_load(const char *path, HfcPublishConfig **ret, HfcErr *err)
{
	HfcConfig *cfg = NULL;
	int r = hfc_config_load(path, &cfg, err);
	return r < 0 ? r : from_config(cfg, ret, err);
}

int hfc_publish_mirror_find(const HfcPublishConfig *c, const char *name)
{
	for (size_t i = 0; i < c->nmirrors; i++)
		if (strcmp(c->mirrors[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}
