/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-mkimage: build the next version of a site from an image, a tree or a cloop file. */

#include "base/codec.h"
#include "base/parse.h"
#include "site/build.h"
#include "base/clock.h"
#include "site/tree.h"
#include "fs/tree.h"
#include "programs/cli.h"
#include "programs/log.h"
#include "programs/json.h"
#include "programs/progress.h"

#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-mkimage [OPTIONS] IMAGE SITE\n"
		"       hfc-mkimage [OPTIONS] --from-archive FILE|- SITE\n"
		"       hfc-mkimage [OPTIONS] --from-dir DIR SITE\n"
		"       hfc-mkimage [OPTIONS] --from-cloop FILE SITE\n"
		"Build the next version of SITE from IMAGE (a raw image file or block device), or\n"
		"from a root file system as an ext2 image, without root.\n"
		"\n"
		"      --from-archive FILE  a tarball (any compression), cpio, ISO 9660 ...; - reads stdin\n"
		"      --from-dir DIR       a directory tree\n"
		"      --from-cloop FILE    a cloop file (its ext2 image, or its ISO 9660 tree)\n"
		"      --base               update the site's current image in place: unchanged files\n"
		"                           keep their blocks, new data goes to free space\n"
		"      --size SIZE          image size (default: the tree plus a quarter and 64 MiB)\n"
		"      --inodes N           number of inodes (default: automatic)\n"
		"      --fs-label TEXT      the file system's volume label (16 bytes at most)\n"
		"      --uuid UUID          the file system's UUID (default: from the tree)\n"
		"      --hash-seed UUID     the directory hash seed (default: from the tree)\n"
		"\n"
		"  -b, --block-size N     block size in bytes, a multiple of 512 from 4096 to 64 MiB\n"
		"                         (default 262144; fixed by the site's first version)\n"
		"  -j, --jobs N           threads for hashing and compression (default: all cores)\n"
		"  -l, --level N          compression level 1-12 (default %d)\n"
		"  -H, --hash ALGO        md5 (default) or sha256; fixed by the site's first version\n"
		"  -L, --label TEXT       a label for the new version\n"
		"  -n, --dry-run          compute what would be stored; write nothing\n"
		"  -f, --force-version    publish a new version even when nothing changed\n"
		"      --sign-key KEY     sign the version with the Ed25519 key KEY (hfc-index keygen)\n"
		"      --expires WHEN     the signature's expiry: a time (YYYY-MM-DDTHH:MM:SSZ) or a\n"
		"                         duration (14d, 12h); default 30d\n"
		"      --json             print the summary as one JSON object\n"
		"  -q, --quiet            no progress bar and no summary\n"
		"  -h, --help             show this help\n",
		HFC_LEVEL_DEFAULT);
}

typedef enum Input { IN_IMAGE, IN_ARCHIVE, IN_DIR, IN_CLOOP } Input;

typedef struct Args {
	HfcBuildOptions build;
	const char *sign_key; /* --sign-key */
	int64_t now;
	HfcTreeBuildOptions tree;
	HfcOutArgs out;
	Input input;
	const char *image, *site;
	uint8_t uuid[16], hash_seed[16];
} Args;

static int print_result(const Args *a, const HfcBuildResult *res, const HfcTreeBuildStats *ts)
{
	double mbs = res->seconds > 0 ? (double)res->bytes_read / res->seconds / 1e6 : 0;
	if (a->out.json)
		return hfc_json_print(stdout,
			json_pack("{s:o, s:i, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, "
				  "s:I, s:I, s:I, s:I}",
				  "site", hfc_json_str(a->site), "version", (json_int_t)res->version,
				  "published", res->published, "unchanged", res->unchanged,
				  "dry_run", a->build.dry_run, "image_size", (json_int_t)res->image_size,
				  "blocks", (json_int_t)res->blocks, "new", (json_int_t)res->new_blocks,
				  "reused", (json_int_t)res->reused, "zero", (json_int_t)res->zero,
				  "bytes_read", (json_int_t)res->bytes_read,
				  "bytes_written", (json_int_t)res->bytes_written,
				  "seconds", hfc_json_seconds(res->seconds), "mb_per_s", hfc_json_rate(mbs),
				  "files_kept", (json_int_t)ts->files_kept,
				  "files_written", (json_int_t)ts->files_written,
				  "blocks_written", (json_int_t)ts->blocks_written,
				  "blocks_ahead", (json_int_t)res->ahead));
	if (a->out.quiet)
		return 0;
	char rd[32], wr[32];
	hfc_format_bytes(res->bytes_read, rd, sizeof(rd));
	hfc_format_bytes(res->bytes_written, wr, sizeof(wr));
	const char *what = res->unchanged ? "unchanged, still version"
			   : a->build.dry_run ? "dry run, would be version"
					      : "version";
	printf("%s: %s %u: %" PRIu64 " blocks, %" PRIu64 " new, %" PRIu64 " reused, %" PRIu64
	       " zero; read %s, wrote %s in %.2f s (%.1f MB/s)\n",
	       a->site, what, res->version, res->blocks, res->new_blocks, res->reused, res->zero, rd,
	       wr, res->seconds, mbs);
	if (a->input != IN_IMAGE && a->input != IN_CLOOP)
		printf("%s: files: %" PRIu64 " kept, %" PRIu64 " written; %" PRIu64
		       " site blocks written\n",
		       a->site, ts->files_kept, ts->files_written, ts->blocks_written);
	return 0;
}

