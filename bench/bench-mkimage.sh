#!/usr/bin/env bash
# bench-mkimage.sh — build benchmark for hfc-mkimage, side by side with the tools a
# release engineer would pick instead: `casync make` (Debian's casync) and
# `create_compressed_fs` (Debian's cloop-utils).
#
#   usage: bash bench/bench-mkimage.sh BUILD_DIR      (BUILD_DIR holds hfc-mkimage)
#
# Environment:
#   HFC_BENCH_DIR    work directory (default /var/tmp/hfc-bench). The 1 GiB test image
#                    is kept there and reused while its stamp matches; everything else
#                    is rebuilt on every run under $HFC_BENCH_DIR/run.
#   HFC_BENCH_CACHE  page-cache policy, applied equally before every timed command:
#                      warm (default): sync, then the input image is read once into the
#                                      page cache (measures the tools, not the disk);
#                      cold:           sync; echo 3 > /proc/sys/vm/drop_caches (root).
#   HFC_BENCH_TREE   the directories copied into the image, space-separated (default
#                    "/usr/bin /usr/lib/gcc /usr/include /usr/share/i18n", ~709 MiB here).
#   HFC_BENCH_KEEP=1 keep the sites and the casync store under $HFC_BENCH_DIR/run
#                    (default: only logs and results.kv are kept).
#
# What it measures (all wall-clock, one run, same machine, same input):
#   1. full build of a real 1 GiB ext2 image (mke2fs -d of directories of this machine):
#        hfc-mkimage --quiet IMAGE SITE
#        casync make --store=STORE IDX.caibx IMAGE
#        create_compressed_fs -B 262144 IMAGE OUT.cloop          (its defaults: all cores, -L 9)
#        create_compressed_fs -t 1 -L 6 -B 262144 IMAGE OUT.cloop (1 thread, zlib level 6; info)
#   2. sizes: site (block files + indexes, apparent bytes), casync store, cloop file;
#   3. incremental: ~1% of the image's 256 KiB blocks changed through debugfs (new files
#      of random data, a few files removed), rebuilt into the existing site / store;
#   4. peak RSS of hfc-mkimage on a 6 GiB sparse image (/usr/bin/time -v).
# It ends with one table (ratios, targets, PASS/MISS) and writes the same figures to
# $HFC_BENCH_DIR/mkimage-results.json. The exit status is 0 when every step ran, whatever
# the figures are (a benchmark, not a test); 1 when a step failed.

set -euo pipefail

prog=bench-mkimage
die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: bash bench/bench-mkimage.sh BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
HFC=$BUILD/hfc-mkimage
[ -x "$HFC" ] || die "$HFC: not found or not executable (build it first: make)"

W=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}
CACHE=${HFC_BENCH_CACHE:-warm}
case $CACHE in warm|cold) ;; *) die "HFC_BENCH_CACHE must be warm or cold, not '$CACHE'" ;; esac
[ "$(id -u)" = 0 ] || [ "$CACHE" = warm ] || die "HFC_BENCH_CACHE=cold needs root (drop_caches)"

