# A truncated or damaged index.idx: hfc-mount (foreground or daemon) refuses with one error line
# naming index.idx and a line number, exit 1, and nothing is mounted; hfc-get refuses the same
# way and leaves no output file. A site with no index at all and a dead server are refused too.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
site=$(fixture_site)

cp -a "$site" "$T/a"
idx=$T/a/index.idx
cp "$idx" "$T/good.idx"
start_nginx "$T/a" A
url=$NGINX_URL_A
mnt=$T/mnt
mkdir "$mnt"

refused() { # refused WHAT: every client entry point rejects the index now served
	local what=$1 pat='index\.idx:[0-9]+'
	expect_error "^hfc-mount: .*$pat" timeout 60 hfc-mount -f "$url" "$mnt"
	! is_mounted "$mnt" || fail "$what: something is mounted on $mnt after hfc-mount -f failed"
	expect_error "^hfc-mount: .*$pat" timeout 60 hfc-mount "$url" "$mnt"
	! is_mounted "$mnt" || fail "$what: something is mounted on $mnt after hfc-mount failed"
	expect_error "^hfc-get: .*$pat" hfc-get -q "$url" "$T/out.img"
	[ ! -e "$T/out.img" ] || fail "$what: hfc-get left $T/out.img"
	expect_error "^hfc-get: .*$pat" hfc-get --ls "$url" /
	expect_error "^hfc-get: .*$pat" hfc-get -q "$T/a" "$T/out.img"
	[ ! -e "$T/out.img" ] || fail "$what: hfc-get of the directory left $T/out.img"
	[ -z "$(ls -A "$mnt")" ] || fail "$what: $mnt is not empty"
}

# Cut in the middle of a block line (no final LF).
head -c $(($(stat -c %s "$T/good.idx") * 2 / 3)) "$T/good.idx" >"$idx"
refused "cut mid-line"
note "cut mid-line: $(cat "$T/err")"

# Cut at a line boundary: block lines and the end line missing.
head -n 500 "$T/good.idx" >"$idx"
refused "cut at a line"
note "cut at a line: $(cat "$T/err")"

# Only the header (up to and with the blocks line).
head -n "$(grep -n '^blocks ' "$T/good.idx" | cut -d: -f1)" "$T/good.idx" >"$idx"
refused "header only"

# One block name changed: the end line's checksum no longer matches.
line=$(awk '/^blocks / { on = 1; next } on && $1 != "-" { print NR; exit }' "$T/good.idx")
awk -v l="$line" 'NR == l { $1 = substr($1, 1, 31) (substr($1, 32, 1) == "0" ? "1" : "0") } { print }' "$T/good.idx" >"$idx"
cmp -s "$idx" "$T/good.idx" && fail "the index was not changed"
refused "changed block name"

# No index at all: a 404 is one error line too, and nothing is mounted.
rm "$idx"
expect_error '^hfc-mount: .*index\.idx' timeout 60 hfc-mount -f "$url" "$mnt"
! is_mounted "$mnt" || fail "mounted a site without an index"
expect_error '^hfc-get: .*index\.idx' hfc-get -q "$url" "$T/out.img"
[ ! -e "$T/out.img" ] || fail "hfc-get of a site without an index left $T/out.img"

# A dead server.
cp "$T/good.idx" "$idx"
stop_nginx A
expect_error '^hfc-mount: ' timeout 60 hfc-mount -f --timeout 2000 --retries 1 "$url" "$mnt"
! is_mounted "$mnt" || fail "mounted from a dead server"

# The good index mounts again (the mount point was left usable).
restart_nginx A
mount_hfc "$mnt" "$url"
cmp -n 1048576 "$mnt/image" "$(fixture_image)" || fail "the first MiB differs after the index was repaired"
umount_hfc "$mnt"
