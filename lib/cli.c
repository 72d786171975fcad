/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "log.h"
#include "progress.h"

#include <string.h>

int hfc_parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int hfc_parse_size(const char *s, uint64_t *ret)
{
	char buf[32];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	uint64_t mul = 1;
	switch (buf[n - 1]) {
	case 'K': case 'k': mul = UINT64_C(1) << 10; break;
	case 'M': case 'm': mul = UINT64_C(1) << 20; break;
	case 'G': case 'g': mul = UINT64_C(1) << 30; break;
	case 'T': case 't': mul = UINT64_C(1) << 40; break;
	}
	if (mul > 1)
		buf[n - 1] = 0;
	uint64_t v;
	if (hfc_parse_uint(buf, UINT64_MAX / mul, &v) < 0)
		return -EINVAL;
	*ret = v * mul;
	return 0;
}

void hfc_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int hfc_opt_uint(const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (hfc_parse_uint(arg, max, ret) < 0 || *ret < min) {
		hfc_log_error(name, "'%s' is not a number from %llu to %llu", arg,
			      (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	return 0;
}

int hfc_opt_size(const char *name, const char *arg, uint64_t min, uint64_t *ret)
{
	if (hfc_parse_size(arg, ret) < 0 || *ret < min) {
		char m[32];
		hfc_format_bytes(min, m, sizeof(m));
		hfc_log_error(name, "'%s' is not a size of at least %s (K, M, G, T suffixes)", arg, m);
		return -EINVAL;
	}
	return 0;
}

int hfc_split_urls(char *s, const char **out, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == max) {
			hfc_log_error("usage", "at most %d mirrors", max);
			return -EINVAL;
		}
		out[n++] = tok;
	}
	if (n == 0) {
		hfc_log_error("usage", "no URL given");
		return -EINVAL;
	}
	return n;
}
