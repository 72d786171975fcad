# Prune: a dry run by default that reports exactly what --yes then deletes; the freed bytes are
# right (the site shrinks by them); every block of the current version stays, even when the
# version that brought it is pruned; --keep-since; orphans go; the site lock is honoured.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/cli/diff/fixture.inc"
diff_fixture
site=$T/site
cp -a "$D/site" "$site"
SOURCE_DATE_EPOCH=$((86400 * 4)) hfc-index rollback -q "$site" 1   # version 4 = version 1's blocks
site_bytes() { find "$1" -type f ! -name .lock -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
# unnamed SITE V...: block files that none of the versions V name, and their bytes (brute force)
unnamed() {
	local s=$1
	shift
	python3 - "$s" "$@" <<'PY'
import glob, os, sys
site, keep = sys.argv[1], sys.argv[2:]
named = set()
for v in keep:
    for l in open(f"{site}/indexes/{int(v):06d}.idx"):
        p = l.split()
        if len(p) == 2 and len(p[0]) == 32 and p[0] not in ("hash", "label"):
            named.add(p[0])
gone = [p for p in glob.glob(f"{site}/blocks/*/*") if os.path.basename(p) not in named]
print(len(gone), sum(os.path.getsize(p) for p in gone))
PY
}

# Dry run: nothing changes, and the figures are the brute force's.
before=$(tree_sum "$site")
expect_status 0 hfc-index prune --json "$site" --keep 1
cp "$T/out" "$T/dry.json"
[ "$(tree_sum "$site")" = "$before" ] || fail "a dry run changed the site"
read -r n bytes < <(unnamed "$site" 4)
[ "$(json_get "$T/dry.json" blocks_removed)" = "$n" ] || fail "dry run: $(json_get "$T/dry.json" blocks_removed) block files, brute force $n"
[ "$(json_get "$T/dry.json" block_bytes)" = "$bytes" ] || fail "dry run: block bytes"
[ "$(json_get "$T/dry.json" removed_versions)" = "[1, 2, 3]" ] || fail "dry run: $(cat "$T/dry.json")"
expect_status 0 hfc-index prune "$site" --keep 1
grep -q "would remove 3 versions (1-3) and $n block files" "$T/out" || fail "dry run: $(cat "$T/out")"
grep -q "^dry run: nothing was deleted" "$T/out" || fail "dry run: $(cat "$T/out")"

# --yes: exactly that goes; the site shrinks by the freed bytes and still verifies.
size0=$(site_bytes "$site")
expect_status 0 hfc-index prune --json --yes --keep 1 "$site"
freed=$(json_get "$T/out" freed_bytes)
[ "$freed" = "$(json_get "$T/dry.json" freed_bytes)" ] || fail "--yes freed other bytes than the dry run said"
[ $((size0 - $(site_bytes "$site"))) = "$freed" ] || fail "the site shrank by $((size0 - $(site_bytes "$site"))), prune says $freed"
[ "$(ls "$site/indexes")" = "000004.idx" ] || fail "indexes left: $(ls "$site/indexes")"
expect_status 0 hfc-index verify "$site"
grep -q "ok: 1 versions, .* 0 orphans" "$T/out" || fail "verify after prune: $(cat "$T/out")"
hfc-index extract -q "$site" - | cmp - "$D/v1.img" || fail "the current version (version 1's blocks) lost a block"
note "prune --keep 1: $n block files, $freed bytes freed; version 1's blocks stay for version 4"

# --keep-since keeps versions created since a date, whatever --keep says.
rm -rf "$site" && cp -a "$D/site" "$site"
expect_status 0 hfc-index prune --json --yes --keep 1 --keep-since 1970-01-03 "$site"
[ "$(json_get "$T/out" removed_versions)" = "[1]" ] || fail "--keep-since: $(cat "$T/out")"
read -r n bytes < <(unnamed "$D/site" 2 3)
[ "$(json_get "$T/out" blocks_removed)" = "$n" ] || fail "--keep-since: block files"
expect_status 0 hfc-index verify "$site"
expect_status 0 hfc-index prune --json --keep-since 1970-01-03T00:00:01Z "$site"
[ "$(json_get "$T/out" removed_versions)" = "[2]" ] || fail "--keep-since with a time: $(cat "$T/out")"

# Orphans (left by an interrupted run) go; files that are not block files stay.
mkdir -p "$site/blocks/ab" # there may be no block file starting with ab
head -c 5000 /dev/urandom >"$site/blocks/ab/ab$(printf '%030d' 7)"
echo keep >"$site/blocks/ab/README"
expect_status 0 hfc-index prune --json --yes --keep 2 "$site"
[ "$(json_get "$T/out" blocks_removed)" = 1 ] || fail "the orphan: $(cat "$T/out")"
[ -e "$site/blocks/ab/README" ] || fail "prune removed a file that is not a block file"

# Usage errors, and a busy site.
expect_status 2 hfc-index prune "$site"
expect_status 2 hfc-index prune --keep 0 "$site"
expect_status 2 hfc-index prune --keep 1 --keep-since 1970-13-01 "$site"
expect_status 2 hfc-index list --keep 1 "$site"
expect_status 2 hfc-index prune --keep 1 "$site" 3
(exec 9<>"$site/.lock" && flock -x 9 && exec sleep 30) &
locker=$!
at_exit "kill $locker 2>/dev/null"
sleep 0.3
before=$(tree_sum "$site")
expect_error "site is busy" hfc-index prune --yes --keep 1 "$site"
expect_error "site is busy" hfc-index prune --keep 1 "$site"
[ "$(tree_sum "$site")" = "$before" ] || fail "a refused prune changed the site"
kill "$locker"
