# The disk fills up during a build: one error line, exit 1, the site is exactly as before.
. "$HFC_TOP/tests/lib.sh"
mkdir -p "$T/small" "$T/big" "$T/mnt"
seq 1 100000 >"$T/small/numbers"
head -c 40000000 /dev/urandom >"$T/big/random"
mke2fs -q -F -t ext2 -d "$T/small" "$T/v1.img" 48M >/dev/null
mke2fs -q -F -t ext2 -d "$T/big" "$T/v2.img" 48M >/dev/null
mount -t tmpfs -o size=12m tmpfs "$T/mnt"
at_exit "umount '$T/mnt'"
site=$T/mnt/site
expect_status 0 hfc-mkimage -q "$T/v1.img" "$site"
before=$(cd "$site" && find . -type f -printf '%p %s\n' | sort | sha256sum)
expect_error '^hfc-mkimage: .*: No space left on device$' hfc-mkimage "$T/v2.img" "$site"
after=$(cd "$site" && find . -type f -printf '%p %s\n' | sort | sha256sum)
[ "$before" = "$after" ] || fail "a failed build changed the site"
expect_status 0 hfc-index verify "$site"
grep -q "ok: 1 versions" "$T/out" || fail "verify: $(cat "$T/out")"
# After freeing space, the same build simply runs again.
umount "$T/mnt" && mount -t tmpfs -o size=64m tmpfs "$T/mnt"
expect_status 0 hfc-mkimage -q "$T/v1.img" "$site"
expect_status 0 hfc-mkimage -q "$T/v2.img" "$site"
expect_status 0 hfc-index verify "$site"
expect_status 0 hfc-index extract "$site" "$T/x.img"
cmp "$T/v2.img" "$T/x.img" || fail "v2 differs"
