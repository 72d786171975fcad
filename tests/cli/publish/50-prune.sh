# hfc-publish --prune: after the site itself pruned old versions, the mirrors lose the same
# indexes and block files, and only once their index.idx is the site's (it never names what is
# removed). A mirror that could not be brought up to date is not pruned; --dry-run only tells.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/publish-lib.sh"

make_tree "$T/tree" 5
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -d "$T/tree" "$T/img" 16M >/dev/null
site=$T/site
version() {
	head -c $((256 * 1024)) /dev/urandom >"$T/new.bin"
	debugfs -w -R "write $T/new.bin /v$1.bin" "$T/img" >/dev/null 2>&1 || fail "debugfs write"
	expect_status 0 hfc-mkimage -q -b 4K "$T/img" "$site"
}
version 1
version 2
version 3

mkdir -p "$T/wwwA/hfc" "$T/wwwB/hfc"
start_rsyncd "$T/wwwA/hfc"
start_nginx_site A "$T/wwwA" /hfc
start_nginx_site B "$T/wwwB" /hfc
cfg=$T/publish.yaml
write_publish_yaml "$cfg" "$site" \
	a "$RSYNCD_PUSH" "$SITE_URL_A" "$RSYNCD_PASSFILE" \
	b "$T/wwwB/hfc" "$SITE_URL_B" -
expect_status 0 hfc-publish -q -c "$cfg"

# The site prunes with hfc-index: keep the newest version only; older indexes go, and every
# block file no kept version names.
expect_status 0 hfc-index prune "$site" --keep 1 --yes
grep -q "removed 2 versions (1-2)" "$T/out" || fail "hfc-index prune: $(cat "$T/out")"
[ "$(ls "$site/indexes")" = "000003.idx" ] || fail "indexes left after the prune: $(ls "$site/indexes")"
files() { (cd "$1" && find . -type f ! -name '.*' | sort); }
files "$site" >"$T/site.files"
gone=$(comm -13 "$T/site.files" <(files "$T/wwwB/hfc") | wc -l)
[ "$gone" -gt 10 ] || fail "the prune removed only $gone files"

# --dry-run tells how many would go and removes nothing.
expect_status 0 hfc-publish -c "$cfg" --prune --dry-run
grep -q "^b: version 3; would send 1 files, .*; would prune $gone files" "$T/out" || fail "--dry-run --prune: $(cat "$T/out")"
[ "$(files "$T/wwwB/hfc" | wc -l)" -gt "$(wc -l <"$T/site.files")" ] || fail "--dry-run pruned"

# A mirror whose push fails is not pruned.
stop_rsyncd
countA=$(files "$T/wwwA/hfc" | wc -l)
expect_status 1 hfc-publish -c "$cfg" --prune -m a
grep -q "^hfc-publish: a: blocks: " "$T/err" || fail "push to a stopped daemon: $(cat "$T/err")"
[ "$(files "$T/wwwA/hfc" | wc -l)" = "$countA" ] || fail "a mirror that failed its push was pruned"

# A mirror whose index.idx is not the site's is not pruned by --verify --prune.
cp "$site/indexes/000003.idx" "$T/v3.idx"
expect_status 0 hfc-mkimage -q --force-version -b 4K "$T/img" "$site"
files "$site" >"$T/site.files"
expect_status 1 hfc-publish -c "$cfg" --verify --prune -m b
grep -q "^hfc-publish: b: verify: .*index.idx: version 3, the site's is version 4" "$T/err" ||
	fail "--verify --prune of a stale mirror: $(cat "$T/err")"
[ "$(files "$T/wwwB/hfc" | wc -l)" -gt "$(wc -l <"$T/site.files")" ] || fail "a stale mirror was pruned"

# Publish, then prune: the mirror holds exactly what the site holds, and verifies deeply.
expect_status 0 hfc-publish -c "$cfg" --prune --deep -m b
grep -q "^b: version 4 (was 3): sent 2 files.*verified .* (deep).*; pruned $gone files" "$T/out" ||
	fail "--prune: $(cat "$T/out")"
files "$T/wwwB/hfc" | diff "$T/site.files" - >"$T/diff" || fail "b after --prune differs from the site: $(head "$T/diff")"
mirror_check "$T/wwwB/hfc" >/dev/null
expect_status 0 hfc-index verify "$T/wwwB/hfc"
grep -q ", 0 faults, 0 orphans" "$T/out" || fail "hfc-index verify after --prune: $(cat "$T/out")"

# The daemon back (on a new port): a is published and pruned the same way.
start_rsyncd "$T/wwwA/hfc"
write_publish_yaml "$cfg" "$site" \
	a "$RSYNCD_PUSH" "$SITE_URL_A" "$RSYNCD_PASSFILE" \
	b "$T/wwwB/hfc" "$SITE_URL_B" -
expect_status 0 hfc-publish -c "$cfg" --prune
grep -q "^a: version 4 (was 3): .*; pruned $gone files" "$T/out" || fail "--prune of a: $(cat "$T/out")"
grep -q "^b: version 4 (was 4): .*; pruned 0 files" "$T/out" || fail "--prune of b again: $(cat "$T/out")"
files "$T/wwwA/hfc" | diff "$T/site.files" - >"$T/diff" || fail "a after --prune differs from the site: $(head "$T/diff")"
mirror_check "$T/wwwA/hfc" >/dev/null
