#!/usr/bin/env bash
# The main job end to end on a small built-in example: a real ext2 image of this machine's
# /usr/share/doc is built into a site, updated, listed, verified and extracted byte for byte,
# then served by nginx and mounted over HTTP with hfc-mount; its files are shown and compared.
# Usage: scripts/demo.sh BUILD_DIR   (run by `make demo`)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: demo.sh BUILD_DIR}" && pwd)
export PATH=$build:$PATH
work=${HFC_DEMO_DIR:-/var/tmp/hfc-demo}
rm -rf "$work" && mkdir -p "$work"
chmod 755 "$work"
src=/usr/share/doc
# The test helpers start nginx and mounts and tear them all down when the demo ends.
export HFC_TEST_TMP=$work SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)}
. "$top/tests/lib.sh"
. "$top/tests/http.sh"
set +e +o pipefail
set -u

step() { printf '\n== %s\n' "$*"; }

step "making a 256 MiB ext2 image of $src with mke2fs -d"
mke2fs -q -F -t ext2 -b 4096 -d "$src" "$work/demo.img" 256M >/dev/null
ls -l "$work/demo.img"

step "hfc-mkimage: image -> site (version 1)"
hfc-mkimage --label "demo v1" "$work/demo.img" "$work/site"

step "an update: one new file written into a copy of the image"
cp --sparse=always "$work/demo.img" "$work/demo2.img"
seq 1 100000 >"$work/update.txt"
debugfs -w -R "write $work/update.txt /UPDATE.txt" "$work/demo2.img" >/dev/null 2>&1
hfc-mkimage --label "demo v2" "$work/demo2.img" "$work/site"

step "hfc-index list / show"
hfc-index list "$work/site"
hfc-index show "$work/site"

step "hfc-index verify"
hfc-index verify "$work/site"

step "hfc-index extract (version 1 and the current one), compared with the images"
hfc-index extract -v 1 "$work/site" "$work/v1.out"
cmp "$work/demo.img" "$work/v1.out" && echo "version 1 is byte-identical to demo.img"
hfc-index extract "$work/site" "$work/v2.out"
cmp "$work/demo2.img" "$work/v2.out" && echo "version 2 is byte-identical to demo2.img"

step "site layout"
du -sh "$work/site" "$work/demo.img"
ls "$work/site" "$work/site/indexes"

step "serving the site with nginx on 127.0.0.1"
start_nginx "$work/site" >/dev/null
echo "$NGINX_URL"
curl -sI "$NGINX_URL/index.idx" | head -1

step "hfc-get --ls / --cat: files out of the remote image, no mount"
hfc-get --ls "$NGINX_URL" / | head -5
hfc-get --cat "$NGINX_URL" /UPDATE.txt | tail -2

step "hfc-mount: the image over HTTP, loop-mounted read-only"
mkdir -p "$work/mnt" "$work/root"
mount_hfc "$work/mnt" "$NGINX_URL"
ls -l "$work/mnt"
loop_mount "$work/mnt/image" "$work/root"
ls "$work/root" | head -8
diff -r "$src/bash" "$work/root/bash" && echo "bash's docs over HTTP are identical to $src/bash"
tar cf - -C "$work/root" . | wc -c | awk '{printf "read the whole tree through the mount: %d bytes\n", $1}'
grep -E '^(reads|hits|misses|readahead_hits|bytes_fetched|errors|mirror):' "$work/mnt/.stats"
loop_umount "$work/root"
umount_hfc "$work/mnt"
echo
echo "demo done: the site is in $work/site (nginx and the mounts were stopped)"
