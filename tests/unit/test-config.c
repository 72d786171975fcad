/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for config.c (the strict YAML reader), the publish.yaml schema in settings.c, and
 * rsync.c's target checks, --stats parsing and child process handling. Every error names
 * file:line:column.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "publish/config.h"
#include "publish/publish.h"
#include "publish/rsync.h"

static int parse(const char *text, HfcConfig **ret, HfcErr *err)
{
	err->msg[0] = 0;
	return hfc_config_parse(text, strlen(text), "t.yaml", ret, err);
}

/* Expects text to fail with exactly msg. */
static void parse_fails(const char *text, const char *msg)
{
	HfcConfig *c = NULL;
	HfcErr err;
	int r = parse(text, &c, &err);
	if (r != -EBADMSG || strcmp(err.msg, msg) != 0)
		fail_msg("for %s\n  got %d '%s'\n  want '%s'", text, r, err.msg, msg);
	assert_null(c);
}

static int setup(void **state)
{
	return scratch_new("config", state);
}

static int teardown(void **state)
{
	return scratch_free(state);
}

static void test_tree(void **state)
{
	(void)state;
	HfcConfig *c;
	HfcErr err;
	assert_int_equal(parse("# settings\n"
			       "a: 1\n"
			       "b: \"two words\"\n"
			       "list:\n"
			       "  - x: 1\n"
			       "  - y\n"
			       "empty:\n"
			       "nul: ~\n"
			       "flow: {k: v}\n",
			       &c, &err),
			 0);
	const HfcConfigNode *root = hfc_config_root(c);
	assert_int_equal(hfc_config_kind(root), HFC_CONFIG_MAP);
	unsigned line, col;
	const HfcConfigNode *b = hfc_config_get(root, "b");
	hfc_config_position(b, &line, &col);
	assert_int_equal(line, 3);
	assert_int_equal(col, 4);
	const char *s;
	assert_int_equal(hfc_config_string(c, b, "b", &s, &err), 0);
	assert_string_equal(s, "two words");
	const HfcConfigNode *l = hfc_config_get(root, "list");
	assert_int_equal(hfc_config_kind(l), HFC_CONFIG_LIST);
	assert_int_equal(hfc_config_list_len(l), 2);
	assert_int_equal(hfc_config_kind(hfc_config_list_item(l, 0)), HFC_CONFIG_MAP);
	assert_int_equal(hfc_config_kind(hfc_config_list_item(l, 1)), HFC_CONFIG_SCALAR);
	assert_null(hfc_config_list_item(l, 2));
	assert_int_equal(hfc_config_kind(hfc_config_get(root, "empty")), HFC_CONFIG_NULL);
	assert_int_equal(hfc_config_kind(hfc_config_get(root, "nul")), HFC_CONFIG_NULL);
	assert_int_equal(hfc_config_kind(hfc_config_get(root, "flow")), HFC_CONFIG_MAP);
	assert_null(hfc_config_get(root, "missing"));
	assert_null(hfc_config_get(b, "b")); /* not a map */
	assert_string_equal(hfc_config_file(c), "t.yaml");

	/* A null value is not a string; a quoted empty one is a string (and then checked). */
	assert_int_equal(hfc_config_string(c, hfc_config_get(root, "empty"), "empty", &s, &err),
			 -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:7:7: empty: expected a string, got nothing");
	hfc_config_free(c);
	hfc_config_free(NULL);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	parse_fails("", "t.yaml:1:1: empty: expected a mapping of settings");
	parse_fails("# nothing\n\n", "t.yaml:1:1: empty: expected a mapping of settings");
	parse_fails("---\n", "t.yaml:2:1: empty: expected a mapping of settings");
	parse_fails("~\n", "t.yaml:1:1: empty: expected a mapping of settings");
	parse_fails("- a\n- b\n",
		    "t.yaml:1:1: expected a mapping of settings (key: value), got a list");
	parse_fails("just text\n",
		    "t.yaml:1:1: expected a mapping of settings (key: value), got a single value");
	parse_fails("a: 1\na: 2\n", "t.yaml:2:1: duplicate key 'a' (first at line 1)");
	parse_fails("a: &x 1\nb: *x\n", "t.yaml:1:4: anchors (&x) are not allowed");
	parse_fails("a: 1\nb: *x\n", "t.yaml:2:4: aliases (*x) are not allowed");
	parse_fails("a: !!int 1\n", "t.yaml:1:4: tags (tag:yaml.org,2002:int) are not allowed");
	parse_fails("a: 1\n---\nb: 2\n",
		    "t.yaml:2:1: a second document; one file holds one document");
	parse_fails("[a, b]: 1\n", "t.yaml:1:1: a key must be a name, not a list");
	parse_fails("a:\n\t- b\n", "t.yaml:2:1: found character that cannot start any token "
				   "(while scanning for the next token at line 2)");
	parse_fails("a: [1, 2\n", "t.yaml:2:1: did not find expected ',' or ']' "
				  "(while parsing a flow sequence at line 1)");

	/* Not UTF-8: the position of the first bad byte, counted in characters. */
	parse_fails("a: 1\nb: caf\xc3\xa9 \xff\n",
		    "t.yaml:2:9: not valid UTF-8 text (invalid leading UTF-8 octet)");
	parse_fails("a: \xc3\n", "t.yaml:1:5: not valid UTF-8 text (invalid trailing UTF-8 octet)");
	/* UTF-16 (with its byte order mark) is not read as UTF-8 either. */
	parse_fails("\xff\xfe" "a\0:\0 \0" "1\0\n\0",
		    "t.yaml:1:1: not valid UTF-8 text (invalid leading UTF-8 octet)");
	/* Control characters. */
	HfcConfig *c = NULL;
	HfcErr err;
	assert_int_equal(hfc_config_parse("a: b\0c\n", 7, "t.yaml", &c, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "t.yaml:1:5: control characters are not allowed"));

	/* Nesting is bounded. */
	char deep[200] = "a: ";
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	strcat(deep, "\n");
	assert_int_equal(parse(deep, &c, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "nested too deeply"));
}

static void test_getters(void **state)
{
	(void)state;
	HfcConfig *c;
	HfcErr err;
	assert_int_equal(parse("n: 42\nz: 0\nbig: 99999999999999999999\nneg: -1\noct: 012\n"
			       "q: \"7\"\nsz: 10M\nbadsz: 10X\nt: true\nf: false\nyes: yes\n"
			       "nul: \"a\\0b\"\ntab: \"a\\tb\"\nm: {a: 1}\n",
			       &c, &err),
			 0);
	const HfcConfigNode *r = hfc_config_root(c);
	uint64_t v;
	bool b;
	const char *s;
	assert_int_equal(hfc_config_uint(c, hfc_config_get(r, "n"), "n", 1, 100, &v, &err), 0);
	assert_int_equal(v, 42);
	assert_int_equal(hfc_config_uint(c, hfc_config_get(r, "z"), "z", 0, 1, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(hfc_config_uint(c, hfc_config_get(r, "n"), "n", 1, 10, &v, &err), -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:1:4: n: 42 is out of range (1 to 10)");
	assert_int_equal(hfc_config_uint(c, hfc_config_get(r, "big"), "big", 0, UINT64_MAX, &v, &err),
			 -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:3:6: big: '99999999999999999999' is not a whole number");
	assert_int_equal(hfc_config_uint(c, hfc_config_get(r, "neg"), "neg", 0, 9, &v, &err), -EBADMSG);
	assert_int_equal(hfc_config_uint(c, hfc_config_get(r, "oct"), "oct", 0, 99, &v, &err), -EBADMSG);
	/* A quoted number is a string, not a number. */
	assert_int_equal(hfc_config_uint(c, hfc_config_get(r, "q"), "q", 0, 99, &v, &err), -EBADMSG);
	assert_int_equal(hfc_config_uint(c, hfc_config_get(r, "m"), "m", 0, 99, &v, &err), -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:14:4: m: expected a number, got a mapping (key: value)");

	assert_int_equal(hfc_config_size(c, hfc_config_get(r, "sz"), "sz", UINT64_MAX, &v, &err), 0);
	assert_int_equal(v, 10u << 20);
	assert_int_equal(hfc_config_size(c, hfc_config_get(r, "sz"), "sz", 1000, &v, &err), -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:7:5: sz: 10M is too large (at most 1000)");
	assert_int_equal(hfc_config_size(c, hfc_config_get(r, "badsz"), "b", 1000, &v, &err), -EBADMSG);

	assert_int_equal(hfc_config_bool(c, hfc_config_get(r, "t"), "t", &b, &err), 0);
	assert_true(b);
	assert_int_equal(hfc_config_bool(c, hfc_config_get(r, "f"), "f", &b, &err), 0);
	assert_false(b);
	/* YAML 1.1's "yes" is not a boolean here: one spelling per value. */
	assert_int_equal(hfc_config_bool(c, hfc_config_get(r, "yes"), "yes", &b, &err), -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:11:6: yes: expected true or false, got 'yes'");

	assert_int_equal(hfc_config_string(c, hfc_config_get(r, "nul"), "nul", &s, &err), -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:12:6: nul: control character 0x00 in the value");
	assert_int_equal(hfc_config_string(c, hfc_config_get(r, "tab"), "tab", &s, &err), -EBADMSG);
	assert_int_equal(hfc_config_string(c, hfc_config_get(r, "q"), "q", &s, &err), 0);
	assert_string_equal(s, "7");
	hfc_config_free(c);
}

static void test_check_map(void **state)
{
	(void)state;
	HfcConfig *c;
	HfcErr err;
	static const char *const req[] = { "a", "b", NULL };
	static const char *const opt[] = { "c", NULL };
	assert_int_equal(parse("a: 1\nb: 2\nc: 3\n", &c, &err), 0);
	assert_int_equal(hfc_config_check_map(c, hfc_config_root(c), "top", req, opt, &err), 0);
	hfc_config_free(c);

	assert_int_equal(parse("a: 1\nb: 2\nd: 3\n", &c, &err), 0);
	assert_int_equal(hfc_config_check_map(c, hfc_config_root(c), "top", req, opt, &err), -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:3:1: unknown key 'd' in top (known: a, b, c)");
	hfc_config_free(c);

	assert_int_equal(parse("x:\n  a: 1\n", &c, &err), 0);
	const HfcConfigNode *x = hfc_config_get(hfc_config_root(c), "x");
	assert_int_equal(hfc_config_check_map(c, x, "x", req, NULL, &err), -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:2:3: x: missing key 'b'");
	hfc_config_free(c);

	assert_int_equal(parse("x: [1]\ny: []\nz: 1\n", &c, &err), 0);
	const HfcConfigNode *r = hfc_config_root(c);
	assert_int_equal(hfc_config_check_map(c, hfc_config_get(r, "x"), "x", req, opt, &err),
			 -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:1:4: x: expected a mapping (key: value), got a list");
	assert_int_equal(hfc_config_check_list(c, hfc_config_get(r, "x"), "x", &err), 0);
	assert_int_equal(hfc_config_check_list(c, hfc_config_get(r, "y"), "y", &err), -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:2:4: y: the list is empty");
	assert_int_equal(hfc_config_check_list(c, hfc_config_get(r, "z"), "z", &err), -EBADMSG);
	assert_string_equal(err.msg, "t.yaml:3:4: z: expected a list, got a single value");
	hfc_config_free(c);
}

static void test_load(void **state)
{
	Scratch *s = *state;
	put_at(s->fd, "c.yaml", "a: 1\n");
	const char *path = scratch_file(s, "c.yaml");
	HfcConfig *c;
	HfcErr err;
	assert_int_equal(hfc_config_load(path, &c, &err), 0);
	assert_string_equal(hfc_config_file(c), path);
	hfc_config_free(c);
	assert_int_equal(unlinkat(s->fd, "c.yaml", 0), 0);
	assert_int_equal(hfc_config_load(path, &c, &err), -ENOENT);
	char want[sizeof(s->file) + 64];
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err.msg, want);
	assert_int_equal(hfc_config_load(s->path, &c, &err), -EISDIR);

	/* A publish.yaml file reads as its text parses, relative paths against its directory. */
	put_at(s->fd, "p.yaml", "site: s\nmirrors:\n  - {name: m, target: t, url: 'http://m/'}\n");
	HfcPublishConfig *pc;
	assert_int_equal(hfc_publish_config_load(scratch_file(s, "p.yaml"), &pc, &err), 0);
	assert_string_equal(pc->file, scratch_file(s, "p.yaml"));
	assert_string_equal(pc->site, scratch_file(s, "s"));
	assert_string_equal(pc->mirrors[0].target, scratch_file(s, "t"));
	hfc_publish_config_free(pc);
	assert_int_equal(hfc_publish_config_load(scratch_file(s, "none.yaml"), &pc, &err), -ENOENT);
	put_at(s->fd, "bad.yaml", "site: s\n");
	assert_int_equal(hfc_publish_config_load(scratch_file(s, "bad.yaml"), &pc, &err), -EBADMSG);
	snprintf(want, sizeof(want), "%s:1:1: the file: missing key 'mirrors'",
		 scratch_file(s, "bad.yaml"));
	assert_string_equal(err.msg, want);
}

static const char good[] = "# publish.yaml\n"
			   "site: /srv/hfc/site\n"
			   "parallel: 3\n"
			   "rsync:\n"
			   "  program: /usr/bin/rsync\n"
			   "  bwlimit: 10M\n"
			   "  timeout: 120\n"
			   "  contimeout: 7\n"
			   "  ssh: ssh -p 2222 -o BatchMode=yes\n"
			   "verify:\n"
			   "  connections: 16\n"
			   "  timeout: 5\n"
			   "  retries: 0\n"
			   "  settle: 3\n"
			   "mirrors:\n"
			   "  - name: a\n"
			   "    target: rsync://push@mirror-a.example.org:8873/hfc-push/knoppix\n"
			   "    url: https://mirror-a.example.org/hfc/knoppix\n"
			   "    password_file: secret\n"
			   "  - name: b.local\n"
			   "    target: local/dir\n"
			   "    url: http://localhost/hfc\n"
			   "  - name: c_ssh\n"
			   "    target: hfc@mirror-c.example.org:/srv/www/hfc\n"
			   "    url: http://mirror-c.example.org/hfc\n";

#define M "mirrors:\n  - name: a\n    target: /m\n    url: http://m/\n"

static void test_publish_config(void **state)
{
	(void)state;
	HfcPublishConfig *c;
	HfcErr err = { "" };
	int r = hfc_publish_config_parse(good, strlen(good), "/etc/hfc/publish.yaml", &c, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c->site, "/srv/hfc/site");
	assert_int_equal(c->parallel, 3);
	assert_string_equal(c->rsync, "/usr/bin/rsync");
	assert_int_equal(c->bwlimit, 10u << 20);
	assert_int_equal(c->timeout, 120);
	assert_int_equal(c->contimeout, 7);
	assert_string_equal(c->ssh, "ssh -p 2222 -o BatchMode=yes");
	assert_int_equal(c->verify_connections, 16);
	assert_int_equal(c->verify_timeout_ms, 5000);
	assert_int_equal(c->verify_retries, 0);
	assert_int_equal(c->verify_settle_ms, 3000);
	assert_int_equal(c->nmirrors, 3);
	assert_int_equal(c->mirrors[0].kind, HFC_RSYNC_DAEMON);
	/* Relative paths are relative to the file's directory. */
	assert_string_equal(c->mirrors[0].password_file, "/etc/hfc/secret");
	assert_int_equal(c->mirrors[1].kind, HFC_RSYNC_LOCAL);
	assert_string_equal(c->mirrors[1].target, "/etc/hfc/local/dir");
	assert_null(c->mirrors[1].password_file);
	assert_int_equal(c->mirrors[2].kind, HFC_RSYNC_SSH);
	assert_string_equal(c->mirrors[2].target, "hfc@mirror-c.example.org:/srv/www/hfc");
	assert_int_equal(hfc_publish_mirror_find(c, "b.local"), 1);
	assert_int_equal(hfc_publish_mirror_find(c, "z"), -ENOENT);
	hfc_publish_config_free(c);

	/* The least a file can say; the rest are defaults. */
	static const char least[] = "site: s\nmirrors:\n  - {name: m, target: /m, url: 'http://m/'}\n";
	assert_int_equal(hfc_publish_config_parse(least, strlen(least), "p.yaml", &c, &err), 0);
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	char want[4200];
	snprintf(want, sizeof(want), "%s/s", cwd);
	assert_string_equal(c->site, want);
	assert_int_equal(c->parallel, 2);
	assert_string_equal(c->rsync, "rsync");
	assert_int_equal(c->bwlimit, 0);
	assert_int_equal(c->timeout, 600);
	assert_null(c->ssh);
	assert_int_equal(c->verify_connections, 8);
	assert_false(c->require_signature);
	assert_int_equal(c->npubkeys, 0);
	assert_int_equal(c->expiry_warning, 7 * 86400);
	hfc_publish_config_free(c);
	hfc_publish_config_free(NULL);

	/* Signatures: one key or a list (a rotation), relative to the file; a warning period. */
	static const char one[] = "site: s\nrequire-signature: true\npubkey: keys/a.pub\n"
				  "expiry-warning: 36h\n" M;
	assert_int_equal(hfc_publish_config_parse(one, strlen(one), "/etc/p.yaml", &c, &err), 0);
	assert_true(c->require_signature);
	assert_int_equal(c->npubkeys, 1);
	assert_string_equal(c->pubkeys[0], "/etc/keys/a.pub");
	assert_int_equal(c->expiry_warning, 36 * 3600);
	hfc_publish_config_free(c);
	static const char two[] = "site: s\npubkey: [/k/a.pub, b.pub]\n" M;
	assert_int_equal(hfc_publish_config_parse(two, strlen(two), "/etc/p.yaml", &c, &err), 0);
	assert_false(c->require_signature);
	assert_int_equal(c->npubkeys, 2);
	assert_string_equal(c->pubkeys[0], "/k/a.pub");
	assert_string_equal(c->pubkeys[1], "/etc/b.pub");
	hfc_publish_config_free(c);
}

static void publish_fails(const char *text, const char *msg)
{
	HfcPublishConfig *c = NULL;
	HfcErr err = { "" };
	int r = hfc_publish_config_parse(text, strlen(text), "p.yaml", &c, &err);
	if (r != -EBADMSG || strcmp(err.msg, msg) != 0)
		fail_msg("for %s\n  got %d '%s'\n  want '%s'", text, r, err.msg, msg);
	assert_null(c);
}

static void test_publish_config_errors(void **state)
{
	(void)state;
	publish_fails("site: s\n", "p.yaml:1:1: the file: missing key 'mirrors'");
	publish_fails(M, "p.yaml:1:1: the file: missing key 'site'");
	publish_fails("site: s\n" M "mirror: x\n",
		      "p.yaml:6:1: unknown key 'mirror' in the file (known: site, mirrors, parallel, "
		      "rsync, verify, require-signature, pubkey, expiry-warning)");
	publish_fails("site: s\nrequire-signature: true\n" M,
		      "p.yaml:2:20: require-signature: needs pubkey, the key files to check the "
		      "signature against");
	publish_fails("site: s\nrequire-signature: yes\npubkey: k.pub\n" M,
		      "p.yaml:2:20: require-signature: expected true or false, got 'yes'");
	publish_fails("site: s\npubkey: {a: b}\n" M,
		      "p.yaml:2:9: pubkey: expected a string, got a mapping (key: value)");
	publish_fails("site: s\nexpiry-warning: 7\n" M,
		      "p.yaml:2:17: expiry-warning: '7' is not a duration (like 7d or 36h)");
	publish_fails("site: s\nrsync: [1]\n" M,
		      "p.yaml:2:8: rsync: expected a mapping (key: value), got a list");
	publish_fails("site: s\nrsync:\n  bw: 1\n" M,
		      "p.yaml:3:3: unknown key 'bw' in rsync (known: program, bwlimit, timeout, "
		      "contimeout, ssh)");
	publish_fails("site: s\nrsync:\n  program: bin/rsync\n" M,
		      "p.yaml:3:12: rsync.program: a program name or an absolute path");
	publish_fails("site: s\nrsync:\n  bwlimit: fast\n" M,
		      "p.yaml:3:12: rsync.bwlimit: 'fast' is not a size (a number with an optional "
		      "K, M, G or T)");
	publish_fails("site: [s]\n" M, "p.yaml:1:7: site: expected a string, got a list");
	publish_fails("site: s\nmirrors: a\n", "p.yaml:2:10: mirrors: expected a list, got a single value");
	publish_fails("site: s\nmirrors:\n  - [a]\n",
		      "p.yaml:3:5: mirror 1: expected a mapping (key: value), got a list");
	publish_fails("site: s\nmirrors:\n  - name: a\n    url: http://m/\n",
		      "p.yaml:3:5: mirror 'a': missing key 'target'");
	publish_fails("site: s\nmirrors:\n  - name: a\n    target: /m\n    url: http://m/\n    x: 1\n",
		      "p.yaml:6:5: unknown key 'x' in mirror 'a' (known: name, target, url, "
		      "password_file)");
	publish_fails("site: s\nmirrors:\n  - name: 'a b'\n    target: /m\n    url: http://m/\n",
		      "p.yaml:3:11: name: 'a b' is not a name (1 to 64 letters, digits, '.', '_' or "
		      "'-')");
	publish_fails("site: s\n" M "  - name: a\n    target: /n\n    url: http://n/\n",
		      "p.yaml:6:11: name: a second mirror called 'a'");
	publish_fails("site: s\nmirrors:\n  - name: a\n    target: /m\n    url: m.example.org\n",
		      "p.yaml:5:10: url: 'm.example.org' is not an http://, https:// or file:// URL");
	publish_fails("site: s\nmirrors:\n  - name: a\n    target: -e\n    url: http://m/\n",
		      "p.yaml:4:13: target: '-e': starts with '-'");
	publish_fails("site: s\nverify:\n  timeout: 0\n" M,
		      "p.yaml:3:12: verify.timeout: 0 is out of range (1 to 3600)");
}

static void test_targets(void **state)
{
	(void)state;
	static const struct {
		const char *t;
		int kind; /* -1: refused */
	} cases[] = {
		{ "/srv/www/hfc", HFC_RSYNC_LOCAL },
		{ "/srv/www/a:b", HFC_RSYNC_LOCAL },
		{ "/srv/with space/x", HFC_RSYNC_LOCAL },
		{ "rsync://host/module", HFC_RSYNC_DAEMON },
		{ "rsync://user@host.example.org:8873/module/a/b", HFC_RSYNC_DAEMON },
		{ "rsync://[::1]:873/module", HFC_RSYNC_DAEMON },
		{ "rsync://10.0.0.1/m", HFC_RSYNC_DAEMON },
		{ "host:path", HFC_RSYNC_SSH },
		{ "user@host:/srv/www/hfc", HFC_RSYNC_SSH },
		{ "user@[::1]:/srv", HFC_RSYNC_SSH },
		{ "", -1 },
		{ "-e", -1 },
		{ "--rsh=sh", -1 },
		{ "relative/dir", -1 },
		{ "/srv/*", -1 },
		{ "/srv/a\nb", -1 },
		{ "rsync://host", -1 },
		{ "rsync://host/", -1 },
		{ "rsync://host:0/m", -1 },
		{ "rsync://host:99999/m", -1 },
		{ "rsync://-host/m", -1 },
		{ "rsync://host/m/$(id)", -1 },
		{ "rsync://host/m/a b", -1 },
		{ "rsync://bad user@host/m", -1 },
		{ "rsync://host/../etc", -1 },
		{ "http://host/x", -1 },
		{ "host::module", -1 },
		{ "host:", -1 },
		{ "host:a;b", -1 },
		{ "host:`id`", -1 },
		{ "host:a b", -1 },
		{ "host:*", -1 },
		{ "-host:path", -1 },
		{ "us er@host:p", -1 },
		{ "ho_st:p", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		HfcRsyncKind kind;
		const char *why = NULL;
		int r = hfc_rsync_target_check(cases[i].t, &kind, &why);
		if (cases[i].kind < 0) {
			if (r != -EINVAL)
				fail_msg("'%s' was accepted", cases[i].t);
			assert_non_null(why);
		} else {
			if (r != 0)
				fail_msg("'%s' was refused: %s", cases[i].t, why);
			assert_int_equal(kind, cases[i].kind);
		}
	}
}

static void test_rsync_stats(void **state)
{
	(void)state;
	HfcRsyncStats s = { 0 };
	hfc_rsync_parse_stats("\nNumber of files: 1,027 (reg: 1,024, dir: 3)\n"
			      "Number of created files: 1,026 (reg: 1,024, dir: 2)\n"
			      "Number of deleted files: 12 (reg: 12)\n"
			      "Number of regular files transferred: 1,024\n"
			      "Total file size: 4,194,304 bytes\n"
			      "Total transferred file size: 4.194.304 bytes\n"
			      "Total bytes sent: 4201234\n"
			      "Total bytes received: 19,504\n",
			      &s);
	assert_int_equal(s.files, 1024);
	assert_int_equal(s.bytes, 4194304);
	assert_int_equal(s.sent, 4201234);
	assert_int_equal(s.received, 19504);
	assert_int_equal(s.deleted, 12);
	/* A key inside another line is not the key. */
	HfcRsyncStats z = { 0 };
	hfc_rsync_parse_stats("x Total bytes sent: 5\n", &z);
	assert_int_equal(z.sent, 0);
}

static uint64_t logged;

static void count_file(void *ud, uint64_t bytes)
{
	(void)ud;
	logged += bytes;
}

static void test_rsync_run(void **state)
{
	(void)state;
	/* A stand-in for rsync: its output, its error lines and its exit status are what counts. */
	const char *ok[] = { "/bin/sh", "-c",
			     "echo 'hfc-sent 10 blocks/aa/x'; echo 'hfc-sent 32 index.idx';"
			     "echo; echo 'Number of regular files transferred: 2';"
			     "echo 'Total transferred file size: 42 bytes'; echo \"LC_ALL=$LC_ALL\" >&2",
			     NULL };
	HfcRsyncStats st;
	HfcErr err = { "" };
	logged = 0;
	assert_int_equal(hfc_rsync_run(ok, count_file, NULL, &st, &err), 0);
	assert_int_equal(logged, 42);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.bytes, 42);

	const char *bad[] = { "/bin/sh", "-c",
			      "echo 'some noise' >&2; echo 'rsync: [Receiver] mkdir \"/x\" failed: "
			      "No such file or directory (2)' >&2; echo 'rsync error: error in file IO "
			      "(code 11)' >&2; exit 11",
			      NULL };
	assert_int_equal(hfc_rsync_run(bad, NULL, NULL, &st, &err), -EIO);
	assert_string_equal(err.msg, "rsync exited 11 (error in file I/O): rsync: [Receiver] mkdir "
				     "\"/x\" failed: No such file or directory (2)");

	const char *daemon[] = { "/bin/sh", "-c", "echo '@ERROR: auth failed on module hfc' >&2; exit 5",
				 NULL };
	assert_int_equal(hfc_rsync_run(daemon, NULL, NULL, &st, &err), -EIO);
	assert_string_equal(err.msg, "rsync exited 5 (error starting client-server protocol): "
				     "@ERROR: auth failed on module hfc");

	const char *slow[] = { "/bin/sh", "-c", "exit 30", NULL };
	assert_int_equal(hfc_rsync_run(slow, NULL, NULL, &st, &err), -ETIMEDOUT);

	const char *killed[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	assert_int_equal(hfc_rsync_run(killed, NULL, NULL, &st, &err), -EIO);
	assert_string_equal(err.msg, "rsync killed by signal 9");

	const char *missing[] = { "hfc-no-such-program", NULL };
	assert_int_equal(hfc_rsync_run(missing, NULL, NULL, &st, &err), -ENOENT);
	assert_string_equal(err.msg, "hfc-no-such-program: cannot find the program in PATH");

	/* Lots of output on both pipes does not deadlock. */
	const char *loud[] = { "/bin/sh", "-c",
			       "i=0; while [ $i -lt 20000 ]; do echo \"hfc-sent 1 f$i\"; "
			       "echo \"noise $i\" >&2; i=$((i+1)); done",
			       NULL };
	logged = 0;
	assert_int_equal(hfc_rsync_run(loud, count_file, NULL, &st, &err), 0);
	assert_int_equal(logged, 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_check_map),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test(test_publish_config),
		cmocka_unit_test(test_publish_config_errors),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_rsync_stats),
		cmocka_unit_test(test_rsync_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