static int load_tree(Args *a, HfcTree **ret, HfcErr *err)
{
	if (a->input == IN_DIR)
		return hfc_tree_from_dir(a->image, ret, err);
	bool in = !strcmp(a->image, "-");
	int fd = in ? STDIN_FILENO : open(a->image, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int r = negative_errno();
		return hfc_err_set(err, r, "%s: %s", a->image, strerror(-r));
	}
	int r = hfc_tree_from_archive(fd, NULL, NULL, in ? "stdin" : a->image, NULL, ret, err);
	if (!in)
		close(fd);
	return r;
}

static int run(Args *a)
{
	_cleanup_(hfc_key_freep) HfcKey *key = NULL;
	if (a->sign_key) {
		HfcErr kerr = { "" };
		int k = hfc_key_load(a->sign_key, true, &key, &kerr);
		if (k < 0)
			return hfc_log_err(k, &kerr);
		a->build.sign_key = key;
		if (!a->build.sign_expires)
			a->build.sign_expires = a->now + 30 * 86400;
	}
	HfcProgressBar bar;
	a->build.progress = hfc_progress_bar(&bar, !a->out.quiet && !a->out.json);
	HfcBuildResult res = { 0 };
	HfcTreeBuildStats ts = { 0 };
	HfcErr err = { "" };
	int r;
	if (a->input == IN_IMAGE) {
		r = hfc_build(a->image, a->site, &a->build, &res, &err);
	} else if (a->input == IN_CLOOP) {
		r = hfc_build_cloop(a->image, a->site, &a->build, &res, &err);
	} else {
		_cleanup_(hfc_tree_freep) HfcTree *t = NULL;
		r = load_tree(a, &t, &err);
		a->tree.build = a->build;
		if (r >= 0)
			r = hfc_build_tree(t, a->site, &a->tree, &res, &ts, &err);
	}
	hfc_progress_bar_end(&bar);
	if (r < 0)
		return hfc_log_err(r, &err);
	if (res.unchanged && a->build.label && !a->out.quiet)
		hfc_log_warn("image unchanged: label not used (--force-version publishes anyway)");
	r = print_result(a, &res, &ts);
	if (r < 0)
		return hfc_log_errno(r, "stdout");
	return hfc_stdout_flush();
}

enum { OPT_SIGN_KEY = 256, OPT_EXPIRES };

