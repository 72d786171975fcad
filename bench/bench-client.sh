#!/usr/bin/env bash
# bench-client.sh — read benchmark for the reference client (hfc-mount, hfc-get), side by
# side with the raw speed of fetching and decoding the same bytes, in one run.
#
#   usage: bash bench/bench-client.sh BUILD_DIR   (BUILD_DIR holds hfc-mkimage, hfc-index,
#                                                  hfc-get and hfc-mount)
#
# Needs root (loop mounts, drop_caches), nginx, curl, fuse3 (fusermount3) and python3.
#
# Environment:
#   HFC_BENCH_DIR    work directory (default /var/tmp/hfc-bench). The 1 GiB test image
#                    $HFC_BENCH_DIR/image/base.img is the one bench-mkimage.sh builds; when it
#                    is missing, bench-mkimage.sh is run first (its whole benchmark, a few
#                    minutes). The site and the scratch of this run live in
#                    $HFC_BENCH_DIR/client-run (removed at the end unless HFC_BENCH_KEEP=1).
#   HFC_BENCH_CACHE  page-cache policy, applied equally before every timed command:
#                      warm (default): sync, then the files the command will read from the
#                                      local disk (the site that nginx serves, the client's
#                                      block cache, the raw image) are read once into the
#                                      page cache: nginx serves from memory for everyone;
#                      cold:           sync; echo 3 > /proc/sys/vm/drop_caches.
#   HFC_BENCH_ROUNDS every timed command is run this many times, interleaved with the others
#                    of its step (default 3); the table shows medians, the JSON every run.
#   HFC_BENCH_KEEP=1 keep the site and logs under $HFC_BENCH_DIR/client-run.
#
# What it measures (wall clock; one run; one nginx on 127.0.0.1 serving a site built by
# hfc-mkimage from the image; MB/s are 10^6 bytes of *image* per second, zero blocks included):
#   1. sequential read of the whole image, client state cold (fresh process, no --cache):
#        mount:  hfc-mount (default options), dd if=MNT/image of=/dev/null bs=1M
#        get:    hfc-get URL - >/dev/null
#        floor:  every block file of the index fetched with curl --parallel --parallel-max 8
#                into tmpfs, THEN decoded and checked (zlib + md5 of every block) by the
#                fastest of `hfc-index extract -q COPY - >/dev/null` (libdeflate, all cores)
#                and a python3 zlib+hashlib loop (one core). floor time = fetch + decode,
#                not overlapped -- a client that overlaps the two can beat it (ratio > 1).
#      targets: mount/floor >= 0.80, get/floor >= 0.80.
#   2. tar of the whole tree through a loop mount of MNT/image (fresh hfc-mount each), with
#      --readahead 0 and with the default readahead. GNU tar does not read file contents
#      when its archive is /dev/null, so the archive goes through a pipe: tar cf - | wc -c.
#   3. warm client cache: hfc-mount --cache DIR, the image read once (fills DIR), unmount,
#      nginx stopped, mount again with the same DIR (--offline), then dd of MNT/image vs dd
#      of the raw image file (the same decoded bytes) from the local disk.
# It ends with one table (ratios, targets, PASS/MISS) and writes the same figures to
# $HFC_BENCH_DIR/client-results.json. Exit status 0 when every step ran, whatever the
# figures are (a benchmark, not a test); 1 when a step failed. Mounts, loop devices and
# nginx are cleaned up on exit, whatever happened.

set -euo pipefail

prog=bench-client
die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: bash bench/bench-client.sh BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
for t in hfc-mkimage hfc-index hfc-get hfc-mount; do
    [ -x "$BUILD/$t" ] || die "$BUILD/$t: not found or not executable (build it first: make)"
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

W=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}
CACHE=${HFC_BENCH_CACHE:-warm}
case $CACHE in warm|cold) ;; *) die "HFC_BENCH_CACHE must be warm or cold, not '$CACHE'" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (loop mounts, drop_caches)"

