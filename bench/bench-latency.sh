#!/usr/bin/env bash
# bench-latency.sh — the boot benchmark of issue 6 (the shape of the paper's Table 3): a real
# Debian boot in qemu (TCG) whose read-only root disk is (a) a local file, (b) hfc-mount of a
# site served by nginx at 0 ms and at ${HFC_LAT_RTT:-100} ms RTT, (c) qemu's own curl driver
# reading the raw image from nginx at the same RTTs (the baseline a user would pick).
#
#   usage: bash bench/bench-latency.sh BUILD_DIR   (BUILD_DIR holds hfc-mkimage, hfc-mount and
#                                                   netdelay: `make`)
#
# Needs root (network namespaces, FUSE), qemu-system-x86 and qemu-block-extra, debootstrap
# (the first run builds the image: a few minutes, deb.debian.org), nginx, curl, iproute2,
# iputils-ping. scripts/install-deps.sh --bench installs them.
#
# The latency: tests/netns.sh — a network namespace with a TUN device and build/netdelay,
# which holds every packet D ms each way (RTT = 2·D), handshakes included. nginx listens in
# the namespace; hfc-mount and qemu (curl rows) run in it with only the network namespace
# entered (nsenter --net), so the FUSE mount stays visible to the host. This kernel has no
# tc netem; nothing sleeps in our own code.
#
# Environment:
#   HFC_BENCH_DIR      work directory (default /var/tmp/hfc-bench): the image in boot-image/
#                      (bench/boot/make-image.sh, cached), the site in latency-site/ (rebuilt
#                      when the image changes), this run's scratch in latency-run/.
#   HFC_BENCH_ROUNDS   boots per row, interleaved (default 1: a boot at 100 ms is minutes).
#   HFC_LAT_RTT        the RTT of the "high latency" rows in ms (default 100).
#   HFC_LAT_ROWS       the rows to run, in order (default: local mount0 mountR curlR curl0;
#                      R stands for HFC_LAT_RTT). Also known: mount0-trace (hfc-mount --trace at
#                      0 ms: the trace of the profile rows).
#   HFC_BENCH_KEEP=1   keep the scratch (logs, traces, .stats) under latency-run/.
#
# Every boot is cold for the client: a fresh hfc-mount without --cache (empty memory cache);
# the page cache is warm for every row alike (the image file and the site are read once before
# each boot: nginx serves from memory, the local file is read from memory), so a row measures
# the network path and the client, not the disk.
#
# Output: a table (seconds, % of the local-file boot) and $HFC_BENCH_DIR/latency-results.json.
# Exit status 0 when every row ran, whatever the figures; 1 when a boot failed.
#
# DLAHEAD rows (hfc-profile record/install from the trace, hfc-mount --prefetch=auto with 4,
# 8 and 16 connections at HFC_LAT_RTT; targets: with the profile <= 115% of the local boot,
# without <= 150%) go in the `rows` section below: see "DLAHEAD".
set -euo pipefail

prog=bench-latency
die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: bash bench/bench-latency.sh BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
for t in hfc-mkimage hfc-mount netdelay; do
	[ -x "$BUILD/$t" ] || die "$BUILD/$t: not found (build it first: make)"
done
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, FUSE)"
PATH=$BUILD:$PATH:/usr/sbin:/sbin
for t in qemu-system-x86_64 nginx curl ip nsenter ping debootstrap fusermount3; do
	command -v $t >/dev/null || die "$t is missing (bash scripts/install-deps.sh --bench)"
done

W=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}
ROUNDS=${HFC_BENCH_ROUNDS:-1}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "HFC_BENCH_ROUNDS must be a number from 1 to 99"
RTT=${HFC_LAT_RTT:-100}
[[ $RTT =~ ^[0-9]+$ ]] || die "HFC_LAT_RTT must be a whole number of milliseconds"
ROWS=${HFC_LAT_ROWS:-local mount0 mount$RTT curl$RTT curl0}

# --- the image (cached)
IMGDIR=$W/boot-image
bash "$TOP/bench/boot/make-image.sh" "$IMGDIR" || die "make-image.sh failed"
IMG=$IMGDIR/boot.img

# --- the site (rebuilt when the image changed)
SITE=$W/latency-site
if [ "$(cat "$SITE.stamp" 2>/dev/null)" != "$(cat "$IMGDIR/stamp")" ] || [ ! -s "$SITE/index.idx" ]; then
	say "hfc-mkimage $IMG $SITE"
	rm -rf "$SITE" "$SITE.stamp"
	hfc-mkimage -q --label "bench boot image" "$IMG" "$SITE" || die "hfc-mkimage failed"
	cp "$IMGDIR/stamp" "$SITE.stamp"
fi
# The raw image, for qemu's curl driver, in a directory of its own.
RAW=$W/latency-raw
mkdir -p "$RAW"
ln -f "$IMG" "$RAW/boot.img" 2>/dev/null || cp --reflink=auto "$IMG" "$RAW/boot.img"

# --- the harness (tests/lib.sh's cleanup: mounts, nginx, namespaces, whatever happens)
R=$W/latency-run
rm -rf "$R"
mkdir -p "$R"
export HFC_TEST_TMP=$R HFC_TOP=$TOP HFC_NETDELAY=$BUILD/netdelay
# shellcheck source=/dev/null
. "$TOP/tests/lib.sh"
. "$TOP/tests/http.sh"
. "$TOP/tests/netns.sh"
if [ -z "${HFC_BENCH_KEEP:-}" ]; then at_exit "rm -rf '$R'/*.log '$R'/*.trace"; fi

