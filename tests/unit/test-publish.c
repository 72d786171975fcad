/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for lib/publish (publish.h): a small site built by hfc_build from an image made
 * here is pushed with the real rsync to local directory mirrors, checked over file:// URLs,
 * damaged, repaired, pruned and asked for its status; and rsync's argument vector takes a
 * target longer than any fixed buffer. No mocks. Every test runs under a deadline.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "publish/publish.h"
#include "site/build.h"
#include "site/history.h"
#include "site/layout.h"
#include "site/store.h"

#define BS 65536u
#define NBLOCKS 64u /* a 4 MiB image */
#define DEADLINE 120 /* seconds for one test */

/* A test's state: its scratch directory, with the site, mirrors and publish.yaml in it. */
typedef struct T {
	Scratch s;
	char site[PATH_MAX + 256];
	HfcPublishConfig *c;
} T;

/*
 * Writes the image of version v: random blocks (those of v1 and, from v2 on, every third one
 * new), a zero block in every seven, and every fifth the same as block 0, so that the site has
 * sparse and shared blocks.
 */
static void make_image(T *t, unsigned v)
{
	uint8_t *img = malloc((size_t)NBLOCKS * BS);
	assert_non_null(img);
	for (unsigned i = 0; i < NBLOCKS; i++) {
		uint8_t *b = img + (size_t)i * BS;
		if (i % 7 == 3)
			memset(b, 0, BS);
		else if (i % 5 == 1)
			memcpy(b, img, BS);
		else
			fill_random(b, BS, 1000 * (v > 1 && i % 3 == 0 ? v : 1) + i);
	}
	write_at(t->s.fd, "img", img, (size_t)NBLOCKS * BS);
	free(img);
}

static void build(T *t, unsigned v)
{
	make_image(t, v);
	HfcBuildOptions o = { .block_size = BS, .jobs = 2 };
	HfcBuildResult res;
	HfcErr err = { "" };
	if (hfc_build(scratch_file(&t->s, "img"), t->site, &o, &res, &err) < 0)
		fail_msg("hfc_build: %s", err.msg);
	assert_int_equal(res.version, v);
}

/* Writes publish.yaml for mirrors named a, b... (n of them) in directories of those names. */
static void configure(T *t, unsigned n)
{
	char yaml[8192];
	int k = snprintf(yaml, sizeof(yaml),
			 "site: site\nparallel: 2\nrsync:\n  timeout: 60\n"
			 "verify:\n  timeout: 10\n  retries: 0\n  settle: 1\nmirrors:\n");
	for (unsigned i = 0; i < n; i++) {
		char name[2] = { (char)('a' + i), 0 };
		assert_true(mkdirat(t->s.fd, name, 0755) == 0 || errno == EEXIST);
		k += snprintf(yaml + k, sizeof(yaml) - (size_t)k,
			      "  - name: %s\n    target: %s\n    url: file://%s/%s\n", name, name,
			      t->s.path, name);
	}
	put_at(t->s.fd, "publish.yaml", yaml);
	hfc_publish_config_free(t->c);
	t->c = NULL;
	HfcErr err = { "" };
	if (hfc_publish_config_load(scratch_file(&t->s, "publish.yaml"), &t->c, &err) < 0)
		fail_msg("publish.yaml: %s", err.msg);
}

/* A scratch directory with version 1 of a site and a publish.yaml of two mirrors. */
static int setup(void **state)
{
	test_deadline(DEADLINE);
	T *t = calloc(1, sizeof(*t));
	if (!t || scratch_open(&t->s, "publish") < 0) {
		free(t);
		return -1;
	}
	snprintf(t->site, sizeof(t->site), "%s/site", t->s.path);
	*state = t;
	build(t, 1);
	/* Never published: a temporary name, as a writer that died would leave it. */
	put_at(t->s.fd, "site/.index.idx.tmp.99999.1", "half");
	configure(t, 2);
	return 0;
}

