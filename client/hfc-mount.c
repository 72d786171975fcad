/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hfc-mount: the image of a site over HTTP as MOUNTPOINT/image (read-only, FUSE), with
 * MOUNTPOINT/.stats. Loop-mount the image to reach its file system.
 */
#define FUSE_USE_VERSION 312

#include "programs/cli.h"
#include "base/fileio.h"
#include "programs/log.h"
#include "programs/remote-opts.h"
#include "client/remote.h"

#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static HfcRemote *remote;
static struct timespec mount_time;

typedef struct StatsFile {
	char *text;
	size_t len;
} StatsFile;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-mount [OPTIONS] URL[,URL...] MOUNTPOINT\n"
		"Mount the image of a site as MOUNTPOINT/image (read-only), fetching blocks on demand;\n"
		"MOUNTPOINT/.stats shows the counters. Then: mount -o loop,ro MOUNTPOINT/image /mnt\n"
		"\n"
		HFC_REMOTE_HELP
		HFC_REMOTE_MOUNT_HELP
		"      --allow-other        let other users read the mount (FUSE allow_other)\n"
		"  -f, --foreground         stay in the foreground\n"
		"  -h, --help               show this help\n");
}

static void *hfc_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/* The image never changes under a mount: let the kernel keep what it read. */
	cfg->kernel_cache = 1;
	cfg->entry_timeout = 3600;
	cfg->attr_timeout = 3600;
	cfg->negative_timeout = 3600;
	cfg->use_ino = 1;
	if (hfc_remote_start(remote) < 0)
		hfc_log_warn("readahead threads could not start; reading without readahead");
	return NULL;
}

static int hfc_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atim = st->st_mtim = st->st_ctim = mount_time;
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_ino = 1;
	} else if (strcmp(path, "/image") == 0) {
		const HfcIndex *idx = hfc_remote_index(remote);
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_ino = 2;
		st->st_size = (off_t)idx->image_size;
		st->st_blksize = (blksize_t)idx->block_size;
		st->st_blocks = (blkcnt_t)DIV_ROUND_UP(idx->image_size, 512);
		time_t t = (time_t)idx->created;
		st->st_mtim = (struct timespec){ .tv_sec = t };
	} else if (strcmp(path, "/.stats") == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_ino = 3;
		st->st_size = 0; /* generated on open; read with direct I/O */
	} else {
		return -ENOENT;
	}
	return 0;
}

static int hfc_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "image", NULL, 0, 0);
	fill(buf, ".stats", NULL, 0, 0);
	return 0;
}

static int hfc_open(const char *path, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	if (strcmp(path, "/image") == 0) {
		fi->keep_cache = 1;
		fi->fh = 0;
		return 0;
	}
	if (strcmp(path, "/.stats") == 0) {
		StatsFile *sf = calloc(1, sizeof(*sf));
		if (!sf)
			return -ENOMEM;
		int r = hfc_remote_stats_text(remote, &sf->text, &sf->len);
		if (r < 0) {
			free(sf);
			return r;
		}
		fi->fh = (uint64_t)(uintptr_t)sf;
		fi->direct_io = 1;
		return 0;
	}
	return -ENOENT;
}

static int hfc_read(const char *path, char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)path;
	if (off < 0)
		return -EINVAL;
	if (fi->fh) {
		StatsFile *sf = (StatsFile *)(uintptr_t)fi->fh;
		if ((size_t)off >= sf->len)
			return 0;
		size_t n = MIN(size, sf->len - (size_t)off);
		memcpy(buf, sf->text + off, n);
		return (int)n;
	}
	ssize_t n = hfc_remote_pread(remote, buf, size, (uint64_t)off);
	return (int)n; /* -EIO when a block cannot be had correct: never wrong bytes */
}

static int hfc_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	if (fi->fh) {
		StatsFile *sf = (StatsFile *)(uintptr_t)fi->fh;
		free(sf->text);
		free(sf);
	}
	return 0;
}

static const struct fuse_operations ops = {
	.init = hfc_init,
	.getattr = hfc_getattr,
	.readdir = hfc_readdir,
	.open = hfc_open,
	.read = hfc_read,
	.release = hfc_release,
};

typedef struct Args {
	HfcRemoteOptions remote;
	bool foreground, allow_other;
	const char *bases[HFC_HTTP_MIRRORS_MAX]; /* the mirrors */
	int nbases;
	const char *mountpoint;
	char mountpoint_abs[PATH_MAX];
} Args;

static int parse_args(int argc, char **argv, Args *a)
{
	enum { OPT_OTHER = 256 };
	static const struct option opts[] = {
		HFC_REMOTE_OPTIONS,
		HFC_REMOTE_MOUNT_OPTIONS,
		{ "allow-other", no_argument, NULL, OPT_OTHER },
		{ "foreground", no_argument, NULL, 'f' },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	hfc_remote_options_default(&a->remote);
	int c, r = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, HFC_REMOTE_SHORT "fh", opts, NULL)) != -1) {
		r = hfc_remote_opt(c, optarg, &a->remote);
		if (r == 0 && c == OPT_OTHER)
			a->allow_other = true;
		else if (r == 0 && c == 'f')
			a->foreground = true;
		else if (r == 0)
			r = hfc_common_opt(c, usage, NULL);
	}
	if (r < 0)
		return r;
	if (argc - optind != 2)
		return hfc_usage_error("expected URL[,URL...] and MOUNTPOINT");
	a->mountpoint = argv[optind + 1];
	a->nbases = hfc_split_urls(argv[optind], a->bases, (int)ELEMENTSOF(a->bases));
	return a->nbases < 0 ? a->nbases : hfc_remote_opts_check(&a->remote);
}