# ---------------------------------------------------------------- tools
PATH=$PATH:/usr/sbin:/sbin
need=()
command -v casync >/dev/null || need+=(casync)
command -v create_compressed_fs >/dev/null || need+=(cloop-utils)
[ -x /usr/bin/time ] || need+=(time)
command -v mke2fs >/dev/null && command -v debugfs >/dev/null || need+=(e2fsprogs)
command -v rsync >/dev/null || need+=(rsync)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${need[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; } ||
        die "cannot install ${need[*]}"
fi
command -v python3 >/dev/null || die "python3 is needed"

CORES=$(nproc)
IMG_BYTES=$((1024 * 1024 * 1024))
BS=262144

mkdir -p "$W/image"
IMG=$W/image/base.img
STAMP=$W/image/base.stamp
TREEDESC=$W/image/base.tree
RMLIST=$W/image/base.rmlist

# ---------------------------------------------------------------- 1. the image
# The tree: a fixed list of directories of this Debian 12 machine, ~709 MiB (~745 MB)
# apparent: ELF executables (/usr/bin), gcc 12's cc1/cc1plus/lto1 and libraries
# (/usr/lib/gcc), C/C++ headers (/usr/include, text) and glibc's locale sources
# (/usr/share/i18n, text). A fixed list, not a size-driven pick, so that installing a
# package does not change which directories the image holds. The stamp is keyed on the
# list and the mke2fs version; delete $HFC_BENCH_DIR/image to rebuild from today's files.
read -r -a TREE_DIRS <<<"${HFC_BENCH_TREE:-/usr/bin /usr/lib/gcc /usr/include /usr/share/i18n}"
chosen=() total=0 keyinfo="hfc-bench-image 2|$(mke2fs -V 2>&1 | sed -n 1p)"
for d in "${TREE_DIRS[@]}"; do
    if [ ! -d "$d" ] || [ -L "$d" ]; then say "skipping $d: not a directory"; continue; fi
    sz=$(du -sb --apparent-size "$d" 2>/dev/null | cut -f1) || true
    chosen+=("$d"); total=$((total + ${sz:-0}))
    keyinfo+="|$d"
done
# mke2fs -d must fit it into 1 GiB with 4 KiB blocks, inode tables and small-file slack
if [ $total -lt $((400 << 20)) ] || [ $total -gt $((850 << 20)) ]; then
    die "the tree (${chosen[*]}) is $((total >> 20)) MiB; it must be 400-850 MiB (set HFC_BENCH_TREE)"
fi
KEY=$(printf '%s' "$keyinfo" | sha256sum | cut -d' ' -f1)

image_valid() {
    [ -f "$IMG" ] && [ -f "$STAMP" ] && [ -s "$RMLIST" ] && [ -f "$TREEDESC" ] &&
    [ "$(stat -c %s "$IMG")" = "$IMG_BYTES" ] && [ "$(cat "$STAMP")" = "$KEY" ] &&
    dumpe2fs -h "$IMG" >/dev/null 2>&1
}

if image_valid; then
    say "reusing $IMG (stamp $KEY)"
else
    rm -f "$IMG" "$IMG.tmp" "$STAMP" "$RMLIST" "$TREEDESC"
    stage=$W/image/stage
    rm -rf "$stage"; mkdir -p "$stage"
    say "staging ${chosen[*]} ($((total >> 20)) MiB) in $stage"
    rc=0
    rsync -aHR --ignore-errors "${chosen[@]}" "$stage/" 2>"$W/image/rsync.log" || rc=$?
    # 23/24: some files unreadable or vanished -- skipped, the rest is staged
    case $rc in 0|23|24) ;; *) cat "$W/image/rsync.log" >&2; die "rsync failed ($rc)" ;; esac
    staged=$(du -sb --apparent-size "$stage" | cut -f1)
    # files the incremental step removes: the first 6 regular headers, in sorted order
    (cd "$stage" && find usr/include -maxdepth 1 -type f -name '*.h' 2>/dev/null | LC_ALL=C sort |
        awk 'NR <= 6 {print "/" $0}') >"$RMLIST.tmp" || true
    [ -s "$RMLIST.tmp" ] ||
        (cd "$stage" && find . -type f -size +8k | LC_ALL=C sort | awk 'NR <= 6 {print substr($0, 2)}') >"$RMLIST.tmp"
    say "mke2fs -q -t ext2 -b 4096 -d $stage $IMG 1G"
    E2FSPROGS_FAKE_TIME=1700000000 SOURCE_DATE_EPOCH=1700000000 \
        mke2fs -q -F -t ext2 -b 4096 -L hfc-bench -U 5f1c2a3e-8d4b-4c6f-9a0e-1b2c3d4e5f60 \
               -E hash_seed=0d9c1f2e-3a4b-4c5d-8e6f-708192a3b4c5 \
               -d "$stage" "$IMG.tmp" 1G >"$W/image/mke2fs.log" 2>&1 ||
        { cat "$W/image/mke2fs.log" >&2; die "mke2fs -d failed"; }
    rm -rf "$stage"
    mv "$RMLIST.tmp" "$RMLIST"
    echo "${chosen[*]} ($((staged >> 20)) MiB)" >"$TREEDESC"
    mv "$IMG.tmp" "$IMG"
    echo "$KEY" >"$STAMP"
fi
TREE=$(cat "$TREEDESC")
say "image: $IMG, tree: $TREE"

# ---------------------------------------------------------------- helpers
R=$W/run
rm -rf "$R"; mkdir -p "$R"
KV=$R/results.kv
: >"$KV"
put() { printf '%s=%s\n' "$1" "$2" >>"$KV"; }

prepare_cache() {   # $1: the input file of the next command
    sync
    if [ "$CACHE" = cold ]; then
        echo 3 >/proc/sys/vm/drop_caches
    else
        cat "$1" >/dev/null
    fi
}

