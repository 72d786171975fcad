/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hfc-profile: DLAHEAD profiles from traces; show, carry to a new version, install in a site. */

#include "base/fileio.h"
#include "client/remote.h"
#include "formats/profile.h"
#include "formats/trace.h"
#include "programs/cli.h"
#include "programs/json.h"
#include "programs/log.h"
#include "programs/progress.h"
#include "programs/remote-opts.h"
#include "site/profiles.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
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
		"      --pubkey PUB      trust only the site's indexes signed by this key (repeatable)\n"
		"      --state DIR       where the version floor is kept (see hfc-get(1))\n"
		"      --json            machine-readable output (record, show, carry)\n"
		"  -q, --quiet           no summary\n"
		"  -h, --help            show this help\n");
}

/* How a site given by URL is read: --pubkey and --state, as the clients take them. */
static HfcRemoteOptions site_opts;

/* Opens a site (directory or URL) read-only for its index of version v (0: current). */
static int open_site_index(const char *site, uint32_t v, HfcRemote **ret)
{
	HfcRemoteOptions o = site_opts;
	o.version = v;
	o.readahead = 0;
	o.mem_cache = 0;
	o.http.probe = false;
	HfcErr err = { "" };
	int r = hfc_remote_open(&site, 1, &o, ret, &err);
	return r < 0 ? hfc_log_err(r, &err) : 0;
}

static int load_profile(const char *path, HfcProfile **ret)
{
	HfcErr err = { "" };
	int r = hfc_profile_load(path, ret, &err);
	return r < 0 ? hfc_log_err(r, &err) : 0;
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
	return r < 0 ? hfc_log_errno(r, path) : 0;
}

/* Where a summary goes: with -o - the profile is the output, and the summary goes to stderr. */
static FILE *summary_file(const char *output)
{
	return strcmp(output, "-") == 0 ? stderr : stdout;
}

/* ---- record ---- */

/* The traces of a record: each read once, before anything else (they may be pipes). */
typedef struct Traces {
	int n;
	char **paths, **bufs;
	size_t *lens;
	HfcTraceRun *runs;
} Traces;

static void traces_done(Traces *t)
{
	for (int k = 0; k < t->n; k++) {
		if (t->bufs)
			free(t->bufs[k]);
		if (t->runs)
			hfc_trace_run_done(&t->runs[k]);
	}
	free(t->bufs);
	free(t->lens);
	free(t->runs);
}

static int traces_read(Traces *t)
{
	t->bufs = calloc((size_t)t->n, sizeof(char *));
	t->lens = calloc((size_t)t->n, sizeof(size_t));
	t->runs = calloc((size_t)t->n, sizeof(*t->runs));
	if (!t->bufs || !t->lens || !t->runs)
		return hfc_log_errno(-ENOMEM, "record");
	for (int k = 0; k < t->n; k++) {
		int r = hfc_read_input(t->paths[k], HFC_TRACE_MAX_BYTES, &t->bufs[k], &t->lens[k]);
		if (r < 0)
			return hfc_log_errno(r, t->paths[k]);
	}
	return 0;
}

/* Parses every trace into a run of idx's image; traces of different versions do not mix. */
static int traces_parse(Traces *t, HfcTraceFormat format, const HfcIndex *idx)
{
	uint32_t version = 0;
	for (int k = 0; k < t->n; k++) {
		HfcErr err = { "" };
		uint32_t tv;
		int r = hfc_trace_parse(t->bufs[k], t->lens[k], t->paths[k], format, idx->image_size,
					idx->block_size, &t->runs[k], &tv, &err);
		free(TAKE_PTR(t->bufs[k]));
		if (r < 0)
			return hfc_log_err(r, &err);
		if (tv && version && tv != version)
			return hfc_log_error(t->paths[k],
					     "traces of versions %u and %u: record each version apart",
					     version, tv);
		if (tv)
			version = tv;
	}
	return 0;
}