static int teardown(void **state)
{
	T *t = *state;
	hfc_publish_config_free(t->c);
	int r = scratch_close(&t->s);
	free(t);
	test_deadline(0);
	return r;
}

/* Runs a publish that must start; returns its result. */
static HfcPublishResult *run(T *t, HfcPublishOptions o)
{
	HfcPublishResult *res = NULL;
	HfcErr err = { "" };
	if (hfc_publish_run(t->c, &o, &res, &err) < 0)
		fail_msg("hfc_publish_run: %s", err.msg);
	assert_int_equal(res->nmirrors, t->c->nmirrors);
	return res;
}

/* Expects a mirror's report to say it went well. */
static void assert_ok(const HfcMirrorReport *m)
{
	if (!m->ok)
		fail_msg("failed at %s: %s", m->failed, m->err.msg);
	assert_null(m->failed);
	assert_int_equal(m->bad_blocks, 0);
	assert_int_equal(m->nfaults, 0);
}

/* Expects the mirror directory to hold exactly the site's published files. */
static void assert_same_files(T *t, const char *mirror)
{
	char *want = tree_published(t->site, NULL, NULL);
	char *got = tree_published(scratch_file(&t->s, mirror), NULL, NULL);
	if (strcmp(want, got) != 0)
		fail_msg("mirror %s differs from the site:\n%s\n--- site:\n%s", mirror, got, want);
	free(want);
	free(got);
}

/* The site-relative path of the n-th block file of the site (in sorted order). */
static void nth_block(T *t, unsigned n, char out[HFC_BLOCK_PATH_MAX])
{
	char *list = tree_published(t->site, NULL, NULL);
	char *p = list;
	for (unsigned seen = 0; (p = strstr(p, HFC_SITE_BLOCKS "/")); p++)
		if ((p == list || p[-1] == '\n') && seen++ == n)
			break;
	assert_non_null(p);
	size_t len = strcspn(p, " ");
	assert_true(len < HFC_BLOCK_PATH_MAX);
	memcpy(out, p, len);
	out[len] = 0;
	free(list);
}

static void test_publish_two_mirrors(void **state)
{
	T *t = *state;
	uint64_t files, bytes;
	free(tree_published(t->site, &files, &bytes));
	/* What must stay home is there to leave out. */
	assert_true(exists_at(t->s.fd, "site/" HFC_SITE_LOCK));
	assert_true(exists_at(t->s.fd, "site/" HFC_SITE_BUILD_CACHE));
	HfcPublishResult *res = run(t, (HfcPublishOptions){ 0 });
	assert_int_equal(res->version, 1);
	assert_int_equal(res->site_files, files);
	assert_int_equal(res->site_bytes, bytes);
	/* Distinct, non-zero blocks only: the index, its version's copy, and the block files. */
	assert_int_equal(res->blocks, files - 2);
	for (size_t i = 0; i < res->nmirrors; i++) {
		const HfcMirrorReport *m = &res->mirrors[i];
		assert_ok(m);
		assert_true(m->selected && m->pushed && m->verified && !m->pruned);
		assert_true(m->before_known);
		assert_int_equal(m->version_before, 0);
		assert_int_equal(m->version, 1);
		assert_int_equal(m->sent.files, files);
		assert_int_equal(m->sent.bytes, bytes);
		assert_int_equal(m->blocks_checked, res->blocks);
		assert_int_equal(m->repaired, 0);
		assert_same_files(t, t->c->mirrors[i].name);
		/* Neither the writers' lock, the build cache nor a temporary name went out. */
		char p[64];
		snprintf(p, sizeof(p), "%s/%s", t->c->mirrors[i].name, HFC_SITE_LOCK);
		assert_false(exists_at(t->s.fd, p));
		snprintf(p, sizeof(p), "%s/%s", t->c->mirrors[i].name, HFC_SITE_BUILD_CACHE);
		assert_false(exists_at(t->s.fd, p));
		snprintf(p, sizeof(p), "%s/.index.idx.tmp.99999.1", t->c->mirrors[i].name);
		assert_false(exists_at(t->s.fd, p));
	}
	hfc_publish_result_free(res);

	/* Again: only index.idx is sent (it always is), and nothing else changes. */
	size_t idx_len;
	free(slurp_at(t->s.fd, "site/" HFC_SITE_CURRENT, &idx_len));
	res = run(t, (HfcPublishOptions){ 0 });
	for (size_t i = 0; i < res->nmirrors; i++) {
		const HfcMirrorReport *m = &res->mirrors[i];
		assert_ok(m);
		assert_int_equal(m->version_before, 1);
		assert_int_equal(m->sent.files, 1);
		assert_int_equal(m->sent.bytes, idx_len);
		assert_same_files(t, t->c->mirrors[i].name);
	}
	hfc_publish_result_free(res);
}

