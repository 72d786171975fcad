/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "programs/cli.h"

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
