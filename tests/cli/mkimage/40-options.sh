# Options: help, usage errors (exit 2), fixed site parameters, dry run, sha256, forced versions,
# short last blocks, small block sizes, and deterministic output.
. "$HFC_TOP/tests/lib.sh"
mkdir -p "$T/src" && seq 1 200000 >"$T/src/numbers" && head -c 1500000 /dev/urandom >"$T/src/rand"
mke2fs -q -F -t ext2 -d "$T/src" "$T/img" 12M >/dev/null

for tool in hfc-mkimage hfc-index; do
	expect_status 0 $tool --help
	grep -q "^Usage: $tool" "$T/out" || fail "$tool --help"
	[ ! -s "$T/err" ] || fail "$tool --help wrote to stderr"
	expect_status 2 $tool --no-such-option
done
expect_status 2 hfc-mkimage "$T/img"
expect_status 2 hfc-mkimage --block-size 1000 "$T/img" "$T/s"
grep -q "^hfc-mkimage: --block-size: '1000' is not a multiple of 512" "$T/err" || fail "block size message"
expect_status 2 hfc-mkimage --block-size 128M "$T/img" "$T/s"
expect_status 2 hfc-mkimage --level 13 "$T/img" "$T/s"
expect_status 2 hfc-mkimage --jobs 0 "$T/img" "$T/s"
expect_status 2 hfc-mkimage --hash sha1 "$T/img" "$T/s"
expect_status 2 hfc-mkimage --label "$(printf 'a\tb')" "$T/img" "$T/s"
expect_status 2 hfc-index frobnicate "$T/s"
expect_status 2 hfc-index extract "$T/s"
expect_status 2 hfc-index show "$T/s" 0
[ ! -e "$T/s" ] || fail "a usage error created the site"

# Dry run: full figures, nothing written, no site created.
expect_status 0 hfc-mkimage --dry-run --json "$T/img" "$T/s"
[ ! -e "$T/s" ] || fail "--dry-run created the site"
[ "$(json_get "$T/out" new)" -gt 0 ] || fail "dry run counted nothing"

# Block size and hash are fixed by the first version.
expect_status 0 hfc-mkimage -q --block-size 64K --hash sha256 "$T/img" "$T/s"
f=$(find "$T/s/blocks" -type f -print -quit)
name=$(basename "$f")
[ ${#name} = 64 ] || fail "sha256 site has a ${#name}-digit name"
# The name is the SHA-256 of the block the file decompresses to.
[ "$(python3 -c 'import hashlib, sys, zlib; print(hashlib.sha256(zlib.decompress(open(sys.argv[1], "rb").read())).hexdigest())' "$f")" = "$name" ] ||
	fail "$f does not decompress to a block whose SHA-256 is its name"
expect_error "site uses block size 65536; cannot build with 262144" hfc-mkimage -b 262144 "$T/img" "$T/s"
expect_error "site uses hash sha256; cannot build with md5" hfc-mkimage --hash md5 "$T/img" "$T/s"
expect_status 0 hfc-mkimage --json "$T/img" "$T/s"
[ "$(json_get "$T/out" published)" = false ] || fail "unchanged image published"
expect_status 0 hfc-mkimage --json --force-version --label forced "$T/img" "$T/s"
[ "$(json_get "$T/out" version)" = 2 ] || fail "--force-version did not publish version 2"
[ "$(json_get "$T/out" new)" = 0 ] || fail "--force-version stored blocks again"
expect_status 0 hfc-index show --json "$T/s" 2
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["label"]=="forced" and d["new_blocks"]==0 and d["parent"]==1 and d["hash"]=="sha256"' "$T/out" ||
	fail "show --json: $(cat "$T/out")"
expect_status 0 hfc-index extract "$T/s" "$T/x" && cmp "$T/img" "$T/x" || fail "sha256 extract"

# A short last block and the smallest block size.
head -c 1000001 /dev/urandom >"$T/odd.img"
expect_status 0 hfc-mkimage -q -b 4096 "$T/odd.img" "$T/odd"
grep -q '^blocks 245$' "$T/odd/index.idx" || fail "1000001 bytes at 4096 should be 245 blocks"
expect_status 0 hfc-index extract "$T/odd" "$T/odd.x" && cmp "$T/odd.img" "$T/odd.x" || fail "short last block"
expect_status 0 hfc-index verify "$T/odd"

# An empty image is a valid, empty version.
: >"$T/empty.img"
expect_status 0 hfc-mkimage -q "$T/empty.img" "$T/empty"
expect_status 0 hfc-index extract "$T/empty" "$T/empty.x"
[ ! -s "$T/empty.x" ] || fail "empty image"

# Determinism: the same image and SOURCE_DATE_EPOCH give byte-identical indexes, any --jobs.
expect_status 0 hfc-mkimage -q -j 1 "$T/img" "$T/d1"
expect_status 0 hfc-mkimage -q -j 7 "$T/img" "$T/d2"
cmp "$T/d1/index.idx" "$T/d2/index.idx" || fail "indexes differ between runs"
(cd "$T/d1" && find blocks -type f | sort | xargs sha256sum) >"$T/h1"
(cd "$T/d2" && find blocks -type f | sort | xargs sha256sum) >"$T/h2"
cmp "$T/h1" "$T/h2" || fail "block files differ between runs"
grep -q '^created 1970-01-01T00:00:00Z$' "$T/d1/index.idx" || fail "SOURCE_DATE_EPOCH not honoured"

# cat prints the index byte for byte.
expect_status 0 hfc-index cat "$T/d1"
cmp "$T/out" "$T/d1/index.idx" || fail "cat differs from the file"
