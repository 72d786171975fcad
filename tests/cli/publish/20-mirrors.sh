# hfc-publish to two real mirrors at once: A is an rsync daemon (from the rsyncd template, with
# auth) served by nginx (from its template), B a local path served by lighttpd. v1 of a real
# ext2 image, then v2 with ~1% new blocks: only the new block files, the new index and index.idx
# travel; --status before and after; --deep verify; a forged block and a missing one on a mirror
# are reported; --dry-run changes nothing; a mirror operator's pull from the read-only module
# (site-templates/hfc-pull.sh) gives a site hfc-index verify accepts.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/publish-lib.sh"

img=$(fixture_image)
site=$T/site
cp -a "$(fixture_site)" "$site"
mkdir -p "$T/wwwA/hfc" "$T/wwwB/knoppix"
start_rsyncd "$T/wwwA/hfc"
start_nginx_site A "$T/wwwA" /hfc
start_lighttpd_site B "$T/wwwB" /knoppix
cfg=$T/publish.yaml
write_publish_yaml "$cfg" "$site" \
	a "$RSYNCD_PUSH" "$SITE_URL_A" "$RSYNCD_PASSFILE" \
	b "$T/wwwB/knoppix" "$SITE_URL_B" -

# Before anything: both mirrors are empty.
expect_status 0 hfc-publish -c "$cfg" --status --json
python3 - "$T/out" <<'PY' || fail "status of empty mirrors: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1, d
for m in d["mirrors"]:
    assert m["ok"] and m["version"] is None and m["behind"] == 1 and m["missing_blocks"] > 0, m
PY

# v1 to both mirrors at once.
expect_status 0 hfc-publish -c "$cfg" --json
cp "$T/out" "$T/v1.json"
python3 - "$T/v1.json" <<'PY' || fail "publish v1: $(cat "$T/v1.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and len(d["mirrors"]) == 2, d
for m in d["mirrors"]:
    assert m["ok"] and m["verified"] and m["version"] == 1 and m["version_before"] == 0, m
    # Every file of the site travels once: blocks, indexes/000001.idx, index.idx.
    assert m["files_sent"] == d["site_files"], (m["files_sent"], d["site_files"])
    assert m["bytes_sent"] == d["site_bytes"], (m["bytes_sent"], d["site_bytes"])
    assert m["blocks_checked"] == d["blocks"] and m["bad_blocks"] == 0, m
PY
for m in "$T/wwwA/hfc" "$T/wwwB/knoppix"; do
	mirror_check "$m" >/dev/null
	cmp -s "$m/index.idx" "$site/index.idx" || fail "$m: index.idx is not the site's"
	[ -z "$(find "$m" -name '.*')" ] || fail "$m: local-only files reached the mirror: $(find "$m" -name '.*' | head -3)"
	[ "$(stat -c %a "$m/index.idx")" = 644 ] || fail "$m: index.idx is not world-readable"
done
# The master's lock, build cache and temporary files are never sent.
: >"$site/.hfc-build-cache"
: >"$site/indexes/.000009.idx.tmp.1.1"

# v2: the same image with ~1% of its blocks changed (a new file of random bytes, written by
# debugfs into the ext2 file system).
cp --sparse=always "$img" "$T/v2.img"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$T/new.bin"
debugfs -w -R "write $T/new.bin /doc/security-update.bin" "$T/v2.img" >/dev/null 2>&1 ||
	fail "debugfs could not write into the image"
expect_status 0 hfc-mkimage -q --label "security update" "$T/v2.img" "$site"
site_blocks "$site" "$site/indexes/000001.idx" | awk '{ print $2 }' | sort -u >"$T/b1"
site_blocks "$site" | awk '{ print $2 }' | sort -u >"$T/b2"
new=$(comm -13 "$T/b1" "$T/b2" | wc -l)
total=$(wc -l <"$T/b2")
[ "$new" -gt 0 ] && [ "$new" -lt $((total / 20)) ] || fail "v2 has $new new blocks of $total"

expect_status 0 hfc-publish -c "$cfg" --status
grep -qE '^a +1 +1 ' "$T/out" || fail "status of a before v2: $(cat "$T/out")"
grep -qE "^b +1 +1 .* $new \(" "$T/out" || fail "status of b before v2 (want $new missing): $(cat "$T/out")"

expect_status 0 hfc-publish -c "$cfg" --json
cp "$T/out" "$T/v2.json"
python3 - "$T/v2.json" "$new" <<'PY' || fail "publish v2: $(cat "$T/v2.json")"
import json, sys
d, new = json.load(open(sys.argv[1])), int(sys.argv[2])
assert d["version"] == 2, d
for m in d["mirrors"]:
    assert m["ok"] and m["verified"] and m["version"] == 2 and m["version_before"] == 1, m
    # Only the new block files, indexes/000002.idx and index.idx.
    assert m["files_sent"] == new + 2, (m["name"], m["files_sent"], new)
    assert m["bytes_sent"] < d["site_bytes"] / 10, m
PY
python3 - "$T/v1.json" "$T/v2.json" <<'PY'
import json, sys
v1, v2 = (json.load(open(p)) for p in sys.argv[1:3])
print("  - site v2: %d files, %.1f MiB; v1 publish to 2 mirrors at once: %.2f s; v2: %.2f s"
      % (v2["site_files"], v2["site_bytes"] / 2**20, v1["seconds"], v2["seconds"]))
