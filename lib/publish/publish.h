/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Publishing a site to mirrors: the publish.yaml settings, the push with rsync in a safe order
 * (block files, then indexes/ and profiles/, then index.idx), the check of each mirror over its
 * own HTTP base URL, the status of mirrors, and pruning what the site itself pruned.
 * docs/MIRRORING.md says why the order keeps every mirror consistent at every instant.
 */

#include "base/progress.h"
#include "formats/index.h"
#include "publish/rsync.h"
#include "base/util.h"

#define HFC_PUBLISH_MAX_MIRRORS 64
#define HFC_PUBLISH_FAULTS_KEPT 8
#define HFC_PUBLISH_MAX_PUBKEYS 16

typedef struct HfcPublishMirror {
	char *name;
	char *target; /* checked; absolute when local */
	HfcRsyncKind kind;
	char *url;
	char *password_file; /* rsync daemons with auth users; NULL: none */
} HfcPublishMirror;

typedef struct HfcPublishConfig {
	char *file;           /* the configuration file */
	char *site;           /* the site directory */
	unsigned parallel;    /* mirrors pushed at once */
	char *rsync;          /* the rsync program */
	uint64_t bwlimit;     /* bytes per second for each rsync; 0: no limit */
	unsigned timeout;     /* rsync --timeout (seconds of no I/O); 0: none */
	unsigned contimeout;  /* rsync --contimeout for daemons (seconds) */
	char *ssh;            /* rsync --rsh for user@host:path targets; NULL: rsync's default */
	unsigned verify_connections, verify_timeout_ms, verify_retries;
	unsigned verify_settle_ms; /* how long a just-pushed mirror may still serve the old index.idx
				      (web servers' stat caches, proxies) before that is a failure */
	bool require_signature; /* refuse to push a site not signed by one of pubkeys */
	char **pubkeys;         /* trusted public key files, absolute; status checks signatures */
	size_t npubkeys;
	int64_t expiry_warning; /* seconds: warn when a signature expires within this */
	HfcPublishMirror *mirrors;
	size_t nmirrors;
} HfcPublishConfig;

/*
 * Parses publish.yaml text; fname names it in errors, and relative paths in it are relative to
 * fname's directory. Unknown keys, missing keys and bad values are errors naming
 * fname:line:column. Returns 0, -EBADMSG with err filled, or -ENOMEM.
 */
int hfc_publish_config_parse(const char *buf, size_t len, const char *fname,
			     HfcPublishConfig **ret, HfcErr *err);

/* Reads and parses a publish.yaml file; -errno with err filled. */
int hfc_publish_config_load(const char *path, HfcPublishConfig **ret, HfcErr *err);

/* Frees a configuration; NULL is fine. */
void hfc_publish_config_free(HfcPublishConfig *c);

static inline void hfc_publish_config_freep(HfcPublishConfig **c)
{
	hfc_publish_config_free(*c);
}

/* Returns the index of the mirror called name, or -ENOENT. */
int hfc_publish_mirror_find(const HfcPublishConfig *c, const char *name);

typedef struct HfcPublishOptions {
	bool dry_run;        /* rsync -n: tell what would be sent; nothing changes, no check */
	bool verify_only;    /* no push: check the mirrors as they are */
	bool deep;           /* fetch every block file and check it against its name */
	bool prune;          /* after a good check, delete what the site no longer has */
	bool repair;         /* send block files a check finds missing or bad again, then check
				again */
	HfcProgress progress; /* "push" or "verify", in bytes */
	unsigned parallel;   /* 0: the configuration's */
	const bool *selected; /* one flag per mirror; NULL: all */
} HfcPublishOptions;

/* What an index's signature line says, and whether it holds against the trusted keys. */
typedef enum HfcSigState {
	HFC_SIG_NONE,      /* not signed */
	HFC_SIG_UNCHECKED, /* signed; no pubkey configured to check it against */
	HFC_SIG_GOOD,      /* signed by a trusted key, holds, not expired */
	HFC_SIG_UNTRUSTED, /* signed by a key not configured */
	HFC_SIG_BAD,       /* by a trusted key, but the signature does not hold */
	HFC_SIG_EXPIRED,   /* by a trusted key and holds, but past its expiry */
} HfcSigState;

