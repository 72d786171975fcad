/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hfc-mount: the image of a site over HTTP as MOUNTPOINT/image (read-only, FUSE), with
 * MOUNTPOINT/.stats. Loop-mount the image to reach its file system.
 */
#define FUSE_USE_VERSION 312

#include "cli.h"
#include "fileio.h"
#include "log.h"
#include "remote.h"

#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
		"  -v, --version N          the version to mount (default: the current one)\n"
		"  -c, --connections N      transfers at once (default 8)\n"
		"      --cache DIR          keep block files in DIR across mounts\n"
		"      --cache-size SIZE    bound of the cache (default 1G; K, M, G, T suffixes)\n"
		"      --cache-high PCT     evict when the cache is above PCT of its size (default 80)\n"
		"      --cache-low PCT      ... down to PCT (default 60)\n"
		"      --mem-cache SIZE     decoded blocks kept in memory (default 256M)\n"
		"      --readahead K        blocks fetched ahead after sequential reads (default 16,\n"
		"                           0 turns readahead off)\n"
		"      --trace FILE         one line per block read (see docs/FORMAT.md)\n"
		"      --prefetch[=P]       DLAHEAD: fetch a boot profile's blocks ahead; P is a\n"
		"                           profile file or auto (default: the site's profile of the\n"
		"                           mounted version, profiles/NNNNNN.prof)\n"
		"      --prefetch-connections N  prefetch transfers at once (default 4)\n"
		"      --prefetch-memory SIZE    bound of prefetched blocks not read yet (default 512M)\n"
		"      --timeout MS         one request's time limit (default 30000)\n"
		"      --retries N          further attempts per block (default 4)\n"
		"      --offline            with --cache: start from the cached index when no mirror\n"
		"                           answers\n"
		"      --allow-older        accept a current version older than one seen before\n"
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

