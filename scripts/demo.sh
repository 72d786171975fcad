#!/usr/bin/env bash
# The main job end to end on a small built-in example: a real ext2 image of this machine's
# /usr/share/doc, built into a site, listed, verified and extracted byte for byte.
# Usage: scripts/demo.sh BUILD_DIR   (run by `make demo`)
set -euo pipefail
build=$(cd "${1:?usage: demo.sh BUILD_DIR}" && pwd)
export PATH=$build:$PATH
work=${HFC_DEMO_DIR:-/var/tmp/hfc-demo}
rm -rf "$work" && mkdir -p "$work"
src=/usr/share/doc

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
echo
echo "demo done: the site is in $work/site"