typedef struct HfcSigInfo {
	HfcSigState state;
	uint8_t key_id[HFC_KEY_ID_LEN]; /* the signer (state != HFC_SIG_NONE) */
	int64_t expires;
} HfcSigInfo;

/* A word for a state: "unsigned", "unchecked", "good", "untrusted", "bad", "expired". */
const char *hfc_sig_state_name(HfcSigState s);

typedef struct HfcMirrorReport {
	bool selected;
	bool ok;             /* every step asked for succeeded */
	bool pushed, verified, pruned;
	const char *failed;  /* the step that failed: "blocks", "indexes", "index.idx", "verify",
				"repair", "prune"; NULL */
	HfcErr err;          /* what failed */
	bool before_known;   /* the version before the push could be read over HTTP */
	uint32_t version_before; /* 0: the mirror had no index.idx */
	uint32_t version;    /* the version the mirror has now (the site's when ok) */
	HfcRsyncStats sent;  /* summed over the push steps */
	uint64_t deleted;    /* files --prune removed */
	uint64_t repaired;   /* block files sent again over missing or bad copies */
	uint64_t blocks_checked, bad_blocks;
	char faults[HFC_PUBLISH_FAULTS_KEPT][256]; /* the first bad block files */
	size_t nfaults;
	double seconds, verify_seconds;
} HfcMirrorReport;

typedef struct HfcPublishResult {
	uint32_t version;       /* the site's current version */
	HfcSigInfo sig;         /* its signature */
	uint64_t blocks, block_bytes; /* distinct block files of that version */
	uint64_t site_files, site_bytes; /* everything a mirror holds of the site */
	double seconds;
	size_t nmirrors;
	HfcMirrorReport *mirrors; /* one per configured mirror */
} HfcPublishResult;

/* Frees a result; NULL is fine. */
void hfc_publish_result_free(HfcPublishResult *r);

static inline void hfc_publish_result_freep(HfcPublishResult **r)
{
	hfc_publish_result_free(*r);
}

/*
 * Pushes the site to each selected mirror (at most `parallel` at once) and checks it over HTTP,
 * or only checks (verify_only); then prunes when asked. Holds the site's shared lock
 * throughout, so that no writer changes the site under it. With require_signature, a push
 * (dry or not) first checks every version's signature (publish_source_signed's rules) and sends
 * nothing when one fails. Returns 0 when it ran (each mirror's report tells how it went), or
 * -errno with err filled when it could not start (bad site, busy, not signed: -ENOKEY,
 * -EKEYREJECTED, -EBADMSG, -EKEYEXPIRED).
 */
int hfc_publish_run(const HfcPublishConfig *c, const HfcPublishOptions *o,
		    HfcPublishResult **ret, HfcErr *err);

typedef struct HfcMirrorStatus {
	bool selected;
	bool ok;          /* its index.idx was fetched and is a valid index */
	HfcErr err;
	bool empty;       /* no index.idx at all (404): never published */
	bool current;     /* byte-identical to the site's index.idx */
	uint32_t version;
	int64_t created;
	char label[HFC_LABEL_MAX + 1];
	int64_t behind;   /* site version minus the mirror's */
	uint64_t missing_blocks, missing_bytes; /* block files of the site's version it lacks */
	HfcSigInfo sig;   /* its index.idx's signature (not empty) */
} HfcMirrorStatus;

typedef struct HfcPublishStatus {
	uint32_t version; /* the site's */
	int64_t created;
	HfcSigInfo sig;   /* the site's signature */
	int64_t now;      /* when expiry was judged */
	size_t nmirrors;
	HfcMirrorStatus *mirrors;
} HfcPublishStatus;

/* Frees a status; NULL is fine. */
void hfc_publish_status_free(HfcPublishStatus *s);

static inline void hfc_publish_status_freep(HfcPublishStatus **s)
{
	hfc_publish_status_free(*s);
}

/*
 * Reads each selected mirror's index.idx over HTTP and compares it with the site's. Returns 0
 * when it ran (each mirror's status tells), or -errno with err filled.
 */
int hfc_publish_status(const HfcPublishConfig *c, const bool *selected, HfcPublishStatus **ret,
		       HfcErr *err);
