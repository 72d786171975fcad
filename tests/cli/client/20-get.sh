# hfc-get without FUSE: rebuilds the exact image from http://, file:// and a plain directory, to
# a file and to stdout; older versions with -v; --ls (-l) and --cat read the ext2 inside the
# remote image and agree with the source tree; bad input gets one error line and no output file.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
img=$(fixture_image)
site=$(fixture_site)
tree=$HFC_TEST_TMP/tree

start_nginx "$site" A
url=$NGINX_URL_A

elapsed_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

# To a file over HTTP, with the JSON summary.
start=$(date +%s.%N)
expect_status 0 hfc-get --json "$url" "$T/get.img"
secs=$(elapsed_since "$start")
cmp "$T/get.img" "$img" || fail "hfc-get over HTTP differs from the image"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert isinstance(d, dict) and d' "$T/out" ||
	fail "--json did not print one JSON object: $(head -c 300 "$T/out")"
note "hfc-get over HTTP: $secs s for $(($(stat -c %s "$img") >> 20)) MiB"
rm -f "$T/get.img"

# To stdout, quietly.
expect_status 0 hfc-get -q --connections 3 "$url" -
cmp "$T/out" "$img" || fail "hfc-get to stdout differs from the image"
[ ! -s "$T/err" ] || fail "-q printed on stderr: $(head -3 "$T/err")"
rm -f "$T/out"

# file:// and a plain directory.
expect_status 0 hfc-get -q "file://$site" "$T/file.img"
cmp "$T/file.img" "$img" || fail "hfc-get file:// differs from the image"
rm -f "$T/file.img"
expect_status 0 hfc-get -q "$site" "$T/dir.img"
cmp "$T/dir.img" "$img" || fail "hfc-get of a plain directory differs from the image"
rm -f "$T/dir.img"

# --ls: names, sorted by bytes, no . and ..; compared with the tree.
deep=$(cd "$tree" && find . -mindepth 3 -type d | LC_ALL=C sort | sed -n 1p | cut -c2-)
for d in / /doc /man/man1 /perl5 "$deep"; do
	expect_status 0 hfc-get --ls "$url" "$d"
	if [ "$d" = / ]; then
		(cd "$tree" && { ls -A; echo lost+found; } | LC_ALL=C sort) >"$T/want"
	else
		(cd "$tree$d" && LC_ALL=C ls -A) >"$T/want"
	fi
	diff "$T/want" "$T/out" >"$T/diff" || { head -20 "$T/diff" >&2; fail "--ls $d differs from the tree"; }
done

# --ls -l: mode, uid, gid, size, mtime (UTC), name and symlink target, as the tree has them
# (the link count, field 2, depends on the file system the tree lives on).
long_want() {
	python3 - "$1" <<'PY'
import os, stat, sys, time
d = sys.argv[1]
for name in sorted(os.listdir(d), key=os.fsencode):
    p = os.path.join(d, name)
    st = os.lstat(p)
    line = "%s 0 %d %d %d %s %s" % (stat.filemode(st.st_mode), st.st_uid, st.st_gid, st.st_size,
                                    time.strftime("%Y-%m-%d %H:%M", time.gmtime(st.st_mtime)), name)
    if stat.S_ISLNK(st.st_mode):
        line += " -> " + os.readlink(p)
    print(line)
PY
}
for d in /doc /man/man1 "$deep"; do
	expect_status 0 hfc-get --ls -l "$url" "$d"
	long_want "$tree$d" | awk '{ $2 = ""; print }' >"$T/want"
	awk '{ $2 = ""; print }' "$T/out" >"$T/got"
	diff "$T/want" "$T/got" >"$T/diff" || { head -20 "$T/diff" >&2; fail "--ls -l $d differs from the tree"; }
done
note "--ls of 5 directories and --ls -l of 3 agree with the tree ($(wc -l <"$T/out") entries in $deep)"

