/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "publish/config.h"

#include "base/parse.h"
#include "base/fileio.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

/* Deeper nesting than any schema of ours needs; bounds the tree builder's stack. */
#define MAX_DEPTH 32

struct HfcConfigNode {
	HfcConfigKind kind;
	unsigned line, col; /* 1-based */
	char *value;        /* scalars: NUL-terminated; may contain NUL (len says) */
	size_t len;
	bool plain;           /* an unquoted scalar */
	HfcConfigNode **items; /* lists: items; maps: key, value, key, value, ... */
	size_t n, cap;
};

struct HfcConfig {
	char *fname;
	HfcConfigNode *root;
};

static void node_free(HfcConfigNode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
}

void hfc_config_free(HfcConfig *c)
{
	if (!c)
		return;
	node_free(c->root);
	free(c->fname);
	free(c);
}

const HfcConfigNode *hfc_config_root(const HfcConfig *c)
{
	return c->root;
}

const char *hfc_config_file(const HfcConfig *c)
{
	return c->fname;
}

HfcConfigKind hfc_config_kind(const HfcConfigNode *n)
{
	return n->kind;
}

void hfc_config_position(const HfcConfigNode *n, unsigned *ret_line, unsigned *ret_col)
{
	*ret_line = n ? n->line : 1;
	*ret_col = n ? n->col : 1;
}

static int verr(HfcErr *err, int r, const char *fname, unsigned line, unsigned col,
		const char *fmt, va_list ap)
{
	if (!err)
		return r;
	int k = snprintf(err->msg, sizeof(err->msg), "%s:%u:%u: ", fname, line, col);
	if (k < 0 || (size_t)k >= sizeof(err->msg))
		return r;
	vsnprintf(err->msg + k, sizeof(err->msg) - (size_t)k, fmt, ap);
	return r;
}

static int perr(HfcErr *err, const char *fname, unsigned line, unsigned col, const char *fmt, ...)
	_printf_(5, 6);
static int perr(HfcErr *err, const char *fname, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = verr(err, -EBADMSG, fname, line, col, fmt, ap);
	va_end(ap);
	return r;
}

int hfc_config_error(const HfcConfig *c, const HfcConfigNode *n, HfcErr *err, int r,
		     const char *fmt, ...)
{
	unsigned line, col;
	hfc_config_position(n ? n : c->root, &line, &col);
	va_list ap;
	va_start(ap, fmt);
	verr(err, r, c->fname, line, col, fmt, ap);
	va_end(ap);
	return r;
}

static const char *kind_name(HfcConfigKind k)
{
	switch (k) {
	case HFC_CONFIG_NULL:
		return "nothing";
	case HFC_CONFIG_SCALAR:
		return "a single value";
	case HFC_CONFIG_MAP:
		return "a mapping (key: value)";
	case HFC_CONFIG_LIST:
		return "a list";
	}
	return "?";
}

