/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "publish/publish.h"

#include "base/codec.h"
#include "publish/config.h"
#include "base/fileio.h"
#include "base/hashset.h"
#include "client/http.h"
#include "base/clock.h"
#include "base/progress.h"
#include "site/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- publish.yaml ---------------------------------------------------------------------- */

static const char *const top_required[] = { "site", "mirrors", NULL };
static const char *const top_optional[] = { "parallel", "rsync", "verify", NULL };
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

int hfc_publish_config_parse(const char *buf, size_t len, const char *fname,
			     HfcPublishConfig **ret, HfcErr *err)
{
	_cleanup_(hfc_config_freep) HfcConfig *cfg = NULL;
	int r = hfc_config_parse(buf, len, fname, &cfg, err);
	if (r < 0)
		return r;
	const HfcConfigNode *root = hfc_config_root(cfg);
	r = hfc_config_check_map(cfg, root, "the file", top_required, top_optional, err);
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

int hfc_publish_config_load(const char *path, HfcPublishConfig **ret, HfcErr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = hfc_read_file_at(AT_FDCWD, path, HFC_CONFIG_MAX_BYTES, &buf, &len);
	if (r == -EFBIG)
		return hfc_err_set(err, r, "%s: larger than %u bytes", path, HFC_CONFIG_MAX_BYTES);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", path, strerror(-r));
	return hfc_publish_config_parse(buf, len, path, ret, err);
}

int hfc_publish_mirror_find(const HfcPublishConfig *c, const char *name)
{
	for (size_t i = 0; i < c->nmirrors; i++)
		if (strcmp(c->mirrors[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

/* ---- the site, as it is published ------------------------------------------------------- */

typedef struct Block {
	uint8_t hash[HFC_HASH_MAX];
	uint32_t stored;
	uint32_t len; /* uncompressed */
} Block;

typedef struct Site {
	HfcSite *s;
	char *path;   /* absolute, for rsync */
	char *idx_buf; /* index.idx, byte for byte */
	size_t idx_len;
	HfcIndex *idx;
	Block *blocks; /* the distinct block files of the current version */
	size_t nblocks;
	uint64_t block_bytes;
	HfcHashMap *set; /* their hashes */
} Site;

static void site_done(Site *x)
{
	hfc_site_free(x->s);
	free(x->path);
	free(x->idx_buf);
	hfc_index_free(x->idx);
	free(x->blocks);
	hfc_hashmap_free(x->set);
}

/* Opens the site under its shared lock and reads its current version. */
static int site_prepare(Site *x, const char *path, HfcErr *err)
{
	int r = hfc_site_open(path, false, &x->s, err);
	if (r < 0)
		return r;
	/* Held until the end: no writer publishes or prunes while mirrors are pushed. */
	r = hfc_site_lock(x->s, false, err);
	if (r < 0)
		return r;
	char abs[PATH_MAX];
	if (!realpath(path, abs))
		return hfc_err_set(err, negative_errno(), "%s: %s", path, strerror(errno));
	if (!(x->path = strdup(abs)))
		return -ENOMEM;
	r = hfc_read_file_at(hfc_site_fd(x->s), HFC_SITE_CURRENT, HFC_INDEX_MAX_BYTES, &x->idx_buf,
			     &x->idx_len);
	if (r == -ENOENT)
		return hfc_err_set(err, r, "%s: no %s: nothing to publish", path, HFC_SITE_CURRENT);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s: %s", path, HFC_SITE_CURRENT, strerror(-r));
	char display[PATH_MAX + 16];
	snprintf(display, sizeof(display), "%s/%s", path, HFC_SITE_CURRENT);
	r = hfc_index_parse(x->idx_buf, x->idx_len, display, &x->idx, err);
	if (r < 0)
		return r;
	/* index.idx must be the copy of its version's file: a site mid-write is not published. */
	char rel[HFC_LAYOUT_PATH_MAX];
	hfc_layout_path(HFC_LAYOUT_INDEX, x->idx->version, rel);
	_cleanup_free_ char *vbuf = NULL;
	size_t vlen;
	r = hfc_read_file_at(hfc_site_fd(x->s), rel, HFC_INDEX_MAX_BYTES, &vbuf, &vlen);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s: %s", path, rel, strerror(-r));
	if (vlen != x->idx_len || memcmp(vbuf, x->idx_buf, vlen) != 0)
		return hfc_err_set(err, -EBADMSG, "%s: index.idx differs from %s", path, rel);

	r = hfc_hashmap_new(hfc_hash_len(x->idx->hash), &x->set);
	if (r < 0)
		return hfc_err_set(err, r, "out of memory");
	size_t cap = 0;
	for (uint64_t i = 0; i < x->idx->nblocks; i++) {
		const HfcIndexEntry *e = &x->idx->entries[i];
		if (!e->stored)
			continue;
		r = hfc_hashmap_put(x->set, e->hash, e->stored, NULL);
		if (r < 0)
			return hfc_err_set(err, r, "out of memory");
		if (r == 0)
			continue;
		if (x->nblocks == cap) {
			cap = cap ? cap * 2 : 1024;
			Block *nb = realloc(x->blocks, cap * sizeof(Block));
			if (!nb)
				return hfc_err_set(err, -ENOMEM, "out of memory");
			x->blocks = nb;
		}
		Block *b = &x->blocks[x->nblocks++];
		memcpy(b->hash, e->hash, sizeof(b->hash));
		b->stored = e->stored;
		b->len = (uint32_t)hfc_index_block_len(x->idx, i);
		x->block_bytes += e->stored;
	}
	return 0;
}

/* Counts the regular files a mirror gets (no dot files) under dirfd/name, depth-limited. */
static int count_tree(int dirfd, const char *name, unsigned depth, uint64_t *files,
		      uint64_t *bytes)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : negative_errno();
	if (S_ISREG(st.st_mode)) {
		(*files)++;
		*bytes += (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISDIR(st.st_mode) || depth == 0)
		return 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	int r = 0;
	struct dirent *de;
	while (r >= 0 && (errno = 0, de = readdir(d)))
		if (de->d_name[0] != '.')
			r = count_tree(fd, de->d_name, depth - 1, files, bytes);
	if (r >= 0 && errno)
		r = negative_errno();
	closedir(d);
	return r;
}

static int site_totals(Site *x, uint64_t *files, uint64_t *bytes)
{
	static const char *const parts[] = { HFC_SITE_CURRENT, HFC_SITE_INDEXES, HFC_SITE_PROFILES,
					     HFC_SITE_BLOCKS };
	*files = *bytes = 0;
	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		int r = count_tree(hfc_site_fd(x->s), parts[i], 3, files, bytes);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- running jobs on several mirrors at once -------------------------------------------- */

typedef struct Run Run;
typedef void (*JobFn)(Run *run, size_t mirror);

struct Run {
	const HfcPublishConfig *c;
	const HfcPublishOptions *o;
	Site *site;
	HfcPublishResult *res;
	HfcPublishStatus *status;
	const bool *selected;
	JobFn fn;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	size_t next, running;
	uint64_t done, total; /* progress, in bytes (atomics) */
};

static void *worker(void *ud)
{
	Run *run = ud;
	for (;;) {
		pthread_mutex_lock(&run->lock);
		while (run->next < run->c->nmirrors && run->selected && !run->selected[run->next])
			run->next++;
		size_t i = run->next < run->c->nmirrors ? run->next++ : SIZE_MAX;
		pthread_mutex_unlock(&run->lock);
		if (i == SIZE_MAX)
			break;
		run->fn(run, i);
	}
	pthread_mutex_lock(&run->lock);
	run->running--;
	pthread_cond_broadcast(&run->changed);
	pthread_mutex_unlock(&run->lock);
	return NULL;
}

/* Runs fn for every selected mirror on up to `parallel` threads; draws the bar meanwhile. */
static int run_jobs(Run *run, unsigned parallel, const HfcProgress *progress, const char *what,
		    HfcErr *err)
{
	size_t n = 0;
	for (size_t i = 0; i < run->c->nmirrors; i++)
		if (!run->selected || run->selected[i])
			n++;
	size_t threads = MIN((size_t)MAX(parallel, 1u), n);
	if (threads == 0)
		return 0;
	pthread_t *tids = calloc(threads, sizeof(pthread_t));
	if (!tids)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&run->lock, NULL);
	pthread_cond_init(&run->changed, NULL);
	size_t started = 0;
	int r = 0;
	for (; started < threads; started++) {
		pthread_mutex_lock(&run->lock);
		run->running++;
		pthread_mutex_unlock(&run->lock);
		int k = pthread_create(&tids[started], NULL, worker, run);
		if (k != 0) {
			pthread_mutex_lock(&run->lock);
			run->running--;
			pthread_mutex_unlock(&run->lock);
			if (started == 0)
				r = hfc_err_set(err, -k, "cannot start a thread: %s", strerror(k));
			break;
		}
	}
	pthread_mutex_lock(&run->lock);
	while (run->running > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&run->changed, &run->lock, &ts);
		/* Nothing to draw until a mirror has said how much it needs. */
		uint64_t total = __atomic_load_n(&run->total, __ATOMIC_RELAXED);
		if (total)
			hfc_progress(progress, what,
				     __atomic_load_n(&run->done, __ATOMIC_RELAXED), total);
	}
	pthread_mutex_unlock(&run->lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	pthread_cond_destroy(&run->changed);
	pthread_mutex_destroy(&run->lock);
	return r;
}

static void progress_add(void *ud, uint64_t bytes)
{
	Run *run = ud;
	__atomic_add_fetch(&run->done, bytes, __ATOMIC_RELAXED);
}

/* ---- rsync steps ------------------------------------------------------------------------ */

typedef struct Args {
	const char *v[64];
	size_t n;
	char buf[16][PATH_MAX + 64];
	size_t nbuf;
} Args;

static void arg(Args *a, const char *s)
{
	if (a->n + 1 < ELEMENTSOF(a->v))
		a->v[a->n++] = s;
}

static void argf(Args *a, const char *fmt, ...) _printf_(2, 3);
static void argf(Args *a, const char *fmt, ...)
{
	if (a->nbuf == ELEMENTSOF(a->buf))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->buf[a->nbuf], sizeof(a->buf[0]), fmt, ap);
	va_end(ap);
	arg(a, a->buf[a->nbuf++]);
}

typedef enum Step {
	STEP_BLOCKS,   /* new block files only: immutable, never overwritten */
	STEP_INDEXES,  /* indexes/ and profiles/ */
	STEP_CURRENT,  /* index.idx, last */
	STEP_PRUNE_INDEXES,
	STEP_PRUNE_BLOCKS,
	STEP_REPAIR,   /* block files a check found bad, sent again over the bad copies */
} Step;

static const char *const step_names[] = { HFC_SITE_BLOCKS, HFC_SITE_INDEXES, HFC_SITE_CURRENT,
					  "prune",	   "prune",	     "repair" };

/*
 * The rsync command line of one step (files_from: the list of STEP_REPAIR). Arguments are a
 * vector: no shell ever sees them.
 */
static void step_args(const Run *run, const HfcPublishMirror *m, Step step, const char *files_from,
		      Args *a)
{
	const HfcPublishConfig *c = run->c;
	arg(a, c->rsync);
	arg(a, "-rt");
	arg(a, "--no-human-readable");
	arg(a, "--stats");
	arg(a, HFC_RSYNC_OUT_FORMAT);
	/* A mirror is served by a web server: what arrives must be readable by everyone. */
	arg(a, "--chmod=D0755,F0644");
	if (c->timeout)
		argf(a, "--timeout=%u", c->timeout);
	if (m->kind == HFC_RSYNC_DAEMON) {
		argf(a, "--contimeout=%u", c->contimeout);
		arg(a, "--no-motd");
	}
	if (c->bwlimit)
		argf(a, "--bwlimit=%" PRIu64, MAX(c->bwlimit / 1024, (uint64_t)1));
	if (c->ssh && m->kind == HFC_RSYNC_SSH)
		argf(a, "--rsh=%s", c->ssh);
	if (m->password_file)
		argf(a, "--password-file=%s", m->password_file);
	if (run->o->dry_run)
		arg(a, "--dry-run");
	/* Never sent: writers' lock, build cache, temporary files (ours and rsync's). */
	argf(a, "--exclude=%s", HFC_TMP_GLOB);
	for (size_t i = 0; hfc_layout_private[i]; i++)
		argf(a, "--exclude=/%s", hfc_layout_private[i]);
	arg(a, "--exclude=.~tmp~/");
	switch (step) {
	case STEP_BLOCKS:
	case STEP_PRUNE_BLOCKS:
		if (step == STEP_BLOCKS) {
			arg(a, "--ignore-existing");
		} else {
			/* Nothing is sent or changed: only what the site lacks is deleted. */
			arg(a, "--existing");
			arg(a, "--ignore-existing");
			arg(a, "--delete");
		}
		argf(a, "--include=/%s/", HFC_SITE_BLOCKS);
		argf(a, "--include=/%s/[0-9a-f][0-9a-f]/", HFC_SITE_BLOCKS);
		argf(a, "--include=/%s/[0-9a-f][0-9a-f]/%s", HFC_SITE_BLOCKS,
		     step == STEP_BLOCKS ? "[0-9a-f]*" : "*");
		break;
	case STEP_INDEXES:
	case STEP_PRUNE_INDEXES:
		if (step == STEP_INDEXES) {
			arg(a, "--delay-updates");
		} else {
			arg(a, "--existing");
			arg(a, "--ignore-existing");
			arg(a, "--delete");
		}
		argf(a, "--include=/%s/", HFC_SITE_INDEXES);
		argf(a, "--include=/%s/[0-9]*.idx", HFC_SITE_INDEXES);
		argf(a, "--include=/%s/", HFC_SITE_PROFILES);
		argf(a, "--include=/%s/**", HFC_SITE_PROFILES);
		break;
	case STEP_CURRENT:
		/* Always sent (a rollback can have the size and time of the old file), and
		 * replaced by rename on the mirror: readers see the old or the new one. */
		arg(a, "--ignore-times");
		arg(a, "--delay-updates");
		argf(a, "--include=/%s", HFC_SITE_CURRENT);
		break;
	case STEP_REPAIR:
		/* Only the listed files, always sent: a bad copy is replaced by rename. */
		arg(a, "--ignore-times");
		argf(a, "--files-from=%s", files_from);
		break;
	}
	if (step != STEP_REPAIR)
		arg(a, "--exclude=*");
	arg(a, "--");
	argf(a, "%s/", run->site->path);
	size_t tl = strlen(m->target);
	argf(a, "%s%s", m->target, tl && m->target[tl - 1] == '/' ? "" : "/");
	a->v[a->n] = NULL;
}

static int run_step(Run *run, size_t mi, Step step, const char *files_from, HfcRsyncStats *sum,
		    HfcErr *err)
{
	Args *a = calloc(1, sizeof(*a));
	if (!a)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	step_args(run, &run->c->mirrors[mi], step, files_from, a);
	HfcRsyncStats st;
	HfcErr e = { "" };
	int r = hfc_rsync_run(a->v, progress_add, run, &st, &e);
	free(a);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", step_names[step], e.msg);
	sum->files += st.files;
	sum->bytes += st.bytes;
	sum->sent += st.sent;
	sum->received += st.received;
	sum->deleted += st.deleted;
	sum->seconds += st.seconds;
	return 0;
}

/* ---- checking a mirror over HTTP -------------------------------------------------------- */

static int mirror_http(const HfcPublishConfig *c, size_t mi, HfcHttp **ret, HfcErr *err)
{
	const char *base = c->mirrors[mi].url;
	HfcHttpOptions ho = { .connections = c->verify_connections,
			      .timeout_ms = c->verify_timeout_ms,
			      .retries = c->verify_retries };
	/* One base per fetcher: each mirror is checked on its own, never failed over. */
	return hfc_http_new(&base, 1, &ho, ret, err);
}

/* Fetches and parses a mirror's index.idx; -ENOENT when it has none. */
static int fetch_index(HfcHttp *h, const char *url, const char *path, char **ret_buf,
		       size_t *ret_len, HfcIndex **ret_idx, HfcErr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	HfcErr e = { "" };
	int r = hfc_http_get_alloc(h, path, HFC_INDEX_MAX_BYTES, 0, &buf, &len, &e);
	if (r < 0)
		return hfc_err_set(err, r, "%s/%s", url, e.msg);
	if (ret_idx) {
		char display[PATH_MAX];
		snprintf(display, sizeof(display), "%s/%s", url, path);
		r = hfc_index_parse(buf, len, display, ret_idx, err);
		if (r < 0)
			return r;
	}
	if (ret_buf)
		*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

typedef struct Check {
	Run *run;
	HfcHttp *h;
	HfcMirrorReport *rep;
	bool deep;
	size_t next;
	pthread_mutex_t lock;
	int broken; /* a transport failure: the check stops */
	HfcErr broken_err;
	size_t *bad; /* the site's blocks[] found bad */
	size_t nbad, capbad;
} Check;

static void check_fault(Check *k, size_t i, const char *fmt, ...) _printf_(3, 4);
static void check_fault(Check *k, size_t i, const char *fmt, ...)
{
	pthread_mutex_lock(&k->lock);
	HfcMirrorReport *rep = k->rep;
	if (k->nbad == k->capbad) {
		size_t cap = k->capbad ? k->capbad * 2 : 64;
		size_t *nb = realloc(k->bad, cap * sizeof(size_t));
		if (nb) {
			k->bad = nb;
			k->capbad = cap;
		}
	}
	if (k->nbad < k->capbad)
		k->bad[k->nbad++] = i;
	if (rep->nfaults < HFC_PUBLISH_FAULTS_KEPT) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(rep->faults[rep->nfaults++], sizeof(rep->faults[0]), fmt, ap);
		va_end(ap);
	}
	rep->bad_blocks++;
	pthread_mutex_unlock(&k->lock);
}

static void check_broken(Check *k, int r, const HfcErr *e)
{
	pthread_mutex_lock(&k->lock);
	if (!k->broken) {
		k->broken = r;
		k->broken_err = *e;
	}
	pthread_mutex_unlock(&k->lock);
}

static void *check_worker(void *ud)
{
	Check *k = ud;
	const Site *site = k->run->site;
	HfcHashAlgo algo = site->idx->hash;
	_cleanup_(hfc_codec_freep) HfcCodec *codec = NULL;
	_cleanup_free_ uint8_t *in = NULL, *out = NULL;
	if (k->deep) {
		in = malloc(hfc_codec_bound(site->idx->block_size));
		out = malloc(site->idx->block_size);
		if (!in || !out || hfc_codec_new(1, &codec) < 0) {
			HfcErr e;
			hfc_err_set(&e, -ENOMEM, "out of memory");
			check_broken(k, -ENOMEM, &e);
			return NULL;
		}
	}
	for (;;) {
		size_t i = __atomic_fetch_add(&k->next, 1, __ATOMIC_RELAXED);
		if (i >= site->nblocks || __atomic_load_n(&k->broken, __ATOMIC_RELAXED))
			break;
		const Block *b = &site->blocks[i];
		char path[HFC_BLOCK_PATH_MAX];
		hfc_block_path(algo, b->hash, path);
		HfcErr e = { "" };
		if (!k->deep) {
			int64_t size;
			int r = hfc_http_head(k->h, path, &size, NULL, &e);
			if (r == -ENOENT)
				check_fault(k, i, "%s: missing", path);
			else if (r < 0)
				check_broken(k, r, &e);
			else if (size >= 0 && (uint64_t)size != b->stored)
				check_fault(k, i, "%s: %" PRId64 " bytes, the index says %u", path, size,
					    b->stored);
		} else {
			ssize_t n = hfc_http_get(k->h, path, in, b->stored, 0, 0, NULL, &e);
			if (n == -ENOENT)
				check_fault(k, i, "%s: missing", path);
			else if (n == -EFBIG)
				check_fault(k, i, "%s: larger than the %u bytes the index says", path,
					    b->stored);
			else if (n < 0)
				check_broken(k, (int)n, &e);
			else if ((size_t)n != b->stored)
				check_fault(k, i, "%s: %zd bytes, the index says %u", path, n, b->stored);
			else if (hfc_block_decode_verified(codec, algo, b->hash, in, (size_t)n, out,
							   b->len) < 0)
				check_fault(k, i, "%s: content does not match its name", path);
		}
		__atomic_add_fetch(&k->rep->blocks_checked, 1, __ATOMIC_RELAXED);
		progress_add(k->run, b->stored);
	}
	return NULL;
}

/* Compares a mirror's index.idx with the site's: 0 when identical, else -EBADMSG and why. */
static int compare_index(const Site *site, const char *url, const char *buf, size_t len,
			 HfcMirrorReport *rep, HfcErr *err)
{
	if (len == site->idx_len && memcmp(buf, site->idx_buf, len) == 0) {
		rep->version = site->idx->version;
		return 0;
	}
	_cleanup_(hfc_index_freep) HfcIndex *theirs = NULL;
	if (hfc_index_parse(buf, len, HFC_SITE_CURRENT, &theirs, NULL) < 0)
		return hfc_err_set(err, -EBADMSG,
				   "%s/index.idx: not a valid index (the site's is version %u)", url,
				   site->idx->version);
	rep->version = theirs->version;
	if (theirs->version != site->idx->version)
		return hfc_err_set(err, -EBADMSG, "%s/index.idx: version %u, the site's is version %u",
				   url, theirs->version, site->idx->version);
	return hfc_err_set(err, -EBADMSG, "%s/index.idx: differs from the site's version %u", url,
			   site->idx->version);
}

/* The mirror's index.idx must be the site's, byte for byte; then the version's own file. */
static int check_indexes(Run *run, size_t mi, HfcHttp *h, HfcMirrorReport *rep, HfcErr *err)
{
	const Site *site = run->site;
	const char *url = run->c->mirrors[mi].url;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	/*
	 * A server may go on serving the index.idx it had for a moment after the rename (lighttpd's
	 * stat cache, a proxy): right after a push, look again for a while before calling it stale.
	 */
	double deadline = hfc_monotonic() + (rep->pushed ? run->c->verify_settle_ms / 1000.0 : 0);
	unsigned wait_ms = 100;
	for (;;) {
		int r = fetch_index(h, url, HFC_SITE_CURRENT, &buf, &len, NULL, err);
		if (r < 0)
			return r;
		r = compare_index(site, url, buf, len, rep, err);
		if (r == 0)
			break;
		if (hfc_monotonic() + wait_ms / 1000.0 > deadline)
			return r;
		free(buf);
		buf = NULL;
		struct timespec ts = { wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		wait_ms = MIN(wait_ms * 2, 2000u);
	}
	char rel[HFC_LAYOUT_PATH_MAX];
	hfc_layout_path(HFC_LAYOUT_INDEX, site->idx->version, rel);
	free(buf);
	buf = NULL;
	int r = fetch_index(h, url, rel, &buf, &len, NULL, err);
	if (r < 0)
		return r;
	if (len != site->idx_len || memcmp(buf, site->idx_buf, len) != 0)
		return hfc_err_set(err, -EBADMSG, "%s/%s: differs from the site's", url, rel);
	return 0;
}

/*
 * Checks a mirror over HTTP; with ret_bad, returns the site's blocks[] indices found missing or
 * bad (a new array, or NULL when there are none).
 */
static int check_mirror(Run *run, size_t mi, HfcHttp *h, HfcMirrorReport *rep, size_t **ret_bad,
			size_t *ret_nbad, HfcErr *err)
{
	double t0 = hfc_monotonic();
	int r = check_indexes(run, mi, h, rep, err);
	if (r < 0)
		return r;
	Check k = { .run = run, .h = h, .rep = rep, .deep = run->o->deep };
	pthread_mutex_init(&k.lock, NULL);
	size_t threads = MIN((size_t)run->c->verify_connections, MAX(run->site->nblocks, (size_t)1));
	pthread_t tids[64];
	size_t started = 0;
	for (; started < threads; started++)
		if (pthread_create(&tids[started], NULL, check_worker, &k) != 0)
			break;
	if (started == 0)
		check_worker(&k);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&k.lock);
	rep->verify_seconds += hfc_monotonic() - t0;
	if (ret_bad && !k.broken && k.nbad == rep->bad_blocks) {
		*ret_bad = TAKE_PTR(k.bad);
		*ret_nbad = k.nbad;
	}
	free(k.bad);
	const char *url = run->c->mirrors[mi].url;
	if (k.broken)
		return hfc_err_set(err, k.broken, "%s/%s", url, k.broken_err.msg);
	if (rep->bad_blocks)
		return hfc_err_set(err, -EBADMSG, "%" PRIu64 " of %zu block files bad: %s/%s%s",
				   rep->bad_blocks, run->site->nblocks, url, rep->faults[0],
				   rep->bad_blocks > 1 ? " (and more)" : "");
	return 0;
}

/* ---- one mirror ------------------------------------------------------------------------- */

/* Bytes of the site's version the mirror's index does not name: the bar's estimate. */
static uint64_t estimate_new(const Site *site, const HfcIndex *theirs)
{
	if (!theirs || theirs->hash != site->idx->hash)
		return site->block_bytes;
	_cleanup_(hfc_hashmap_freep) HfcHashMap *m = NULL;
	if (hfc_hashmap_new(hfc_hash_len(theirs->hash), &m) < 0)
		return site->block_bytes;
	for (uint64_t i = 0; i < theirs->nblocks; i++)
		if (theirs->entries[i].stored && hfc_hashmap_put(m, theirs->entries[i].hash, 0, NULL) < 0)
			return site->block_bytes;
	uint64_t n = 0;
	for (size_t i = 0; i < site->nblocks; i++)
		if (!hfc_hashmap_get(m, site->blocks[i].hash, NULL))
			n += site->blocks[i].stored;
	return n;
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

/*
 * Sends the block files a check found missing or bad again, always, over the bad copies (each
 * replaced by a rename), then checks the mirror again. *ret_step names what failed.
 */
static int repair_mirror(Run *run, size_t mi, HfcHttp *h, HfcMirrorReport *rep, const size_t *bad,
			 size_t nbad, const char **ret_step, HfcErr *err)
{
	const char *dir = getenv("TMPDIR");
	char list[PATH_MAX];
	snprintf(list, sizeof(list), "%s/hfc-publish-repair.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkostemp(list, O_CLOEXEC);
	*ret_step = "repair";
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
		hfc_block_path(run->site->idx->hash, run->site->blocks[bad[k]].hash, path);
		fprintf(f, "%s\n", path);
	}
	if (fclose(f) != 0) {
		int r = negative_errno();
		unlink(list);
		return hfc_err_set(err, r, "%s: %s", list, strerror(-r));
	}
	HfcRsyncStats st = { 0 };
	int r = run_step(run, mi, STEP_REPAIR, list, &st, err);
	unlink(list);
	if (r < 0)
		return r;
	rep->repaired = st.files;
	rep->sent.files += st.files;
	rep->sent.bytes += st.bytes;
	rep->sent.sent += st.sent;
	rep->sent.received += st.received;
	rep->sent.seconds += st.seconds;
	*ret_step = "verify";
	/*
	 * The server may serve the replaced files' old bytes for a moment (lighttpd's stat cache,
	 * a proxy): look again for a while, as for index.idx, before calling the repair failed.
	 */
	double deadline = hfc_monotonic() + run->c->verify_settle_ms / 1000.0;
	unsigned wait_ms = 100;
	for (;;) {
		rep->bad_blocks = rep->blocks_checked = 0;
		rep->nfaults = 0;
		r = check_mirror(run, mi, h, rep, NULL, NULL, err);
		if (r != -EBADMSG || !rep->bad_blocks ||
		    hfc_monotonic() + wait_ms / 1000.0 > deadline)
			return r;
		struct timespec ts = { wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		wait_ms = MIN(wait_ms * 2, 2000u);
	}
}

static void publish_one(Run *run, size_t mi)
{
	const HfcPublishOptions *o = run->o;
	HfcMirrorReport *rep = &run->res->mirrors[mi];
	double t0 = hfc_monotonic();
	HfcErr e = { "" };
	rep->ok = true;
	_cleanup_(hfc_http_freep) HfcHttp *h = NULL;
	int r = mirror_http(run->c, mi, &h, &e);
	if (r < 0) {
		fail_step(rep, "verify", r, &e);
		goto done;
	}
	if (!o->verify_only) {
		/* Where the mirror stands, for the report and the bar (not needed to push). */
		_cleanup_(hfc_index_freep) HfcIndex *theirs = NULL;
		r = fetch_index(h, run->c->mirrors[mi].url, HFC_SITE_CURRENT, NULL, NULL, &theirs, NULL);
		if (r >= 0 || r == -ENOENT) {
			rep->before_known = true;
			rep->version_before = theirs ? theirs->version : 0;
			rep->version = rep->version_before;
		}
		/* The bar's share of this mirror: what it lacks, then the check of every block. */
		__atomic_add_fetch(&run->total,
				   estimate_new(run->site, theirs) +
					   (o->dry_run ? 0 : run->site->block_bytes),
				   __ATOMIC_RELAXED);
		static const Step steps[] = { STEP_BLOCKS, STEP_INDEXES, STEP_CURRENT };
		for (size_t s = 0; s < ELEMENTSOF(steps); s++) {
			r = run_step(run, mi, steps[s], NULL, &rep->sent, &e);
			if (r < 0) {
				fail_step(rep, step_names[steps[s]], r, &e);
				goto done;
			}
		}
		rep->pushed = true;
	}
	if (o->verify_only)
		__atomic_add_fetch(&run->total, run->site->block_bytes, __ATOMIC_RELAXED);
	if (!o->dry_run) {
		_cleanup_free_ size_t *bad = NULL;
		size_t nbad = 0;
		r = check_mirror(run, mi, h, rep, o->repair ? &bad : NULL, &nbad, &e);
		if (r < 0 && bad) {
			const char *step = "verify";
			r = repair_mirror(run, mi, h, rep, bad, nbad, &step, &e);
			if (r < 0) {
				fail_step(rep, step, r, &e);
				goto done;
			}
		}
		if (r < 0) {
			fail_step(rep, "verify", r, &e);
			goto done;
		}
		rep->verified = true;
	} else if (o->prune) {
		/* A dry run sends nothing: prune (-n) only a mirror that is already current. */
		r = check_indexes(run, mi, h, rep, &e);
		if (r < 0) {
			fail_step(rep, "prune", r, &e);
			goto done;
		}
	}
	if (o->prune) {
		/*
		 * The mirror's index.idx is the site's now, and the site's current version names
		 * no file the site pruned: old indexes go first, then the block files.
		 */
		HfcRsyncStats st = { 0 };
		r = run_step(run, mi, STEP_PRUNE_INDEXES, NULL, &st, &e);
		if (r >= 0)
			r = run_step(run, mi, STEP_PRUNE_BLOCKS, NULL, &st, &e);
		rep->deleted = st.deleted;
		if (r < 0) {
			fail_step(rep, "prune", r, &e);
			goto done;
		}
		rep->pruned = true;
	}
done:
	rep->seconds = hfc_monotonic() - t0;
}

/* Every block file of the current version is in the site itself: pruning against it is safe. */
static int site_complete(Site *x, HfcErr *err)
{
	for (size_t i = 0; i < x->nblocks; i++) {
		uint64_t size;
		int r = hfc_site_block_stat(x->s, x->idx->hash, x->blocks[i].hash, &size);
		if (r < 0 || size != x->blocks[i].stored) {
			char path[HFC_BLOCK_PATH_MAX];
			hfc_block_path(x->idx->hash, x->blocks[i].hash, path);
			return hfc_err_set(err, r < 0 ? r : -EBADMSG,
					   "%s/%s: %s; not pruning mirrors against an incomplete site",
					   x->path, path, r < 0 ? strerror(-r) : "wrong size");
		}
	}
	return 0;
}

void hfc_publish_result_free(HfcPublishResult *r)
{
	if (!r)
		return;
	free(r->mirrors);
	free(r);
}

int hfc_publish_run(const HfcPublishConfig *c, const HfcPublishOptions *o,
		    HfcPublishResult **ret, HfcErr *err)
{
	double t0 = hfc_monotonic();
	Site site = { 0 };
	int r = site_prepare(&site, c->site, err);
	if (r >= 0 && o->prune)
		r = site_complete(&site, err);
	HfcPublishResult *res = NULL;
	if (r >= 0) {
		res = calloc(1, sizeof(*res));
		if (res)
			res->mirrors = calloc(c->nmirrors, sizeof(HfcMirrorReport));
		if (!res || !res->mirrors)
			r = hfc_err_set(err, -ENOMEM, "out of memory");
	}
	if (r >= 0) {
		res->nmirrors = c->nmirrors;
		res->version = site.idx->version;
		res->blocks = site.nblocks;
		res->block_bytes = site.block_bytes;
		r = site_totals(&site, &res->site_files, &res->site_bytes);
		if (r < 0)
			hfc_err_set(err, r, "%s: %s", site.path, strerror(-r));
	}
	if (r >= 0) {
		for (size_t i = 0; i < c->nmirrors; i++)
			res->mirrors[i].selected = !o->selected || o->selected[i];
		Run run = { .c = c, .o = o, .site = &site, .res = res, .selected = o->selected,
			    .fn = publish_one };
		r = run_jobs(&run, o->parallel ? o->parallel : c->parallel, &o->progress,
			     o->verify_only ? "verify" : "publish", err);
	}
	site_done(&site);
	if (r < 0) {
		hfc_publish_result_free(res);
		return r;
	}
	res->seconds = hfc_monotonic() - t0;
	*ret = res;
	return 0;
}

/* ---- status ----------------------------------------------------------------------------- */

static void status_one(Run *run, size_t mi)
{
	HfcMirrorStatus *st = &run->status->mirrors[mi];
	const Site *site = run->site;
	const char *url = run->c->mirrors[mi].url;
	_cleanup_(hfc_http_freep) HfcHttp *h = NULL;
	int r = mirror_http(run->c, mi, &h, &st->err);
	if (r < 0)
		return;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	_cleanup_(hfc_index_freep) HfcIndex *theirs = NULL;
	r = fetch_index(h, url, HFC_SITE_CURRENT, &buf, &len, &theirs, &st->err);
	if (r == -ENOENT) {
		/* Never published: everything is missing. */
		st->ok = st->empty = true;
		st->behind = site->idx->version;
		st->missing_blocks = site->nblocks;
		st->missing_bytes = site->block_bytes;
		st->err.msg[0] = 0;
		return;
	}
	if (r < 0)
		return;
	st->ok = true;
	st->current = len == site->idx_len && memcmp(buf, site->idx_buf, len) == 0;
	st->version = theirs->version;
	st->created = theirs->created;
	snprintf(st->label, sizeof(st->label), "%s", theirs->label);
	st->behind = (int64_t)site->idx->version - (int64_t)theirs->version;
	if (theirs->hash != site->idx->hash) {
		st->missing_blocks = site->nblocks;
		st->missing_bytes = site->block_bytes;
		return;
	}
	_cleanup_(hfc_hashmap_freep) HfcHashMap *m = NULL;
	if (hfc_hashmap_new(hfc_hash_len(theirs->hash), &m) < 0)
		goto nomem;
	for (uint64_t i = 0; i < theirs->nblocks; i++)
		if (theirs->entries[i].stored &&
		    hfc_hashmap_put(m, theirs->entries[i].hash, 0, NULL) < 0)
			goto nomem;
	for (size_t i = 0; i < site->nblocks; i++)
		if (!hfc_hashmap_get(m, site->blocks[i].hash, NULL)) {
			st->missing_blocks++;
			st->missing_bytes += site->blocks[i].stored;
		}
	return;
nomem:
	st->ok = false;
	hfc_err_set(&st->err, -ENOMEM, "out of memory");
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
	Site site = { 0 };
	int r = site_prepare(&site, c->site, err);
	HfcPublishStatus *st = NULL;
	if (r >= 0) {
		st = calloc(1, sizeof(*st));
		if (st)
			st->mirrors = calloc(c->nmirrors, sizeof(HfcMirrorStatus));
		if (!st || !st->mirrors)
			r = hfc_err_set(err, -ENOMEM, "out of memory");
	}
	if (r >= 0) {
		st->nmirrors = c->nmirrors;
		st->version = site.idx->version;
		st->created = site.idx->created;
		for (size_t i = 0; i < c->nmirrors; i++)
			st->mirrors[i].selected = !selected || selected[i];
		HfcPublishOptions o = { 0 };
		Run run = { .c = c, .o = &o, .site = &site, .status = st, .selected = selected,
			    .fn = status_one };
		/* Asking is cheap: every mirror at once, so one slow mirror delays nothing. */
		r = run_jobs(&run, HFC_PUBLISH_MAX_MIRRORS, NULL, "status", err);
	}
	site_done(&site);
	if (r < 0) {
		hfc_publish_status_free(st);
		return r;
	}
	*ret = st;
	return 0;
}