/*
 * The end of a mount must not wait for the reads in flight. On a signal or fusermount3 -u
 * libfuse marks the session exited and then joins its workers, but it cancels only those that
 * wait on /dev/fuse: one inside a read callback (in a transfer, a mirror's rest, a wait for a
 * connection or for another reader's download) holds the end up for as long as its request
 * takes, 30 s and retries by default. The watcher sees the session exit and cancels the remote,
 * so that every such read fails at once and the workers can be joined.
 */
typedef struct Watcher {
	struct fuse_session *se;
	atomic_bool done;
	pthread_t tid;
	bool started;
} Watcher;

static void *watch_main(void *arg)
{
	Watcher *w = arg;
	for (unsigned tick = 1; !atomic_load(&w->done); tick++) {
		if (fuse_session_exited(w->se)) {
			hfc_remote_cancel(remote);
			break;
		}
		/*
		 * Every 10 s, the free memory inside malloc's arenas goes back to the system: block
		 * buffers of every size come and go on many threads, and the holes they leave would
		 * otherwise let the resident size creep up over days of serving.
		 */
		if (tick % 500 == 0)
			(void)malloc_trim(0);
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000000 }, NULL);
	}
	return NULL;
}

static void watch_start(Watcher *w, struct fuse_session *se)
{
	w->se = se;
	atomic_init(&w->done, false);
	/* The signals that end a mount go to the main thread, whose wait libfuse relies on. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	w->started = pthread_create(&w->tid, NULL, watch_main, w) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!w->started)
		hfc_log_warn("no shutdown watcher: unmounting may wait for reads in flight");
}

static void watch_stop(Watcher *w)
{
	if (!w->started)
		return;
	atomic_store(&w->done, true);
	pthread_join(w->tid, NULL);
}

/* Serves the mount until a signal or fusermount3 -u; returns 0 or -1 (message printed). */
static int serve(const char *argv0, const Args *a)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char fsopts[256];
	snprintf(fsopts, sizeof(fsopts), "ro,default_permissions,fsname=hfcloop,subtype=hfc%s",
		 a->allow_other ? ",allow_other" : "");
	if (fuse_opt_add_arg(&args, argv0) < 0 || fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, fsopts) < 0) {
		fuse_opt_free_args(&args);
		return hfc_log_errno(-ENOMEM, "fuse");
	}
	struct fuse *f = fuse_new(&args, &ops, sizeof(ops), NULL);
	if (!f) {
		fuse_opt_free_args(&args);
		return hfc_log_error(a->mountpoint, "cannot set up FUSE");
	}
	if (fuse_mount(f, a->mountpoint) != 0) {
		fuse_destroy(f);
		fuse_opt_free_args(&args);
		return hfc_log_error(a->mountpoint, "cannot mount (is /dev/fuse there, fuse3 installed?)");
	}
	/* No thread exists yet (readahead starts in init): forking here is safe. */
	struct fuse_session *se = fuse_get_session(f);
	if (fuse_daemonize(a->foreground) != 0 || fuse_set_signal_handlers(se) != 0) {
		fuse_unmount(f);
		fuse_destroy(f);
		fuse_opt_free_args(&args);
		return -1;
	}
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (cfg) {
		fuse_loop_cfg_set_max_threads(cfg, 32);
		fuse_loop_cfg_set_idle_threads(cfg, 16);
	}
	Watcher w = { 0 };
	watch_start(&w, se);
	int k = fuse_loop_mt(f, cfg);
	watch_stop(&w);
	/*
	 * Stopped by a signal (libfuse returns its number) or by fusermount3 -u: a clean end, not
	 * a failure; the file system is unmounted below either way.
	 */
	if (k == SIGTERM || k == SIGINT || k == SIGHUP)
		k = 0;
	fuse_loop_cfg_destroy(cfg);
	fuse_remove_signal_handlers(se);
	fuse_unmount(f);
	fuse_destroy(f);
	fuse_opt_free_args(&args);
	return k == 0 ? 0 : -1;
}

static int run(const char *argv0, Args *a)
{
	struct stat mst;
	if (stat(a->mountpoint, &mst) < 0 || !S_ISDIR(mst.st_mode))
		return hfc_log_error(a->mountpoint, "not a directory");
	/* fuse_daemonize() changes to "/" even in the foreground: unmounting needs the full path. */
	if (!realpath(a->mountpoint, a->mountpoint_abs))
		return hfc_log_errno(-errno, a->mountpoint);
	a->mountpoint = a->mountpoint_abs;
	clock_gettime(CLOCK_REALTIME, &mount_time);
	/* Fetch and check the index before mounting: a bad site never gets mounted. */
	HfcErr err = { "" };
	int k = hfc_remote_open(a->bases, (size_t)a->nbases, &a->remote, &remote, &err);
	if (k < 0)
		return hfc_log_err(k, &err);
	hfc_remote_opts_report(remote);
	k = serve(argv0, a);
	hfc_remote_free(remote);
	remote = NULL;
	return k;
}

int main(int argc, char **argv)
{
	hfc_log_set_program("hfc-mount");
	Args a = { 0 };
	int r = parse_args(argc, argv, &a);
	if (r >= 0)
		r = run(argv[0], &a);
	hfc_remote_opts_done(&a.remote);
	return hfc_exit_status(r);
}
