/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Configuration files in YAML (libyaml, the one adapter). A file is read into a small tree of
 * mappings, lists and scalars that remembers where each node was written, so that every error
 * names file:line:column. The reader is strict: one document, UTF-8 only, no anchors, aliases,
 * tags or duplicate keys; typed getters refuse a value of the wrong kind, unknown keys and
 * missing keys.
 */

#include "base/util.h"

typedef struct HfcConfig HfcConfig;
typedef struct HfcConfigNode HfcConfigNode;

typedef enum HfcConfigKind {
	HFC_CONFIG_NULL, /* an empty value, "~" or "null" */
	HFC_CONFIG_SCALAR,
	HFC_CONFIG_MAP,
	HFC_CONFIG_LIST,
} HfcConfigKind;

/* The largest configuration file read (bytes). */
#define HFC_CONFIG_MAX_BYTES (1u << 20)

/*
 * Parses YAML text (len bytes; need not be NUL-terminated); fname names it in errors. The
 * document must be a mapping. Returns 0, -EBADMSG with err filled ("fname:line:col: what"), or
 * -ENOMEM.
 */
int hfc_config_parse(const char *buf, size_t len, const char *fname, HfcConfig **ret,
		     HfcErr *err);

/* Reads and parses the file at path (see hfc_config_parse); -errno with err filled. */
int hfc_config_load(const char *path, HfcConfig **ret, HfcErr *err);

/* Frees a configuration and all its nodes; NULL is fine. */
void hfc_config_free(HfcConfig *c);

static inline void hfc_config_freep(HfcConfig **c)
{
	hfc_config_free(*c);
}

/* Returns the root node (a mapping). */
const HfcConfigNode *hfc_config_root(const HfcConfig *c);

/* Returns the file name given to parse or load. */
const char *hfc_config_file(const HfcConfig *c);

/* Returns the kind of a node. */
HfcConfigKind hfc_config_kind(const HfcConfigNode *n);

/* Returns the 1-based line and column where a node starts. */
void hfc_config_position(const HfcConfigNode *n, unsigned *ret_line, unsigned *ret_col);

/*
 * Fills err with "file:line:col: what" at node n (the root's position when n is NULL) and
 * returns r.
 */
int hfc_config_error(const HfcConfig *c, const HfcConfigNode *n, HfcErr *err, int r,
		     const char *fmt, ...) _printf_(5, 6);

/*
 * Checks that n is a mapping whose keys are all in required or optional (NULL-terminated lists;
 * either may be NULL) and that every required key is present. what names n in messages ("the
 * file", "mirror 2"). Returns 0 or -EBADMSG with err filled.
 */
int hfc_config_check_map(const HfcConfig *c, const HfcConfigNode *n, const char *what,
			 const char *const *required, const char *const *optional, HfcErr *err);

/* Returns the value of key in mapping n, or NULL when n is not a mapping or has no such key. */
const HfcConfigNode *hfc_config_get(const HfcConfigNode *n, const char *key);

/* Returns the number of items of a list (0 for any other node). */
size_t hfc_config_list_len(const HfcConfigNode *n);

/* Returns item i of a list, or NULL when out of range. */
const HfcConfigNode *hfc_config_list_item(const HfcConfigNode *n, size_t i);

/*
 * Checks that n is a non-empty list; what names it in messages. Returns 0 or -EBADMSG with err
 * filled.
 */
int hfc_config_check_list(const HfcConfig *c, const HfcConfigNode *n, const char *what,
			  HfcErr *err);

/*
 * Gets a string: n must be a non-empty scalar without NUL bytes or control characters. The
 * string is owned by the configuration. Returns 0 or -EBADMSG with err filled.
 */
int hfc_config_string(const HfcConfig *c, const HfcConfigNode *n, const char *what,
		      const char **ret, HfcErr *err);

/*
 * Gets an unsigned decimal (a plain scalar of digits, no sign, no leading zeros) from min to
 * max. Returns 0 or -EBADMSG with err filled.
 */
int hfc_config_uint(const HfcConfig *c, const HfcConfigNode *n, const char *what, uint64_t min,
		    uint64_t max, uint64_t *ret, HfcErr *err);

/*
 * Gets a size: a plain decimal with an optional K, M, G or T suffix (powers of 1024), at most
 * max. Returns 0 or -EBADMSG with err filled.
 */
int hfc_config_size(const HfcConfig *c, const HfcConfigNode *n, const char *what, uint64_t max,
		    uint64_t *ret, HfcErr *err);

/* Gets a boolean: a plain true or false. Returns 0 or -EBADMSG with err filled. */
int hfc_config_bool(const HfcConfig *c, const HfcConfigNode *n, const char *what, bool *ret,
		    HfcErr *err);
