/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-profile: DLAHEAD profiles from traces; show, carry to a new version, install in a site. */

#include "programs/cli.h"
#include "base/fileio.h"
#include "programs/log.h"
#include "formats/profile.h"
#include "formats/trace.h"
#include "programs/json.h"
#include "programs/progress.h"
#include "client/remote.h"
#include "site/profiles.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct Args {
	const char *output, *site, *trace;
	uint32_t version, to;
	HfcTraceFormat format;
	double min_share;
	HfcOutArgs out;
} Args;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hfc-profile record -o OUT --site SITE [-v N] [--format F] [--min-share X] TRACE...\n"
		"       hfc-profile show PROFILE [--site SITE [-v N]] [--trace TRACE]\n"
		"       hfc-profile carry PROFILE SITE --to N -o OUT\n"
		"       hfc-profile install PROFILE SITE [-v N]\n"
		"DLAHEAD profiles: the blocks a boot reads, in order, for hfc-mount --prefetch.\n"
		"\n"
		"  -o, --output FILE     where record and carry write the profile\n"
		"  -s, --site SITE       the site (a directory or an http(s):// URL) whose index names\n"
		"                        the blocks\n"
		"  -v, --version N       the site's version (record: default the version a client\n"
		"                        trace names, else the current one)\n"
		"      --to N            carry: the version to carry the profile to\n"
		"      --format F        traces are auto (default), client (hfc-mount --trace),\n"
		"                        blkparse (blkparse output of a loop device) or sectors\n"
		"                        ('sector count' lines, 512-byte sectors)\n"
		"      --min-share X     keep blocks read in at least this share of the runs\n"
		"                        (0 < X <= 1, default 0.5)\n"
		"      --trace TRACE     show: how much of this trace's reads the profile covers\n"
		"      --json            machine-readable output (record, show, carry)\n"
		"  -q, --quiet           no summary\n"
		"  -h, --help            show this help\n");
}

/* Opens a site (directory or URL) read-only for its index of version v (0: current). */
static int open_site_index(const char *site, uint32_t v, HfcRemote **ret)
{
	HfcRemoteOptions o;
	hfc_remote_options_default(&o);
	o.version = v;
	o.readahead = 0;
	o.mem_cache = 0;
	o.http.probe = false;
	HfcErr err = { "" };
	int r = hfc_remote_open(&site, 1, &o, ret, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	return 0;
}

static int write_profile(const HfcProfile *p, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = hfc_profile_format(p, &buf, &len);
	if (r < 0)
		return hfc_log_errno(r, "profile");
	HfcOutput out;
	r = hfc_output_open(path, &out);
	if (r >= 0)
		r = hfc_write_all(out.fd, buf, len);
	if (r >= 0)
		r = hfc_output_commit(&out, len);
	hfc_output_discard(&out);
	if (r < 0)
		return hfc_log_errno(r, path);
	return 0;
}

/* The stored bytes of a profile's blocks whose names are the index's (what a prefetch fetches). */
static uint64_t fetch_bytes(const HfcProfile *p, const HfcIndex *idx)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < p->n; i++) {
		const HfcIndexEntry *e = &idx->entries[p->e[i].block];
		if (e->stored && memcmp(e->hash, p->e[i].hash, hfc_hash_len(idx->hash)) == 0)
			bytes += e->stored;
	}
	return bytes;
}

