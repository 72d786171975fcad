/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-index: list, show, print, verify, extract, roll back and prune the versions of a site. */

#include "cli.h"
#include "hashset.h"
#include "history.h"
#include "image.h"
#include "log.h"
#include "pipeline.h"
#include "progress.h"
#include "store.h"
#include "verify.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct Args {
	bool json, quiet;
	unsigned jobs;
	uint32_t version; /* 0: current */
	HfcPruneOptions prune;
	bool keep_set;
} Args;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-index COMMAND [OPTIONS] SITE [ARGS]\n"
		"List, show, print, verify, extract, roll back and prune the versions of a site.\n"
		"\n"
		"Commands:\n"
		"  list SITE                 every version: number, date, blocks, new bytes, label\n"
		"  show SITE [N]             one version in detail (default: the current one)\n"
		"  cat SITE [N]              print an index file, after checking it\n"
		"  verify SITE               check every index and every block file; report orphans\n"
		"  extract SITE [-v N] OUT   rebuild the image, checking each block (OUT - is stdout)\n"
		"  rollback SITE N           publish a new version whose blocks are version N's\n"
		"  prune SITE --keep K       remove old versions and the block files only they name\n"
		"        [--keep-since DATE] [--yes]   (a dry run without --yes)\n"
		"\n"
		"Options:\n"
		"  -v, --version N   the version to use (extract; show and cat also take N)\n"
		"  -j, --jobs N      threads (default: all cores)\n"
		"      --json        machine-readable output (list, show, verify, rollback, prune)\n"
		"      --keep K      prune: keep the K newest versions (and always the current one)\n"
		"      --keep-since DATE  prune: also keep versions created at or after DATE\n"
		"                    (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)\n"
		"      --yes         prune: delete (without it, only show what would go)\n"
		"  -q, --quiet       no progress bar, no summary\n"
		"  -h, --help        show this help\n");
}

