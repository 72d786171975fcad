# Delta bundles on real images: v1 -> v2 -> v3 applied to a copy of the v1 site gives a site that
# verifies, extracts byte-identical images and holds byte-identical indexes and block files;
# applying twice is harmless; bundles are deterministic and much smaller than the block files;
# full bundles seed a new mirror; the update rebuilt from scratch still finds its pages.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/cli/diff/fixture.inc"
diff_fixture
site=$D/site
mirror=$T/mirror
cp -a "$D/site1" "$mirror"

expect_status 0 hfc-diff --json --bundle "$T/b12.tar" "$site" 1 2
cp "$T/out" "$T/b12.json"
read -r nb bytes < <(new_block_files "$site" 1 2)
[ "$(json_get "$T/b12.json" blocks)" = "$nb" ] || fail "the bundle carries $(json_get "$T/b12.json" blocks) block files, want $nb"
[ "$(json_get "$T/b12.json" block_bytes)" = "$bytes" ] || fail "block_bytes"
size=$(stat -c %s "$T/b12.tar")
[ "$size" = "$(json_get "$T/b12.json" bundle_bytes)" ] || fail "bundle_bytes is not the file's size"
[ "$size" -lt $((bytes * 85 / 100)) ] || fail "bundle of $size bytes for $bytes bytes of block files"
python3 "$HFC_TOP/tests/cli/diff/bundle.py" stats "$T/b12.tar" >"$T/stats"
python3 - "$T/stats" "$T/b12.json" <<'PY' || fail "the bundle's ops (decoded independently) disagree"
import json, sys
s, j = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert s["entries"][:4] == ["hfc-bundle", "index.idx", "bases", "delta"], s["entries"]
assert s["copy"] == j["copied_pages"] and s["literal"] == j["literal_pages"], (s, j)
assert s["repeat"] == j["repeated_pages"] and s["zero"] == j["zero_pages"], (s, j)
assert s["repeat"] >= 39, "repeat.bin's 40 equal pages were not sent once"
assert s["copy"] > 0, "no page found in version 1"
PY
note "v1 -> v2: $nb block files of $bytes bytes travel in a bundle of $size bytes"

# Deterministic: the same bundle twice, byte for byte.
expect_status 0 hfc-diff -q --bundle "$T/again.tar" "$site" 1 2
cmp "$T/b12.tar" "$T/again.tar" || fail "two bundles of the same versions differ"
# And through stdout.
hfc-diff -q --bundle - "$site" 1 2 >"$T/stdout.tar" || fail "--bundle - failed"
cmp "$T/b12.tar" "$T/stdout.tar" || fail "the bundle on stdout differs"
rm -f "$T/again.tar" "$T/stdout.tar"

# Apply to the copy of the v1 site.
expect_status 0 hfc-apply --json "$T/b12.tar" "$mirror"
[ "$(json_get "$T/out" written)" = "$nb" ] || fail "apply wrote $(json_get "$T/out" written) block files"
expect_status 0 hfc-index verify "$mirror"
grep -q "ok: 2 versions" "$T/out" || fail "verify: $(cat "$T/out")"
cmp "$site/indexes/000002.idx" "$mirror/indexes/000002.idx" || fail "indexes/000002.idx differs"
cmp "$mirror/index.idx" "$mirror/indexes/000002.idx" || fail "index.idx is not version 2"
hfc-index extract -q -v 2 "$mirror" - | cmp - "$D/v2.img" || fail "v2 does not extract byte-identical"
# Every block file the mirror has is the source's, byte for byte (recompressed exactly).
(cd "$mirror" && find blocks -type f | sort) >"$T/mfiles"
while read -r p; do cmp -s "$site/$p" "$mirror/$p" || fail "$p differs from the source's"; done <"$T/mfiles"

# Applying twice is harmless, and changes nothing.
before=$(tree_sum "$mirror")
expect_status 0 hfc-apply "$T/b12.tar" "$mirror"
grep -q "already has version 2" "$T/out" || fail "second apply: $(cat "$T/out")"
[ "$(tree_sum "$mirror")" = "$before" ] || fail "a second apply changed the site"

