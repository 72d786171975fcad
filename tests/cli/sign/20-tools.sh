# A signed sha256 site through every tool: hfc-mkimage --sign-key, hfc-index verify --pubkey,
# sign --all and --renew, rollback --sign-key, hfc-diff bundles and hfc-apply --pubkey (a bundle
# with a forged or unsigned index is refused before the site is touched; a bundle that skips
# versions is refused without --force), hfc-profile with a URL and --pubkey, hfc-get and
# hfc-mount with --pubkey.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/cli/diff/fixture.inc"

make_tree "$T/tree" 4
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -d "$T/tree" "$T/v1.img" 16M >/dev/null
cp --sparse=always "$T/v1.img" "$T/v2.img"
head -c 200000 /dev/urandom >"$T/a.bin"
debugfs -w -R "write $T/a.bin /a.bin" "$T/v2.img" >/dev/null 2>&1 || fail "debugfs"
cp --sparse=always "$T/v2.img" "$T/v3.img"
debugfs -w -R "write $T/a.bin /b.bin" "$T/v3.img" >/dev/null 2>&1 || fail "debugfs"
expect_status 0 hfc-index keygen -o "$T/key"
expect_status 0 hfc-index keygen -o "$T/evil"
expect_status 2 hfc-index keygen        # -o is needed
expect_error "never overwritten" hfc-index keygen -o "$T/key"

site=$T/www/site
expect_status 0 hfc-mkimage -q --hash sha256 "$T/v1.img" "$site"   # unsigned first version
expect_status 0 hfc-mkimage -q --sign-key "$T/key" --expires 10d "$T/v2.img" "$site"
expect_error "not signed" hfc-index verify "$site" --pubkey "$T/key.pub"
expect_status 0 hfc-index sign --all --expires 5d "$site" --key "$T/key"
expect_status 0 hfc-index verify --json "$site" --pubkey "$T/key.pub"
[ "$(json_get "$T/out" signed_ok)" = 2 ] || fail "sign --all: $(cat "$T/out")"
expect_status 0 hfc-index show --json "$site"
[ "$(json_get "$T/out" signed)" = true ] || fail "show: $(cat "$T/out")"
[ "$(json_get "$T/out" hash)" = sha256 ] || fail "the site is not sha256"

# A renewal within a third of the term re-signs; further out it does not.
expect_status 0 hfc-index sign --renew --expires 30d "$site" --key "$T/key"
grep -q "not renewed" "$T/out" && fail "--renew left a signature that ends within the term's last third"
expect_status 0 hfc-index sign --renew --expires 30d "$site" --key "$T/key"
grep -q "not renewed" "$T/out" || fail "--renew renewed a fresh signature"

# Bundles: a signed delta from 2 to 3 applies with --pubkey; the site then verifies.
cp -a "$site" "$T/mirror"
expect_status 0 hfc-mkimage -q --sign-key "$T/key" "$T/v3.img" "$site"
hfc-diff -q --bundle "$T/b23.tar" "$site" 2 3 || fail "bundle"
B="python3 $HFC_TOP/tests/cli/diff/bundle.py"
sum0=$(tree_sum "$T/mirror")
# A bundle whose index is not signed by a trusted key: refused, the mirror untouched.
cp -a "$site" "$T/evilsite"
expect_status 0 hfc-index sign -v 3 "$T/evilsite" --key "$T/evil"
hfc-diff -q --bundle "$T/evil.tar" "$T/evilsite" 2 3 || fail "evil bundle"
expect_error "index.idx: signed by key [0-9a-f]{16}, which is not trusted" \
	hfc-apply --pubkey "$T/key.pub" "$T/evil.tar" "$T/mirror"
[ "$(tree_sum "$T/mirror")" = "$sum0" ] || fail "a refused bundle changed the mirror"
# A bundle whose index was changed (its end line made right again): the signature fails.
$B flip "$T/b23.tar" "$T/flip.tar" index.idx 200
expect_error "" hfc-apply --pubkey "$T/key.pub" "$T/flip.tar" "$T/mirror"
[ "$(tree_sum "$T/mirror")" = "$sum0" ] || fail "a corrupt bundle changed the mirror"
expect_status 0 hfc-apply --pubkey "$T/key.pub" "$T/b23.tar" "$T/mirror"
expect_status 0 hfc-index verify "$T/mirror" --pubkey "$T/key.pub"
cmp "$T/mirror/index.idx" "$site/index.idx" || fail "the mirror's index differs from the site's"

# A bundle may carry only the next version: a crafted one that says 99999999 (with its parent
# right) is refused without --force, and without --pubkey too; with --pubkey it is not signed.
cp -a "$site" "$T/m3"   # at version 3
hfc-diff -q --bundle "$T/b12.tar" "$site" 1 2 || fail "bundle 1-2"
cp -a "$T/www" "$T/www2" && rm -rf "$T/m1" && mkdir -p "$T/m1"
hfc-diff -q --bundle "$T/full1.tar" --full "$site" 1 || fail "full bundle of 1"
expect_status 0 hfc-apply -q "$T/full1.tar" "$T/m1"
$B set-version "$T/b12.tar" "$T/jump.tar" 99999999
sum1=$(tree_sum "$T/m1")
expect_error "version 99999999 does not follow .*'s newest version 1; refused \(--force" \
	hfc-apply "$T/jump.tar" "$T/m1"
expect_error "not signed" hfc-apply --pubkey "$T/key.pub" "$T/jump.tar" "$T/m1"
[ "$(tree_sum "$T/m1")" = "$sum1" ] || fail "a refused version jump changed the site"

# Rollback, signed: a new version 4 with version 1's blocks.
expect_status 0 hfc-index rollback -q --sign-key "$T/key" "$site" 1
expect_status 0 hfc-index verify "$site" --pubkey "$T/key.pub"
expect_status 0 hfc-index extract -q "$site" "$T/rb.img"
cmp "$T/rb.img" "$T/v1.img" || fail "the rollback is not version 1's image"

# Over HTTP: get, mount, profile; a forged index refused by each.
start_nginx "$T/www" A
url=$NGINX_URL_A/site
expect_status 0 hfc-get -q --pubkey "$T/key.pub" "$url" "$T/got.img"
cmp "$T/got.img" "$T/v1.img" || fail "hfc-get of the signed rollback"
mkdir -p "$T/mnt"
mount_hfc "$T/mnt" --trace "$T/trace" --pubkey "$T/key.pub" "$url"
cmp "$T/mnt/image" "$T/v1.img" || fail "the mount"
umount_hfc "$T/mnt"
expect_status 0 hfc-profile record -o "$T/p.prof" --site "$url" --pubkey "$T/key.pub" "$T/trace"
# (the trace names version 4: its version file is what hfc-profile reads)
cp "$site/indexes/000004.idx" "$T/good.idx"
head -n -1 "$T/good.idx" >"$site/indexes/000004.idx"
expect_error "not signed" hfc-profile record -o "$T/p2.prof" --site "$url" --pubkey "$T/key.pub" "$T/trace"
[ ! -e "$T/p2.prof" ] || fail "hfc-profile wrote a profile from an unsigned index"
cp "$T/good.idx" "$site/indexes/000004.idx"
note "a signed sha256 site went through hfc-mkimage, hfc-index, hfc-diff/hfc-apply, hfc-get, hfc-mount and hfc-profile"