# timed NAME INPUT cmd...: runs cmd (output to $R/NAME.log), stores wall seconds in T
# (date +%s.%N around the command) and its CPU use (GNU time: user+sys s, %CPU)
timed() {
    local name=$1 input=$2; shift 2
    prepare_cache "$input"
    local s e rc=0
    s=$(date +%s.%N)
    /usr/bin/time -o "$R/$name.time" -f '%U %S %P' "$@" >"$R/$name.log" 2>&1 || rc=$?
    e=$(date +%s.%N)
    if [ $rc -ne 0 ]; then
        tail -20 "$R/$name.log" >&2
        die "$name: '$*' failed with status $rc (log: $R/$name.log)"
    fi
    T=$(python3 -c "print(f'{$e - $s:.3f}')")
    put "$name" "$T"
    local u sy pc
    read -r u sy pc <"$R/$name.time"
    put "${name}_cpu_seconds" "$(python3 -c "print(f'{$u + $sy:.2f}')")"
    put "${name}_cpu_percent" "${pc%\%}"
    say "$(printf '%-12s %8s s  (cpu %5s)  %s' "$name" "$T" "$pc" "$*")"
}

files_bytes() {   # apparent bytes of the regular files under the given paths
    find "$@" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'
}
files_count() { find "$@" -type f 2>/dev/null | wc -l; }

site_check() {    # SITE VERSION: the build published that version
    [ -f "$1/index.idx" ] || die "$1/index.idx missing after hfc-mkimage"
    grep -qx "version $2" "$1/index.idx" || die "$1/index.idx is not version $2"
}

put tree "$TREE"
put cores "$CORES"
put cache "$CACHE"
put image_bytes "$IMG_BYTES"
put loadavg_at_start "$(cut -d' ' -f1 /proc/loadavg)"

# ---------------------------------------------------------------- 2. full builds
SITE=$R/site STORE=$R/casync.castr CLOOP=$R/image.cloop CLOOP1=$R/image-t1-L6.cloop
mkdir -p "$SITE"
timed hfc_full "$IMG" "$HFC" --quiet "$IMG" "$SITE"
site_check "$SITE" 1
timed casync_full "$IMG" casync make --store="$STORE" "$R/v1.caibx" "$IMG"
timed cloop_full "$IMG" create_compressed_fs -B $BS "$IMG" "$CLOOP"
# 1 thread, zlib level 6. cloop-utils 3.14 spells threads -t (it ignores -j silently)
cchelp=$(create_compressed_fs -h 2>&1 || true)
if grep -q -- '^ *-t ' <<<"$cchelp"; then th=-t; else th=-j; fi
timed cloop_t1_l6 "$IMG" create_compressed_fs $th 1 -L 6 -B $BS "$IMG" "$CLOOP1"
cloop_threads=$(sed -n 's/^\([0-9][0-9]*\) processor core(s) detected.*/\1/p' "$R/cloop_full.log" | head -1)
put cloop_threads "${cloop_threads:-$CORES}"

put site_bytes "$(files_bytes "$SITE/blocks" "$SITE/indexes" "$SITE/index.idx")"
put site_block_files "$(files_count "$SITE/blocks")"
put casync_store_bytes "$(files_bytes "$STORE" "$R/v1.caibx")"
put cloop_bytes "$(stat -c %s "$CLOOP")"
put cloop_t1_l6_bytes "$(stat -c %s "$CLOOP1")"
rm -f "$CLOOP" "$CLOOP1"

# ---------------------------------------------------------------- 3. incremental
NEW=$R/new.img
cp --sparse=always "$IMG" "$NEW"
# ~8.5 MiB of new files (deterministic pseudo-random data, incompressible) plus 6
# removed files: about 1% of the 4096 blocks of 256 KiB, counted below.
python3 - "$R" <<'EOF'
import random, sys
r = random.Random(20261127)
for name, mib in (("update-1.bin", 4), ("update-2.bin", 3), ("update-3.bin", 1.5)):
    with open(f"{sys.argv[1]}/{name}", "wb") as f:
        f.write(r.randbytes(int(mib * 1024 * 1024)))