# v2 -> v3, read from stdin.
expect_status 0 hfc-diff -q --bundle "$T/b23.tar" "$site" 2 3
hfc-apply -q - "$mirror" <"$T/b23.tar" || fail "apply from stdin failed"
expect_status 0 hfc-index verify "$mirror"
hfc-index extract -q "$mirror" - | cmp - "$D/v3.img" || fail "v3 does not extract byte-identical"
cmp "$site/index.idx" "$mirror/index.idx" || fail "index.idx differs from the source's"
note "v2 -> v3: bundle of $(stat -c %s "$T/b23.tar") bytes"

# A full bundle seeds a new mirror with version 3 alone; the next delta then follows it.
expect_status 0 hfc-diff -q --bundle "$T/full.tar" --full "$site" 3
expect_status 0 hfc-apply "$T/full.tar" "$T/new"
expect_status 0 hfc-index verify "$T/new"
cmp "$site/index.idx" "$T/new/index.idx" || fail "a full bundle changed version 3's index"
hfc-index extract -q "$T/new" - | cmp - "$D/v3.img" || fail "v3 from the full bundle"
rm -rf "$T/new"

# The same update rebuilt from scratch with mke2fs -d: every block moves, pages still match.
cp -a "$D/site1" "$T/src"
SOURCE_DATE_EPOCH=172800 hfc-mkimage -q "$D/v2r.img" "$T/src"
changed=$(count_changed_blocks "$D/v1.img" "$D/v2r.img" 262144)
expect_status 0 hfc-diff --json --bundle "$T/r.tar" "$T/src" 1 2
rsize=$(stat -c %s "$T/r.tar")
rbytes=$(json_get "$T/out" block_bytes)
copied=$(json_get "$T/out" copied_pages) literal=$(json_get "$T/out" literal_pages)
[ "$rsize" -lt $((rbytes / 5)) ] || fail "rebuilt image: bundle of $rsize bytes for $rbytes bytes of block files"
[ "$copied" -gt $((literal * 5)) ] || fail "rebuilt image: only $copied pages found in v1, $literal literal"
cp -a "$D/site1" "$T/m2"
expect_status 0 hfc-apply "$T/r.tar" "$T/m2"
hfc-index extract -q "$T/m2" - | cmp - "$D/v2r.img" || fail "the rebuilt v2 does not extract byte-identical"
note "rebuilt from scratch: $changed blocks changed, $rbytes bytes of block files, bundle $rsize bytes ($copied pages copied, $literal literal)"

# A site whose new block files another compressor made (Python's zlib): no level reproduces
# them, so they travel plain, and the mirror still gets them byte for byte.
cp -a "$D/site" "$T/foreign"
python3 - "$T/foreign" <<'PY'
import glob, hashlib, os, sys, zlib
site = sys.argv[1]
old = {l.split()[0] for l in open(f"{site}/indexes/000001.idx") if len(l.split()) == 2}
path = f"{site}/indexes/000002.idx"
lines = open(path).read().split("\n")
out = []
for l in lines:
    p = l.split()
    if len(p) == 2 and len(p[0]) == 32 and p[0] not in old and p[0] not in ("hash", "image-size"):
        f = f"{site}/blocks/{p[0][:2]}/{p[0]}"
        data = zlib.decompress(open(f, "rb").read())
        z = zlib.compress(data, 9)
        open(f, "wb").write(z)
        l = f"{p[0]} {len(z)}"
    if l.startswith("end "):
        body = "".join(x + "\n" for x in out)
        out.append("end " + hashlib.sha256(body.encode()).hexdigest())
        break
    out.append(l)
text = "".join(x + "\n" for x in out)
open(path, "w").write(text)
os.remove(f"{site}/indexes/000003.idx")
open(f"{site}/index.idx", "w").write(text)
PY
expect_status 0 hfc-index verify "$T/foreign"
expect_status 0 hfc-diff --json --bundle "$T/foreign.tar" "$T/foreign" 1 2
raw=$(json_get "$T/out" raw)
[ "$raw" = "$(json_get "$T/out" blocks)" ] || fail "foreign block files: $raw plain of $(json_get "$T/out" blocks)"
cp -a "$D/site1" "$T/m3"
expect_status 0 hfc-apply "$T/foreign.tar" "$T/m3"
expect_status 0 hfc-index verify "$T/m3"
hfc-index extract -q "$T/m3" - | cmp - "$D/v2.img" || fail "v2 from plain block files"
while read -r p; do cmp -s "$T/foreign/$p" "$T/m3/$p" || fail "$p differs"; done < <(cd "$T/m3" && find blocks -type f)
note "another compressor's site: $raw block files sent plain"
