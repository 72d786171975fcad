/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * rsync as a child process (the one adapter): targets are checked before they reach rsync's
 * command line, rsync is started with fork and exec (never through a shell), and its --stats
 * and per-file log lines are read back. The caller builds the arguments in an HfcRsyncArgs.
 */

#include "base/util.h"

typedef enum HfcRsyncKind {
	HFC_RSYNC_LOCAL,  /* an absolute path on this machine */
	HFC_RSYNC_DAEMON, /* rsync://host[:port]/module[/path] */
	HFC_RSYNC_SSH,    /* [user@]host:path, over a remote shell */
} HfcRsyncKind;

/* The prefix of the --out-format lines hfc_rsync_run() counts: "hfc-sent %l %n". */
#define HFC_RSYNC_LOG_PREFIX "hfc-sent "
#define HFC_RSYNC_OUT_FORMAT "--out-format=" HFC_RSYNC_LOG_PREFIX "%l %n"

/*
 * Checks a target and tells its kind. A target never starts with '-', holds no control
 * characters, no glob characters and (remote ones) no white space or shell metacharacters;
 * host names and users are plain. Returns 0, or -EINVAL with *ret_why set to a static reason.
 */
int hfc_rsync_target_check(const char *target, HfcRsyncKind *ret_kind, const char **ret_why);

/*
 * An argument vector that grows as needed, each argument allocated to its length: no argument is
 * ever cut short or left out. The first allocation failure is kept in error, and every later add
 * does nothing, so a caller may add many and check once. Zero-initialise; free with
 * hfc_rsync_args_done().
 */
typedef struct HfcRsyncArgs {
	char **v; /* NULL-terminated (NULL itself until the first add) */
	size_t n, cap;
	int error; /* 0 or -ENOMEM */
} HfcRsyncArgs;

/* Appends a copy of s. Returns 0 or -ENOMEM (also kept in a->error). */
int hfc_rsync_args_add(HfcRsyncArgs *a, const char *s);

/* Appends a formatted argument. Returns 0 or -ENOMEM (also kept in a->error). */
int hfc_rsync_args_addf(HfcRsyncArgs *a, const char *fmt, ...) _printf_(2, 3);

/* Frees every argument and the vector; a is empty (and usable) again. */
void hfc_rsync_args_done(HfcRsyncArgs *a);

static inline void hfc_rsync_args_donep(HfcRsyncArgs *a)
{
	hfc_rsync_args_done(a);
}

typedef struct HfcRsyncStats {
	uint64_t files;    /* regular files transferred */
	uint64_t bytes;    /* their total size */
	uint64_t sent;     /* bytes rsync sent on the wire */
	uint64_t received; /* bytes it received */
	uint64_t deleted;  /* files deleted on the receiver */
	double seconds;
} HfcRsyncStats;

/* Called from hfc_rsync_run() for every file rsync logs as sent, with its size. */
typedef void (*HfcRsyncFileFn)(void *userdata, uint64_t bytes);

/*
 * Runs argv (argv[0] is the rsync program, looked up in PATH) with stdin from /dev/null and
 * LC_ALL=C, and waits for it. The child is killed when the calling thread ends. Parses --stats
 * from its standard output and counts "hfc-sent" lines (see HFC_RSYNC_OUT_FORMAT) into file_fn.
 * Returns 0 when rsync exited 0; -ETIMEDOUT (exit 30 or 35), -EIO (any other failure, a
 * signal included) with err holding rsync's own first error line; or -errno when it could not
 * be started.
 */
int hfc_rsync_run(const char *const *argv, HfcRsyncFileFn file_fn, void *userdata,
		  HfcRsyncStats *ret_stats, HfcErr *err);

/* Parses rsync's --stats lines out of text (for tests); fills the counters it finds. */
void hfc_rsync_parse_stats(const char *text, HfcRsyncStats *stats);