# ---------------------------------------------------------------- tools
PATH=$PATH:/usr/sbin:/sbin
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
command -v fusermount3 >/dev/null || need+=(fuse3)
[ -x /usr/bin/time ] || need+=(time)
command -v losetup >/dev/null || need+=(util-linux)
command -v dumpe2fs >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${need[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; } ||
        die "cannot install ${need[*]}"
fi
command -v python3 >/dev/null || die "python3 is needed"
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
[ -e /dev/fuse ] || die "/dev/fuse is missing"
curl --help all 2>/dev/null | grep -q -- '--parallel-max' || die "curl has no --parallel-max (needs 7.66+)"

ROUNDS=${HFC_BENCH_ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "HFC_BENCH_ROUNDS must be a number from 1 to 99, not '$ROUNDS'"
CORES=$(nproc)
IMG_BYTES=$((1024 * 1024 * 1024))

# ---------------------------------------------------------------- the image
IMG=$W/image/base.img
image_ok() {
    [ -f "$IMG" ] && [ "$(stat -c %s "$IMG")" = "$IMG_BYTES" ] && dumpe2fs -h "$IMG" >/dev/null 2>&1
}
if ! image_ok; then
    say "$IMG missing: running bench-mkimage.sh first (it builds the image, then benchmarks the build)"
    bash "$HERE/bench-mkimage.sh" "$BUILD" || die "bench-mkimage.sh failed"
    image_ok || die "$IMG: still missing or not a 1 GiB ext2 image"
fi
TREE=$(cat "$W/image/base.tree" 2>/dev/null || echo "?")

# ---------------------------------------------------------------- scratch, cleanup
R=$W/client-run
SITE=$R/site MNT=$R/mnt LOOP=$R/loop CDIR=$R/cache
NG=
FLOOR=
MOUNT_PID=

is_mounted() {
    local d
    d=$(realpath -m -- "$1" 2>/dev/null) || d=$1
    awk -v m="$d" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

alive() {   # running, and not a zombie
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

wait_gone() {   # PID SECONDS
    local n=$(($2 * 10))
    while alive "$1" && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    ! alive "$1"
}

loop_release() {
    local dev=
    is_mounted "$LOOP" || return 0
    dev=$(awk -v m="$(realpath -m "$LOOP")" '$5 == m { for (i = 7; i < NF; i++) if ($i == "-") { print $(i + 2); exit } }' /proc/self/mountinfo)
    umount "$LOOP" 2>/dev/null || umount -l "$LOOP" 2>/dev/null || true
    # mount -o loop sets autoclear; detach explicitly if the device still holds our image
    case $dev in
        /dev/loop*)
            local n
            for ((n = 0; n < 20; n++)); do
                losetup -n -O BACK-FILE "$dev" 2>/dev/null | grep -qF "$MNT/image" || return 0
                sleep 0.1
            done
            losetup -d "$dev" 2>/dev/null || true ;;
    esac
}

umount_hfc() {   # unmounts MNT and waits for its hfc-mount; fails unless it exits 0
    local rc=0
    [ -n "$MOUNT_PID" ] || return 0
    is_mounted "$MNT" && { fusermount3 -u "$MNT" || fusermount3 -uz "$MNT" || true; }
    if ! wait_gone "$MOUNT_PID" 15; then
        kill -TERM "$MOUNT_PID" 2>/dev/null || true
        wait_gone "$MOUNT_PID" 5 || kill -KILL "$MOUNT_PID" 2>/dev/null || true
    fi
    wait "$MOUNT_PID" 2>/dev/null || rc=$?
    MOUNT_PID=
    return $rc
}

NGINX_PID=
stop_nginx() {
    [ -n "$NGINX_PID" ] || return 0
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    if ! wait_gone "$NGINX_PID" 10; then
        local workers
        workers=$(pgrep -P "$NGINX_PID" 2>/dev/null || true)
        # shellcheck disable=SC2086
        kill -KILL "$NGINX_PID" $workers 2>/dev/null || true
    fi
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=
}

cleanup() {
    local rc=$?
    set +e
    loop_release
    umount_hfc
    is_mounted "$MNT" && fusermount3 -uz "$MNT" 2>/dev/null
    stop_nginx
    [ -n "$NG" ] && rm -rf "$NG"
    [ -n "$FLOOR" ] && rm -rf "$FLOOR"
    if [ "${HFC_BENCH_KEEP:-0}" != 1 ] && [ -d "$R" ]; then
        rm -rf "$SITE" "$CDIR" "${R:?}/bin" "$R/floor.list" "$R/floor.paths" "$R/curl.cfg"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

is_mounted "$LOOP" && umount -l "$LOOP" 2>/dev/null
is_mounted "$MNT" && fusermount3 -uz "$MNT" 2>/dev/null
rm -rf "$R"
mkdir -p "$R" "$MNT" "$LOOP" "$R/bin"
# a snapshot of the tools: a rebuild of BUILD_DIR during the run must not mix two clients
for t in hfc-mkimage hfc-index hfc-get hfc-mount; do cp "$BUILD/$t" "$R/bin/$t"; done
BUILD=$R/bin
KV=$R/results.kv
: >"$KV"
put() { printf '%s=%s\n' "$1" "$2" >>"$KV"; }
kv() { awk -F= -v k="$1" '$1 == k { v = substr($0, length(k) + 2) } END { print v }' "$KV"; }

put tree "$TREE"
put cores "$CORES"
put cache "$CACHE"
put image_bytes "$IMG_BYTES"
put rounds "$ROUNDS"
put loadavg_at_start "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- helpers
# prepare_cache PATH...: the policy, before a timed command that reads PATHs from disk
prepare_cache() {
    sync
    if [ "$CACHE" = cold ]; then
        echo 3 >/proc/sys/vm/drop_caches
    else
        local p
        for p in "$@"; do
            if [ -d "$p" ]; then
                find "$p" -type f -print0 | xargs -0 -r cat >/dev/null
            else
                cat "$p" >/dev/null
            fi
        done
    fi
}

# timed NAME cmd...: output to $R/NAME.ROUND.log; wall seconds in T and in NAME@ROUND;
# the command's CPU seconds in NAME_cpu_seconds@ROUND
ROUND=1
timed() {
    local name=$1; shift
    local s e rc=0 log
    log=$R/$name.$ROUND
    s=$(date +%s.%N)
    /usr/bin/time -o "$log.time" -f '%U %S %P' "$@" >"$log.log" 2>&1 || rc=$?
    e=$(date +%s.%N)
    if [ $rc -ne 0 ]; then
        tail -20 "$log.log" >&2
        die "$name: '$*' failed with status $rc (log: $log.log)"
    fi
    T=$(python3 -c "print(f'{$e - $s:.3f}')")
    put "$name@$ROUND" "$T"
    local u sy pc
    read -r u sy pc <"$log.time"
    put "${name}_cpu_seconds@$ROUND" "$(python3 -c "print(f'{$u + $sy:.2f}')")"
    say "$(printf 'round %d  %-20s %7s s  (cpu %5s)' "$ROUND" "$name" "$T" "$pc")"
}

dd_check() {   # NAME: dd copied the whole image
    grep -q "^$IMG_BYTES bytes" "$R/$1.$ROUND.log" ||
        { cat "$R/$1.$ROUND.log" >&2; die "$1: dd did not read $IMG_BYTES bytes"; }
}

CLK_TCK=$(getconf CLK_TCK)
proc_cpu() {   # PID: user+system seconds of the whole process so far
    awk -v hz="$CLK_TCK" '{ sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}

# mount_hfc NAME ARGS...: hfc-mount -f ARGS... URL MNT in the background, waits for MNT/image
mount_hfc() {
    local name=$1 n s; shift
    s=$(date +%s.%N)
    "$BUILD/hfc-mount" -f "$@" "$MNT" >"$R/$name.mount.log" 2>&1 &
    MOUNT_PID=$!
    for ((n = 0; n < 600; n++)); do
        if ! alive "$MOUNT_PID"; then
            wait "$MOUNT_PID" 2>/dev/null || true
            MOUNT_PID=
            cat "$R/$name.mount.log" >&2
            die "hfc-mount $* exited before the mount was ready"
        fi
        if is_mounted "$MNT" && [ -e "$MNT/image" ]; then
            put "${name}_mount_ready_seconds@$ROUND" "$(python3 -c "print(f'{$(date +%s.%N) - $s:.3f}')")"
            return 0
        fi
        sleep 0.05
    done
    cat "$R/$name.mount.log" >&2
    die "hfc-mount $*: $MNT/image did not appear within 30 s"
}

# finish_mount NAME: saves MNT/.stats and hfc-mount's CPU seconds, unmounts
finish_mount() {
    local name=$1
    cat "$MNT/.stats" >"$R/$name.stats" || die "cannot read $MNT/.stats"
    cp "$R/$name.stats" "$R/$name.$ROUND.stats"
    put "${name}_mount_cpu_seconds@$ROUND" "$(proc_cpu "$MOUNT_PID")"
    local k
    for k in requests bytes_fetched misses hits mem_hits disk_hits readahead_fetched readahead_hits reads retries errors bad_blocks read_errors cache_bytes cache_files; do
        put "${name}_stat_$k" "$(awk -v k="$k" 'index($0, k ": ") == 1 { print substr($0, length(k) + 3); exit }' "$R/$name.stats")"
    done
    umount_hfc || { cat "$R/$name.mount.log" >&2; die "hfc-mount ($name) did not exit 0 after unmount"; }
}

start_nginx() {   # serves $SITE on 127.0.0.1:<free port>, sets URL
    NG=$(mktemp -d /tmp/hfc-bench-nginx.XXXXXX)
    chmod 755 "$NG"
    mkdir -p "$NG/tmp"
    # workers run as nobody: the site and every directory above it must let others in
    local d
    d=$(realpath "$SITE")
    while :; do
        case $(stat -c %A "$d") in ???????r?x | ???????r?t) ;; *) chmod o+rx "$d" ;; esac
        [ "$d" = / ] && break
        d=$(dirname "$d")
    done
    local try port n
    for ((try = 0; try < 10; try++)); do
        port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
        cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
user nobody nogroup;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events {
    worker_connections 512;
}
http {
    access_log off;
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 100000;
    server_tokens off;
    types {
        application/octet-stream idx;
    }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        root $SITE;
        autoindex off;
        location / {
        }
    }
}
EOF
        nginx -p "$NG/" -e "$NG/error.log" -c "$NG/nginx.conf" >"$NG/out" 2>&1 </dev/null &
        NGINX_PID=$!
        for ((n = 0; n < 100; n++)); do
            alive "$NGINX_PID" || break
            if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/index.idx" 2>/dev/null)" = 200 ]; then
                URL=http://127.0.0.1:$port
                say "nginx (pid $NGINX_PID, 2 workers) serves $SITE at $URL"
                return 0
            fi
            sleep 0.05
        done
        if alive "$NGINX_PID"; then
            cat "$NG/error.log" >&2
            die "nginx does not answer on port $port"
        fi
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=
        grep -q "Address already in use" "$NG/out" "$NG/error.log" 2>/dev/null || {
            cat "$NG/out" "$NG/error.log" >&2; die "nginx did not start"; }
    done
    die "nginx: no free port after 10 tries"
}

# ---------------------------------------------------------------- the site, the server
say "image: $IMG, tree: $TREE"
s=$(date +%s.%N)
"$BUILD/hfc-mkimage" --quiet "$IMG" "$SITE" >"$R/mkimage.log" 2>&1 ||
    { cat "$R/mkimage.log" >&2; die "hfc-mkimage failed"; }
put site_build_seconds "$(python3 -c "print(f'{$(date +%s.%N) - $s:.3f}')")"
[ -f "$SITE/index.idx" ] || die "$SITE/index.idx missing after hfc-mkimage"
HASH=$(awk '$1 == "hash" { print $2; exit }' "$SITE/index.idx")
# the unique block files of the index: "hash stored-size"
awk '/^blocks / { on = 1; next } /^end / { on = 0 } on && $1 != "-" && !seen[$1]++ { print $1, $2 }' \
    "$SITE/index.idx" >"$R/floor.list"
NFILES=$(wc -l <"$R/floor.list")
[ "$NFILES" -gt 0 ] || die "no block files in $SITE/index.idx"
put block_files "$NFILES"
put zero_blocks "$(awk '/^blocks / { on = 1; next } /^end / { on = 0 } on && $1 == "-"' "$SITE/index.idx" | wc -l)"
put site_block_bytes "$(awk '{ s += $2 } END { printf "%d\n", s }' "$R/floor.list")"
put hash "$HASH"
put block_size "$(awk '$1 == "block-size" { print $2; exit }' "$SITE/index.idx")"
say "site: $NFILES block files, $(kv site_block_bytes) bytes stored, hash $HASH"
start_nginx

# Every measurement is repeated $ROUNDS times, the contenders of a step interleaved round by
# round (A B C, A B C, ...), so that a burst of other work on the machine hits them alike;
# the table shows medians.
tdelta() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# ---------------------------------------------------------------- 1. sequential read
FLOOR=$(mktemp -d /dev/shm/hfc-bench-floor.XXXXXX)
awk -v u="$URL" -v d="$FLOOR" 'BEGIN { printf "url = \"%s/index.idx\"\noutput = \"%s/index.idx\"\n", u, d }
    { p = "blocks/" substr($1, 1, 2) "/" $1; printf "url = \"%s/%s\"\noutput = \"%s/%s\"\n", u, p, d, p }' \
    "$R/floor.list" >"$R/curl.cfg"
awk -v d="$FLOOR" '{ print $1, d "/blocks/" substr($1, 1, 2) "/" $1 }' "$R/floor.list" >"$R/floor.paths"
cat >"$R/decode.py" <<'PY'
import hashlib, sys, zlib
alg, n = sys.argv[2], 0
for line in open(sys.argv[1]):
    h, p = line.split()
    with open(p, "rb") as f:
        d = zlib.decompress(f.read())
    if hashlib.new(alg, d).hexdigest() != h:
        sys.exit("bad block " + p)
    n += len(d)
print(n, "bytes decoded")
PY
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    # 1a. hfc-mount, default options, fresh process, no --cache
    mount_hfc mount_seq "$URL"
    prepare_cache "$SITE"
    c0=$(proc_cpu "$MOUNT_PID")
    timed mount_seq dd if="$MNT/image" of=/dev/null bs=1M
    dd_check mount_seq
    put "mount_seq_mount_cpu_timed@$ROUND" "$(tdelta "$c0" "$(proc_cpu "$MOUNT_PID")")"
    finish_mount mount_seq

    # 1b. hfc-get URL - (to /dev/null)
    prepare_cache "$SITE"
    # shellcheck disable=SC2016
    timed get_seq sh -c 'exec "$0" --json "$1" - >/dev/null' "$BUILD/hfc-get" "$URL"
    grep '^{' "$R/get_seq.$ROUND.log" | tail -1 >"$R/get_seq.json" || true
    for k in bytes_fetched requests retries errors bad_blocks seconds; do
        put "get_seq_$k" "$(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print("")' "$R/get_seq.json" "$k")"
    done

    # 1c. the floor: parallel curl into tmpfs, then decode + hash every block
    rm -rf "${FLOOR:?}"/*
    awk '{ print substr($1, 1, 2) }' "$R/floor.list" | sort -u | sed "s|^|$FLOOR/blocks/|" | xargs mkdir -p
    prepare_cache "$SITE"
    timed floor_fetch curl --parallel --parallel-max 8 --fail --silent --show-error -K "$R/curl.cfg"
    got=$(find "$FLOOR/blocks" -type f | wc -l)
    [ "$got" = "$NFILES" ] || die "floor: curl fetched $got block files, not $NFILES"
    put floor_fetched_bytes "$(find "$FLOOR" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d\n", s }')"
    # decode 1: hfc-index extract (libdeflate, all cores, checks every block's hash)
    # shellcheck disable=SC2016
    timed floor_decode_extract sh -c 'exec "$0" extract -q "$1" - >/dev/null' "$BUILD/hfc-index" "$FLOOR"
    # decode 2, once: python3 zlib + hashlib over the same files, one core (a reference)
    [ $ROUND -gt 1 ] || timed floor_decode_python python3 "$R/decode.py" "$R/floor.paths" "$HASH"
done
rm -rf "$FLOOR"; FLOOR=

# ---------------------------------------------------------------- 2. tar through a loop mount
tar_run() {   # NAME READAHEAD-ARGS...
    local name=$1; shift
    mount_hfc "$name" "$@" "$URL"
    mount -o loop,ro "$MNT/image" "$LOOP" 2>"$R/$name.loop.err" ||
        { cat "$R/$name.loop.err" >&2; die "mount -o loop,ro $MNT/image $LOOP failed"; }
    prepare_cache "$SITE"
    local c0
    c0=$(proc_cpu "$MOUNT_PID")
    # shellcheck disable=SC2016
    timed "$name" bash -c 'set -o pipefail; tar cf - -C "$0" . | wc -c >"$1"' "$LOOP" "$R/$name.bytes"
    put "${name}_mount_cpu_timed@$ROUND" "$(tdelta "$c0" "$(proc_cpu "$MOUNT_PID")")"
    put "${name}_tar_bytes" "$(cat "$R/$name.bytes")"
    umount "$LOOP" || die "umount $LOOP failed"
    loop_release
    finish_mount "$name"
}
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    tar_run tar_ra0 --readahead 0
    tar_run tar_ra_default
done

# ---------------------------------------------------------------- 3. warm client cache
ROUND=1
mkdir -p "$CDIR"
mount_hfc cache_fill --cache "$CDIR" "$URL"
prepare_cache "$SITE"
timed cache_fill dd if="$MNT/image" of=/dev/null bs=1M
dd_check cache_fill
finish_mount cache_fill
stop_nginx
say "nginx stopped: the next mounts have only their cache"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    # a fresh mount each round: the kernel keeps MNT/image's pages while it stays mounted
    mount_hfc cache_warm --cache "$CDIR" --offline "$URL"
    prepare_cache "$CDIR"
    c0=$(proc_cpu "$MOUNT_PID")
    timed cache_warm dd if="$MNT/image" of=/dev/null bs=1M
    dd_check cache_warm
    put "cache_warm_mount_cpu_timed@$ROUND" "$(tdelta "$c0" "$(proc_cpu "$MOUNT_PID")")"
    finish_mount cache_warm
    prepare_cache "$IMG"
    timed local_image dd if="$IMG" of=/dev/null bs=1M
    dd_check local_image
done
put loadavg_at_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report
python3 - "$KV" "$W/client-results.json" <<'EOF'
import json, os, statistics, sys
kv = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition("=")
    kv[k] = v
f = lambda k: float(kv[k]) if kv.get(k, "") != "" else 0.0
N = int(kv["rounds"])
runs = lambda k: [float(kv[f"{k}@{i}"]) for i in range(1, N + 1) if f"{k}@{i}" in kv]
def med(k):
    v = runs(k)
    return statistics.median(v) if v else 0.0
img = f("image_bytes")
mbs = lambda t: img / t / 1e6
def secs(x): return f"{x:.1f} s" if x >= 1 else f"{x:.2f} s"
def rate(x): return f"{x:.0f} MB/s"
def each(v, fmt="{:.2f}"): return " ".join(fmt.format(x) for x in v)

dp = f("floor_decode_python@1")
fetches, extracts = runs("floor_fetch"), runs("floor_decode_extract")
if statistics.median(extracts) <= dp:
    decoder, decodes = "hfc-index extract", extracts
else:
    decoder, decodes = "python3 zlib+hashlib", [dp] * len(fetches)
floors = [a + b for a, b in zip(fetches, decodes)]
floor, fetch, decode = statistics.median(floors), statistics.median(fetches), statistics.median(decodes)
kv["floor_decoder"] = decoder
for i, x in enumerate(floors, 1):
    kv[f"floor@{i}"] = f"{x:.3f}"

rows = []
def row(metric, hfc, other, ratio, ratio_text, target, ok, hfc_raw, other_raw, unit):
    rows.append(dict(metric=metric, hfc=hfc, other=other, ratio_text=ratio_text,
                     target=target, result=("info" if ok is None else "PASS" if ok else "MISS"),
                     hfc_value=hfc_raw, other_value=other_raw, ratio=ratio, unit=unit))

ms, gs = runs("mount_seq"), runs("get_seq")
m, g, fl = mbs(med("mount_seq")), mbs(med("get_seq")), mbs(floor)
r = m / fl
row("cold seq read: hfc-mount dd vs floor", rate(m), rate(fl), r, f"{r:.2f}x", ">= 0.80", r >= 0.80,
    m, fl, "MB/s")
r = g / fl
row("cold seq read: hfc-get vs floor", rate(g), rate(fl), r, f"{r:.2f}x", ">= 0.80", r >= 0.80,
    g, fl, "MB/s")
t0s, t1s = runs("tar_ra0"), runs("tar_ra_default")
t0, t1 = statistics.median(t0s), statistics.median(t1s)
r = t0 / t1
row("cold tar via loop: default RA vs --readahead 0", secs(t1), secs(t0), r, f"{r:.2f}x faster",
    "-", None, t1, t0, "s")
ws, ls = runs("cache_warm"), runs("local_image")
w, l = mbs(statistics.median(ws)), mbs(statistics.median(ls))
r = w / l
row("warm --cache dd vs local raw image dd", rate(w), rate(l), r, f"{r:.2f}x", "-", None, w, l, "MB/s")

cachepol = ("page cache warm: before each timed command the local files it depends on (the site nginx"
            " serves / the client's cache dir / the raw image) are read once into memory"
            if kv["cache"] == "warm" else "page cache dropped (echo 3 > drop_caches) before each timed command")
MB = 1e6
def st(n, k): return kv.get(f"{n}_stat_{k}", "?")
print()
print(f"hfc client read benchmark (1 GiB ext2 image of {kv['tree']}, {kv['cores']} cores,"
      f" medians of {N} interleaved rounds)")
print(f"  {cachepol}")
print(f"  site: {kv['block_files']} block files, {f('site_block_bytes') / MB:.1f} MB stored,"
      f" {kv['zero_blocks']} zero blocks; nginx 127.0.0.1, 2 workers, keepalive, sendfile;"
      f" MB = 10^6 bytes of image (1 GiB, zero blocks included)")
print(f"  floor = fetch + decode, run one after the other (a client may overlap them and beat it):"
      f" curl --parallel --parallel-max 8, every block file to tmpfs, {secs(fetch)}"
      f" ({f('floor_fetched_bytes') / fetch / MB:.0f} MB/s on the wire), then {decoder} {secs(decode)}")
print(f"    decoders (zlib + {kv.get('hash', 'md5')} check of every block): hfc-index extract -q COPY - >/dev/null"
      f" (libdeflate, {kv['cores']} threads) {secs(statistics.median(extracts))}; python3 zlib+hashlib loop"
      f" (1 core) {secs(dp)}; the faster counts")
print(f"  per round, MB/s: mount {each([mbs(x) for x in ms], '{:.0f}')} | hfc-get"
      f" {each([mbs(x) for x in gs], '{:.0f}')} | floor {each([mbs(x) for x in floors], '{:.0f}')}")
print(f"  hfc-mount dd (last round): {st('mount_seq', 'requests')} requests,"
      f" {f('mount_seq_stat_bytes_fetched') / MB:.1f} MB fetched, readahead fetched/hits"
      f" {st('mount_seq', 'readahead_fetched')}/{st('mount_seq', 'readahead_hits')},"
      f" misses {st('mount_seq', 'misses')}, FUSE reads {st('mount_seq', 'reads')};"
      f" hfc-mount CPU during dd {med('mount_seq_mount_cpu_timed'):.2f} s")
print(f"  hfc-get (last round): {kv.get('get_seq_requests', '?')} requests, {f('get_seq_bytes_fetched') / MB:.1f} MB"
      f" fetched, CPU {med('get_seq_cpu_seconds'):.2f} s")
print(f"  tar cf - | wc -c (GNU tar skips reading files when the archive is /dev/null): {f('tar_ra0_tar_bytes') / MB:.0f} MB;"
      f" per round RA0 {each(t0s, '{:.1f}')} s, default {each(t1s, '{:.1f}')} s; requests RA0/default"
      f" {st('tar_ra0', 'requests')}/{st('tar_ra_default', 'requests')}, MB fetched"
      f" {f('tar_ra0_stat_bytes_fetched') / MB:.0f}/{f('tar_ra_default_stat_bytes_fetched') / MB:.0f},"
      f" readahead fetched/hits {st('tar_ra_default', 'readahead_fetched')}/{st('tar_ra_default', 'readahead_hits')}")
print(f"  warm cache: filled by one dd in {secs(f('cache_fill@1'))} ({rate(mbs(f('cache_fill@1')))});"
      f" {f('cache_fill_stat_cache_bytes') / MB:.0f} MB in {st('cache_fill', 'cache_files')} files;"
      f" remounted with nginx stopped (--offline): requests {st('cache_warm', 'requests')} (all refused),"
      f" bytes fetched {st('cache_warm', 'bytes_fetched')};"
      f" hfc-mount CPU during dd {med('cache_warm_mount_cpu_timed'):.2f} s; mount ready after"
      f" {secs(med('cache_warm_mount_ready_seconds'))} (with nginx up: {secs(med('mount_seq_mount_ready_seconds'))})")
print(f"  load average at start: {kv['loadavg_at_start']}; at end: {kv['loadavg_at_end']}")
print(f"{'metric':<48}{'hfc':>10}{'other':>11}{'ratio':>15}   {'target':<9} result")
for x in rows:
    print(f"{x['metric']:<48}{x['hfc']:>10}{x['other']:>11}{x['ratio_text']:>15}   {x['target']:<9} {x['result']}")

def num(v):
    if isinstance(v, (int, float)): return v
    try: return int(v)
    except ValueError:
        try: return float(v)
        except ValueError: return v
out = dict(benchmark="hfc client read", tree=kv["tree"], cores=int(kv["cores"]),
           cache_policy=kv["cache"], image_bytes=int(kv["image_bytes"]), block_size=int(kv["block_size"]),
           mb="10^6 bytes of image", floor_definition="curl --parallel --parallel-max 8 fetch time"
           " + decode time (" + decoder + "), not overlapped",
           rounds=N, statistic="median", raw={k: num(v) for k, v in kv.items()}, metrics=rows)
tmp = sys.argv[2] + ".tmp"
with open(tmp, "w") as fh:
    json.dump(out, fh, indent=2)
    fh.write("\n")
os.replace(tmp, sys.argv[2])
print(f"\nresults: {sys.argv[2]}")
EOF