EOF
{
    echo "mkdir /hfc-update"
    for f in update-1.bin update-2.bin update-3.bin; do echo "write $R/$f /hfc-update/$f"; done
    while read -r f; do echo "rm $f"; done <"$RMLIST"
} >"$R/debugfs.cmds"
E2FSPROGS_FAKE_TIME=1700086400 debugfs -w -f "$R/debugfs.cmds" "$NEW" >"$R/debugfs.log" 2>&1 ||
    { cat "$R/debugfs.log" >&2; die "debugfs -w failed"; }
# debugfs exits 0 even when a command fails: anything but its echo is an error
if grep -v -e '^debugfs' -e '^Allocated inode: [0-9]*$' -e '^$' "$R/debugfs.log" >&2; then
    die "debugfs -w reported errors (log: $R/debugfs.log)"
fi
for f in update-1.bin update-2.bin update-3.bin; do
    want=$(stat -c %s "$R/$f")
    got=$(debugfs -R "stat /hfc-update/$f" "$NEW" 2>/dev/null | sed -n 's/.*Size: \([0-9]*\).*/\1/p' | head -1)
    [ "$got" = "$want" ] || { cat "$R/debugfs.log" >&2; die "debugfs did not write /hfc-update/$f"; }
    rm -f "$R/$f"
done
changed=$(python3 - "$IMG" "$NEW" $BS <<'EOF'
import sys
bs = int(sys.argv[3]); n = c = 0
with open(sys.argv[1], "rb") as a, open(sys.argv[2], "rb") as b:
    while True:
        x = a.read(bs); y = b.read(bs)
        if not x and not y:
            break
        n += 1
        c += x != y
print(c, n)
EOF
)
put changed_blocks "${changed% *}"
put total_blocks "${changed#* }"
say "incremental image: ${changed% *} of ${changed#* } blocks of 256 KiB differ"

before=$(files_count "$SITE/blocks")
timed hfc_incr "$NEW" "$HFC" --quiet "$NEW" "$SITE"
site_check "$SITE" 2
put hfc_incr_new_block_files $(( $(files_count "$SITE/blocks") - before ))
before=$(files_count "$STORE")
timed casync_incr "$NEW" casync make --store="$STORE" "$R/v2.caibx" "$NEW"
put casync_incr_new_chunks $(( $(files_count "$STORE") - before ))
rm -f "$NEW"

# ---------------------------------------------------------------- 4. peak RSS
SPARSE=$R/sparse-6g.img SITE3=$R/site-sparse
truncate -s 6G "$SPARSE"
python3 -c "import random,sys; sys.stdout.buffer.write(random.Random(6).randbytes(4<<20))" >"$R/rand4m"
for off in 0 1500 3001 4500 6140; do    # MiB offsets; the last one ends exactly at 6 GiB
    dd if="$R/rand4m" of="$SPARSE" bs=1M seek=$off conv=notrunc status=none
done
rm -f "$R/rand4m"
mkdir -p "$SITE3"
sync
s=$(date +%s.%N)
/usr/bin/time -v -o "$R/rss.txt" "$HFC" --quiet "$SPARSE" "$SITE3" >"$R/hfc_sparse.log" 2>&1 ||
    { cat "$R/hfc_sparse.log" "$R/rss.txt" >&2; die "hfc-mkimage on the sparse image failed"; }
e=$(date +%s.%N)
site_check "$SITE3" 1
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): *\([0-9]*\).*/\1/p' "$R/rss.txt")
[ -n "$rss_kb" ] || die "no 'Maximum resident set size' in $R/rss.txt"
put rss_kb "$rss_kb"
put sparse_seconds "$(python3 -c "print(f'{$e - $s:.3f}')")"
put sparse_index_bytes "$(stat -c %s "$SITE3/index.idx")"
rm -f "$SPARSE"

# ---------------------------------------------------------------- 5. report
python3 - "$KV" "$W/mkimage-results.json" <<'EOF'
import json, sys
kv = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition("=")
    kv[k] = v
f = lambda k: float(kv[k])
MiB = 1024 * 1024

def secs(x): return f"{x:.1f} s" if x >= 1 else f"{x:.2f} s"
def mib(x): return f"{x / MiB:.1f} MiB"

rows = []
def row(metric, hfc, other, ratio, ratio_text, target, ok, hfc_raw, other_raw, unit):
    rows.append(dict(metric=metric, hfc=hfc, other=other, ratio_text=ratio_text,
                     target=target, result=("info" if ok is None else "PASS" if ok else "MISS"),
                     hfc_value=hfc_raw, other_value=other_raw, ratio=ratio, unit=unit))