static void test_verify_and_repair(void **state)
{
	T *t = *state;
	hfc_publish_result_free(run(t, (HfcPublishOptions){ 0 }));
	char damaged[HFC_BLOCK_PATH_MAX], lost[HFC_BLOCK_PATH_MAX], p[2 * HFC_BLOCK_PATH_MAX];
	nth_block(t, 1, damaged);
	nth_block(t, 3, lost);
	snprintf(p, sizeof(p), "a/%s", damaged);
	scratch_flip_byte(scratch_file(&t->s, p), 20);
	snprintf(p, sizeof(p), "a/%s", lost);
	assert_int_equal(unlinkat(t->s.fd, p, 0), 0);
	const bool only_a[] = { true, false };

	/* HEAD sees the missing file only: the damaged one has the right size. */
	HfcPublishResult *res = run(t, (HfcPublishOptions){ .verify_only = true, .selected = only_a });
	const HfcMirrorReport *m = &res->mirrors[0];
	assert_false(res->mirrors[1].selected);
	assert_false(m->ok);
	assert_string_equal(m->failed, "verify");
	assert_false(m->pushed);
	assert_int_equal(m->bad_blocks, 1);
	assert_int_equal(m->nfaults, 1);
	snprintf(p, sizeof(p), "%s: missing", lost);
	assert_string_equal(m->faults[0], p);
	hfc_publish_result_free(res);

	/* Deep fetches and decodes every block file: both are found. */
	res = run(t, (HfcPublishOptions){ .verify_only = true, .deep = true, .selected = only_a });
	m = &res->mirrors[0];
	assert_false(m->ok);
	assert_int_equal(m->bad_blocks, 2);
	assert_int_equal(m->nfaults, 2);
	assert_int_equal(m->blocks_checked, res->blocks);
	char want_damaged[2 * HFC_BLOCK_PATH_MAX];
	snprintf(want_damaged, sizeof(want_damaged), "%s: content does not match its name", damaged);
	bool seen_damaged = false, seen_lost = false;
	for (size_t k = 0; k < m->nfaults; k++) {
		seen_damaged |= strcmp(m->faults[k], want_damaged) == 0;
		seen_lost |= strcmp(m->faults[k], p) == 0;
	}
	assert_true(seen_damaged && seen_lost);
	hfc_publish_result_free(res);

	/* Repair sends exactly those two again, and the mirror is the site's again. */
	res = run(t, (HfcPublishOptions){ .verify_only = true, .deep = true, .repair = true,
					  .selected = only_a });
	m = &res->mirrors[0];
	assert_ok(m);
	assert_true(m->verified);
	assert_int_equal(m->repaired, 2);
	assert_int_equal(m->blocks_checked, res->blocks);
	hfc_publish_result_free(res);
	assert_same_files(t, "a");
}

