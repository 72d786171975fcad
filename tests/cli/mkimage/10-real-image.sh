# A real ext2 image of real files: build, extract byte-identical, fsck clean, rebuild writes
# nothing, then an update stores only the blocks that changed and both versions extract exactly.
. "$HFC_TOP/tests/lib.sh"
img=$(fixture_image)
site=$T/site

expect_status 0 hfc-mkimage --json --label "fixture v1" "$img" "$site"
cp "$T/out" "$T/v1.json"
[ "$(json_get "$T/v1.json" version)" = 1 ] || fail "first build is not version 1"
[ "$(json_get "$T/v1.json" published)" = true ] || fail "v1 not published"
blocks=$(json_get "$T/v1.json" blocks)
[ "$blocks" = 2048 ] || fail "512 MiB at 256 KiB should be 2048 blocks, got $blocks"
new=$(json_get "$T/v1.json" new)
want=$(distinct_new_blocks /dev/null "$img" 262144)
[ "$new" = "$want" ] || fail "v1 stored $new block files, brute force says $want distinct non-zero blocks"
files=$(find "$site/blocks" -type f | wc -l)
[ "$files" = "$new" ] || fail "$files block files on disk, summary says $new"
note "v1: $blocks blocks, $new files, $(json_get "$T/v1.json" zero) zero"

expect_status 0 hfc-index extract "$site" "$T/v1.out"
cmp "$img" "$T/v1.out" || fail "extracted v1 differs from the image"
e2fsck -fn "$T/v1.out" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "e2fsck found problems"; }
# Zero blocks come back as holes: the extract is sparse.
[ "$(du -k "$T/v1.out" | cut -f1)" -lt "$(du -k --apparent-size "$T/v1.out" | cut -f1)" ] ||
	fail "extract is not sparse"
rm -f "$T/v1.out"

# Rebuild of the same image: nothing new, no new version.
expect_status 0 hfc-mkimage --json "$img" "$site"
[ "$(json_get "$T/out" new)" = 0 ] || fail "second run wrote new blocks"
[ "$(json_get "$T/out" published)" = false ] || fail "unchanged image published a version"
[ "$(json_get "$T/out" bytes_written)" = 0 ] || fail "second run wrote bytes"
[ ! -e "$site/indexes/000002.idx" ] || fail "version 2 appeared for an unchanged image"

# Change files inside a copy of the image with debugfs: overwrite, add, remove.
cp --sparse=always "$img" "$T/v2.img"
head -c 3000000 /dev/urandom >"$T/rand1"
seq 1 200000 >"$T/seq"
victim=bash/NEWS.gz # a file of the generated tree (tests/make-tree.py)
debugfs -w -R "write $T/rand1 /new-random.bin" "$T/v2.img" >/dev/null 2>&1
debugfs -w -R "write $T/seq /doc/new-seq.txt" "$T/v2.img" >/dev/null 2>&1
debugfs -w -R "rm /doc/$victim" "$T/v2.img" >/dev/null 2>&1 || fail "debugfs rm /doc/$victim"
e2fsck -fn "$T/v2.img" >/dev/null 2>&1 || fail "debugfs left an unclean image"
changed=$(count_changed_blocks "$img" "$T/v2.img" 262144)
want=$(distinct_new_blocks "$img" "$T/v2.img" 262144)
[ "$changed" -gt 0 ] || fail "the update changed nothing"

expect_status 0 hfc-mkimage --json --label "fixture v2" "$T/v2.img" "$site"
[ "$(json_get "$T/out" version)" = 2 ] || fail "update is not version 2"
new2=$(json_get "$T/out" new)
[ "$new2" = "$want" ] || fail "v2 stored $new2 new files; brute force: $want new distinct blocks ($changed changed)"
[ "$new2" -le "$changed" ] || fail "v2 stored more files ($new2) than blocks changed ($changed)"
note "v2: $changed blocks changed, $new2 new files"
grep -q "^parent 1 $(sed -n 's/^end //p' "$site/indexes/000001.idx")$" "$site/indexes/000002.idx" ||
	fail "v2's parent line does not name v1's end checksum"
cmp "$site/index.idx" "$site/indexes/000002.idx" || fail "index.idx is not version 2"

expect_status 0 hfc-index extract -v 1 "$site" "$T/a"
cmp "$img" "$T/a" || fail "v1 no longer extracts exactly"
expect_status 0 hfc-index extract "$site" - 
cmp "$T/v2.img" "$T/out" || fail "v2 to stdout differs"
rm -f "$T/a" "$T/out"

expect_status 0 hfc-index verify "$site"
grep -q "ok: 2 versions" "$T/out" || fail "verify summary: $(cat "$T/out")"
expect_status 0 hfc-index list "$site"
grep -q "fixture v2" "$T/out" || fail "list lacks the label"
expect_status 0 hfc-index list --json "$site"
python3 -c 'import json,sys; l=json.load(open(sys.argv[1])); assert [v["version"] for v in l]==[1,2] and l[1]["current"]' "$T/out" ||
	fail "list --json"