static int cmd_record(char **args, int nargs, const Args *a)
{
	_cleanup_(traces_done) Traces t = { .n = nargs, .paths = args };
	if (traces_read(&t) < 0)
		return -1;
	/* The version: -v, else the one the first client trace names, else the current one. */
	uint32_t version = a->version ? a->version : hfc_trace_version(t.bufs[0], t.lens[0]);
	_cleanup_(hfc_remote_freep) HfcRemote *site = NULL;
	if (open_site_index(a->site, version, &site) < 0)
		return -1;
	const HfcIndex *idx = hfc_remote_index(site);
	if (traces_parse(&t, a->format, idx) < 0)
		return -1;
	_cleanup_(hfc_profile_freep) HfcProfile *p = NULL;
	int r = hfc_profile_from_runs(t.runs, (size_t)nargs, a->min_share, idx, &p);
	if (r < 0)
		return hfc_log_errno(r, "record");
	if (write_profile(p, a->output) < 0)
		return -1;
	uint64_t bytes = hfc_profile_fetch_bytes(p, idx);
	if (a->out.json)
		return hfc_json_print(stdout, json_pack("{s:o, s:I, s:i, s:I, s:I}", "profile",
							hfc_json_str(a->output), "version",
							(json_int_t)p->version, "runs", nargs,
							"blocks", (json_int_t)p->n,
							"bytes", (json_int_t)bytes));
	if (!a->out.quiet) {
		char b[32];
		hfc_format_bytes(bytes, b, sizeof(b));
		fprintf(summary_file(a->output), "%s: version %u, %zu block%s (%s to fetch) from %d run%s\n",
			a->output, p->version, p->n, p->n == 1 ? "" : "s", b, nargs,
			nargs == 1 ? "" : "s");
	}
	return 0;
}

/* ---- show ---- */

/* What show says beyond the profile itself. */
typedef struct Figures {
	const HfcIndex *idx;          /* with --site: the version compared with */
	size_t same, changed, zero;   /* its blocks' names at that version */
	uint64_t bytes;               /* what a prefetch at that version downloads */
	double coverage;              /* with --trace: covered / read, else < 0 */
	size_t read, covered;         /* the trace's blocks (not zero), and those the profile has */
} Figures;

static int trace_coverage(const HfcProfile *p, const Args *a, Figures *f)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = hfc_read_input(a->trace, HFC_TRACE_MAX_BYTES, &buf, &len);
	if (r < 0)
		return hfc_log_errno(r, a->trace);
	HfcTraceRun run;
	uint32_t tv;
	HfcErr err = { "" };
	r = hfc_trace_parse(buf, len, a->trace, a->format, p->image_size, p->block_size, &run, &tv,
			    &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	r = hfc_trace_coverage(&run, p, f->idx, &f->read, &f->covered);
	hfc_trace_run_done(&run);
	if (r < 0)
		return hfc_log_errno(r, "show");
	f->coverage = f->read ? (double)f->covered / (double)f->read : 1.0;
	return 0;
}

static int print_show(const char *path, const HfcProfile *p, const Args *a, const Figures *f)
{
	if (a->out.json) {
		json_t *o = json_pack("{s:o, s:I, s:I, s:I, s:s, s:I}", "profile", hfc_json_str(path),
				      "version", (json_int_t)p->version,
				      "image_size", (json_int_t)p->image_size,
				      "block_size", (json_int_t)p->block_size,
				      "hash", hfc_hash_name(p->hash), "blocks", (json_int_t)p->n);
		if (o && f->idx)
			json_object_update_new(o, json_pack("{s:I, s:I, s:I, s:I, s:I}", "site_version",
							    (json_int_t)f->idx->version,
							    "same", (json_int_t)f->same,
							    "changed", (json_int_t)f->changed,
							    "zero", (json_int_t)f->zero,
							    "bytes", (json_int_t)f->bytes));
		if (o && f->coverage >= 0)
			json_object_update_new(o, json_pack("{s:I, s:I, s:f}", "trace_blocks",
							    (json_int_t)f->read,
							    "covered", (json_int_t)f->covered,
							    "coverage", round(f->coverage * 1e4) / 1e4));
		return hfc_json_print(stdout, o);
	}
	printf("profile:     %s\nversion:     %u\nimage size:  %" PRIu64 "\nblock size:  %u\n"
	       "hash:        %s\nblocks:      %zu\n",
	       path, p->version, p->image_size, p->block_size, hfc_hash_name(p->hash), p->n);
	if (f->idx) {
		char b[32];
		hfc_format_bytes(f->bytes, b, sizeof(b));
		printf("at version %u: %zu same, %zu changed, %zu now zero; %s to fetch\n",
		       f->idx->version, f->same, f->changed, f->zero, b);
	}
	if (f->coverage >= 0)
		printf("trace %s: %zu of %zu blocks read are in the profile (%.1f%%)\n", a->trace,
		       f->covered, f->read, f->coverage * 100);
	return 0;
}

