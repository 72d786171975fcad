#!/usr/bin/env bash
# bench-publish.sh — figures for hfc-publish: what a security update costs each mirror, and how
# long publishing to two mirrors at once takes, side by side with a plain `rsync -a` of the site
# (what a mirror admin would run instead, without the safe order or the check).
#
#   usage: bash bench/bench-publish.sh BUILD_DIR      (BUILD_DIR holds hfc-publish, hfc-mkimage)
#
# Environment:
#   HFC_BENCH_DIR   work directory (default /var/tmp/hfc-bench); the 1 GiB image is kept in
#                   $HFC_BENCH_DIR/publish and reused while its stamp matches.
#   HFC_BENCH_TREE  directories copied into the image (default as bench-mkimage.sh:
#                   "/usr/bin /usr/lib/gcc /usr/include /usr/share/i18n").
#
# What it does, on real servers on 127.0.0.1 started from site-templates/:
#   1. v1: a 1 GiB ext2 image (mke2fs -d of the tree), built into a site (256 KiB blocks);
#   2. mirror a: an rsync daemon (push module, with auth) served by nginx; mirror b: a local
#      directory served by nginx; hfc-publish v1 to both at once (parallel: 2);
#   3. v2: the image with ~1% of its non-zero blocks rewritten (new files of random bytes
#      written with debugfs), rebuilt into the site; hfc-publish v2 to both at once;
#   4. the same v1 -> v2 step with plain `rsync -a --stats SITE/ DEST/` to two other mirrors
#      (daemon and local) at once.
# It prints a table and writes $HFC_BENCH_DIR/publish-results.json. Exit 0 when every step ran.
set -euo pipefail

prog=bench-publish
[ $# -eq 1 ] || { echo "usage: bash bench/bench-publish.sh BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "$prog: $1: no such directory" >&2; exit 1; }
for t in hfc-publish hfc-mkimage; do
	[ -x "$BUILD/$t" ] || { echo "$prog: $BUILD/$t: not built (make)" >&2; exit 1; }
done
TOP=$(cd "$(dirname "$0")/.." && pwd)
W=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}
TREE=${HFC_BENCH_TREE:-/usr/bin /usr/lib/gcc /usr/include /usr/share/i18n}
mkdir -p "$W/publish"
chmod 755 "$W" "$W/publish"

