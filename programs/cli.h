/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Command-line conventions shared by every tool: option values, one --jobs, usage errors.
 * A usage error prints one line, "prog: usage: what (see --help)", and the tool exits 2.
 */

#include "base/sign.h"
#include "base/util.h"

#include <getopt.h>
#include <stdio.h>

/* The exit status of a usage error, and the value option helpers return for one. */
#define HFC_EXIT_USAGE 2
#define HFC_USAGE (-HFC_EXIT_USAGE - 10000)

/* Prints "prog: usage: what (see --help)" and returns HFC_USAGE. */
int hfc_usage_error(const char *fmt, ...) _printf_(1, 2);

/*
 * Parses the value of option `name` as a number from min to max; on error prints
 * "prog: name: 'arg' is not a number from min to max" and returns HFC_USAGE.
 */
int hfc_opt_uint(const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *ret);

/* Like hfc_opt_uint for a size with an optional K, M, G or T suffix, at least min bytes. */
int hfc_opt_size(const char *name, const char *arg, uint64_t min, uint64_t *ret);

/* The threads of -j/--jobs: 1 to HFC_JOBS_MAX; 0 (never returned) means all cores. */
#define HFC_JOBS_MAX 1024u

/* Parses a --jobs value into *ret; returns 0 or HFC_USAGE (message printed). */
int hfc_opt_jobs(const char *arg, unsigned *ret);

/* Maps a run()'s result to the exit status: 0, HFC_EXIT_USAGE for HFC_USAGE, else 1. */
int hfc_exit_status(int r);

/*
 * Splits "URL[,URL...]" in place into out (at most max); returns the count, or HFC_USAGE (and a
 * usage error printed) when there are none or too many.
 */
int hfc_split_urls(char *s, const char **out, int max);

/* What every tool's output options set: --json, -q/--quiet. */
typedef struct HfcOutArgs {
	bool json, quiet;
} HfcOutArgs;

enum { HFC_OPT_JSON = 0x2000 };

/* The getopt entries of --json, -q/--quiet and -h/--help, and their short letters. */
#define HFC_COMMON_OPTIONS                                                                         \
	{ "json", no_argument, NULL, HFC_OPT_JSON }, { "quiet", no_argument, NULL, 'q' },          \
	{ "help", no_argument, NULL, 'h' }
#define HFC_COMMON_SHORT "qh"

/*
 * The default branch of every tool's option switch: --json and --quiet set out (NULL: the tool
 * has neither), --help prints usage to stdout and exits 0, anything else is a usage error
 * (usage to stderr). Returns 0 or HFC_USAGE.
 */
int hfc_common_opt(int c, void (*usage)(FILE *f), HfcOutArgs *out);

/* What a tool's option handler returns for an option that is not its own. */
#define HFC_OPT_UNKNOWN 1

/* Takes option c (value arg) into userdata; returns 0, HFC_USAGE, or HFC_OPT_UNKNOWN. */
typedef int (*HfcOptFn)(void *userdata, int c, const char *arg);

/* A tool's command line: its options, who takes them, and how many arguments follow. */
typedef struct HfcCli {
	const char *name;		/* the program, for every message ("hfc-apply") */
	void (*usage)(FILE *f);
	const char *shortopts;		/* with HFC_COMMON_SHORT where the tool has them */
	const struct option *longopts;
	HfcOptFn option;		/* the tool's own options */
	void *userdata;
	HfcOutArgs *out;		/* where --json and --quiet go; NULL: the tool has neither */
	int min_args, max_args;		/* positional arguments after the options */
	const char *args;		/* what they are, for the usage error ("BUNDLE and SITE") */
} HfcCli;

/*
 * Sets the program name, parses argv's options (the tool's through cli->option, then --json,
 * --quiet, --help and unknown ones as hfc_common_opt does) and checks the number of positional
 * arguments. Returns the index in argv of the first positional argument, or HFC_USAGE.
 */
int hfc_cli_parse(const HfcCli *cli, int argc, char **argv);

/* The head of an entry of a tool's command table: the name and the arguments after it. */
typedef struct HfcCommand {
	const char *name;
	int min_args, max_args;
} HfcCommand;

/*
 * Finds args[0] in a command table of n entries of stride bytes, each starting with an
 * HfcCommand, and checks how many arguments follow it. Returns the entry, or NULL after a usage
 * error (an unknown command, or the wrong number of arguments).
 */
const void *hfc_cli_command(int nargs, char **args, const void *table, size_t n, size_t stride);

/*
 * Parses an expiry: a time like an index's `created` (YYYY-MM-DDTHH:MM:SSZ, or YYYY-MM-DD for
 * midnight UTC) or a duration from now ("14d", "12h"; s, m, h, d, w). It must lie after now.
 * Returns 0 or HFC_USAGE (message printed).
 */
int hfc_opt_expires(const char *name, const char *arg, int64_t now, int64_t *ret);

/* The most --pubkey files a tool takes (rotation needs two; a few more do no harm). */
#define HFC_KEYRING_MAX 16

/* Trusted public keys given with --pubkey (repeatable). */
typedef struct HfcKeyring {
	HfcKey *keys[HFC_KEYRING_MAX];
	size_t n;
} HfcKeyring;

/* Loads the public key file path into ring; returns 0, or -1 with a message printed. */
int hfc_keyring_add(HfcKeyring *ring, const char *path);

/* Frees the keys of a ring. */
void hfc_keyring_done(HfcKeyring *ring);

/* Flushes stdout and reports a failed write ("prog: stdout: ..."); returns 0 or -errno. */
int hfc_stdout_flush(void);