static int cmd_show(char **args, int nargs, const Args *a)
{
	(void)nargs;
	const char *path = args[0];
	_cleanup_(hfc_profile_freep) HfcProfile *p = NULL;
	if (load_profile(path, &p) < 0)
		return -1;
	_cleanup_(hfc_remote_freep) HfcRemote *site = NULL;
	Figures f = { .coverage = -1 };
	if (a->site) {
		if (open_site_index(a->site, a->version ? a->version : p->version, &site) < 0)
			return -1;
		f.idx = hfc_remote_index(site);
		HfcErr err = { "" };
		if (hfc_profile_match(p, f.idx, &f.same, &f.changed, &f.zero, &err) < 0)
			return hfc_log_error(path, "%s", err.msg);
		f.bytes = hfc_profile_fetch_bytes(p, f.idx);
	}
	if (a->trace && trace_coverage(p, a, &f) < 0)
		return -1;
	return print_show(path, p, a, &f);
}

/* ---- carry, install ---- */

static int cmd_carry(char **args, int nargs, const Args *a)
{
	(void)nargs;
	const char *path = args[0];
	_cleanup_(hfc_profile_freep) HfcProfile *p = NULL, *q = NULL;
	_cleanup_(hfc_remote_freep) HfcRemote *site = NULL;
	if (load_profile(path, &p) < 0 || open_site_index(args[1], a->to, &site) < 0)
		return -1;
	const HfcIndex *idx = hfc_remote_index(site);
	size_t same, changed, zero;
	HfcErr err = { "" };
	int r = hfc_profile_check(p, idx, path, NULL, &err);
	if (r >= 0)
		r = hfc_profile_match(p, idx, &same, &changed, &zero, &err);
	if (r >= 0)
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
		fprintf(summary_file(a->output),
			"%s: version %u -> %u: %zu blocks, %zu changed, %zu now zero (dropped)\n",
			a->output, p->version, idx->version, q->n, changed, zero);
	return 0;
}

