# hfc-diff's figures against a brute-force recount over the images and the index files; --list,
# --json, index files as arguments, and diff(1)'s exit statuses.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/cli/diff/fixture.inc"
diff_fixture
site=$D/site

for pair in "1 2" "2 3" "1 3" "3 1"; do
	set -- $pair
	expect_status 1 hfc-diff --json "$site" "$1" "$2"
	changed=$(count_changed_blocks "$D/v$1.img" "$D/v$2.img" 262144)
	read -r nb bytes < <(new_block_files "$site" "$1" "$2")
	[ "$(json_get "$T/out" changed_blocks)" = "$changed" ] ||
		fail "$pair: changed_blocks $(json_get "$T/out" changed_blocks), brute force $changed"
	[ "$(json_get "$T/out" new_blocks)" = "$nb" ] ||
		fail "$pair: new_blocks $(json_get "$T/out" new_blocks), index files say $nb"
	[ "$(json_get "$T/out" new_bytes)" = "$bytes" ] ||
		fail "$pair: new_bytes $(json_get "$T/out" new_bytes), index files say $bytes"
	[ "$(json_get "$T/out" same)" = false ] || fail "$pair: same"
	note "$1 -> $2: $changed blocks changed, $nb new block files, $bytes bytes"
done
# v1 -> v2 over the images alone: the new distinct blocks are exactly the new block files.
want=$(distinct_new_blocks "$D/v1.img" "$D/v2.img" 262144)
expect_status 1 hfc-diff --json "$site" 1 2
[ "$(json_get "$T/out" new_blocks)" = "$want" ] || fail "1 -> 2: images say $want new blocks"

# --list: exactly the new block files, as paths under SITE, in rsync --files-from form.
expect_status 1 hfc-diff --list "$site" 1 2
[ "$(wc -l <"$T/out")" = "$want" ] || fail "--list printed $(wc -l <"$T/out") paths, want $want"
while read -r p; do
	[[ $p =~ ^blocks/([0-9a-f]{2})/([0-9a-f]{32})$ ]] || fail "--list: bad path '$p'"
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]:0:2}" ] || fail "--list: bad fan-out '$p'"
	[ -f "$site/$p" ] || fail "--list: $p is not in the site"
	grep -q "^${BASH_REMATCH[2]} " "$site/indexes/000001.idx" && fail "--list: $p is in version 1"
done <"$T/out"
sort "$T/out" >"$T/list"
mkdir "$T/pushed"
rsync -a --files-from="$T/list" "$site/" "$T/pushed/"
[ "$(find "$T/pushed" -type f | wc -l)" = "$want" ] || fail "rsync --files-from did not take the list"

# The default is --stat; the same figures in words.
expect_status 1 hfc-diff "$site" 1 2
grep -q "^blocks changed: *$(count_changed_blocks "$D/v1.img" "$D/v2.img" 262144) of 1024 " "$T/out" ||
	fail "stat: $(cat "$T/out")"
grep -q "^new block files: *$want, " "$T/out" || fail "stat: $(cat "$T/out")"

# Same version: exit 0; index files work as well as numbers.
expect_status 0 hfc-diff "$site" 2 2
grep -q "(the same)" "$T/out" || fail "stat of a version with itself: $(cat "$T/out")"
cp "$site/indexes/000001.idx" "$T/a.idx"
expect_status 1 hfc-diff --json "$site" "$T/a.idx" "$site/index.idx"
[ "$(json_get "$T/out" a)" = 1 ] && [ "$(json_get "$T/out" b)" = 3 ] || fail "index files: $(cat "$T/out")"
expect_status 0 hfc-diff --json "$site" 3 "$site/index.idx"
[ "$(json_get "$T/out" same)" = true ] || fail "3 and index.idx are the same"

# Trouble is 2, with one clear line.
expect_status 2 hfc-diff "$site" 1 9
grep -q "^hfc-diff: .*: no version 9$" "$T/err" || fail "missing version: $(cat "$T/err")"
expect_status 2 hfc-diff "$T/nosite" 1 2
grep -q "no such site" "$T/err" || fail "missing site: $(cat "$T/err")"
printf 'hfc-index 1\nversion x\n' >"$T/bad.idx"
expect_status 2 hfc-diff "$site" 1 "$T/bad.idx"
grep -q "bad.idx:2: " "$T/err" || fail "bad index file: $(cat "$T/err")"
expect_status 2 hfc-diff --list --json "$site" 1 2
expect_status 2 hfc-diff "$site" 1
expect_status 2 hfc-diff --bogus "$site" 1 2
expect_status 0 hfc-diff --help
grep -q "^Usage: hfc-diff" "$T/out" || fail "--help"