static int open_site(const char *path, HfcSite **ret)
{
	HfcErr err = { "" };
	int r = hfc_site_open(path, false, ret, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	r = hfc_site_lock(*ret, false, &err);
	if (r < 0) {
		hfc_site_free(*ret);
		*ret = NULL;
		return hfc_log_err(r, &err);
	}
	return 0;
}

static int load(HfcSite *s, uint32_t v, HfcIndex **ret)
{
	HfcErr err = { "" };
	int r = hfc_site_load_index(s, v, ret, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	return 0;
}

static int cmd_list(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	if (open_site(path, &s) < 0)
		return -1;
	_cleanup_free_ uint32_t *vs = NULL;
	size_t n;
	int r = hfc_site_versions(s, &vs, &n);
	if (r < 0)
		return hfc_log_errno(r, path);
	_cleanup_(hfc_index_freep) HfcIndex *cur = NULL;
	uint32_t current = 0;
	if (n && hfc_site_load_index(s, 0, &cur, NULL) >= 0)
		current = cur->version;
	_cleanup_(hfc_hashmap_freep) HfcHashMap *seen = NULL;
	if (a->json)
		printf("[");
	else
		printf("%-8s %-20s %8s %12s  %s\n", "VERSION", "CREATED", "BLOCKS", "NEW", "LABEL");
	for (size_t k = 0; k < n; k++) {
		_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
		if (load(s, vs[k], &idx) < 0)
			return -1;
		if (!seen && hfc_hashmap_new(hfc_hash_len(idx->hash), &seen) < 0)
			return hfc_log_errno(-ENOMEM, "list");
		uint64_t nb, bytes;
		if (hfc_index_account(idx, seen, &nb, &bytes) < 0)
			return hfc_log_errno(-ENOMEM, "list");
		char t[32], sz[32];
		hfc_format_time(idx->created, t, sizeof(t));
		if (a->json) {
			printf("%s{\"version\":%u,\"current\":%s,\"created\":\"%s\",\"label\":",
			       k ? "," : "", idx->version, idx->version == current ? "true" : "false",
			       t);
			hfc_json_string(stdout, idx->label);
			printf(",\"blocks\":%" PRIu64 ",\"image_size\":%" PRIu64
			       ",\"new_blocks\":%" PRIu64 ",\"new_bytes\":%" PRIu64 "}",
			       idx->nblocks, idx->image_size, nb, bytes);
		} else {
			hfc_format_bytes(bytes, sz, sizeof(sz));
			printf("%-8u %-20s %8" PRIu64 " %12s  %s%s\n", idx->version, t, idx->nblocks, sz,
			       idx->version == current ? "* " : "", idx->label);
		}
	}
	if (a->json)
		printf("]\n");
	return 0;
}

static int cmd_show(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	if (open_site(path, &s) < 0)
		return -1;
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	if (load(s, a->version, &idx) < 0)
		return -1;
	/* New bytes: block files this version names that no earlier version named. */
	_cleanup_(hfc_hashmap_freep) HfcHashMap *seen = NULL;
	if (hfc_hashmap_new(hfc_hash_len(idx->hash), &seen) < 0)
		return hfc_log_errno(-ENOMEM, "show");
	_cleanup_free_ uint32_t *vs = NULL;
	size_t n;
	int r = hfc_site_versions(s, &vs, &n);
	if (r < 0)
		return hfc_log_errno(r, path);
	for (size_t k = 0; k < n && vs[k] < idx->version; k++) {
		_cleanup_(hfc_index_freep) HfcIndex *old = NULL;
		if (load(s, vs[k], &old) < 0)
			return -1;
		if (old->hash == idx->hash && hfc_index_account(old, seen, NULL, NULL) < 0)
			return hfc_log_errno(-ENOMEM, "show");
	}
	uint64_t zero = 0, stored = 0, new_blocks, new_bytes;
	for (uint64_t i = 0; i < idx->nblocks; i++) {
		if (!idx->entries[i].stored)
			zero++;
	}
	_cleanup_(hfc_hashmap_freep) HfcHashMap *mine = NULL;
	if (hfc_hashmap_new(hfc_hash_len(idx->hash), &mine) < 0)
		return hfc_log_errno(-ENOMEM, "show");
	uint64_t distinct;
	if (hfc_index_account(idx, mine, &distinct, &stored) < 0 ||
	    hfc_index_account(idx, seen, &new_blocks, &new_bytes) < 0)
		return hfc_log_errno(-ENOMEM, "show");
	char t[32], end[65], parent[65] = "";
	hfc_format_time(idx->created, t, sizeof(t));
	hfc_hex_encode(idx->end_sha256, 32, end);
	if (idx->parent)
		hfc_hex_encode(idx->parent_sha256, 32, parent);
	if (a->json) {
		printf("{\"version\":%u,\"parent\":", idx->version);
		if (idx->parent)
			printf("%u,\"parent_sha256\":\"%s\"", idx->parent, parent);
		else
			printf("null");
		printf(",\"created\":\"%s\",\"label\":", t);
		hfc_json_string(stdout, idx->label);
		printf(",\"image_size\":%" PRIu64 ",\"block_size\":%u,\"hash\":\"%s\","
		       "\"compression\":\"zlib\",\"blocks\":%" PRIu64 ",\"zero_blocks\":%" PRIu64
		       ",\"distinct_blocks\":%" PRIu64 ",\"stored_bytes\":%" PRIu64
		       ",\"new_blocks\":%" PRIu64 ",\"new_bytes\":%" PRIu64
		       ",\"end_sha256\":\"%s\",\"signed\":%s}\n",
		       idx->image_size, idx->block_size, hfc_hash_name(idx->hash), idx->nblocks, zero,
		       distinct, stored, new_blocks, new_bytes, end, idx->signature ? "true" : "false");
		return 0;
	}
	char a1[32], a2[32], a3[32];
	hfc_format_bytes(idx->image_size, a1, sizeof(a1));
	hfc_format_bytes(stored, a2, sizeof(a2));
	hfc_format_bytes(new_bytes, a3, sizeof(a3));
	printf("version:      %u\n", idx->version);
	if (idx->parent)
		printf("parent:       %u (sha256 %s)\n", idx->parent, parent);
	else
		printf("parent:       none\n");
	printf("created:      %s\n", t);
	printf("label:        %s\n", idx->label);
	printf("image size:   %" PRIu64 " bytes (%s)\n", idx->image_size, a1);
	printf("block size:   %u\n", idx->block_size);
	printf("hash:         %s\n", hfc_hash_name(idx->hash));
	printf("compression:  zlib\n");
	printf("blocks:       %" PRIu64 " (%" PRIu64 " zero, %" PRIu64 " distinct files, %s)\n",
	       idx->nblocks, zero, distinct, a2);
	printf("new:          %" PRIu64 " block files, %s (not in any earlier version)\n",
	       new_blocks, a3);
	printf("end sha256:   %s\n", end);
	printf("signature:    %s\n", idx->signature ? "present" : "none");
	return 0;
}

static int cmd_cat(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	if (open_site(path, &s) < 0)
		return -1;
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	if (load(s, a->version, &idx) < 0)
		return -1;
	/* Print what was checked, re-serialised from the parsed index: byte-identical. */
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = hfc_index_format(idx, &buf, &len);
	if (r < 0)
		return hfc_log_errno(r, "cat");
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
		return hfc_log_errno(-errno, "stdout");
	return 0;
}

static void report(void *ud, bool fault, const char *msg)
{
	(void)ud;
	if (fault)
		fprintf(stderr, "%s: %s\n", hfc_log_program(), msg);
	else
		hfc_log_warn("%s", msg);
}

static int cmd_verify(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	if (open_site(path, &s) < 0)
		return -1;
	double t0 = hfc_monotonic();
	HfcVerifyResult res;
	int r = hfc_site_verify(s, a->jobs, !a->quiet && !a->json, report, NULL, &res);
	if (r < 0)
		return hfc_log_errno(r, path);
	double sec = hfc_monotonic() - t0;
	if (a->json) {
		printf("{\"site\":");
		hfc_json_string(stdout, path);
		printf(",\"versions\":%u,\"blocks_checked\":%" PRIu64 ",\"bytes_checked\":%" PRIu64
		       ",\"faults\":%" PRIu64 ",\"orphans\":%" PRIu64 ",\"orphan_bytes\":%" PRIu64
		       ",\"ok\":%s,\"seconds\":%.3f}\n",
		       res.versions, res.blocks_checked, res.bytes_checked, res.faults, res.orphans,
		       res.orphan_bytes, res.faults ? "false" : "true", sec);
	} else if (!a->quiet) {
		char b1[32], b2[32];
		hfc_format_bytes(res.bytes_checked, b1, sizeof(b1));
		hfc_format_bytes(res.orphan_bytes, b2, sizeof(b2));
		printf("%s: %s: %u versions, %" PRIu64 " block files checked (%s), %" PRIu64
		       " faults, %" PRIu64 " orphans (%s) in %.2f s\n",
		       path, res.faults ? "FAILED" : "ok", res.versions, res.blocks_checked, b1,
		       res.faults, res.orphans, b2, sec);
	}
	return res.faults ? -1 : 0;
}

static int cmd_extract(const char *path, const char *out_path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	if (open_site(path, &s) < 0)
		return -1;
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	if (load(s, a->version, &idx) < 0)
		return -1;
	HfcOutput out;
	int r = hfc_output_open(out_path, &out);
	if (r < 0) {
		hfc_output_discard(&out);
		return hfc_log_errno(r, out_path);
	}
	double t0 = hfc_monotonic();
	HfcErr err = { "" };
	unsigned jobs = a->jobs ? a->jobs : hfc_cpu_count();
	_cleanup_(hfc_site_reader_freep) HfcSiteReader *sr = NULL;
	r = hfc_site_reader_new(s, idx, jobs, &sr);
	if (r < 0) {
		hfc_output_discard(&out);
		return hfc_log_errno(r, "extract");
	}
	r = hfc_image_write(idx, hfc_site_reader_block, sr, &out, jobs, !a->quiet, "extract", &err);
	if (r < 0) {
		hfc_output_discard(&out);
		return hfc_log_err(r, &err);
	}
	r = hfc_output_commit(&out, idx->image_size);
	if (r < 0) {
		hfc_output_discard(&out);
		return hfc_log_errno(r, out_path);
	}
	hfc_output_discard(&out);
	double sec = hfc_monotonic() - t0;
	if (!a->quiet && strcmp(out_path, "-") != 0) {
		char sz[32];
		hfc_format_bytes(idx->image_size, sz, sizeof(sz));
		printf("%s: version %u, %" PRIu64 " blocks, %s in %.2f s (%.1f MB/s)\n", out_path,
		       idx->version, idx->nblocks, sz, sec,
		       sec > 0 ? (double)idx->image_size / sec / 1e6 : 0);
	}
	return 0;
}

static int cmd_rollback(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	HfcErr err = { "" };
	int r = hfc_site_open(path, false, &s, &err);
	HfcRollbackResult res;
	if (r >= 0)
		r = hfc_site_rollback(s, a->version, &res, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	if (a->json) {
		printf("{\"site\":");
		hfc_json_string(stdout, path);
		printf(",\"version\":%u,\"target\":%u,\"from\":%u,\"blocks\":%" PRIu64 "}\n",
		       res.version, res.target, res.from, res.blocks);
	} else if (!a->quiet) {
		printf("%s: version %u published: rollback to %u (was version %u)\n", path,
		       res.version, res.target, res.from);
	}
	return 0;
}

/* Prints versions as ranges: "1-3, 7". */
static void print_versions(const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		printf("%s%u", i ? ", " : "", v[i]);
		if (j > i)
			printf("-%u", v[j]);
		i = j + 1;
	}
	if (n == 0)
		printf("none");
}

static int cmd_prune(const char *path, const Args *a)
{
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	HfcErr err = { "" };
	int r = hfc_site_open(path, false, &s, &err);
	HfcPruneResult res = { 0 };
	if (r >= 0)
		r = hfc_site_prune(s, &a->prune, &res, &err);
	if (r < 0) {
		hfc_prune_result_done(&res);
		return hfc_log_err(r, &err);
	}
	uint64_t freed = res.block_bytes + res.index_bytes;
	if (a->json) {
		printf("{\"site\":");
		hfc_json_string(stdout, path);
		printf(",\"dry_run\":%s,\"current\":%u,\"removed_versions\":[",
		       res.deleted ? "false" : "true", res.current);
		for (size_t i = 0; i < res.n_removed; i++)
			printf("%s%u", i ? "," : "", res.removed[i]);
		printf("],\"kept_versions\":[");
		for (size_t i = 0; i < res.n_kept; i++)
			printf("%s%u", i ? "," : "", res.kept[i]);
		printf("],\"blocks_removed\":%" PRIu64 ",\"block_bytes\":%" PRIu64
		       ",\"index_bytes\":%" PRIu64 ",\"freed_bytes\":%" PRIu64
		       ",\"blocks_kept\":%" PRIu64 ",\"kept_bytes\":%" PRIu64 "}\n",
		       res.blocks_removed, res.block_bytes, res.index_bytes, freed, res.blocks_kept,
		       res.kept_bytes);
	} else if (!a->quiet) {
		char f[32], k[32];
		hfc_format_bytes(freed, f, sizeof(f));
		hfc_format_bytes(res.kept_bytes, k, sizeof(k));
		printf("%s: %s %zu versions (", path, res.deleted ? "removed" : "would remove",
		       res.n_removed);
		print_versions(res.removed, res.n_removed);
		printf(") and %" PRIu64 " block files: %s %s (%" PRIu64 " bytes); kept %zu versions (",
		       res.blocks_removed, res.deleted ? "freed" : "would free", f, freed, res.n_kept);
		print_versions(res.kept, res.n_kept);
		printf(", current %u) and %" PRIu64 " block files (%s)\n", res.current,
		       res.blocks_kept, k);
		if (!res.deleted)
			printf("dry run: nothing was deleted (--yes deletes)\n");
	}
	hfc_prune_result_done(&res);
	return 0;
}

static int parse_version(const char *s, uint32_t *ret)
{
	uint64_t v;
	if (hfc_parse_uint(s, HFC_VERSION_MAX, &v) < 0 || v == 0) {
		hfc_log_error("version", "'%s' is not a version number", s);
		return -1;
	}
	*ret = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "keep", required_argument, NULL, 'K' },
		{ "keep-since", required_argument, NULL, 'S' },
		{ "yes", no_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	hfc_log_set_program("hfc-index");
	Args a = { 0 };
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "v:j:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if (parse_version(optarg, &a.version) < 0)
				return 2;
			break;
		case 'j':
			if (hfc_opt_uint("--jobs", optarg, 1, 1024, &v) < 0)
				return 2;
			a.jobs = (unsigned)v;
			break;
		case 'J':
			a.json = true;
			break;
		case 'q':
			a.quiet = true;
			break;
		case 'K':
			if (hfc_parse_uint(optarg, HFC_VERSION_MAX, &v) < 0 || v == 0) {
				hfc_log_error("--keep", "'%s' is not a number of versions from 1", optarg);
				return 2;
			}
			a.prune.keep = (uint32_t)v;
			a.keep_set = true;
			break;
		case 'S':
			if (hfc_parse_date(optarg, &a.prune.since) < 0) {
				hfc_log_error("--keep-since", "'%s' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
					      optarg);
				return 2;
			}
			a.prune.since_set = true;
			a.keep_set = true;
			break;
		case 'y':
			a.prune.yes = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	int nargs = argc - optind;
	if (nargs < 1) {
		hfc_log_error("usage", "expected a command (see --help)");
		return 2;
	}
	const char *cmd = argv[optind];
	char **rest = argv + optind + 1;
	nargs--;
	int r;
	if (a.version && (strcmp(cmd, "list") == 0 || strcmp(cmd, "verify") == 0 ||
			  strcmp(cmd, "prune") == 0)) {
		hfc_log_error("usage", "'%s' takes no version", cmd);
		return 2;
	}
	bool is_prune = strcmp(cmd, "prune") == 0;
	if (!is_prune && (a.keep_set || a.prune.yes)) {
		hfc_log_error("usage", "--keep, --keep-since and --yes go with 'prune'");
		return 2;
	}
	if (is_prune && !a.keep_set) {
		hfc_log_error("usage", "prune needs --keep K or --keep-since DATE (see --help)");
		return 2;
	}
	if (strcmp(cmd, "list") == 0 && nargs == 1) {
		r = cmd_list(rest[0], &a);
	} else if ((strcmp(cmd, "show") == 0 || strcmp(cmd, "cat") == 0) &&
		   (nargs == 1 || nargs == 2)) {
		if (nargs == 2 && parse_version(rest[1], &a.version) < 0)
			return 2;
		r = cmd[0] == 's' ? cmd_show(rest[0], &a) : cmd_cat(rest[0], &a);
	} else if (strcmp(cmd, "verify") == 0 && nargs == 1) {
		r = cmd_verify(rest[0], &a);
	} else if (strcmp(cmd, "extract") == 0 && nargs == 2) {
		r = cmd_extract(rest[0], rest[1], &a);
	} else if (strcmp(cmd, "rollback") == 0 && (nargs == 2 || (nargs == 1 && a.version))) {
		if (nargs == 2 && parse_version(rest[1], &a.version) < 0)
			return 2;
		r = cmd_rollback(rest[0], &a);
	} else if (is_prune && nargs == 1) {
		r = cmd_prune(rest[0], &a);
	} else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "show") == 0 ||
		   strcmp(cmd, "cat") == 0 || strcmp(cmd, "verify") == 0 ||
		   strcmp(cmd, "extract") == 0 || strcmp(cmd, "rollback") == 0 || is_prune) {
		hfc_log_error("usage", "wrong arguments for '%s' (see --help)", cmd);
		return 2;
	} else {
		hfc_log_error("usage", "unknown command '%s' (see --help)", cmd);
		return 2;
	}
	if (fflush(stdout) != 0) {
		hfc_log_errno(-errno, "stdout");
		return 1;
	}
	return r < 0 ? 1 : 0;
}