for m in v2["mirrors"]:
    print("  - v2 to %s: %d files (%.2f%% of the site's), %.2f MiB (%.2f%%), %.2f MiB on the wire"
          % (m["name"], m["files_sent"], 100 * m["files_sent"] / v2["site_files"],
             m["bytes_sent"] / 2**20, 100 * m["bytes_sent"] / v2["site_bytes"],
             m["wire_bytes_sent"] / 2**20))
PY
for m in "$T/wwwA/hfc" "$T/wwwB/knoppix"; do
	mirror_check "$m" >/dev/null
	cmp -s "$m/index.idx" "$site/index.idx" || fail "$m: index.idx is not the site's v2"
	[ -z "$(find "$m" -name '.*')" ] || fail "$m: local-only files reached the mirror"
done

expect_status 0 hfc-publish -c "$cfg" --status
grep -qE '^a +2 +0 .* 0 \(0 B\)' "$T/out" || fail "status of a after v2: $(cat "$T/out")"
grep -qE '^b +2 +0 ' "$T/out" || fail "status of b after v2: $(cat "$T/out")"

# Deep verification fetches every block file and checks it against its name.
expect_status 0 hfc-publish -c "$cfg" --verify --deep
grep -q "^a: version 2; verified $total block files (deep)" "$T/out" || fail "--deep: $(cat "$T/out")"

# A forged block on B (same size, valid zlib, wrong content): only --deep can see it.
read -r i victim _ < <(site_blocks "$site" | awk 'NR == 7')
len=$(awk -v i="$i" '/^image-size /{s=$2} /^block-size /{b=$2} END { print (s - i*b < b ? s - i*b : b) }' "$site/index.idx")
forge_block "$(block_file "$T/wwwB/knoppix" "$victim")" "$len"
expect_status 0 hfc-publish -c "$cfg" --verify -m b
expect_status 1 hfc-publish -c "$cfg" --verify --deep
grep -q "^b: bad: blocks/${victim:0:2}/$victim: content does not match its name" "$T/out" ||
	fail "the forged block is not reported: $(cat "$T/out")"
grep -q "^a: version 2; verified" "$T/out" || fail "a was not verified: $(cat "$T/out")"
[ "$(wc -l <"$T/err")" = 1 ] && grep -q "^hfc-publish: b: verify: 1 of $total block files bad: .*$victim" "$T/err" ||
	fail "stderr: $(cat "$T/err")"

# A block missing on A: found with HEAD requests alone; a re-run of the publish puts it back.
victim2=$(site_blocks "$site" | awk 'NR == 3 { print $2 }')
rm "$(block_file "$T/wwwA/hfc" "$victim2")"
expect_error "^hfc-publish: a: verify: 1 of $total block files bad: .*$victim2: missing" \
	hfc-publish -c "$cfg" --verify -m a
expect_status 0 hfc-publish -c "$cfg" -m a
grep -q "^a: version 2 (was 2): sent 2 files" "$T/out" || fail "re-run: $(cat "$T/out")"
# The forged block on B stays through a push (block files are never overwritten) until
# --repair sends it again over the bad copy.
expect_status 1 hfc-publish -c "$cfg" --deep -m b
grep -q "^b: bad: blocks/${victim:0:2}/$victim: content does not match its name" "$T/out" || fail "push over a forged block: $(cat "$T/out")"
expect_status 0 hfc-publish -c "$cfg" --verify --deep --repair --json
python3 - "$T/out" "$total" <<'PY' || fail "--repair: $(cat "$T/out")"
import json, sys
a, b = json.load(open(sys.argv[1]))["mirrors"]
assert a["ok"] and a["files_repaired"] == 0 and not a["pushed"], a
assert b["ok"] and b["verified"] and b["files_repaired"] == 1 and b["files_sent"] == 1, b
assert b["bad_blocks"] == 0 and b["blocks_checked"] == int(sys.argv[2]), b
PY
mirror_check "$T/wwwB/knoppix" >/dev/null

# No progress bar when stderr is not a terminal; a bar when it is.
expect_status 0 hfc-publish -c "$cfg" --deep
[ ! -s "$T/err" ] || fail "a run without a terminal wrote to stderr: $(head -c 300 "$T/err")"
script -qec "hfc-publish -c $cfg --verify --deep" /dev/null >"$T/tty" || fail "hfc-publish on a terminal failed: $(cat "$T/tty")"
grep -q "verify \[" "$T/tty" || fail "no progress bar on a terminal: $(head -c 300 "$T/tty" | cat -v)"

# --dry-run changes nothing and checks nothing.
before=$( (cd "$T/wwwA" && find . -type f -printf '%p %s %T@\n' | sort | md5sum))
: >"$T/new-file-in-site"
expect_status 0 hfc-publish -c "$cfg" --dry-run
grep -q "^a: version 2; would send 1 files" "$T/out" || fail "--dry-run: $(cat "$T/out")"
after=$( (cd "$T/wwwA" && find . -type f -printf '%p %s %T@\n' | sort | md5sum))
[ "$before" = "$after" ] || fail "--dry-run changed mirror a"

# A mirror operator pulls from A's read-only module in the safe order.
pull_out=$T/mirrorC
expect_status 0 sh "$TEMPLATES/hfc-pull.sh" "$RSYNCD_PULL" "$pull_out"
cmp -s "$pull_out/index.idx" "$site/index.idx" || fail "hfc-pull.sh: index.idx differs"
expect_status 0 hfc-index verify "$pull_out"
grep -q ", 0 faults" "$T/out" || fail "hfc-index verify of the pulled mirror: $(cat "$T/out")"
note "hfc-pull.sh from the read-only rsync module: $(tail -1 "$T/out")"