hf, cf, lf, l1 = f("hfc_full"), f("casync_full"), f("cloop_full"), f("cloop_t1_l6")
r = cf / hf
row("full build vs casync make", secs(hf), secs(cf), r, f"{r:.2f}x faster", ">= 3x", r >= 3,
    hf, cf, "s")
r = lf / hf
row(f"full build vs create_compressed_fs ({kv['cloop_threads']} thr)", secs(hf), secs(lf), r,
    f"{r:.2f}x faster", ">= 1x", r >= 1, hf, lf, "s")
r = l1 / hf
row("full build vs c_c_fs -t 1 -L 6", secs(hf), secs(l1), r, f"{r:.2f}x faster", "-", None,
    hf, l1, "s")
sb, cb, kb = f("site_bytes"), f("cloop_bytes"), f("casync_store_bytes")
r = sb / cb
row("site size vs cloop file", mib(sb), mib(cb), r, f"{r:.2f}x", "<= 1.0x", r <= 1.0,
    sb, cb, "bytes")
r = sb / kb
row("site size vs casync store", mib(sb), mib(kb), r, f"{r:.2f}x", "-", None, sb, kb, "bytes")
hi, ci = f("hfc_incr"), f("casync_incr")
pct = 100.0 * f("changed_blocks") / f("total_blocks")
r = hf / hi
row(f"incremental ({pct:.1f}% blocks) vs full", secs(hi), secs(hf), r, f"{r:.2f}x faster",
    ">= 5x", r >= 5, hi, hf, "s")
r = ci / hi
row("incremental vs casync make incremental", secs(hi), secs(ci), r, f"{r:.2f}x faster",
    ">= 10x", r >= 10, hi, ci, "s")
rss = f("rss_kb") * 1024
limit = 64 * MiB + f("sparse_index_bytes")
row("peak RSS, 6 GiB sparse image", mib(rss), "", rss / limit, "",
    "< 64 MiB + index", rss < limit, rss, limit, "bytes")

policy = ("page cache warm: image pre-read before each run" if kv["cache"] == "warm"
          else "page cache dropped before each run")
print()
print(f"hfc-mkimage build benchmark (1 GiB ext2 image of {kv['tree']}, {kv['cores']} cores, {policy})")
print(f"  changed blocks in the incremental image: {kv['changed_blocks']} of {kv['total_blocks']}"
      f" ({pct:.1f}%); new block files written: {kv['hfc_incr_new_block_files']},"
      f" new casync chunks: {kv['casync_incr_new_chunks']}")
print(f"  create_compressed_fs defaults: {kv['cloop_threads']} thread(s) ({kv['cloop_full_cpu_percent']}% CPU),"
      f" zlib level 9; its -t 1 -L 6 run: {kv['cloop_t1_l6_cpu_percent']}% CPU,"
      f" {mib(f('cloop_t1_l6_bytes'))}")
print(f"  CPU: hfc-mkimage {kv['hfc_full_cpu_percent']}%, casync make {kv['casync_full_cpu_percent']}%"
      f" (full build); site: {kv['site_block_files']} block files")
print(f"  hfc-mkimage on the 6 GiB sparse image: {secs(f('sparse_seconds'))},"
      f" index {f('sparse_index_bytes') / 1024:.0f} KiB; load average at start:"
      f" {kv['loadavg_at_start']}")
print(f"{'metric':<46}{'hfc':>10}{'other':>11}{'ratio':>15}   {'target':<17} result")
for x in rows:
    print(f"{x['metric']:<46}{x['hfc']:>10}{x['other']:>11}{x['ratio_text']:>15}   {x['target']:<17} {x['result']}")

out = dict(benchmark="hfc-mkimage build", tree=kv["tree"], cores=int(kv["cores"]),
           cache_policy=kv["cache"], image_bytes=int(kv["image_bytes"]), block_size=262144,
           raw={k: (v if k in ("tree", "cache") else int(v) if v.isdigit() else float(v))
                for k, v in kv.items()},
           metrics=rows)
tmp = sys.argv[2] + ".tmp"
with open(tmp, "w") as fh:
    json.dump(out, fh, indent=2)
    fh.write("\n")
import os
os.replace(tmp, sys.argv[2])
print(f"\nresults: {sys.argv[2]}")
EOF

# the sites and stores are large; keep them only when asked (HFC_BENCH_KEEP=1)
if [ "${HFC_BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$SITE" "$STORE" "$SITE3" "$R"/*.caibx
fi
