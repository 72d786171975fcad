# Signed indexes end to end, against a real nginx: openssl reads our signatures and we read
# openssl's over the bytes FORMAT.md 4.7 names; a client with --pubkey refuses a forged index,
# a signature by an untrusted key, an all-zero signature, an older signed version after a newer
# one (with and without a cache), an expired signature — each with one line and exit 1, before
# any block is read, writing nothing to the cache or the state; a renewal is taken and changes no
# block file; a forged version 99999999 does not lock the client out of the real site.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"

make_tree "$T/tree" 6
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -d "$T/tree" "$T/v1.img" 16M >/dev/null
cp --sparse=always "$T/v1.img" "$T/v2.img"
head -c 300000 /dev/urandom >"$T/new.bin"
debugfs -w -R "write $T/new.bin /new.bin" "$T/v2.img" >/dev/null 2>&1 || fail "debugfs write"

expect_status 0 hfc-index keygen -o "$T/key"
[ "$(stat -c %a "$T/key")" = 600 ] || fail "the private key is mode $(stat -c %a "$T/key")"
openssl genpkey -algorithm ed25519 -out "$T/other.key" 2>/dev/null
openssl pkey -in "$T/other.key" -pubout -out "$T/other.key.pub"

site=$T/www/site
expect_status 0 hfc-mkimage -q --hash sha256 --sign-key "$T/key" "$T/v1.img" "$site"
cp -a "$site" "$T/site-v1" # version 1 alone, signed: for the rollback case
expect_status 0 hfc-mkimage -q --sign-key "$T/key" "$T/v2.img" "$site"
expect_status 0 hfc-index verify "$site" --pubkey "$T/key.pub"
grep -q "ok: 2 versions (2 signed by a trusted key)" "$T/out" || fail "verify: $(cat "$T/out")"

# sig_bytes FILE: the bytes a signature covers (all but its 88 digits and the final LF).
sig_bytes() { head -c $(($(stat -c %s "$1") - 89)) "$1"; }
# sig_of FILE: the 64 signature bytes.
sig_of() { tail -c 89 "$1" | head -c 88 | base64 -d; }

# openssl checks our signature over the documented bytes.
sig_bytes "$site/index.idx" >"$T/msg"
sig_of "$site/index.idx" >"$T/sig"
openssl pkeyutl -verify -rawin -pubin -inkey "$T/key.pub" -in "$T/msg" -sigfile "$T/sig" >/dev/null ||
	fail "openssl does not verify hfc-index's signature"
! openssl pkeyutl -verify -rawin -pubin -inkey "$T/other.key.pub" -in "$T/msg" -sigfile "$T/sig" >/dev/null 2>&1 ||
	fail "openssl verifies with a key that did not sign"

# resign_with KEY IN OUT [EXPIRES]: IN's signature line made again by openssl with KEY (and
# another expiry), over the bytes FORMAT.md names.
resign_with() {
	local key=$1 in=$2 out=$3 exp=${4:-} id
	id=$(openssl pkey -in "$key" -pubout -outform DER | tail -c 32 | sha256sum | cut -c1-16)
	head -n -1 "$in" >"$T/rs.above"
	[ -n "$exp" ] || exp=$(tail -n 1 "$in" | cut -d' ' -f4)
	{ cat "$T/rs.above"; printf 'signature ed25519 %s %s ' "$id" "$exp"; } >"$T/rs.msg"
	openssl pkeyutl -sign -rawin -inkey "$key" -in "$T/rs.msg" -out "$T/rs.sig"
	{ cat "$T/rs.msg"; base64 -w0 "$T/rs.sig"; echo; } >"$out"
}

start_nginx "$T/www" A
url=$NGINX_URL_A/site
log=$(nginx_log A)
blocks_asked() { grep -c ' /site/blocks/' "$log" || true; }

expect_status 0 hfc-get -q --pubkey "$T/key.pub" "$url" "$T/got.img"
cmp "$T/got.img" "$T/v2.img" || fail "the signed site does not read back"
expect_status 0 hfc-get --cat --pubkey "$T/key.pub" "$url" /new.bin
cmp "$T/out" "$T/new.bin" || fail "--cat through a signed index"

