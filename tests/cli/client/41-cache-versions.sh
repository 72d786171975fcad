# A cache remembers the newest version it accepted: a mirror that is out of date (still at
# version 1 after version 2 was seen) is refused by hfc-mount and hfc-get with one error line,
# unless --allow-older; a version asked for with -v is never refused; after an update the cache
# serves the blocks both versions share, so only the changed ones are fetched.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
img=$(fixture_image)
site=$(fixture_site)
tree=$HFC_TEST_TMP/tree
cache=$T/cache

# Version 2: one file added.
cp -a "$site" "$T/site2"
cp --sparse=always "$img" "$T/v2.img"
head -c 2000000 /dev/urandom >"$T/rand"
debugfs -w -R "write $T/rand /new-random.bin" "$T/v2.img" >/dev/null 2>&1
expect_status 0 hfc-mkimage -q --label v2 "$T/v2.img" "$T/site2"
changed=$(count_changed_blocks "$img" "$T/v2.img" 262144)
start_nginx "$site" OLD
start_nginx "$T/site2" NEW

# Version 1 through the cache, then version 2: only the changed blocks are fetched.
mount_hfc "$T/mnt" --cache "$cache" "$NGINX_URL_OLD"
cmp "$T/mnt/image" "$img" || fail "version 1 differs"
umount_hfc "$T/mnt"
mount_hfc "$T/mnt" --cache "$cache" "$NGINX_URL_NEW"
cmp "$T/mnt/image" "$T/v2.img" || fail "version 2 differs"
[ "$(hfc_stat "$T/mnt" version)" = 2 ] || fail ".stats version: $(hfc_stat "$T/mnt" version)"
misses=$(grep -c ' /blocks/' "$(nginx_log NEW)" || true)
[ "$misses" -le "$changed" ] || fail "version 2 fetched $misses block files, only $changed blocks changed"
note "update through the cache: $misses block files fetched for $changed changed blocks"
umount_hfc "$T/mnt"

# The out-of-date mirror is refused now, by both tools; nothing is mounted, nothing written.
expect_error '^hfc-mount: .*version 1 is older than version 2' timeout 60 hfc-mount -f --cache "$cache" "$NGINX_URL_OLD" "$T/mnt"
! is_mounted "$T/mnt" || fail "an older version was mounted"
expect_error '^hfc-get: .*version 1 is older than version 2' hfc-get -q --cache "$cache" "$NGINX_URL_OLD" "$T/out.img"
[ ! -e "$T/out.img" ] || fail "a refused hfc-get left $T/out.img"

# -v 1 is asked for, so it is fine.
expect_status 0 hfc-get -q --cache "$cache" -v 1 "$NGINX_URL_NEW" "$T/out.img"
cmp "$T/out.img" "$img" || fail "-v 1 through the cache differs"
rm -f "$T/out.img"
expect_status 0 hfc-get --cache "$cache" -v 1 --cat "$NGINX_URL_NEW" /doc/bash/copyright
cmp "$T/out" "$tree/doc/bash/copyright" || fail "-v 1 --cat through the cache"

# --allow-older accepts it once; the cache still remembers version 2, so the next plain run
# refuses the old mirror again (an allowed downgrade does not lower the protection).
mount_hfc "$T/mnt" --cache "$cache" --allow-older "$NGINX_URL_OLD"
cmp -n 16777216 "$T/mnt/image" "$img" || fail "--allow-older: version 1 differs"
umount_hfc "$T/mnt"
expect_error 'version 1 is older than version 2 seen before' hfc-get -q --cache "$cache" "$NGINX_URL_OLD" "$T/out.img"
expect_status 0 hfc-get -q --cache "$cache" --allow-older "$NGINX_URL_OLD" "$T/out.img"
cmp "$T/out.img" "$img" || fail "version 1 with --allow-older differs"
rm -f "$T/out.img"
