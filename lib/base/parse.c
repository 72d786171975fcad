/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/parse.h"

#include <string.h>

int hfc_parse_canonical(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int hfc_parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	size_t n = strlen(s), i = 0;
	while (i + 1 < n && s[i] == '0')
		i++;
	return hfc_parse_canonical(s + i, n - i, max, ret);
}

int hfc_parse_size(const char *s, uint64_t *ret)
{
	size_t n = strlen(s);
	/* No size needs more than 20 digits and a suffix, however many zeros lead. */
	if (n == 0 || n > 31)
		return -EINVAL;
	uint64_t mul = 1;
	switch (s[n - 1]) {
	case 'K': case 'k': mul = UINT64_C(1) << 10; break;
	case 'M': case 'm': mul = UINT64_C(1) << 20; break;
	case 'G': case 'g': mul = UINT64_C(1) << 30; break;
	case 'T': case 't': mul = UINT64_C(1) << 40; break;
	}
	if (mul > 1)
		n--;
	size_t i = 0;
	while (i + 1 < n && s[i] == '0')
		i++;
	uint64_t v;
	if (hfc_parse_canonical(s + i, n - i, UINT64_MAX / mul, &v) < 0)
		return -EINVAL;
	*ret = v * mul;
	return 0;
}

int hfc_parse_duration(const char *s, int64_t *ret_seconds)
{
	static const struct {
		char unit;
		int64_t seconds;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 } };
	size_t n = strlen(s);
	if (n < 2)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		uint64_t v;
		if (s[n - 1] != units[i].unit)
			continue;
		/* At most a hundred years: enough for any expiry, and no overflow anywhere. */
		if (hfc_parse_canonical(s, n - 1, UINT64_C(100) * 366 * 86400 / (uint64_t)units[i].seconds,
					&v) < 0)
			return -EINVAL;
		*ret_seconds = (int64_t)v * units[i].seconds;
		return 0;
	}
	return -EINVAL;
}
