/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers shared by the whole library: cleanup attributes, safe arithmetic, errno. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DIV_ROUND_UP(a, b) (((a) + (b) - 1) / (b))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Takes ownership out of a cleanup variable: returns its value and resets it. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _t = (p);                                                            \
		(p) = NULL;                                                                        \
		_t;                                                                                \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _t = (fd);                                                                     \
		(fd) = -1;                                                                         \
		_t;                                                                                \
	})

/* Returns -errno for the last failed libc call, never 0 (callers rely on a negative value). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/*
 * In v, n records of `size` bytes each, every one starting with two uint64_t fields, an
 * offset and a length, ascending and not overlapping: the index of the first record that
 * ends after x (n when none does).
 */
static inline size_t hfc_ranges_find(const void *v, size_t n, size_t size, uint64_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t r[2];
		memcpy(r, (const char *)v + mid * size, sizeof(r));
		if (r[0] + r[1] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A detailed error from the library: "where: what", printed once by the tool. */
typedef struct HfcErr {
	char msg[512];
} HfcErr;

/* Fills err (when not NULL) with a formatted message and returns r (a -errno value). */
int hfc_err_set(HfcErr *err, int r, const char *fmt, ...) _printf_(3, 4);