# openssl's own signature (by the same key) over those bytes is taken by the client.
resign_with "$T/key" "$site/index.idx" "$T/os.idx"
cmp -s "$T/os.idx" "$site/index.idx" || note "openssl's signature differs in bytes (Ed25519 is deterministic: it should not)"
cp "$T/os.idx" "$site/index.idx"
expect_status 0 hfc-get -q --pubkey "$T/key.pub" "$url" "$T/got.img"
cp "$site/indexes/000002.idx" "$site/index.idx"

# refused WHAT PATTERN ARGS...: hfc-get and hfc-mount refuse with one line naming the reason,
# exit 1, before any block is asked for; nothing is written to the cache or the state.
refused() {
	local what=$1 pat=$2
	shift 2
	local before state_before cache_before
	before=$(blocks_asked)
	state_before=$(ls -lR "$HFC_STATE_DIR" 2>/dev/null | md5sum)
	cache_before=$(find "$T/cache" -type f -printf '%p %s %T@\n' 2>/dev/null | sort | md5sum)
	expect_error "^hfc-get: .*$pat" hfc-get -q --cache "$T/cache" "$@" "$T/x.img"
	[ ! -e "$T/x.img" ] || fail "$what: hfc-get wrote its output"
	expect_error "^hfc-mount: .*$pat" timeout 60 hfc-mount -f --cache "$T/cache" "$@" "$T/mnt"
	! is_mounted "$T/mnt" || fail "$what: mounted"
	[ "$(blocks_asked)" = "$before" ] || fail "$what: block files were asked for"
	[ "$(ls -lR "$HFC_STATE_DIR" 2>/dev/null | md5sum)" = "$state_before" ] || fail "$what: the state changed"
	[ "$(find "$T/cache" -type f -printf '%p %s %T@\n' 2>/dev/null | sort | md5sum)" = "$cache_before" ] ||
		fail "$what: the cache changed"
	note "$what: $(cat "$T/err")"
}
mkdir -p "$T/mnt" "$T/cache"
# A first good read fills the cache and raises the floor to 2.
expect_status 0 hfc-get -q --cache "$T/cache" --pubkey "$T/key.pub" "$url" "$T/got.img"

cp "$site/index.idx" "$T/good.idx"
# A forged index: one block name changed, the end line recomputed, the old signature kept.
python3 - "$T/good.idx" "$T/forged.idx" <<'PY'
import hashlib, sys
lines = open(sys.argv[1]).read().split("\n")
i = next(k for k, l in enumerate(lines) if len(l.split(" ")) == 2 and len(l.split(" ")[0]) == 64)
name, size = lines[i].split(" ")
lines[i] = ("0" if name[0] != "0" else "1") + name[1:] + " " + size
end = next(k for k, l in enumerate(lines) if l.startswith("end "))
above = "\n".join(lines[:end]) + "\n"
lines[end] = "end " + hashlib.sha256(above.encode()).hexdigest()
open(sys.argv[2], "w").write("\n".join(lines))
PY
cp "$T/forged.idx" "$site/index.idx"
refused "forged index" "bad signature" --pubkey "$T/key.pub" "$url"
# Without --pubkey the forged index is taken (a checksum is not a signature): the client goes on
# to its blocks (here the forged name has no file; a hostile mirror would serve one).
expect_error "not found" hfc-get -q --state "$T/nostate" "$url" "$T/nokey.img"

# Signed by a key the client does not trust (openssl's key, a valid signature).
resign_with "$T/other.key" "$T/good.idx" "$site/index.idx"
refused "untrusted key" "signed by key [0-9a-f]{16}, which is not trusted" --pubkey "$T/key.pub" "$url"
# ... which two trusted keys (a rotation) accept.
expect_status 0 hfc-get -q --pubkey "$T/key.pub" --pubkey "$T/other.key.pub" "$url" "$T/two.img"
rm -f "$T/two.img"

# An all-zero signature.
{ head -c $(($(stat -c %s "$T/good.idx") - 89)) "$T/good.idx"; printf '%s==\n' "$(printf 'A%.0s' $(seq 86))"; } >"$site/index.idx"
refused "all-zero signature" "bad signature" --pubkey "$T/key.pub" "$url"