netns_up lat 0
SITE_URL=$(netns_nginx lat "$SITE")
# qemu 7.2's curl driver (Debian 12) with libcurl 7.88 hangs for good once two of its
# transfers meet on one kept-alive connection (a transfer waits for a connection that was
# released without a socket event: the guest's I/O never completes, and qemu does not even
# exit on SIGTERM). Reproduced on 127.0.0.1 without the harness at the first burst of
# parallel reads of the boot. With keepalive off every transfer has a connection of its own
# and the boot completes: the baseline pays one more RTT (the TCP handshake) per request.
RAW_URL=$(NETNS_NGINX_KEEPALIVE=0 netns_nginx lat "$RAW")/boot.img
say "site $SITE_URL, raw image $RAW_URL (in namespace $(cat "$_NETNS/lat/ns"))"

# Same page-cache state for every row: what the row's server or qemu reads from the disk.
warm() {
	sync
	cat "$IMG" >/dev/null
	find "$SITE" -type f -print0 | xargs -0 cat >/dev/null
}

# set_rtt MS: the harness's RTT for the next boot, checked with ping.
CUR_RTT=
set_rtt() {
	[ "$CUR_RTT" = "$1" ] && return 0
	netns_delay lat "$(awk -v r="$1" 'BEGIN { print r / 2 }')"
	CUR_RTT=$1
	say "RTT $1 ms: ping says $(netns_rtt lat) ms"
}

KV=$R/results.kv
: >"$KV"
put() { printf '%s=%s\n' "$1" "$2" >>"$KV"; }

# boot_row NAME ROUND: one boot of a row; records NAME.ROUND=seconds.
boot_row() {
	local name=$1 round=$2 log=$R/$1.$2.log secs mp
	warm
	case $name in
	local)
		secs=$(bash "$TOP/bench/boot/boot.sh" "$IMG" "$log") || die "boot $name failed"
		;;
	mount[0-9]* | mount[0-9]*-trace)
		local rtt=${name#mount} args=()
		rtt=${rtt%-trace}
		set_rtt "$rtt"
		[[ $name == *-trace ]] && args+=(--trace "$R/$name.$round.trace")
		mp=$R/mnt
		netns_mount_hfc lat "$mp" "${args[@]}" "$SITE_URL"
		secs=$(bash "$TOP/bench/boot/boot.sh" -k "$IMGDIR" "$mp/image" "$log") ||
			{ cat "$HFC_MOUNT_LOG" >&2; die "boot $name failed"; }
		cp "$mp/.stats" "$R/$name.$round.stats"
		umount_hfc "$mp"
		;;
	curl[0-9]*)
		set_rtt "${name#curl}"
		secs=$(netns_enter lat bash "$TOP/bench/boot/boot.sh" -k "$IMGDIR" "$RAW_URL" "$log") ||
			die "boot $name failed"
		;;
	# --- DLAHEAD (the lead's part): rows such as prefetch4-R, prefetch8-R, prefetch16-R
	# (hfc-mount --prefetch=auto --prefetch-connections N at RTT R, the profile made by
	# hfc-profile record from mount0-trace's trace and installed in $SITE) go here.
	*) die "unknown row '$name' (HFC_LAT_ROWS)" ;;
	esac
	put "$name.$round" "$secs"
	say "$(printf 'round %d  %-14s %8s s' "$round" "$name" "$secs")"
}

for ((round = 1; round <= ROUNDS; round++)); do
	for row in $ROWS; do
		boot_row "$row" "$round"
	done
done

# --- table and JSON: medians over the rounds, % of the local-file boot
python3 - "$KV" "$ROWS" "$W/latency-results.json" "$RTT" <<'PY'
import json, statistics, sys
kv, rows, out, rtt = sys.argv[1], sys.argv[2].split(), sys.argv[3], int(sys.argv[4])
runs = {}
for line in open(kv):
    k, v = line.rstrip("\n").split("=", 1)
    name, _ = k.rsplit(".", 1)
    runs.setdefault(name, []).append(float(v))
med = {n: statistics.median(v) for n, v in runs.items()}
base = med.get("local")
what = {"local": "local file", "mount": "hfc-mount", "curl": "qemu curl driver"}
print()
print("boot of a Debian 12 image in qemu (TCG), read-only root disk; median of %d run(s)" %
      max(len(v) for v in runs.values()))
print("%-16s %-18s %8s %10s %9s" % ("row", "disk", "RTT ms", "seconds", "% local"))
for n in rows:
    kind = next((k for k in what if n.startswith(k)), n)
    r = "" if n == "local" else "".join(c for c in n[len(kind):] if c.isdigit()) or "0"
    pct = "%8.0f%%" % (100 * med[n] / base) if base else "%9s" % "-"
    print("%-16s %-18s %8s %10.2f %s" % (n, what.get(kind, kind), r, med[n], pct))
json.dump({"rtt_ms": rtt, "runs": runs, "median_s": med,
           "percent_of_local": {n: 100 * med[n] / base for n in med} if base else {}},
          open(out, "w"), indent=1, sort_keys=True)
print("\n(figures in %s)" % out)
PY