static void test_prune(void **state)
{
	T *t = *state;
	hfc_publish_result_free(run(t, (HfcPublishOptions){ 0 }));
	build(t, 2);
	hfc_publish_result_free(run(t, (HfcPublishOptions){ 0 }));
	uint64_t before;
	free(tree_published(scratch_file(&t->s, "a"), &before, NULL));

	HfcSite *s = NULL;
	HfcErr err = { "" };
	assert_int_equal(hfc_site_open(t->site, false, &s, &err), 0);
	HfcPruneResult pr = { 0 };
	if (hfc_site_prune(s, &(HfcPruneOptions){ .keep = 1, .yes = true }, &pr, &err) < 0)
		fail_msg("prune: %s", err.msg);
	assert_int_equal(pr.n_removed, 1);
	assert_true(pr.blocks_removed > 0);
	hfc_prune_result_done(&pr);
	hfc_site_free(s);

	uint64_t after;
	free(tree_published(t->site, &after, NULL));
	HfcPublishResult *res = run(t, (HfcPublishOptions){ .prune = true });
	for (size_t i = 0; i < res->nmirrors; i++) {
		const HfcMirrorReport *m = &res->mirrors[i];
		assert_ok(m);
		assert_true(m->verified && m->pruned);
		assert_int_equal(m->deleted, before - after);
		assert_same_files(t, t->c->mirrors[i].name);
	}
	hfc_publish_result_free(res);
	assert_false(exists_at(t->s.fd, "a/" HFC_SITE_INDEXES "/000001.idx"));
}

