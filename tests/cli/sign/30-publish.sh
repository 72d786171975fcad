# hfc-publish with require-signature: an unsigned site, one signed by a key not in pubkey, one
# whose signature was tampered with, one with an older version signed by another key, and one
# whose signature has expired are never pushed (one line, exit 1, the mirror stays empty); a
# well-signed site is pushed and verified; --status shows each mirror's signer and expiry and
# warns when the expiry is within expiry-warning; two pubkeys carry a key rotation.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/publish-lib.sh"

make_tree "$T/tree" 2
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -d "$T/tree" "$T/v1.img" 8M >/dev/null
cp --sparse=always "$T/v1.img" "$T/v2.img"
head -c 100000 /dev/urandom >"$T/a.bin"
debugfs -w -R "write $T/a.bin /a.bin" "$T/v2.img" >/dev/null 2>&1 || fail "debugfs"
for k in key evil next; do expect_status 0 hfc-index keygen -o "$T/$k"; done

site=$T/site
expect_status 0 hfc-mkimage -q --hash sha256 "$T/v1.img" "$site"
mirror=$T/www/hfc
start_nginx_site A "$T/www" /hfc
cfg=$T/publish.yaml
write_publish_yaml "$cfg" "$site" a "$mirror" "$SITE_URL_A" -
{ echo "require-signature: true"; echo "pubkey: $T/key.pub"; } >>"$cfg"

# refused PATTERN: the push is refused with one line and nothing reaches the mirror.
refused() {
	expect_error "$1" hfc-publish -c "$cfg"
	[ -z "$(ls -A "$mirror")" ] || fail "refused, yet the mirror got: $(ls -A "$mirror" | head -3)"
	expect_error "$1" hfc-publish -c "$cfg" --dry-run
}
refused "^hfc-publish: $site/index.idx: not signed"

expect_status 0 hfc-index sign "$site" --key "$T/evil" --expires 10d
refused "^hfc-publish: $site/index.idx: signed by key [0-9a-f]{16}, which is not trusted"

# A tampered signature: the same changed byte in index.idx and its version's file.
expect_status 0 hfc-index sign "$site" --key "$T/key" --expires 10d
python3 - "$site/index.idx" "$site/indexes/000001.idx" <<'PY'
import sys
for p in sys.argv[1:]:
    b = bytearray(open(p, "rb").read())
    i = b.rindex(b"signature ") + 60    # inside the base64 of the signature
    b[i] = ord("A") if b[i] != ord("A") else ord("B")
    open(p, "wb").write(b)
PY
refused "^hfc-publish: $site/index.idx: bad signature"

# Expired: a signature that ends in two seconds, waited out (bounded).
expect_status 0 hfc-index sign "$site" --key "$T/key" --expires 2s
expect_status 0 hfc-index show --json "$site"
exp=$(date -d "$(json_get "$T/out" expires)" +%s)
past_expiry() { [ "$(date +%s)" -gt "$exp" ]; }
wait_for "the signature to expire" 10 past_expiry
refused "^hfc-publish: $site/index.idx: signature expired at"

# Signed well, it goes; the expiry is within the default expiry-warning (7 days): a note.
expect_status 0 hfc-index sign "$site" --key "$T/key" --expires 3d
expect_status 0 hfc-publish -c "$cfg" --json
grep -q "^hfc-publish: note: site: signature by key [0-9a-f]\{16\} expires at .*, in 3.0 days" "$T/err" ||
	fail "no expiry note on publish: $(cat "$T/err")"
python3 - "$T/out" <<'PY' || fail "publish: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["signature"]["state"] == "good", d["signature"]
assert all(m["ok"] and m["verified"] for m in d["mirrors"]), d
PY
cmp -s "$mirror/index.idx" "$site/index.idx" || fail "the mirror does not have the signed index"
expect_status 0 hfc-index show --json "$site"
id=$(json_get "$T/out" key_id)
expires=$(json_get "$T/out" expires)