/* Line and column (1-based, counting UTF-8 characters) of a byte offset, for reader errors. */
static void offset_position(const char *buf, size_t len, size_t off, unsigned *line, unsigned *col)
{
	unsigned l = 1, c = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch == '\n') {
			l++;
			c = 1;
		} else if ((ch & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static int parser_error(const yaml_parser_t *p, const char *buf, size_t len, const char *fname,
			HfcErr *err)
{
	if (p->error == YAML_MEMORY_ERROR)
		return hfc_err_set(err, -ENOMEM, "%s: out of memory", fname);
	const char *problem = p->problem ? p->problem : "malformed YAML";
	if (p->error == YAML_READER_ERROR) {
		unsigned line, col;
		offset_position(buf, len, p->problem_offset, &line, &col);
		if (strstr(problem, "UTF-8") || strstr(problem, "UTF-16"))
			return perr(err, fname, line, col, "not valid UTF-8 text (%s)", problem);
		if (p->problem_value >= 0 && p->problem_value < 0x20)
			return perr(err, fname, line, col, "%s (byte 0x%02x)", problem,
				    (unsigned)p->problem_value);
		return perr(err, fname, line, col, "%s", problem);
	}
	unsigned line = (unsigned)p->problem_mark.line + 1, col = (unsigned)p->problem_mark.column + 1;
	if (p->context)
		return perr(err, fname, line, col, "%s (%s at line %u)", problem, p->context,
			    (unsigned)p->context_mark.line + 1);
	return perr(err, fname, line, col, "%s", problem);
}

static bool is_null_word(const char *v, size_t len)
{
	static const char *const words[] = { "", "~", "null", "Null", "NULL" };
	for (size_t i = 0; i < ELEMENTSOF(words); i++)
		if (len == strlen(words[i]) && memcmp(v, words[i], len) == 0)
			return true;
	return false;
}

static int node_append(HfcConfigNode *parent, HfcConfigNode *child)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		HfcConfigNode **items = realloc(parent->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		parent->items = items;
		parent->cap = cap;
	}
	parent->items[parent->n++] = child;
	return 0;
}

typedef struct Builder {
	const char *fname;
	HfcConfigNode *stack[MAX_DEPTH];
	size_t depth;
	HfcConfigNode *root;
	HfcErr *err;
} Builder;

/* Attaches a finished (scalar) or opened (collection) node to the node being built. */
static int attach(Builder *b, HfcConfigNode *n)
{
	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	HfcConfigNode *parent = b->stack[b->depth - 1];
	if (parent->kind == HFC_CONFIG_MAP && parent->n % 2 == 0) {
		/* n is a key: a plain or quoted string, once per mapping. */
		if (n->kind != HFC_CONFIG_SCALAR)
			return perr(b->err, b->fname, n->line, n->col,
				    "a key must be a name, not %s", kind_name(n->kind));
		for (size_t i = 0; i < parent->n; i += 2) {
			const HfcConfigNode *k = parent->items[i];
			if (k->len == n->len && memcmp(k->value, n->value, n->len) == 0)
				return perr(b->err, b->fname, n->line, n->col,
					    "duplicate key '%s' (first at line %u)", n->value,
					    k->line);
		}
	}
	return node_append(parent, n);
}

static int anchor_or_tag(Builder *b, const yaml_event_t *ev, const yaml_char_t *anchor,
			 const yaml_char_t *tag)
{
	unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
	if (anchor)
		return perr(b->err, b->fname, line, col, "anchors (&%s) are not allowed", anchor);
	/* The parser reports a tag only when one is written: types come from the schema alone. */
	if (tag)
		return perr(b->err, b->fname, line, col, "tags (%s) are not allowed", tag);
	return 0;
}

static HfcConfigNode *node_new(HfcConfigKind kind, const yaml_event_t *ev)
{
	HfcConfigNode *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->line = (unsigned)ev->start_mark.line + 1;
	n->col = (unsigned)ev->start_mark.column + 1;
	return n;
}

/* Handles one parser event; returns 1 at the end of the stream, 0 to go on, or -errno. */
static int build_event(Builder *b, const yaml_event_t *ev, unsigned *documents)
{
	int r;
	HfcConfigNode *n;
	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (++*documents > 1)
			return perr(b->err, b->fname, (unsigned)ev->start_mark.line + 1,
				    (unsigned)ev->start_mark.column + 1,
				    "a second document; one file holds one document");
		return 0;
	case YAML_ALIAS_EVENT:
		return perr(b->err, b->fname, (unsigned)ev->start_mark.line + 1,
			    (unsigned)ev->start_mark.column + 1, "aliases (*%s) are not allowed",
			    ev->data.alias.anchor);
	case YAML_SCALAR_EVENT: {
		const char *v = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;
		r = anchor_or_tag(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
		if (r < 0)
			return r;
		bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n = node_new(plain && is_null_word(v, len) ? HFC_CONFIG_NULL : HFC_CONFIG_SCALAR, ev);
		if (!n)
			return -ENOMEM;
		n->plain = plain;
		n->len = len;
		n->value = malloc(len + 1);
		if (!n->value) {
			node_free(n);
			return -ENOMEM;
		}
		memcpy(n->value, v, len);
		n->value[len] = 0;
		r = attach(b, n);
		if (r < 0)
			node_free(n);
		return r;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		r = map ? anchor_or_tag(b, ev, ev->data.mapping_start.anchor,
					ev->data.mapping_start.tag)
			: anchor_or_tag(b, ev, ev->data.sequence_start.anchor,
					ev->data.sequence_start.tag);
		if (r < 0)
			return r;
		if (b->depth == MAX_DEPTH)
			return perr(b->err, b->fname, (unsigned)ev->start_mark.line + 1,
				    (unsigned)ev->start_mark.column + 1, "nested too deeply");
		n = node_new(map ? HFC_CONFIG_MAP : HFC_CONFIG_LIST, ev);
		if (!n)
			return -ENOMEM;
		r = attach(b, n);
		if (r < 0) {
			node_free(n);
			return r;
		}
		b->stack[b->depth++] = n;
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0)
			b->depth--;
		return 0;
	}
	return 0;
}

int hfc_config_parse(const char *buf, size_t len, const char *fname, HfcConfig **ret,
		     HfcErr *err)
{
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return hfc_err_set(err, -ENOMEM, "%s: out of memory", fname);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	/* UTF-8 only: a UTF-16 file (or stray bytes) is an error, not a guess. */
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	Builder b = { .fname = fname, .err = err };
	unsigned documents = 0;
	int r = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			r = parser_error(&p, buf, len, fname, err);
			break;
		}
		r = build_event(&b, &ev, &documents);
		yaml_event_delete(&ev);
		if (r != 0)
			break;
	}
	yaml_parser_delete(&p);
	if (r < 0) {
		node_free(b.root);
		return r;
	}
	if (!b.root || b.root->kind == HFC_CONFIG_NULL) {
		unsigned line = b.root ? b.root->line : 1, col = b.root ? b.root->col : 1;
		node_free(b.root);
		return perr(err, fname, line, col, "empty: expected a mapping of settings");
	}
	if (b.root->kind != HFC_CONFIG_MAP) {
		r = perr(err, fname, b.root->line, b.root->col,
			 "expected a mapping of settings (key: value), got %s",
			 kind_name(b.root->kind));
		node_free(b.root);
		return r;
	}
	HfcConfig *c = calloc(1, sizeof(*c));
	if (!c || !(c->fname = strdup(fname))) {
		free(c);
		node_free(b.root);
		return hfc_err_set(err, -ENOMEM, "%s: out of memory", fname);
	}
	c->root = b.root;
	*ret = c;
	return 0;
}

