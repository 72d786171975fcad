/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/clock.h"

#include <stdio.h>
#include <time.h>

double hfc_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 9999-12-31T23:59:59Z + 1: formatted times keep their four-digit year. */
#define TIME_END INT64_C(253402300800)

int64_t hfc_now(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	if (s && *s) {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno == 0 && *end == 0 && v >= 0 && v < TIME_END)
			return v;
	}
	return (int64_t)time(NULL);
}

int64_t hfc_realtime(void)
{
	return (int64_t)time(NULL);
}

void hfc_format_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "1970-01-01T00:00:00Z");
}

int hfc_parse_time(const char *s, size_t n, unsigned flags, int64_t *ret)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:ddZ";
	if (n != 20 && !(n == 10 && (flags & HFC_TIME_DATE_OK)))
		return -EINVAL;
	int f[6] = { 0 };
	for (size_t i = 0, k = 0; i < n; i++) {
		bool digit = s[i] >= '0' && s[i] <= '9';
		if (pattern[i] != 'd') {
			if (s[i] != pattern[i])
				return -EINVAL;
			k++;
			continue;
		}
		if (!digit)
			return -EINVAL;
		f[k] = f[k] * 10 + (s[i] - '0');
	}
	if (f[0] < 1970 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 ||
	    f[5] > 59)
		return -EINVAL;
	struct tm tm = { .tm_year = f[0] - 1900, .tm_mon = f[1] - 1, .tm_mday = f[2],
			 .tm_hour = f[3], .tm_min = f[4], .tm_sec = f[5] };
	time_t t = timegm(&tm);
	struct tm back;
	/* Reject days that do not exist (Feb 30): timegm normalises them silently. */
	if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != f[2] || back.tm_mon != f[1] - 1)
		return -EINVAL;
	*ret = (int64_t)t;
	return 0;
}