expect_status 0 hfc-publish -c "$cfg" --status --json
python3 - "$T/out" "$id" "$expires" <<'PY' || fail "status: $(cat "$T/out")"
import json, sys
d, kid, exp = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
assert d["signature"] == {"state": "good", "key_id": kid, "expires": exp}, d["signature"]
m = d["mirrors"][0]
assert m["current"] and m["signature"] == {"state": "good", "key_id": kid, "expires": exp}, m
PY
grep -q "^hfc-publish: note: site: signature by key $id expires at $expires, in" "$T/err" ||
	fail "--status does not warn of the near expiry: $(cat "$T/err")"

expect_status 0 hfc-publish -c "$cfg" --status
grep -q "^a .* $id until $expires  *$SITE_URL_A\$" "$T/out" || fail "--status table: $(cat "$T/out")"

# A renewal far enough out: pushed like any index change, and no note any more.
expect_status 0 hfc-index sign "$site" --key "$T/key" --renew --expires 30d
expect_status 0 hfc-publish -c "$cfg" --status
grep -q "^hfc-publish: note: mirror 'a': signature by key $id expires at $expires, in" "$T/err" ||
	fail "--status does not warn of a mirror's near expiry: $(cat "$T/err")"
grep -q "note: site:" "$T/err" && fail "the renewed site is still noted: $(cat "$T/err")"
expect_status 0 hfc-publish -c "$cfg"
expect_status 0 hfc-publish -c "$cfg" --status
[ ! -s "$T/err" ] || fail "a renewed signature still warns: $(cat "$T/err")"
# expiry-warning is the operator's: 60 days makes the 30-day signature near.
sed -i '/^expiry-warning:/d' "$cfg"; echo "expiry-warning: 60d" >>"$cfg"
expect_status 0 hfc-publish -c "$cfg" --status
grep -q "expires at .*, in 30.0 days" "$T/err" || fail "expiry-warning 60d: $(cat "$T/err")"

# Every version is checked, not only the current one: v2 signed, v1 re-signed by another key.
expect_status 0 hfc-mkimage -q --sign-key "$T/key" --expires 30d "$T/v2.img" "$site"
expect_status 0 hfc-index sign "$site" --key "$T/evil" -v 1 --expires 30d
expect_error "^hfc-publish: $site/indexes/000001.idx: signed by key [0-9a-f]{16}, which is not trusted" \
	hfc-publish -c "$cfg"
[ "$(hfc-index show --json "$mirror" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" = 1 ] ||
	fail "the mirror moved on although an old version is signed by an untrusted key"

# Rotation: the new key joins pubkey while both are trusted; a site signed by it goes.
sed -i '/^pubkey:/d' "$cfg"
printf 'pubkey:\n  - %s\n  - %s\n' "$T/key.pub" "$T/next.pub" >>"$cfg"
expect_status 0 hfc-index sign --all "$site" --key "$T/next" --expires 30d
expect_status 0 hfc-publish -c "$cfg" --json
[ "$(json_get "$T/out" version)" = 2 ] || fail "rotation: $(cat "$T/out")"
expect_status 0 hfc-publish -c "$cfg" --status --json
python3 - "$T/out" <<'PY' || fail "status after rotation: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["mirrors"][0]["current"] and d["mirrors"][0]["signature"]["state"] == "good", d
PY

# The settings themselves: require-signature needs pubkey; a pubkey file that is not a key.
printf 'site: %s\nrequire-signature: true\nmirrors:\n  - name: a\n    target: %s\n    url: %s\n' \
	"$site" "$mirror" "$SITE_URL_A" >"$T/nokey.yaml"
expect_error "^hfc-publish: $T/nokey.yaml:2:20: require-signature: needs pubkey" hfc-publish -c "$T/nokey.yaml"
sed 's|^require-signature: true|pubkey: '"$T"'/v1.img|' "$T/nokey.yaml" >"$T/badkey.yaml"
expect_error "^hfc-publish: $T/v1.img: " hfc-publish -c "$T/badkey.yaml"
printf 'expiry-warning: soon\n' >>"$T/nokey.yaml"
sed -i '/^require-signature/d' "$T/nokey.yaml"
expect_error "expiry-warning: 'soon' is not a duration" hfc-publish -c "$T/nokey.yaml"