int hfc_config_load(const char *path, HfcConfig **ret, HfcErr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = hfc_read_file_at(AT_FDCWD, path, HFC_CONFIG_MAX_BYTES, &buf, &len);
	if (r == -EFBIG)
		return hfc_err_set(err, r, "%s: larger than %u bytes", path, HFC_CONFIG_MAX_BYTES);
	if (r < 0)
		return hfc_err_set(err, r, "%s: %s", path, strerror(-r));
	return hfc_config_parse(buf, len, path, ret, err);
}

static bool in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* Writes "a, b, c" (required and optional keys) into out, for the unknown-key message. */
static void key_names(const char *const *required, const char *const *optional, char *out,
		      size_t outlen)
{
	size_t k = 0;
	out[0] = 0;
	const char *const *lists[] = { required, optional };
	for (size_t l = 0; l < 2; l++)
		for (const char *const *p = lists[l]; p && *p; p++) {
			int w = snprintf(out + k, outlen - k, "%s%s", k ? ", " : "", *p);
			if (w < 0 || (size_t)w >= outlen - k)
				return;
			k += (size_t)w;
		}
}

int hfc_config_check_map(const HfcConfig *c, const HfcConfigNode *n, const char *what,
			 const char *const *required, const char *const *optional, HfcErr *err)
{
	if (n->kind != HFC_CONFIG_MAP)
		return hfc_config_error(c, n, err, -EBADMSG, "%s: expected a mapping (key: value), got %s",
					what, kind_name(n->kind));
	for (size_t i = 0; i < n->n; i += 2) {
		const HfcConfigNode *k = n->items[i];
		if (strlen(k->value) != k->len || (!in_list(required, k->value) &&
						   !in_list(optional, k->value))) {
			char names[256];
			key_names(required, optional, names, sizeof(names));
			return hfc_config_error(c, k, err, -EBADMSG,
						"unknown key '%.64s' in %s (known: %s)", k->value, what,
						names);
		}
	}
	for (const char *const *p = required; p && *p; p++)
		if (!hfc_config_get(n, *p))
			return hfc_config_error(c, n, err, -EBADMSG, "%s: missing key '%s'", what,
						*p);
	return 0;
}