/* A UUID: 32 hex digits, with dashes anywhere (as mke2fs -U takes them). */
static int parse_uuid(const char *s, uint8_t out[16])
{
	size_t n = 0;
	for (; *s; s++) {
		if (*s == '-')
			continue;
		int v = *s >= '0' && *s <= '9' ? *s - '0'
			: *s >= 'a' && *s <= 'f' ? *s - 'a' + 10
			: *s >= 'A' && *s <= 'F' ? *s - 'A' + 10
						 : -1;
		if (v < 0 || n >= 32)
			return -EINVAL;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	return n == 32 ? 0 : -EINVAL;
}

static int parse_args(int argc, char **argv, Args *a)
{
	static const struct option opts[] = {
		{ "block-size", required_argument, NULL, 'b' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "level", required_argument, NULL, 'l' },
		{ "hash", required_argument, NULL, 'H' },
		{ "label", required_argument, NULL, 'L' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force-version", no_argument, NULL, 'f' },
		{ "sign-key", required_argument, NULL, OPT_SIGN_KEY },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "from-archive", required_argument, NULL, 'A' },
		{ "from-dir", required_argument, NULL, 'D' },
		{ "from-cloop", required_argument, NULL, 'C' },
		{ "base", no_argument, NULL, 'B' },
		{ "size", required_argument, NULL, 'S' },
		{ "inodes", required_argument, NULL, 'I' },
		{ "fs-label", required_argument, NULL, 'F' },
		{ "uuid", required_argument, NULL, 'U' },
		{ "hash-seed", required_argument, NULL, 'E' },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	HfcBuildOptions *o = &a->build;
	uint64_t v;
	int c, r = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, "b:j:l:H:L:nfqh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (hfc_parse_size(optarg, &v) < 0 || !hfc_block_size_valid(v)) {
				hfc_log_error("--block-size",
					      "'%s' is not a multiple of 512 from 4096 to 67108864",
					      optarg);
				return HFC_USAGE;
			}
			o->block_size = (uint32_t)v;
			break;
		case 'j':
			r = hfc_opt_jobs(optarg, &o->jobs);
			break;
		case 'l':
			r = hfc_opt_uint("--level", optarg, HFC_LEVEL_MIN, HFC_LEVEL_MAX, &v);
			o->level = (int)v;
			break;
		case 'H':
			if (hfc_hash_from_name(optarg, &o->hash) < 0) {
				hfc_log_error("--hash", "'%s' is not md5 or sha256", optarg);
				return HFC_USAGE;
			}
			o->hash_set = true;
			break;
		case 'L':
			if (!hfc_label_valid(optarg)) {
				hfc_log_error("--label", "1 to %d printable UTF-8 bytes expected",
					      HFC_LABEL_MAX);
				return HFC_USAGE;
			}
			o->label = optarg;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'f':
			o->force_version = true;
			break;
		case OPT_SIGN_KEY:
			a->sign_key = optarg;
			break;
		case OPT_EXPIRES:
			r = hfc_opt_expires("--expires", optarg, a->now, &o->sign_expires);
			break;
		case 'A':
		case 'D':
		case 'C':
			if (a->input != IN_IMAGE)
				return hfc_usage_error("one input only (--from-archive, --from-dir or "
						       "--from-cloop)");
			a->input = c == 'A' ? IN_ARCHIVE : c == 'D' ? IN_DIR : IN_CLOOP;
			a->image = optarg;
			break;
		case 'B':
			a->tree.base = true;
			break;
		case 'S':
			r = hfc_opt_size("--size", optarg, 1u << 20, &v);
			if (r >= 0 && v % 4096) {
				hfc_log_error("--size", "'%s' is not a multiple of 4096", optarg);
				return HFC_USAGE;
			}
			a->tree.size = v;
			break;
		case 'I':
			r = hfc_opt_uint("--inodes", optarg, 64, UINT32_MAX, &a->tree.inodes);
			break;
		case 'F':
			if (strlen(optarg) > 16) {
				hfc_log_error("--fs-label", "at most 16 bytes");
				return HFC_USAGE;
			}
			a->tree.fs_label = optarg;
			break;
		case 'U':
		case 'E':
			if (parse_uuid(optarg, c == 'U' ? a->uuid : a->hash_seed) < 0) {
				hfc_log_error(c == 'U' ? "--uuid" : "--hash-seed",
					      "'%s' is not a UUID (32 hex digits, dashes allowed)",
					      optarg);
				return HFC_USAGE;
			}
			if (c == 'U')
				a->tree.uuid = a->uuid;
			else
				a->tree.hash_seed = a->hash_seed;
			break;
		default:
			r = hfc_common_opt(c, usage, &a->out);
			break;
		}
	}
	if (r < 0)
		return r;
	if (a->build.sign_expires && !a->sign_key)
		return hfc_usage_error("--expires goes with --sign-key");
	bool tree = a->input == IN_ARCHIVE || a->input == IN_DIR;
	if (!tree && (a->tree.base || a->tree.size || a->tree.inodes || a->tree.fs_label ||
		      a->tree.uuid || a->tree.hash_seed))
		return hfc_usage_error("--base, --size, --inodes, --fs-label, --uuid and "
				       "--hash-seed go with --from-archive or --from-dir");
	if (a->input == IN_IMAGE) {
		if (argc - optind != 2)
			return hfc_usage_error("expected IMAGE and SITE");
		a->image = argv[optind];
		a->site = argv[optind + 1];
		return 0;
	}
	if (argc - optind != 1)
		return hfc_usage_error("expected SITE after the input");
	a->site = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	hfc_log_set_program("hfc-mkimage");
	Args a = { .now = hfc_realtime() };
	int r = parse_args(argc, argv, &a);
	if (r >= 0)
		r = run(&a);
	return hfc_exit_status(r);
}
