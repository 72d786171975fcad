/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The options of every client of a remote site (hfc-get, hfc-mount): one parser, one help text.
 * A tool puts HFC_REMOTE_OPTIONS (and, for a mount, HFC_REMOTE_MOUNT_OPTIONS) into its getopt
 * table and HFC_REMOTE_SHORT into its short options, and hands every option to hfc_remote_opt()
 * before its own switch.
 */

#include "client/remote.h"

#include <getopt.h>

enum {
	HFC_OPT_TIMEOUT = 0x1000,
	HFC_OPT_RETRIES,
	HFC_OPT_CACHE,
	HFC_OPT_CACHE_SIZE,
	HFC_OPT_CACHE_HIGH,
	HFC_OPT_CACHE_LOW,
	HFC_OPT_MEM_CACHE,
	HFC_OPT_READAHEAD,
	HFC_OPT_TRACE,
	HFC_OPT_PREFETCH,
	HFC_OPT_PREFETCH_CONNECTIONS,
	HFC_OPT_PREFETCH_MEMORY,
	HFC_OPT_OFFLINE,
	HFC_OPT_ALLOW_OLDER,
	HFC_OPT_ALLOW_REDIRECT_HOST,
	HFC_OPT_MAX_IMAGE_SIZE,
	HFC_OPT_PUBKEY,
	HFC_OPT_STATE,
};

#define HFC_REMOTE_SHORT "v:c:"

#define HFC_REMOTE_OPTIONS                                                                         \
	{ "version", required_argument, NULL, 'v' },                                               \
	{ "connections", required_argument, NULL, 'c' },                                           \
	{ "timeout", required_argument, NULL, HFC_OPT_TIMEOUT },                                   \
	{ "retries", required_argument, NULL, HFC_OPT_RETRIES },                                   \
	{ "cache", required_argument, NULL, HFC_OPT_CACHE },                                       \
	{ "cache-size", required_argument, NULL, HFC_OPT_CACHE_SIZE },                             \
	{ "offline", no_argument, NULL, HFC_OPT_OFFLINE },                                         \
	{ "allow-older", no_argument, NULL, HFC_OPT_ALLOW_OLDER },                                 \
	{ "allow-redirect-host", no_argument, NULL, HFC_OPT_ALLOW_REDIRECT_HOST },                 \
	{ "max-image-size", required_argument, NULL, HFC_OPT_MAX_IMAGE_SIZE },                     \
	{ "pubkey", required_argument, NULL, HFC_OPT_PUBKEY },                                     \
	{ "state", required_argument, NULL, HFC_OPT_STATE }

#define HFC_REMOTE_MOUNT_OPTIONS                                                                   \
	{ "cache-high", required_argument, NULL, HFC_OPT_CACHE_HIGH },                             \
	{ "cache-low", required_argument, NULL, HFC_OPT_CACHE_LOW },                               \
	{ "mem-cache", required_argument, NULL, HFC_OPT_MEM_CACHE },                               \
	{ "readahead", required_argument, NULL, HFC_OPT_READAHEAD },                               \
	{ "trace", required_argument, NULL, HFC_OPT_TRACE },                                       \
	{ "prefetch", optional_argument, NULL, HFC_OPT_PREFETCH },                                 \
	{ "prefetch-connections", required_argument, NULL, HFC_OPT_PREFETCH_CONNECTIONS },         \
	{ "prefetch-memory", required_argument, NULL, HFC_OPT_PREFETCH_MEMORY }

/* The help lines of HFC_REMOTE_OPTIONS. */
#define HFC_REMOTE_HELP                                                                            \
	"  -v, --version N          the version (default: the current one)\n"                      \
	"  -c, --connections N      transfers at once (default 8)\n"                               \
	"      --timeout MS         one request's time limit (default 30000)\n"                    \
	"      --retries N          further attempts per block (default 4)\n"                      \
	"      --cache DIR          keep block files in DIR across runs\n"                         \
	"      --cache-size SIZE    bound of the cache (default 1G; K, M, G, T suffixes)\n"        \
	"      --offline            with --cache: start from the cached index when no mirror\n"    \
	"                           answers\n"                                                     \
	"      --allow-older        accept a current version older than one seen before\n"    \
	"      --allow-redirect-host  follow redirects to another host (never https to http)\n" \
	"      --max-image-size SIZE  refuse larger images (default 64G; K, M, G, T suffixes)\n" \
	"      --pubkey PUB         trust only indexes signed by this Ed25519 key (repeatable;\n" \
	"                           unsigned, forged or expired indexes are refused)\n"        \
	"      --state DIR          where the version floor is kept (default /var/lib/hfcloop\n" \
	"                           for root, else ~/.local/state/hfcloop)\n"

/* The help lines of HFC_REMOTE_MOUNT_OPTIONS. */
#define HFC_REMOTE_MOUNT_HELP                                                                      \
	"      --cache-high PCT     evict when the cache is above PCT of its size (default 80)\n"  \
	"      --cache-low PCT      ... down to PCT (default 60)\n"                                \
	"      --mem-cache SIZE     decoded blocks kept in memory (default 256M)\n"                \
	"      --readahead K        blocks fetched ahead after sequential reads, at least\n"      \
	"                           (default 16, 0 turns readahead off)\n"                         \
	"      --trace FILE         one line per block read (see docs/FORMAT.md)\n"                \
	"      --prefetch[=P]       DLAHEAD: fetch a boot profile's blocks ahead; P is a\n"        \
	"                           profile file or auto (default: the site's profile of the\n"    \
	"                           mounted version, profiles/NNNNNN.prof)\n"                      \
	"      --prefetch-connections N  background transfers at once, at most (default 64)\n"   \
	"      --prefetch-memory SIZE    bound of prefetched blocks not read yet (default 512M)\n"

/*
 * Handles option c (from getopt_long, value arg) when it is a remote option. Returns 1 when it
 * was one, 0 when it is the tool's own, or HFC_USAGE (message printed) for a bad value.
 */
int hfc_remote_opt(int c, const char *arg, HfcRemoteOptions *o);

/*
 * Checks the remote options together after parsing, makes the paths a daemon keeps absolute,
 * and sets the state directory (--state, else $HFC_STATE_DIR, else the default). Returns 0,
 * HFC_USAGE, or -errno (message printed).
 */
int hfc_remote_opts_check(HfcRemoteOptions *o);

/* Frees what the options hold (the trusted keys). */
void hfc_remote_opts_done(HfcRemoteOptions *o);

/*
 * Prints what a tool must say about an opened remote: "note: offline: ..." when its index came
 * from the cache.
 */
void hfc_remote_opts_report(const HfcRemote *r);
