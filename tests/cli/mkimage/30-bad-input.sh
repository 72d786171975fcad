# Bad input: one clear error line, exit 1, and what was there before still verifies.
. "$HFC_TOP/tests/lib.sh"
mkdir -p "$T/src" && seq 1 300000 >"$T/src/numbers" && head -c 2000000 /dev/urandom >"$T/src/rand"
mke2fs -q -F -t ext2 -d "$T/src" "$T/img" 16M >/dev/null
site=$T/site
expect_status 0 hfc-mkimage -q "$T/img" "$site"

expect_error '^hfc-mkimage: .*/nope\.img: No such file or directory$' hfc-mkimage "$T/nope.img" "$site"
expect_error '^hfc-mkimage: .*: not a regular file or block device$' hfc-mkimage "$T/src" "$site"
chmod 600 "$T/img"
chmod 755 "$T"
expect_error '^hfc-mkimage: .*/img: Permission denied$' as_nobody hfc-mkimage "$T/img" "$T/nobody-site"
chmod 644 "$T/img"
expect_error '^hfc-mkimage: .*site.*: Permission denied$' as_nobody hfc-mkimage "$T/img" "$site"
touch "$T/afile"
expect_error "^hfc-mkimage: .*afile: cannot create site: Not a directory$" hfc-mkimage "$T/img" "$T/afile"
expect_error '^hfc-index: .*/missing: no such site$' hfc-index verify "$T/missing"
expect_status 0 hfc-index verify "$site"

# A corrupted block file: verify names it; extract refuses and leaves no output.
cp -a "$site" "$T/bad"
blk=$(find "$T/bad/blocks" -type f -size +10k -print -quit)
printf 'X' | dd of="$blk" bs=1 seek=100 conv=notrunc status=none
expect_error "^hfc-index: .*$(basename "$blk"): does not match its name \(corrupt block file\)$" hfc-index verify "$T/bad"
grep -q "" "$T/out" || true
expect_error "^hfc-index: .*/blocks/.*\(block [0-9]+\): does not match its name" hfc-index extract "$T/bad" "$T/x.img"
[ ! -e "$T/x.img" ] || fail "a failed extract left its output"
[ -z "$(find "$T" -maxdepth 1 -name '.x.img.tmp*')" ] || fail "a failed extract left a temporary file"
# A missing block file, and one truncated to another size.
rm -rf "$T/bad" && cp -a "$site" "$T/bad"
blk=$(find "$T/bad/blocks" -type f -print -quit)
rm "$blk"
expect_error "missing \(named by version 1\)$" hfc-index verify "$T/bad"
rm -rf "$T/bad" && cp -a "$site" "$T/bad"
blk=$(find "$T/bad/blocks" -type f -print -quit)
truncate -s 5 "$blk"
expect_error "5 bytes, but version 1 says" hfc-index verify "$T/bad"

# A truncated index, an edited one: file:line errors, and hfc-mkimage refuses to build on them.
rm -rf "$T/bad" && cp -a "$site" "$T/bad"
head -c 300 "$site/indexes/000001.idx" >"$T/bad/indexes/000001.idx"
cp "$T/bad/indexes/000001.idx" "$T/bad/index.idx"
expect_error '^hfc-index: .*/index\.idx:[0-9]+: ' hfc-index extract "$T/bad" "$T/x.img"
expect_status 1 hfc-index verify "$T/bad"
grep -q '000001.idx:[0-9]*: truncated' "$T/err" || { cat "$T/err"; fail "verify does not name the truncated index"; }
expect_error '^hfc-mkimage: .*/indexes/000001\.idx:[0-9]+: truncated' hfc-mkimage "$T/img" "$T/bad"
rm -rf "$T/bad" && cp -a "$site" "$T/bad"
sed -i '12s/^\(.\)./\1f/' "$T/bad/indexes/000001.idx"
expect_error '^hfc-index: .*/indexes/000001\.idx:[0-9]+: end checksum does not match' hfc-index show "$T/bad" 1
sed -i 's/^hash md5$/hash MD5/' "$T/bad/indexes/000001.idx"
expect_error ':7: bad hash' hfc-index cat "$T/bad" 1

# The good site was never touched by any of this.
expect_status 0 hfc-index verify "$site"