static int parse_pct(const char *opt, const char *s, unsigned *ret)
{
	uint64_t v;
	if (hfc_opt_uint(opt, s, 0, 100, &v) < 0)
		return -1;
	*ret = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_CACHE = 256, OPT_CACHE_SIZE, OPT_HIGH, OPT_LOW, OPT_MEM, OPT_RA, OPT_TRACE,
	       OPT_TIMEOUT, OPT_RETRIES, OPT_OFFLINE, OPT_OLDER, OPT_OTHER, OPT_PREFETCH,
	       OPT_PF_CONN, OPT_PF_MEM };
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "connections", required_argument, NULL, 'c' },
		{ "cache", required_argument, NULL, OPT_CACHE },
		{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
		{ "cache-high", required_argument, NULL, OPT_HIGH },
		{ "cache-low", required_argument, NULL, OPT_LOW },
		{ "mem-cache", required_argument, NULL, OPT_MEM },
		{ "readahead", required_argument, NULL, OPT_RA },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "prefetch", optional_argument, NULL, OPT_PREFETCH },
		{ "prefetch-connections", required_argument, NULL, OPT_PF_CONN },
		{ "prefetch-memory", required_argument, NULL, OPT_PF_MEM },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ "allow-older", no_argument, NULL, OPT_OLDER },
		{ "allow-other", no_argument, NULL, OPT_OTHER },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	hfc_log_set_program("hfc-mount");
	HfcRemoteOptions o;
	hfc_remote_options_default(&o);
	bool foreground = false, allow_other = false;
	char cache_abs[PATH_MAX];
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "v:c:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if (hfc_opt_uint("--version", optarg, 1, HFC_VERSION_MAX, &v) < 0)
				return 2;
			o.version = (uint32_t)v;
			break;
		case 'c':
			if (hfc_opt_uint("--connections", optarg, 1, 64, &v) < 0)
				return 2;
			o.http.connections = (unsigned)v;
			break;
		case OPT_CACHE:
			o.cache_dir = optarg;
			break;
		case OPT_CACHE_SIZE:
			if (hfc_opt_size("--cache-size", optarg, UINT64_C(1) << 20, &o.cache_size) < 0)
				return 2;
			break;
		case OPT_HIGH:
			if (parse_pct("--cache-high", optarg, &o.cache_high_pct) < 0)
				return 2;
			break;
		case OPT_LOW:
			if (parse_pct("--cache-low", optarg, &o.cache_low_pct) < 0)
				return 2;
			break;
		case OPT_MEM:
			if (hfc_opt_size("--mem-cache", optarg, 0, &o.mem_cache) < 0)
				return 2;
			break;
		case OPT_RA:
			if (hfc_opt_uint("--readahead", optarg, 0, 1024, &v) < 0)
				return 2;
			o.readahead = (unsigned)v;
			break;
		case OPT_TRACE:
			o.trace_path = optarg;
			break;
		case OPT_PREFETCH:
			o.prefetch = optarg ? optarg : "auto";
			break;
		case OPT_PF_CONN:
			if (hfc_opt_uint("--prefetch-connections", optarg, 1, 64, &v) < 0)
				return 2;
			o.prefetch_connections = (unsigned)v;
			break;
		case OPT_PF_MEM:
			if (hfc_opt_size("--prefetch-memory", optarg, UINT64_C(1) << 20,
					 &o.prefetch_memory) < 0)
				return 2;
			break;
		case OPT_TIMEOUT:
			if (hfc_opt_uint("--timeout", optarg, 100, 3600000, &v) < 0)
				return 2;
			o.http.timeout_ms = (unsigned)v;
			break;
		case OPT_RETRIES:
			if (hfc_opt_uint("--retries", optarg, 0, 100, &v) < 0)
				return 2;
			o.http.retries = (unsigned)v;
			break;
		case OPT_OFFLINE:
			o.offline_ok = true;
			break;
		case OPT_OLDER:
			o.allow_older = true;
			break;
		case OPT_OTHER:
			allow_other = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		hfc_log_error("usage", "expected URL[,URL...] and MOUNTPOINT (see --help)");
		return 2;
	}
	if (o.cache_low_pct >= o.cache_high_pct) {
		hfc_log_error("--cache-low", "must be below --cache-high");
		return 2;
	}
	if (o.offline_ok && !o.cache_dir) {
		hfc_log_error("--offline", "needs --cache");
		return 2;
	}
	/* The daemon runs in "/": make the paths it keeps absolute first. */
	char prefetch_abs[PATH_MAX];
	if (o.prefetch && strcmp(o.prefetch, "auto") != 0) {
		if (!realpath(o.prefetch, prefetch_abs)) {
			hfc_log_errno(-errno, o.prefetch);
			return 1;
		}
		o.prefetch = prefetch_abs;
	}
	if (o.cache_dir) {
		if (hfc_mkdir_p(o.cache_dir) < 0 || !realpath(o.cache_dir, cache_abs)) {
			hfc_log_errno(-errno, o.cache_dir);
			return 1;
		}
		o.cache_dir = cache_abs;
	}
	char *urls = argv[optind];
	const char *mountpoint = argv[optind + 1];
	const char *bases[64];
	int nb = hfc_split_urls(urls, bases, 64);
	if (nb < 0)
		return 2;
	struct stat mst;
	if (stat(mountpoint, &mst) < 0 || !S_ISDIR(mst.st_mode)) {
		hfc_log_error(mountpoint, "not a directory");
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &mount_time);

	/* Fetch and check the index before mounting: a bad site never gets mounted. */
	HfcErr err = { "" };
	int k = hfc_remote_open(bases, (size_t)nb, &o, &remote, &err);
	if (k < 0) {
		hfc_log_err(k, &err);
		return 1;
	}

	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char fsopts[256];
	snprintf(fsopts, sizeof(fsopts), "ro,default_permissions,fsname=hfcloop,subtype=hfc%s",
		 allow_other ? ",allow_other" : "");
	if (fuse_opt_add_arg(&args, argv[0]) < 0 || fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, fsopts) < 0) {
		hfc_log_errno(-ENOMEM, "fuse");
		return 1;
	}
	struct fuse *f = fuse_new(&args, &ops, sizeof(ops), NULL);
	if (!f) {
		hfc_log_error(mountpoint, "cannot set up FUSE");
		return 1;
	}
	if (fuse_mount(f, mountpoint) != 0) {
		hfc_log_error(mountpoint, "cannot mount (is /dev/fuse there, fuse3 installed?)");
		fuse_destroy(f);
		return 1;
	}
	/* No thread exists yet (readahead starts in init): forking here is safe. */
	if (fuse_daemonize(foreground) != 0) {
		fuse_unmount(f);
		fuse_destroy(f);
		return 1;
	}
	struct fuse_session *se = fuse_get_session(f);
	if (fuse_set_signal_handlers(se) != 0) {
		fuse_unmount(f);
		fuse_destroy(f);
		return 1;
	}
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (cfg) {
		fuse_loop_cfg_set_max_threads(cfg, 32);
		fuse_loop_cfg_set_idle_threads(cfg, 16);
	}
	k = fuse_loop_mt(f, cfg);
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
	hfc_remote_free(remote);
	return k == 0 ? 0 : 1;
}
