/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "programs/cli.h"

#include "base/clock.h"
#include "base/parse.h"
#include "programs/log.h"
#include "programs/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int hfc_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hfc_log_vline("usage", " (see --help)", fmt, ap);
	va_end(ap);
	return HFC_USAGE;
}

int hfc_opt_uint(const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (hfc_parse_uint(arg, max, ret) < 0 || *ret < min) {
		hfc_log_error(name, "'%s' is not a number from %llu to %llu", arg,
			      (unsigned long long)min, (unsigned long long)max);
		return HFC_USAGE;
	}
	return 0;
}

int hfc_opt_size(const char *name, const char *arg, uint64_t min, uint64_t *ret)
{
	if (hfc_parse_size(arg, ret) < 0 || *ret < min) {
		char m[32];
		hfc_format_bytes(min, m, sizeof(m));
		hfc_log_error(name, "'%s' is not a size of at least %s (K, M, G, T suffixes)", arg, m);
		return HFC_USAGE;
	}
	return 0;
}

int hfc_opt_jobs(const char *arg, unsigned *ret)
{
	uint64_t v;
	int r = hfc_opt_uint("--jobs", arg, 1, HFC_JOBS_MAX, &v);
	if (r < 0)
		return r;
	*ret = (unsigned)v;
	return 0;
}

int hfc_exit_status(int r)
{
	return r == HFC_USAGE ? HFC_EXIT_USAGE : r < 0 ? 1 : 0;
}

int hfc_split_urls(char *s, const char **out, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == max)
			return hfc_usage_error("at most %d mirrors", max);
		out[n++] = tok;
	}
	if (n == 0)
		return hfc_usage_error("no URL given");
	return n;
}

int hfc_stdout_flush(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return hfc_log_errno(errno ? -errno : -EIO, "stdout");
	return 0;
}

int hfc_common_opt(int c, void (*usage)(FILE *f), HfcOutArgs *out)
{
	if (out && c == HFC_OPT_JSON) {
		out->json = true;
		return 0;
	}
	if (out && c == 'q') {
		out->quiet = true;
		return 0;
	}
	if (c == 'h') {
		usage(stdout);
		exit(fflush(stdout) == 0 ? 0 : 1);
	}
	usage(stderr);
	return HFC_USAGE;
}

int hfc_cli_parse(const HfcCli *cli, int argc, char **argv)
{
	hfc_log_set_program(cli->name);
	opterr = 0; /* one line of ours instead of getopt's, which names argv[0] as typed */
	int c, r = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, cli->shortopts, cli->longopts, NULL)) != -1) {
		if (c == '?')
			return optopt ? hfc_usage_error("option -%c is unknown or needs a value", optopt)
				      : hfc_usage_error("unknown option or missing value: '%s'",
							argv[optind - 1]);
		r = cli->option(cli->userdata, c, optarg);
		if (r == HFC_OPT_UNKNOWN)
			r = hfc_common_opt(c, cli->usage, cli->out);
	}
	if (r < 0)
		return r;
	int n = argc - optind;
	if (n < cli->min_args || n > cli->max_args)
		return hfc_usage_error("expected %s", cli->args);
	return optind;
}

const void *hfc_cli_command(int nargs, char **args, const void *table, size_t n, size_t stride)
{
	if (nargs < 1) {
		hfc_usage_error("expected a command");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const HfcCommand *c = (const HfcCommand *)((const char *)table + i * stride);
		if (strcmp(c->name, args[0]) != 0)
			continue;
		if (nargs - 1 < c->min_args || nargs - 1 > c->max_args) {
			hfc_usage_error("wrong arguments for '%s'", c->name);
			return NULL;
		}
		return c;
	}
	hfc_usage_error("unknown command '%s'", args[0]);
	return NULL;
}

int hfc_opt_expires(const char *name, const char *arg, int64_t now, int64_t *ret)
{
	int64_t d;
	if (hfc_parse_duration(arg, &d) == 0)
		*ret = now + d;
	else if (hfc_parse_time(arg, strlen(arg), HFC_TIME_DATE_OK, ret) < 0) {
		hfc_log_error(name, "'%s' is not a time (YYYY-MM-DDTHH:MM:SSZ) or a duration (14d, 12h)",
			      arg);
		return HFC_USAGE;
	}
	if (*ret <= now) {
		hfc_log_error(name, "'%s' is not in the future", arg);
		return HFC_USAGE;
	}
	return 0;
}

int hfc_keyring_add(HfcKeyring *ring, const char *path)
{
	if (ring->n == HFC_KEYRING_MAX)
		return hfc_log_error("--pubkey", "at most %d keys", HFC_KEYRING_MAX);
	HfcErr err = { "" };
	int r = hfc_key_load(path, false, &ring->keys[ring->n], &err);
	if (r < 0)
		return hfc_log_err(r, &err);
	ring->n++;
	return 0;
}

void hfc_keyring_done(HfcKeyring *ring)
{
	for (size_t i = 0; i < ring->n; i++)
		hfc_key_free(ring->keys[i]);
	ring->n = 0;
}