# --cat: the biggest file, small ones, one deep down, one through a relative symlink.
big=$(cd "$tree" && find . -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2- | cut -c2-)
mapfile -t small < <(cd "$tree" && find . -type f -size -2k | LC_ALL=C sort | sed -n '1p;500p' | cut -c2-)
deepf=$(cd "$tree" && find . -mindepth 4 -type f | LC_ALL=C sort | sed -n 1p | cut -c2-)
link=$(cd "$tree" && find . -type l -lname '[!/]*' -xtype f | LC_ALL=C sort | sed -n 1p | cut -c2-)
[ -n "$big" ] && [ -n "$deepf" ] && [ -n "$link" ] || fail "the tree lacks a file kind this test needs"
for f in "$big" "${small[@]}" "$deepf" "$link" /doc/bash/copyright; do
	[ -f "$tree$f" ] || continue
	expect_status 0 hfc-get --cat "$url" "$f"
	cmp "$T/out" "$tree$f" || fail "--cat $f differs from the tree"
done
note "--cat of $big ($(stat -c %s "$tree$big") bytes) and 5 more files agree with the tree"

# Errors: one line, exit 1; usage errors exit 2.
expect_error '^hfc-get: .*No such file or directory' hfc-get --cat "$url" /doc/no-such-file
expect_error '^hfc-get: .*Is a directory' hfc-get --cat "$url" /doc
expect_error '^hfc-get: .*No such file or directory' hfc-get --ls "$url" /no/such/dir
expect_status 2 hfc-get
expect_status 2 hfc-get "$url"
expect_status 2 hfc-get --connections 0 "$url" "$T/x.img"
[ ! -e "$T/x.img" ] || fail "a usage error left $T/x.img"
mkdir "$T/empty"
start_nginx "$T/empty" E
expect_error '^hfc-get: .*index\.idx' hfc-get -q "$NGINX_URL_E" "$T/x.img"
[ ! -e "$T/x.img" ] || fail "a failed hfc-get left $T/x.img"
stop_nginx E
expect_error '^hfc-get: ' hfc-get -q "$NGINX_URL_E" "$T/x.img"
[ ! -e "$T/x.img" ] || fail "a failed hfc-get left $T/x.img"
expect_error '^hfc-get: ' hfc-get -q "$T/no-such-site" "$T/x.img"

# Versions: a second version adds a file and removes one; -v 1 still gives the first image.
cp -a "$site" "$T/site2"
cp --sparse=always "$img" "$T/v2.img"
head -c 3000000 /dev/urandom >"$T/rand"
debugfs -w -R "write $T/rand /new-random.bin" "$T/v2.img" >/dev/null 2>&1
debugfs -w -R "rm /doc/bash/copyright" "$T/v2.img" >/dev/null 2>&1
e2fsck -fn "$T/v2.img" >/dev/null 2>&1 || fail "debugfs left an unclean image"
expect_status 0 hfc-mkimage -q --label v2 "$T/v2.img" "$T/site2"
start_nginx "$T/site2" B
url2=$NGINX_URL_B
expect_status 0 hfc-get -q "$url2" "$T/get2.img"
cmp "$T/get2.img" "$T/v2.img" || fail "version 2 differs"
rm -f "$T/get2.img"
expect_status 0 hfc-get -q -v 1 "$url2" "$T/get1.img"
cmp "$T/get1.img" "$img" || fail "-v 1 differs from the first image"
rm -f "$T/get1.img"
expect_status 0 hfc-get --cat "$url2" /new-random.bin
cmp "$T/out" "$T/rand" || fail "--cat of a file new in version 2"
expect_error 'No such file or directory' hfc-get --cat "$url2" /doc/bash/copyright
expect_status 0 hfc-get -v 1 --cat "$url2" /doc/bash/copyright
cmp "$T/out" "$tree/doc/bash/copyright" || fail "-v 1 --cat of a file removed in version 2"
expect_status 0 hfc-get -v 1 --ls "$url2" /
grep -qx new-random.bin "$T/out" && fail "-v 1 --ls / shows a file of version 2"
expect_error '^hfc-get: .*(3|000003)' hfc-get -q -v 3 "$url2" "$T/x.img"
[ ! -e "$T/x.img" ] || fail "a failed hfc-get -v 3 left $T/x.img"

# hfc-mount -v 1 shows the first image.
mount_hfc "$T/mnt" -v 1 "$url2"
cmp "$T/mnt/image" "$img" || fail "hfc-mount -v 1 differs from the first image"
umount_hfc "$T/mnt"