# The test helpers start nginx and rsync daemons from the templates and tear them down.
export HFC_TEST_TMP=$W/publish/tmp HFC_TOP=$TOP PATH=$BUILD:$PATH
mkdir -p "$HFC_TEST_TMP"
chmod 755 "$HFC_TEST_TMP"
# shellcheck source=/dev/null
. "$TOP/tests/lib.sh"
# shellcheck source=/dev/null
. "$TOP/tests/http.sh"
# shellcheck source=/dev/null
. "$TOP/tests/publish-lib.sh"
say() { echo "$prog: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# 1. The v1 image, kept between runs.
img=$W/publish/v1.img
stamp="tree=$TREE size=1G"
if [ ! -s "$img" ] || [ "$(cat "$img.stamp" 2>/dev/null)" != "$stamp" ]; then
	say "making a 1 GiB ext2 image of $TREE"
	rm -rf "$W/publish/tree"
	mkdir -p "$W/publish/tree"
	for d in $TREE; do
		mkdir -p "$W/publish/tree$d"
		cp -a "$d/." "$W/publish/tree$d/"
	done
	E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -b 4096 -d "$W/publish/tree" "$img.tmp" 1G >/dev/null
	mv "$img.tmp" "$img"
	echo "$stamp" >"$img.stamp"
	rm -rf "$W/publish/tree"
fi
site=$T/site
say "building v1"
hfc-mkimage -q --label v1 "$img" "$site"
nonzero=$(site_blocks "$site" | wc -l)

# 2. Mirrors a (rsync daemon) and b (local path), served by nginx from the template.
mkdir -p "$T/wwwA/hfc" "$T/wwwB/hfc" "$T/plainA" "$T/plainB"
start_rsyncd "$T/wwwA/hfc"
pushA=$RSYNCD_PUSH passA=$RSYNCD_PASSFILE
start_nginx_site A "$T/wwwA" /hfc
start_nginx_site B "$T/wwwB" /hfc
cfg=$T/publish.yaml
write_publish_yaml "$cfg" "$site" a "$pushA" "$SITE_URL_A" "$passA" b "$T/wwwB/hfc" "$SITE_URL_B" -
say "publishing v1 to a and b at once"
hfc-publish -c "$cfg" --json >"$T/v1.json"
# The plain-rsync mirrors start from the same v1. (Local-only files are left out, as the
# daemon template insists.)
start_rsyncd "$T/plainA"
pushP=$RSYNCD_PUSH passP=$RSYNCD_PASSFILE
plain_rsync() { rsync -a --exclude=/.lock --exclude=/.hfc-build-cache --exclude='.*.tmp.*' "$@"; }
plain_rsync "$site/" "$T/plainB/"
plain_rsync --password-file="$passP" "$site/" "$pushP/"

# 3. v2: ~1% of the non-zero blocks rewritten with new bytes.
cp --sparse=always "$img" "$T/v2.img"
want=$(((nonzero + 50) / 100))
for k in 1 2 3 4; do
	head -c $((want * 262144 / 4)) /dev/urandom >"$T/update$k.bin"
	debugfs -w -R "write $T/update$k.bin /security-update-$k.bin" "$T/v2.img" >/dev/null 2>&1
done
say "building v2"
hfc-mkimage -q --label "security update" "$T/v2.img" "$site"
say "publishing v2 to a and b at once"
hfc-publish -c "$cfg" --json >"$T/v2.json"

# 4. The same update with plain rsync -a, to both at once.
say "plain rsync -a of v2 to two mirrors at once"
t0=$(now)
plain_rsync --stats --password-file="$passP" "$site/" "$pushP/" >"$T/plainA.stats" &
pa=$!
plain_rsync --stats "$site/" "$T/plainB/" >"$T/plainB.stats" &
pb=$!
wait $pa
wait $pb
plain=$(since "$t0")

python3 - "$T/v1.json" "$T/v2.json" "$T/plainA.stats" "$T/plainB.stats" "$plain" "$nonzero" \
	"$W/publish-results.json" <<'PY'
import json, re, sys
v1, v2 = (json.load(open(p)) for p in sys.argv[1:3])
def stats(p):
    t = open(p).read().replace(",", "")
    g = lambda k: int(re.search(k + r": (\d+)", t).group(1))
    return {"files_sent": g("Number of regular files transferred"),
            "bytes_sent": g("Total transferred file size"), "wire_bytes_sent": g("Total bytes sent")}
plain = [stats(sys.argv[3]), stats(sys.argv[4])]
plain_s, nonzero, out = float(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
mib = lambda b: b / 2**20
new_blocks = v2["mirrors"][0]["files_sent"] - 2
print("site v2: %d block files, %.1f MiB; %d files, %.1f MiB in all (what a mirror holds)"
      % (v2["blocks"], mib(v2["block_bytes"]), v2["site_files"], mib(v2["site_bytes"])))
print("v2 = v1 + %d new block files (%.2f%% of v1's %d non-zero blocks)"
      % (new_blocks, 100.0 * new_blocks / nonzero, nonzero))
print()
print("%-26s %8s %8s %11s %8s %11s %8s" % ("", "files", "of site", "bytes", "of site",
                                           "on wire", "seconds"))
rows = []
for tag, run in (("v1", v1), ("v2", v2)):
    for m in run["mirrors"]:
        kind = "rsync daemon" if m["name"] == "a" else "local path"
        name = "%s -> %s (%s)" % (tag, m["name"], kind)
        print("%-26s %8d %7.2f%% %7.1f MiB %7.2f%% %7.1f MiB %8.2f"
              % (name, m["files_sent"], 100.0 * m["files_sent"] / run["site_files"],
                 mib(m["bytes_sent"]), 100.0 * m["bytes_sent"] / run["site_bytes"],
                 mib(m["wire_bytes_sent"]), m["seconds"]))
        rows.append(dict(version=tag, mirror=m["name"], kind=kind, files_sent=m["files_sent"],
                         bytes_sent=m["bytes_sent"], wire_bytes_sent=m["wire_bytes_sent"],
                         rsync_seconds=m["rsync_seconds"], verify_seconds=m["verify_seconds"],
                         seconds=m["seconds"], site_files=run["site_files"],
                         site_bytes=run["site_bytes"]))
for name, p in (("v2 plain rsync -a -> daemon", plain[0]), ("v2 plain rsync -a -> local", plain[1])):
    print("%-26s %8d %7.2f%% %7.1f MiB %7.2f%% %7.1f MiB" % (
        name, p["files_sent"], 100.0 * p["files_sent"] / v2["site_files"], mib(p["bytes_sent"]),
        100.0 * p["bytes_sent"] / v2["site_bytes"], mib(p["wire_bytes_sent"])))
print()
print("publish v1 to 2 mirrors at once (push + HTTP check): %.2f s" % v1["seconds"])
print("publish v2 to 2 mirrors at once (push + HTTP check): %.2f s" % v2["seconds"])
print("plain rsync -a of v2 to 2 mirrors at once (no order, no check): %.2f s  (hfc-publish / plain: %.2fx)"
      % (plain_s, v2["seconds"] / plain_s if plain_s else 0))
json.dump(dict(rows=rows, new_blocks=new_blocks, nonzero_blocks=nonzero,
               publish_v1_seconds=v1["seconds"], publish_v2_seconds=v2["seconds"],
               plain_rsync_v2_seconds=plain_s, plain_rsync=plain), open(out, "w"), indent=1)
PY
say "figures written to $W/publish-results.json"