static int cmd_install(char **args, int nargs, const Args *a)
{
	(void)nargs;
	const char *path = args[0], *site_path = args[1];
	_cleanup_(hfc_profile_freep) HfcProfile *p = NULL;
	if (load_profile(path, &p) < 0)
		return -1;
	_cleanup_(hfc_site_freep) HfcSite *s = NULL;
	_cleanup_(hfc_index_freep) HfcIndex *idx = NULL;
	uint32_t v = a->version ? a->version : p->version;
	HfcErr err = { "" };
	int r = hfc_site_open(site_path, false, &s, &err);
	if (r >= 0)
		r = hfc_site_lock(s, true, &err);
	if (r >= 0)
		r = hfc_site_load_index(s, v, &idx, &err);
	/* The one install rule: every name must be the version's (hfc-apply installs the same way). */
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

/* ---- the command line ---- */

/* What a command cannot go without. */
enum { NEEDS_OUTPUT = 1, NEEDS_SITE = 2, NEEDS_TO = 4 };

typedef struct Command {
	HfcCommand head;
	unsigned needs;
	const char *needs_msg; /* the usage error when one is missing */
	int (*run)(char **args, int nargs, const Args *a);
} Command;

static const Command commands[] = {
	{ { "record", 1, INT_MAX }, NEEDS_OUTPUT | NEEDS_SITE, "record needs -o OUT and --site SITE",
	  cmd_record },
	{ { "show", 1, 1 }, 0, NULL, cmd_show },
	{ { "carry", 2, 2 }, NEEDS_TO | NEEDS_OUTPUT, "carry needs --to N and -o OUT", cmd_carry },
	{ { "install", 2, 2 }, 0, NULL, cmd_install },
};

/* A share of runs, 0 < x <= 1; returns 0 or HFC_USAGE (message printed). */
static int opt_share(const char *arg, double *ret)
{
	char *end;
	errno = 0;
	*ret = strtod(arg, &end);
	if (errno || *end || !(*ret > 0 && *ret <= 1)) {
		hfc_log_error("--min-share", "'%s' is not a share in (0, 1]", arg);
		return HFC_USAGE;
	}
	return 0;
}

enum { OPT_TO = 256, OPT_FORMAT, OPT_SHARE, OPT_TRACE };

static int on_option(void *userdata, int c, const char *arg)
{
	Args *a = userdata;
	uint64_t v;
	int r;
	switch (c) {
	case 'o':
		a->output = arg;
		return 0;
	case 's':
		a->site = arg;
		return 0;
	case 'v':
	case OPT_TO:
		r = hfc_opt_uint(c == 'v' ? "--version" : "--to", arg, 1, HFC_VERSION_MAX, &v);
		*(c == 'v' ? &a->version : &a->to) = (uint32_t)v;
		return r;
	case OPT_FORMAT:
		if (hfc_trace_format_from_name(arg, &a->format) < 0) {
			hfc_log_error("--format", "'%s' is not auto, client, blkparse or sectors", arg);
			return HFC_USAGE;
		}
		return 0;
	case OPT_SHARE:
		return opt_share(arg, &a->min_share);
	case OPT_TRACE:
		a->trace = arg;
		return 0;
	case HFC_OPT_PUBKEY:
	case HFC_OPT_STATE:
		r = hfc_remote_opt(c, arg, &site_opts);
		return r < 0 ? r : 0;
	}
	return HFC_OPT_UNKNOWN;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "site", required_argument, NULL, 's' },
		{ "version", required_argument, NULL, 'v' },
		{ "to", required_argument, NULL, OPT_TO },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "min-share", required_argument, NULL, OPT_SHARE },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "pubkey", required_argument, NULL, HFC_OPT_PUBKEY },
		{ "state", required_argument, NULL, HFC_OPT_STATE },
		HFC_COMMON_OPTIONS,
		{ 0 },
	};
	Args a = { .min_share = 0.5 };
	hfc_remote_options_default(&site_opts);
	const HfcCli cli = { "hfc-profile", usage, "o:s:v:" HFC_COMMON_SHORT, opts, on_option, &a,
			     &a.out, 1, INT_MAX, "a command" };
	int r = hfc_cli_parse(&cli, argc, argv);
	if (r >= 0) {
		int k = hfc_remote_opts_check(&site_opts);
		r = k < 0 ? k : r;
	}
	const Command *cmd = NULL;
	if (r >= 0) {
		cmd = hfc_cli_command(argc - r, argv + r, commands, ELEMENTSOF(commands),
				      sizeof(Command));
		unsigned have = (a.output ? NEEDS_OUTPUT : 0) | (a.site ? NEEDS_SITE : 0) |
				(a.to ? NEEDS_TO : 0);
		r = !cmd ? HFC_USAGE
			 : (cmd->needs & have) != cmd->needs ? hfc_usage_error("%s", cmd->needs_msg)
							     : cmd->run(argv + r + 1, argc - r - 1, &a);
	}
	if (r >= 0)
		r = hfc_stdout_flush();
	hfc_remote_opts_done(&site_opts);
	return hfc_exit_status(r);
}