static int cmd_record(char **traces, int ntraces, const Args *a)
{
	if (!a->output || !a->site)
		return hfc_usage_error("record needs -o OUT and --site SITE");
	/* Traces may be pipes: each is read once, before anything else. */
	char **bufs = calloc((size_t)ntraces, sizeof(char *));
	size_t *lens = calloc((size_t)ntraces, sizeof(size_t));
	HfcTraceRun *runs = calloc((size_t)ntraces, sizeof(*runs));
	int r = bufs && lens && runs ? 0 : hfc_log_errno(-ENOMEM, "record");
	for (int k = 0; k < ntraces && r >= 0; k++) {
		r = hfc_read_input(traces[k], HFC_TRACE_MAX_BYTES, &bufs[k], &lens[k]);
		if (r < 0)
			hfc_log_errno(r, traces[k]);
	}
	/* The version: -v, else the one the first client trace names, else the current one. */
	uint32_t version = a->version;
	if (r >= 0 && !version)
		version = hfc_trace_version(bufs[0], lens[0]);
	_cleanup_(hfc_remote_freep) HfcRemote *cur = NULL;
	if (r >= 0 && open_site_index(a->site, version, &cur) < 0)
		r = -1;
	const HfcIndex *idx = cur ? hfc_remote_index(cur) : NULL;
	uint32_t trace_version = 0;
	for (int k = 0; k < ntraces && r >= 0; k++) {
		HfcErr err = { "" };
		uint32_t tv;
		r = hfc_trace_parse(bufs[k], lens[k], traces[k], a->format, idx->image_size,
				    idx->block_size, &runs[k], &tv, &err);
		if (r < 0) {
			hfc_log_err(r, &err);
			break;
		}
		if (tv && trace_version && tv != trace_version) {
			hfc_log_error(traces[k], "traces of versions %u and %u: record each version apart",
				      trace_version, tv);
			r = -EINVAL;
			break;
		}
		if (tv)
			trace_version = tv;
	}
	for (int k = 0; bufs && k < ntraces; k++)
		free(bufs[k]);
	free(bufs);
	free(lens);
	const HfcIndex *use = idx;
	_cleanup_(hfc_profile_freep) HfcProfile *p = NULL;
	if (r >= 0) {
		r = hfc_profile_from_runs(runs, (size_t)ntraces, a->min_share, use, &p);
		if (r < 0)
			hfc_log_errno(r, "record");
	}
	for (int k = 0; runs && k < ntraces; k++)
		hfc_trace_run_done(&runs[k]);
	free(runs);
	if (r < 0)
		return -1;
	if (write_profile(p, a->output) < 0)
		return -1;
	uint64_t bytes = fetch_bytes(p, use);
	if (a->out.json)
		return hfc_json_print(stdout, json_pack("{s:o, s:I, s:i, s:I, s:I}", "profile",
							hfc_json_str(a->output), "version",
							(json_int_t)p->version, "runs", ntraces,
							"blocks", (json_int_t)p->n,
							"bytes", (json_int_t)bytes));
	if (!a->out.quiet) {
		char b[32];
		hfc_format_bytes(bytes, b, sizeof(b));
		/* With -o - the profile is the output: the summary goes to stderr. */
		fprintf(strcmp(a->output, "-") == 0 ? stderr : stdout,
			"%s: version %u, %zu block%s (%s to fetch) from %d run%s\n", a->output,
			p->version, p->n, p->n == 1 ? "" : "s", b, ntraces, ntraces == 1 ? "" : "s");
	}
	return 0;
}