const HfcConfigNode *hfc_config_get(const HfcConfigNode *n, const char *key)
{
	if (!n || n->kind != HFC_CONFIG_MAP)
		return NULL;
	size_t kl = strlen(key);
	for (size_t i = 0; i + 1 < n->n; i += 2)
		if (n->items[i]->len == kl && memcmp(n->items[i]->value, key, kl) == 0)
			return n->items[i + 1];
	return NULL;
}

size_t hfc_config_list_len(const HfcConfigNode *n)
{
	return n && n->kind == HFC_CONFIG_LIST ? n->n : 0;
}

const HfcConfigNode *hfc_config_list_item(const HfcConfigNode *n, size_t i)
{
	return n && n->kind == HFC_CONFIG_LIST && i < n->n ? n->items[i] : NULL;
}

int hfc_config_check_list(const HfcConfig *c, const HfcConfigNode *n, const char *what,
			  HfcErr *err)
{
	if (n->kind != HFC_CONFIG_LIST)
		return hfc_config_error(c, n, err, -EBADMSG, "%s: expected a list, got %s", what,
					kind_name(n->kind));
	if (n->n == 0)
		return hfc_config_error(c, n, err, -EBADMSG, "%s: the list is empty", what);
	return 0;
}

static int want_scalar(const HfcConfig *c, const HfcConfigNode *n, const char *what,
		       const char *expect, HfcErr *err)
{
	if (n->kind != HFC_CONFIG_SCALAR)
		return hfc_config_error(c, n, err, -EBADMSG, "%s: expected %s, got %s", what, expect,
					kind_name(n->kind));
	return 0;
}

int hfc_config_string(const HfcConfig *c, const HfcConfigNode *n, const char *what,
		      const char **ret, HfcErr *err)
{
	int r = want_scalar(c, n, what, "a string", err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n->len; i++) {
		unsigned char ch = (unsigned char)n->value[i];
		if (ch < 0x20 || ch == 0x7f)
			return hfc_config_error(c, n, err, -EBADMSG,
						"%s: control character 0x%02x in the value", what,
						ch);
	}
	*ret = n->value;
	return 0;
}

int hfc_config_uint(const HfcConfig *c, const HfcConfigNode *n, const char *what, uint64_t min,
		    uint64_t max, uint64_t *ret, HfcErr *err)
{
	int r = want_scalar(c, n, what, "a number", err);
	if (r < 0)
		return r;
	uint64_t v;
	if (!n->plain || (n->len > 1 && n->value[0] == '0') ||
	    hfc_parse_uint(n->value, UINT64_MAX, &v) < 0 || strlen(n->value) != n->len)
		return hfc_config_error(c, n, err, -EBADMSG, "%s: '%.64s' is not a whole number",
					what, n->value);
	if (v < min || v > max)
		return hfc_config_error(c, n, err, -EBADMSG,
					"%s: %" PRIu64 " is out of range (%" PRIu64 " to %" PRIu64
					")",
					what, v, min, max);
	*ret = v;
	return 0;
}

int hfc_config_size(const HfcConfig *c, const HfcConfigNode *n, const char *what, uint64_t max,
		    uint64_t *ret, HfcErr *err)
{
	int r = want_scalar(c, n, what, "a size", err);
	if (r < 0)
		return r;
	uint64_t v;
	if (!n->plain || strlen(n->value) != n->len || hfc_parse_size(n->value, &v) < 0)
		return hfc_config_error(c, n, err, -EBADMSG,
					"%s: '%.64s' is not a size (a number with an optional K, "
					"M, G or T)",
					what, n->value);
	if (v > max)
		return hfc_config_error(c, n, err, -EBADMSG, "%s: %s is too large (at most %" PRIu64
					")", what, n->value, max);
	*ret = v;
	return 0;
}

int hfc_config_bool(const HfcConfig *c, const HfcConfigNode *n, const char *what, bool *ret,
		    HfcErr *err)
{
	int r = want_scalar(c, n, what, "true or false", err);
	if (r < 0)
		return r;
	if (n->plain && strcmp(n->value, "true") == 0)
		*ret = true;
	else if (n->plain && strcmp(n->value, "false") == 0)
		*ret = false;
	else
		return hfc_config_error(c, n, err, -EBADMSG, "%s: expected true or false, got '%.64s'",
					what, n->value);
	return 0;
}