# Expired: the same index signed with an expiry in the past (openssl, the trusted key).
resign_with "$T/key" "$T/good.idx" "$site/index.idx" 2020-01-01T00:00:00Z
refused "expired" "signature expired at 2020-01-01T00:00:00Z" --pubkey "$T/key.pub" "$url"

# Not signed at all.
head -n -1 "$T/good.idx" >"$site/index.idx"
refused "unsigned" "not signed" --pubkey "$T/key.pub" "$url"

# Rollback attack: version 1, correctly signed, after version 2 was seen — with the cache ...
cp "$T/site-v1/index.idx" "$site/index.idx"
refused "older signed version" "version 1 is older than version 2 seen before" --pubkey "$T/key.pub" "$url"
# ... and without one: the floor lives in the state directory, not in a cache.
expect_error "version 1 is older than version 2 seen before" hfc-get -q --pubkey "$T/key.pub" "$url" "$T/x.img"
# -v 1 asks for it on purpose; --allow-older takes it once without lowering the floor.
expect_status 0 hfc-get -q -v 1 --pubkey "$T/key.pub" "$url" "$T/v1.out"
cmp "$T/v1.out" "$T/v1.img" || fail "-v 1"
expect_status 0 hfc-get -q --allow-older --pubkey "$T/key.pub" "$url" "$T/v1.out"
expect_error "older than version 2" hfc-get -q --pubkey "$T/key.pub" "$url" "$T/x.img"
cp "$T/good.idx" "$site/index.idx"

# A forged version 99999999 (unsigned) sent to a client that trusts keys: refused, and the real
# site still works afterwards (the floor was never raised by it).
sed -e 's/^version 2$/version 99999999/' "$T/good.idx" | head -n -1 >"$T/big.idx"
python3 - "$T/big.idx" <<'PY'
import hashlib, sys
t = open(sys.argv[1]).read().split("\n")
end = next(k for k, l in enumerate(t) if l.startswith("end "))
t[end] = "end " + hashlib.sha256(("\n".join(t[:end]) + "\n").encode()).hexdigest()
open(sys.argv[1], "w").write("\n".join(t))
PY
cp "$T/big.idx" "$site/index.idx"
refused "forged version 99999999" "not signed" --pubkey "$T/key.pub" "$url"
cp "$T/good.idx" "$site/index.idx"
expect_status 0 hfc-get -q --pubkey "$T/key.pub" "$url" "$T/got.img"
cmp "$T/got.img" "$T/v2.img" || fail "the real site after the forged version"

# Renewal: only the signature line changes; every block file stays, and clients take it.
before=$(find "$site/blocks" -type f -printf '%p %s %T@\n' | sort | md5sum)
expect_status 0 hfc-index sign "$site" --key "$T/key" --expires 60d
[ "$(find "$site/blocks" -type f -printf '%p %s %T@\n' | sort | md5sum)" = "$before" ] || fail "renewal changed a block file"
cmp -s <(head -n -1 "$site/index.idx") <(head -n -1 "$T/good.idx") || fail "renewal changed more than the signature line"
cmp -s "$site/index.idx" "$T/good.idx" && fail "renewal did not change the signature line"
cmp "$site/index.idx" "$site/indexes/000002.idx" || fail "renewal: index.idx and its version file differ"
expect_status 0 hfc-index sign --renew "$site" --key "$T/key" --expires 60d
grep -q "not renewed" "$T/out" || fail "--renew renewed a fresh signature: $(cat "$T/out")"
expect_status 0 hfc-get -q --cache "$T/cache" --pubkey "$T/key.pub" "$url" "$T/got.img"
cmp "$T/got.img" "$T/v2.img" || fail "after renewal"
expect_status 0 hfc-index verify "$site" --pubkey "$T/key.pub"

# The mount with --pubkey reads the image and its file system.
mount_hfc "$T/mnt" --pubkey "$T/key.pub" "$url"
cmp "$T/mnt/image" "$T/v2.img" || fail "the mounted signed image differs"
umount_hfc "$T/mnt"