static int cmd_show(const char *path, const Args *a)
{
	_cleanup_(hfc_profile_freep) HfcProfile *p = NULL;
	HfcErr err = { "" };
	int r = hfc_profile_load(path, &p, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	_cleanup_(hfc_remote_freep) HfcRemote *site = NULL;
	const HfcIndex *idx = NULL;
	size_t same = 0, changed = 0, zero = 0;
	uint64_t bytes = 0;
	if (a->site) {
		if (open_site_index(a->site, a->version ? a->version : p->version, &site) < 0)
			return -1;
		idx = hfc_remote_index(site);
		HfcErr e2 = { "" };
		r = hfc_profile_match(p, idx, &same, &changed, &zero, &e2);
		if (r < 0)
			return hfc_log_error(path, "%s", e2.msg);
		bytes = fetch_bytes(p, idx);
	}
	double coverage = -1;
	size_t trace_blocks = 0, covered = 0;
	if (a->trace) {
		_cleanup_free_ char *buf = NULL;
		size_t len;
		r = hfc_read_input(a->trace, HFC_TRACE_MAX_BYTES, &buf, &len);
		if (r < 0)
			return hfc_log_errno(r, a->trace);
		HfcTraceRun run;
		uint32_t tv;
		r = hfc_trace_parse(buf, len, a->trace, a->format, p->image_size, p->block_size, &run,
				    &tv, &err);
		if (r < 0)
			return hfc_log_err(r, &err);
		uint64_t nb = DIV_ROUND_UP(p->image_size, p->block_size);
		uint8_t *in = calloc(nb / 8 + 1, 1);
		if (!in) {
			hfc_trace_run_done(&run);
			return hfc_log_errno(-ENOMEM, "show");
		}
		for (size_t i = 0; i < p->n; i++)
			in[p->e[i].block / 8] |= (uint8_t)(1u << (p->e[i].block % 8));
		for (size_t i = 0; i < run.n; i++) {
			uint64_t b = run.blocks[i];
			if (idx && !idx->entries[b].stored)
				continue; /* zero blocks cost nothing: not counted */
			trace_blocks++;
			if (in[b / 8] & (1u << (b % 8)))
				covered++;
		}
		free(in);
		hfc_trace_run_done(&run);
		coverage = trace_blocks ? (double)covered / (double)trace_blocks : 1.0;
	}
	if (a->out.json) {
		json_t *o = json_pack("{s:o, s:I, s:I, s:I, s:s, s:I}", "profile", hfc_json_str(path),
				      "version", (json_int_t)p->version,
				      "image_size", (json_int_t)p->image_size,
				      "block_size", (json_int_t)p->block_size,
				      "hash", hfc_hash_name(p->hash), "blocks", (json_int_t)p->n);
		if (o && idx)
			json_object_update_new(o, json_pack("{s:I, s:I, s:I, s:I, s:I}", "site_version",
							    (json_int_t)idx->version,
							    "same", (json_int_t)same,
							    "changed", (json_int_t)changed,
							    "zero", (json_int_t)zero,
							    "bytes", (json_int_t)bytes));
		if (o && coverage >= 0)
			json_object_update_new(o, json_pack("{s:I, s:I, s:f}", "trace_blocks",
							    (json_int_t)trace_blocks,
							    "covered", (json_int_t)covered,
							    "coverage", round(coverage * 1e4) / 1e4));
		return hfc_json_print(stdout, o);
	}
	printf("profile:     %s\nversion:     %u\nimage size:  %" PRIu64 "\nblock size:  %u\n"
	       "hash:        %s\nblocks:      %zu\n",
	       path, p->version, p->image_size, p->block_size, hfc_hash_name(p->hash), p->n);
	if (idx) {
		char b[32];
		hfc_format_bytes(bytes, b, sizeof(b));
		printf("at version %u: %zu same, %zu changed, %zu now zero; %s to fetch\n",
		       idx->version, same, changed, zero, b);
	}
	if (coverage >= 0)
		printf("trace %s: %zu of %zu blocks read are in the profile (%.1f%%)\n", a->trace,
		       covered, trace_blocks, coverage * 100);
	return 0;
}

static int cmd_carry(const char *path, const char *site, const Args *a)
{
	if (!a->to || !a->output)
		return hfc_usage_error("carry needs --to N and -o OUT");
	_cleanup_(hfc_profile_freep) HfcProfile *p = NULL;
	HfcErr err = { "" };
	int r = hfc_profile_load(path, &p, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	_cleanup_(hfc_remote_freep) HfcRemote *rem = NULL;
	if (open_site_index(site, a->to, &rem) < 0)
		return -1;
	const HfcIndex *idx = hfc_remote_index(rem);
	size_t same, changed, zero;
	r = hfc_profile_check(p, idx, path, NULL, &err);
	if (r >= 0)
		r = hfc_profile_match(p, idx, &same, &changed, &zero, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	_cleanup_(hfc_profile_freep) HfcProfile *q = NULL;
	r = hfc_profile_carry(p, idx, &q, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	if (write_profile(q, a->output) < 0)
		return -1;
	if (a->out.json)
		return hfc_json_print(stdout, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "from",
							(json_int_t)p->version, "to",
							(json_int_t)idx->version, "blocks",
							(json_int_t)q->n, "same", (json_int_t)same,
							"changed", (json_int_t)changed,
							"dropped", (json_int_t)zero));
	if (!a->out.quiet)
		fprintf(strcmp(a->output, "-") == 0 ? stderr : stdout,
			"%s: version %u -> %u: %zu blocks, %zu changed, %zu now zero (dropped)\n",
			a->output, p->version, idx->version, q->n, changed, zero);
	return 0;
}

static int cmd_install(const char *path, const char *site_path, const Args *a)
{
	_cleanup_(hfc_profile_freep) HfcProfile *p = NULL;
	HfcErr err = { "" };
	int r = hfc_profile_load(path, &p, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	r = hfc_site_open(site_path, false, &s, &err);
	if (r >= 0)
		r = hfc_site_lock(s, true, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	uint32_t v = a->version ? a->version : p->version;
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	r = hfc_site_load_index(s, v, &idx, &err);
	if (r >= 0)
		r = hfc_site_profile_install(s, idx, p, path, NULL, &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	if (!a->out.quiet) {
		char rel[HFC_LAYOUT_PATH_MAX];
		hfc_layout_path(HFC_LAYOUT_PROFILE, v, rel);
		printf("%s/%s: %zu block%s for version %u\n", site_path, rel, p->n,
		       p->n == 1 ? "" : "s", v);
	}
	return 0;
}

static int parse_args(int argc, char **argv, Args *a)
{
	enum { OPT_TO = 256, OPT_FORMAT, OPT_SHARE, OPT_TRACE };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "site", required_argument, NULL, 's' },
		{ "version", required_argument, NULL, 'v' },
		{ "to", required_argument, NULL, OPT_TO },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "min-share", required_argument, NULL, OPT_SHARE },
		{ "trace", required_argument, NULL, OPT_TRACE },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	uint64_t v;
	int c, r = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, "o:s:v:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			a->output = optarg;
			break;
		case 's':
			a->site = optarg;
			break;
		case 'v':
		case OPT_TO:
			r = hfc_opt_uint(c == 'v' ? "--version" : "--to", optarg, 1, HFC_VERSION_MAX,
					 &v);
			*(c == 'v' ? &a->version : &a->to) = (uint32_t)v;
			break;
		case OPT_FORMAT:
			if (hfc_trace_format_from_name(optarg, &a->format) < 0) {
				hfc_log_error("--format", "'%s' is not auto, client, blkparse or sectors",
					      optarg);
				return HFC_USAGE;
			}
			break;
		case OPT_SHARE: {
			char *end;
			errno = 0;
			a->min_share = strtod(optarg, &end);
			if (errno || *end || !(a->min_share > 0 && a->min_share <= 1)) {
				hfc_log_error("--min-share", "'%s' is not a share in (0, 1]", optarg);
				return HFC_USAGE;
			}
			break;
		}
		case OPT_TRACE:
			a->trace = optarg;
			break;
		default:
			r = hfc_common_opt(c, usage, &a->out);
			break;
		}
	}
	return r;
}

static int run(int argc, char **argv, const Args *a)
{
	int n = argc - optind;
	if (n < 1)
		return hfc_usage_error("expected a command");
	const char *cmd = argv[optind];
	char **rest = argv + optind + 1;
	n--;
	int r;
	if (strcmp(cmd, "record") == 0 && n >= 1)
		r = cmd_record(rest, n, a);
	else if (strcmp(cmd, "show") == 0 && n == 1)
		r = cmd_show(rest[0], a);
	else if (strcmp(cmd, "carry") == 0 && n == 2)
		r = cmd_carry(rest[0], rest[1], a);
	else if (strcmp(cmd, "install") == 0 && n == 2)
		r = cmd_install(rest[0], rest[1], a);
	else
		return hfc_usage_error("unknown command or wrong arguments '%s'", cmd);
	if (r >= 0)
		r = hfc_stdout_flush();
	return r;
}

int main(int argc, char **argv)
{
	hfc_log_set_program("hfc-profile");
	Args a = { .min_share = 0.5 };
	int r = parse_args(argc, argv, &a);
	if (r >= 0)
		r = run(argc, argv, &a);
	return hfc_exit_status(r);
}
