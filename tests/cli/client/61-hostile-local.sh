# Hostile local files: symbolic links planted in the cache (a fan-out directory, indexes/,
# blocks/ itself), a --trace path and an OUT that are links. The cache is refused with one line
# (exit 1) and nothing is written, truncated or deleted outside it; OUT is replaced, never
# written through, and a link to a device is refused. The cache is the user's alone (0700
# directories, 0600 files, unreadable to others), and the indexes it keeps count in its size.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/hostile.sh"

small_site "$T/site" 2
site=$T/site
url=file://$site

# The victim: files the test owns outside every cache. Its listing and bytes must not change.
mkdir -p "$T/victim/sub"
printf 'precious\n' >"$T/victim/file"
printf 'keep\n' >"$T/victim/sub/canary"
victim_state() { (cd "$T/victim" && find . -printf '%p %s %y\n' | LC_ALL=C sort && cat file sub/canary); }
victim_state >"$T/victim.before"
victim_intact() {
	victim_state | cmp -s - "$T/victim.before" || {
		victim_state | diff "$T/victim.before" - >&2 || true
		fail "$1: something was written, truncated or removed outside the cache"
	}
}

# refused WHAT PATTERN CMD...: one line matching PATTERN, exit 1, the victim intact.
refused() {
	local what=$1 pat=$2
	shift 2
	expect_error "$pat" "$@"
	victim_intact "$what"
	note "$what: $(cat "$T/err")"
}

# 1. A cache made by a run, then a fan-out directory of a block the image has replaced by a link
# to the victim: hfc-get and hfc-mount refuse the cache, naming the link.
cache=$T/cache
expect_status 0 hfc-get -q --cache "$cache" "$url" "$T/a.img"
cmp "$T/a.img" "$site.img" || fail "the image through a fresh cache differs"
name=$(awk '/^blocks / { on = 1; next } on && $1 != "-" { print $1; exit }' "$site/index.idx")
fan=${name:0:2}
rm -rf "${cache:?}/blocks/$fan"
ln -s "$T/victim" "$cache/blocks/$fan"
pat="$cache/blocks/$fan: a symbolic link in the cache, which makes none: refused"
refused "fan-out link" "^hfc-get: $pat" hfc-get -q --cache "$cache" "$url" "$T/b.img"
[ ! -e "$T/b.img" ] || fail "a refused hfc-get left its output"
mkdir -p "$T/mnt"
refused "fan-out link" "^hfc-mount: $pat" timeout 60 hfc-mount -f --cache "$cache" "$url" "$T/mnt"
! is_mounted "$T/mnt" || fail "mounted with a tampered cache"
# The same link in a cache never used before (only the link there): refused as well.
mkdir -p "$T/fresh/blocks"
ln -s "$T/victim" "$T/fresh/blocks/$fan"
refused "fan-out link, fresh cache" "^hfc-get: $T/fresh/blocks/$fan: a symbolic link" \
	hfc-get -q --cache "$T/fresh" "$url" "$T/b.img"
rm "$cache/blocks/$fan"

# 2. A link in indexes/ (where the newest version seen is kept), and indexes/ or blocks/
# themselves links.
ln -s "$T/victim/file" "$cache/indexes/index.idx.new"
mv -T "$cache/indexes/index.idx.new" "$cache/indexes/index.idx"
refused "indexes/ link" "^hfc-get: $cache/indexes/index.idx: a symbolic link in the cache" \
	hfc-get -q --cache "$cache" "$url" "$T/b.img"
rm "$cache/indexes/index.idx"
mv "$cache/indexes" "$cache/indexes.real"
ln -s "$T/victim" "$cache/indexes"
refused "indexes link" "^hfc-get: $cache/indexes: not a directory \(a symbolic link\?\): refused" \
	hfc-get -q --cache "$cache" "$url" "$T/b.img"