/* Counts the block lines of the site's published files that mirror lacks, and their bytes. */
static void blocks_lacking(T *t, const char *mirror, uint64_t *ret_n, uint64_t *ret_bytes)
{
	char *site = tree_published(t->site, NULL, NULL);
	char *theirs = tree_published(scratch_file(&t->s, mirror), NULL, NULL);
	*ret_n = *ret_bytes = 0;
	char *save = NULL;
	for (char *l = strtok_r(site, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char needle[512];
		snprintf(needle, sizeof(needle), "%s\n", l);
		if (strncmp(l, HFC_SITE_BLOCKS "/", 7) != 0 || strstr(theirs, needle))
			continue;
		(*ret_n)++;
		*ret_bytes += strtoull(strrchr(l, ' ') + 1, NULL, 10);
	}
	free(site);
	free(theirs);
}

static void test_status(void **state)
{
	T *t = *state;
	configure(t, 3); /* c is never published */
	const bool ab[] = { true, true, false }, a_only[] = { true, false, false };
	hfc_publish_result_free(run(t, (HfcPublishOptions){ .selected = ab }));
	build(t, 2);
	HfcPublishResult *res = run(t, (HfcPublishOptions){ .selected = a_only });
	assert_ok(&res->mirrors[0]);
	uint64_t blocks = res->blocks, block_bytes = res->block_bytes;
	hfc_publish_result_free(res);
	uint64_t lack, lack_bytes;
	blocks_lacking(t, "b", &lack, &lack_bytes);
	assert_true(lack > 0 && lack < blocks);

	HfcPublishStatus *st = NULL;
	HfcErr err = { "" };
	if (hfc_publish_status(t->c, NULL, &st, &err) < 0)
		fail_msg("status: %s", err.msg);
	assert_int_equal(st->version, 2);
	assert_int_equal(st->nmirrors, 3);
	const HfcMirrorStatus *a = &st->mirrors[0], *b = &st->mirrors[1], *c = &st->mirrors[2];
	assert_true(a->ok && a->current && !a->empty);
	assert_int_equal(a->version, 2);
	assert_int_equal(a->behind, 0);
	assert_int_equal(a->missing_blocks, 0);
	assert_int_equal(a->missing_bytes, 0);
	assert_true(b->ok && !b->current && !b->empty);
	assert_int_equal(b->version, 1);
	assert_int_equal(b->behind, 1);
	assert_int_equal(b->missing_blocks, lack);
	assert_int_equal(b->missing_bytes, lack_bytes);
	assert_true(c->ok && c->empty && !c->current);
	assert_int_equal(c->behind, 2);
	assert_int_equal(c->missing_blocks, blocks);
	assert_int_equal(c->missing_bytes, block_bytes);
	hfc_publish_status_free(st);

	/* Only the selected mirrors are asked. */
	const bool c_only[] = { false, false, true };
	assert_int_equal(hfc_publish_status(t->c, c_only, &st, &err), 0);
	assert_false(st->mirrors[0].selected || st->mirrors[0].ok);
	assert_true(st->mirrors[2].selected && st->mirrors[2].ok);
	hfc_publish_status_free(st);
}

/* A path of len characters: "/" and components of 200 'd's. */
static char *long_path(size_t len)
{
	char *p = malloc(len + 1);
	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = i % 201 == 0 ? '/' : 'd';
	p[len] = 0;
	return p;
}

static void test_args_long(void **state)
{
	(void)state;
	/* Far more than any fixed buffer, and far more arguments than a fixed array held. */
	char *target = long_path(20000);
	HfcRsyncArgs a = { 0 };
	for (unsigned i = 0; i < 200; i++)
		assert_int_equal(hfc_rsync_args_addf(&a, "--exclude=%u", i), 0);
	assert_int_equal(hfc_rsync_args_add(&a, "--"), 0);
	assert_int_equal(hfc_rsync_args_addf(&a, "%s/", target), 0);
	assert_int_equal(a.n, 202);
	assert_int_equal(a.error, 0);
	assert_null(a.v[a.n]);
	assert_string_equal(a.v[0], "--exclude=0");
	assert_string_equal(a.v[199], "--exclude=199");
	assert_int_equal(strlen(a.v[201]), 20001);
	assert_memory_equal(a.v[201], target, 20000);
	hfc_rsync_args_done(&a);
	assert_int_equal(a.n, 0);
	assert_null(a.v);
	free(target);
}

static void test_long_target(void **state)
{
	T *t = *state;
	/*
	 * rsync.program is a wrapper that keeps its arguments: the target must reach rsync whole,
	 * even beyond PATH_MAX, where rsync itself refuses it.
	 */
	char script[PATH_MAX + 256];
	snprintf(script, sizeof(script), "#!/bin/sh\nprintf '%%s\\n' \"$@\" >'%s/args'\n"
					 "exec rsync \"$@\"\n", t->s.path);
	put_at(t->s.fd, "rsync-wrapper", script);
	assert_int_equal(fchmodat(t->s.fd, "rsync-wrapper", 0755, 0), 0);
	char *target = long_path(PATH_MAX + 500);
	size_t ylen = strlen(target) + 2 * PATH_MAX;
	char *yaml = malloc(ylen);
	assert_non_null(yaml);
	snprintf(yaml, ylen,
		 "site: site\nrsync:\n  program: %s/rsync-wrapper\n  timeout: 60\n"
		 "mirrors:\n  - name: far\n    target: %s%s\n    url: file://%s/far\n",
		 t->s.path, t->s.path, target, t->s.path);
	put_at(t->s.fd, "long.yaml", yaml);
	free(yaml);
	hfc_publish_config_free(t->c);
	t->c = NULL;
	HfcErr err = { "" };
	if (hfc_publish_config_load(scratch_file(&t->s, "long.yaml"), &t->c, &err) < 0)
		fail_msg("long.yaml: %s", err.msg);
	HfcPublishResult *res = run(t, (HfcPublishOptions){ 0 });
	const HfcMirrorReport *m = &res->mirrors[0];
	assert_false(m->ok);
	assert_string_equal(m->failed, HFC_SITE_BLOCKS);
	/* rsync's own message names the whole path, more than a message holds. */
	assert_non_null(strstr(m->err.msg, "blocks: rsync exited "));
	hfc_publish_result_free(res);

	char *args = slurp_at(t->s.fd, "args", NULL);
	char *want = NULL;
	assert_true(asprintf(&want, "--\n%s/\n%s%s/\n", t->site, t->s.path, target) > 0);
	size_t al = strlen(args), wl = strlen(want);
	assert_true(al > wl);
	assert_string_equal(args + al - wl, want);
	free(want);
	free(args);
	free(target);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_publish_two_mirrors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_and_repair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test(test_args_long),
		cmocka_unit_test_setup_teardown(test_long_target, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
