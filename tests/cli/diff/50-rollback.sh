# Rollback publishes a new version whose blocks are an older one's, labelled "rollback to N":
# it extracts byte for byte, rolling back a rollback works, version numbers only go up, a
# mirror follows it with a bundle, and a rollback that cannot be done changes nothing.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/cli/diff/fixture.inc"
diff_fixture
site=$T/site
cp -a "$D/site" "$site"
cp -a "$D/site" "$T/mirror"
blocks_of() { sed -n '/^blocks /,/^end /p' "$1" | sed '1d;$d'; }

export SOURCE_DATE_EPOCH=$((86400 * 4))
expect_status 0 hfc-index rollback --json "$site" 1
[ "$(json_get "$T/out" version)" = 4 ] && [ "$(json_get "$T/out" from)" = 3 ] || fail "rollback: $(cat "$T/out")"
grep -qx "label rollback to 1" "$site/indexes/000004.idx" || fail "no 'rollback to 1' label"
grep -qx "parent 3 $(sed -n 's/^end //p' "$site/indexes/000003.idx")" "$site/indexes/000004.idx" ||
	fail "version 4's parent is not version 3"
cmp "$site/index.idx" "$site/indexes/000004.idx" || fail "index.idx is not version 4"
diff <(blocks_of "$site/indexes/000001.idx") <(blocks_of "$site/index.idx") >/dev/null ||
	fail "version 4's blocks are not version 1's"
hfc-index extract -q "$site" - | cmp - "$D/v1.img" || fail "the rollback does not extract as version 1"
expect_status 0 hfc-diff "$site" 1 4

# Rolling back the rollback: back to version 3, then to version 4 (itself a rollback).
SOURCE_DATE_EPOCH=$((86400 * 5)) expect_status 0 hfc-index rollback "$site" 3
grep -q "version 5 published: rollback to 3 (was version 4)" "$T/out" || fail "rollback 3: $(cat "$T/out")"
hfc-index extract -q "$site" - | cmp - "$D/v3.img" || fail "rollback to 3 does not extract as version 3"
SOURCE_DATE_EPOCH=$((86400 * 6)) expect_status 0 hfc-index rollback "$site" 4
grep -qx "label rollback to 4" "$site/index.idx" || fail "no 'rollback to 4' label"
hfc-index extract -q "$site" - | cmp - "$D/v1.img" || fail "rollback to 4 does not extract as version 1"
expect_status 0 hfc-index verify "$site"
grep -q "ok: 6 versions" "$T/out" || fail "verify: $(cat "$T/out")"
expect_status 0 hfc-index list --json "$site"
python3 -c 'import json,sys; l=json.load(open(sys.argv[1])); assert [v["version"] for v in l]==[1,2,3,4,5,6] and l[-1]["current"] and l[-1]["new_blocks"]==0, l' "$T/out" ||
	fail "list after rollbacks"

# A mirror holding version 3 follows the rollback with a bundle: no block travels as a file.
expect_status 0 hfc-diff --json --bundle "$T/b34.tar" "$site" 3 4
expect_status 0 hfc-apply --json "$T/b34.tar" "$T/mirror"
[ "$(json_get "$T/out" written)" = 0 ] || fail "the mirror had every block of version 1"
hfc-index extract -q "$T/mirror" - | cmp - "$D/v1.img" || fail "the mirror's rollback"

# Refused, and nothing changes: the current version, a missing version, a missing block file,
# a busy site.
before=$(tree_sum "$site")
expect_error "version 6 is the current version already$" hfc-index rollback "$site" 6
expect_error "no version 99 \(see hfc-index list\)$" hfc-index rollback "$site" 99
expect_status 2 hfc-index rollback "$site"
expect_status 2 hfc-index rollback "$site" 0
expect_status 2 hfc-index rollback "$site" 1 2
[ "$(tree_sum "$site")" = "$before" ] || fail "a refused rollback changed the site"
blk=$(blocks_of "$site/indexes/000002.idx" | grep -v -x -F -f <(blocks_of "$site/index.idx") | sed -n '/ /{s/ .*//p;q}')
[ -n "$blk" ] || fail "no block of version 2 outside the current version"
rm "$site/blocks/${blk:0:2}/$blk"
before=$(tree_sum "$site")
expect_error "blocks/${blk:0:2}/$blk: missing; cannot roll back to version 2$" hfc-index rollback "$site" 2
[ "$(tree_sum "$site")" = "$before" ] || fail "a refused rollback changed the site"
(exec 9<>"$site/.lock" && flock -x 9 && exec sleep 30) &
locker=$!
at_exit "kill $locker 2>/dev/null"
sleep 0.3
expect_error "site is busy" hfc-index rollback "$site" 3
kill "$locker"