rm "$cache/indexes"
mv "$cache/indexes.real" "$cache/indexes"
mv "$cache/blocks" "$cache/blocks.real"
ln -s "$T/victim" "$cache/blocks"
refused "blocks link" "^hfc-get: $cache/blocks: not a directory \(a symbolic link\?\): refused" \
	hfc-get -q --cache "$cache" "$url" "$T/b.img"
rm "$cache/blocks"
mv "$cache/blocks.real" "$cache/blocks"
expect_status 0 hfc-get -q --cache "$cache" "$url" "$T/b.img"
cmp "$T/b.img" "$site.img" || fail "the image through the repaired cache differs"
rm -f "$T/b.img"

# 3. The cache is the user's alone: directories 0700, files 0600; another user reads nothing
# of it, though every directory above it lets them through.
bad=$(find "$cache" -mindepth 0 \( -type d ! -perm 0700 -o -type f ! -perm 0600 \) -printf '%m %p\n')
[ -z "$bad" ] || fail "cache entries open to others: $bad"
chmod 0755 "$T"
f=$(find "$cache/blocks" -type f | head -1)
[ -n "$f" ] || fail "no block file in the cache"
if as_nobody cat "$f" >/dev/null 2>&1; then fail "another user read the cached block $f"; fi
# An older cache, made open to all, is narrowed when opened: what holds its bytes, not the
# directory named (which may be a home directory).
chmod -R go+rX "$cache"
expect_status 0 hfc-get -q --cache "$cache" "$url" "$T/c.img"
rm -f "$T/c.img"
for d in blocks indexes; do
	[ "$(stat -c %a "$cache/$d")" = 700 ] || fail "$d/ of the older cache is $(stat -c %a "$cache/$d")"
done
[ "$(stat -c %a "$cache")" = 755 ] || fail "the directory named was changed to $(stat -c %a "$cache")"
if as_nobody cat "$f" >/dev/null 2>&1; then fail "another user read $f of an older cache"; fi
note "cache modes: $(stat -c '%a %n' "$cache" "$cache/blocks" "$f" | tr '\n' ' ')"

# 4. The indexes kept count in the cache's size: .stats cache_bytes is the block files and
# indexes/ together, as the files in the cache add up.
start_nginx "$site" A
mount_hfc "$T/mnt" --cache "$cache" "$NGINX_URL_A"
cmp "$T/mnt/image" "$site.img" || fail "the mounted image differs"
want=$(find "$cache/blocks" "$cache/indexes" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
got=$(hfc_stat "$T/mnt" cache_bytes)
[ "$got" = "$want" ] || fail "cache_bytes $got, but the block files and indexes take $want bytes"
umount_hfc "$T/mnt"

# 5. --trace through a link: refused, the file it points to keeps its bytes.
ln -s "$T/victim/file" "$T/trace.link"
refused "trace link" "^hfc-mount: $T/trace.link: a symbolic link: refused" \
	timeout 60 hfc-mount -f --trace "$T/trace.link" "$url" "$T/mnt"
! is_mounted "$T/mnt" || fail "mounted with a trace link"

# 6. OUT a link to a file the test owns: the link is replaced by the image, the file untouched.
ln -s "$T/victim/file" "$T/out.img"
expect_status 0 hfc-get -q "$url" "$T/out.img"
[ -f "$T/out.img" ] && [ ! -L "$T/out.img" ] || fail "OUT is still a link, or no file"
cmp "$T/out.img" "$site.img" || fail "the image written in place of the link differs"
victim_intact "OUT link to a file"
# A link to a device is refused (name the device); the device named itself is written.
ln -s /dev/null "$T/null.link"
refused "OUT link to a device" "^hfc-get: $T/null.link: a symbolic link to a device" \
	hfc-get -q "$url" "$T/null.link"
[ -L "$T/null.link" ] || fail "the link to a device was replaced"
expect_status 0 hfc-get -q "$url" /dev/null
[ -c /dev/null ] || fail "/dev/null is no longer a device"
