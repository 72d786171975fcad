#!/usr/bin/env bash
# bench-boot.sh — booting a Debian machine from a URL (boot=hfc, the initrd of hfc-boot),
# beside the paper's Table 3 (KNOPPIX from a boot CD: DVD 184 s, LAN 173 s, 100 ms RTT 432 s,
# with DLAHEAD 282 s).
#
#   usage: bash bench/bench-boot.sh BUILD_DIR   (`make bench-boot`; root, minutes)
#
# The guest is bench/boot/make-image.sh's Debian 12 (systemd, the Debian kernel), in qemu
# (TCG, 1 CPU, 1 GiB), from the first instruction to the power-off that a unit after
# multi-user.target asks for; the time is qemu's wall time, start to exit. Rows, side by side
# in one run:
#   local          the image as a local disk (bench/boot/boot.sh: the tree's own initrd, the
#                  root read-only under a tmpfs overlay, no network)
#   guest0         in-guest boot=hfc: hfc-boot's initrd (default options) mounts the site from
#                  nginx through the latency harness (tests/netns.sh) at 0 ms, unlimited
#   guest100       the same at 100 ms RTT
#   prof100        at 100 ms RTT with hfc.prefetch=auto: the site's profile, recorded with
#                  hfc-profile from a traced in-guest boot at 0 ms (hfc.trace; the guest copies
#                  the trace out on its second serial port)
#   fetch100       the whole-download anchor (live-boot's fetch=, dracut's root=live:): the
#                  whole image fetched first (hfc-get through the harness into RAM), then booted
#                  as a local disk; its time is the download's plus that boot's
# each at unlimited bandwidth and at ${HFC_BOOT_RATE:-10M}bit/s (the harness's -r: a token
# bucket per direction with a 100 ms buffer).
#
# Targets (default options; TCG emulates the guest's CPU, so the client's decompression and
# hashing cost more than on hardware, and the latency targets are relative to the in-guest
# boot at 0 ms): guest0 <= 130% of local; guest100 <= 150% of guest0; prof100 <= 110% of
# guest0; prof100 at 10 Mbit/s at least 2x faster than fetch100 at 10 Mbit/s.
#
# Environment: HFC_BENCH_DIR (work directory, default /var/tmp/hfc-bench), HFC_BOOT_RATE
# (default 10M), HFC_BOOT_RTT (default 100), HFC_BOOT_ROWS (a subset of the rows above, with
# -RATE for the limited ones: "local guest0 guest0-10M ..."), HFC_BOOT_TIMEOUT (s, 900),
# HFC_BOOT_RUNS (boots of the local and guest0 rows, the bases of the percentages: their
# median counts; default 3).
# Figures go to $HFC_BENCH_DIR/boot-results.json.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_start bench-boot "$@"
bench_built hfc-mkimage hfc-mount hfc-get hfc-profile netdelay
bench_root "debootstrap, network namespaces, FUSE"
bench_cmds qemu-system-x86_64 nginx curl ip nsenter ping debootstrap

W=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}
RATE=${HFC_BOOT_RATE:-10M}
RTT=${HFC_BOOT_RTT:-100}
TIMEOUT=${HFC_BOOT_TIMEOUT:-900}
RUNS=${HFC_BOOT_RUNS:-3}
ROWS=${HFC_BOOT_ROWS:-local guest0 guest0-$RATE guest$RTT guest$RTT-$RATE prof$RTT prof$RTT-$RATE fetch$RTT fetch$RTT-$RATE}

# --- the image and its tree (cached), the site, the initrd of hfc-boot
IMGDIR=$W/boot-image
bash "$TOP/bench/boot/make-image.sh" "$IMGDIR" || die "make-image.sh failed"
IMG=$IMGDIR/boot.img
TREE=$W/boot/rootfs
SITE=$W/boot-site
bench_site "$IMG" "$SITE" "$IMGDIR/stamp"
rm -rf "$SITE/profiles"
# --- the harness (tests/lib.sh's cleanup: qemu, nginx, namespaces, whatever happens)
bench_harness "$W/boot-run"
say "hfc-boot initrd --root $TREE (default options)"
"$TOP/boot/hfc-boot.sh" initrd --root "$TREE" --client "$BUILD/hfc-mount" -o "$R/initrd" 2>"$R/hfc-boot.err" ||
	die "hfc-boot: $(cat "$R/hfc-boot.err")"
say "$(cat "$R/hfc-boot.err")"
KERNEL=$IMGDIR/vmlinuz
# The local boot's command line, less what only its initrd knows (root=, hfc.overlay).
BASE_CMD=$(sed -e 's/root=[^ ]* //' -e 's/ hfc.overlay//' -e 's/ panic=-1//' "$IMGDIR/cmdline")

# shellcheck source=/dev/null
. "$TOP/tests/qemu-boot.sh"
netns_up bb 0
URL=$(netns_nginx bb "$SITE")
QEMU_NETNS=bb
say "site $URL (namespace $(cat "$_NETNS/bb/ns")); rows: $ROWS"

KV=$R/results.kv
: >"$KV"
put() { printf '%s=%s\n' "$1" "$2" >>"$KV"; }

warm() { warm_page_cache "$IMG" "$SITE"; }

CUR=
# link MS [RATE]: the harness's round trip and bandwidth for the next boot.
link() {
	local want="$1 ${2:-}"
	[ "$CUR" = "$want" ] && return 0
	netns_delay bb "$(awk -v r="$1" 'BEGIN { print r / 2 }')" "${2:-}"
	CUR=$want
	say "RTT $1 ms, rate ${2:-unlimited}: ping says $(netns_rtt bb) ms"
}

# guest_boot NAME MORE-CMDLINE: one in-guest boot; sets SECS (not in a subshell: qemu is
# the case's, stopped by its cleanup whatever happens).
guest_boot() {
	local name=$1 log=$R/$1.log t0 t1
	t0=$(date +%s.%N)
	qemu_boot "$log" "$KERNEL" "$R/initrd" "boot=hfc hfc=$URL ip=dhcp $BASE_CMD $2"
	qemu_wait_exit "$TIMEOUT"
	t1=$(date +%s.%N)
	grep -aq 'hfc-boot: multi-user.target reached' "$log" || die "$name: the guest never reached multi-user.target (log: $log)"
	grep -aq 'reboot: Power down' "$log" || die "$name: the guest did not power off (log: $log)"
	SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

PROFILE=
make_profile() {
	[ -z "$PROFILE" ] || return 0
	link 0
	warm
	say "a traced in-guest boot at 0 ms, for the profile"
	guest_boot trace hfc.trace
	put trace "$SECS"
	awk '/^--- trace/ { t = 1; next } /^--- end/ { t = 0 } t' "$R/trace.log.ttyS1" | tr -d '\r' >"$R/boot.trace"
	[ -s "$R/boot.trace" ] || die "the traced boot copied no trace out (log: $R/trace.log.ttyS1)"
	hfc-profile record -q --json -o "$R/boot.prof" --site "$SITE" "$R/boot.trace" >"$R/profile.json" ||
		die "hfc-profile record failed"
	hfc-profile install -q "$R/boot.prof" "$SITE" || die "hfc-profile install failed"
	PROFILE=$R/boot.prof
	say "profile: $(cat "$R/profile.json")"
}

# median V...: the median of the values (the mean of the middle two for an even count).
median() {
	printf '%s\n' "$@" | sort -g |
		awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

for row in $ROWS; do
	name=${row%%-*}
	rate=
	[ "$row" = "$name" ] || rate=${row#*-}
	ms=${name//[a-z]/}
	case $name in
	local)
		# The base of every percentage: the median of RUNS boots (a TCG guest on a shared
		# host varies by 10-20% from one boot to the next).
		all=()
		for k in $(seq "$RUNS"); do
			warm
			secs=$(bash "$TOP/bench/boot/boot.sh" "$IMG" "$R/local.log") || die "the local boot failed"
			all+=("$secs")
		done
		secs=$(median "${all[@]}")
		[ "$RUNS" = 1 ] || say "local: ${all[*]} s; median $secs s"
		;;
	guest0)
		link "$ms" "$rate"
		all=()
		for k in $(seq "$RUNS"); do
			warm
			guest_boot "$row" ""
			all+=("$SECS")
		done
		secs=$(median "${all[@]}")
		[ "$RUNS" = 1 ] || say "guest0: ${all[*]} s; median $secs s"
		;;
	guest[0-9]*)
		link "$ms" "$rate"
		warm
		guest_boot "$row" ""
		secs=$SECS
		;;
	prof[0-9]*)
		make_profile
		link "$ms" "$rate"
		warm
		guest_boot "$row" hfc.prefetch=auto
		secs=$SECS
		;;
	fetch[0-9]*)
		link "$ms" "$rate"
		warm
		rm -f /dev/shm/hfc-bench-fetch.img
		t0=$(date +%s.%N)
		netns_enter bb hfc-get -q "$URL" /dev/shm/hfc-bench-fetch.img || die "$row: hfc-get failed"
		dl=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
		put "$row.download" "$dl"
		b=$(bash "$TOP/bench/boot/boot.sh" -k "$IMGDIR" /dev/shm/hfc-bench-fetch.img "$R/$row.log") ||
			die "$row: the boot of the fetched image failed"
		rm -f /dev/shm/hfc-bench-fetch.img
		put "$row.boot" "$b"
		secs=$(awk -v a="$dl" -v b="$b" 'BEGIN { printf "%.2f", a + b }')
		;;
	*) die "unknown row '$row' (HFC_BOOT_ROWS)" ;;
	esac
	put "$row" "$secs"
	[ ! -s "$R/$row.log.ttyS1" ] || cp "$R/$row.log.ttyS1" "$R/$row.stats"
	say "$(printf '%-16s %8s s' "$row" "$secs")"
done

python3 - "$KV" "$ROWS" "$W/boot-results.json" "$RTT" "$RATE" "$R" "$RUNS" <<'PY'
import json, os, re, sys
kv, rows, out, rtt, rate, rdir = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
runs = int(sys.argv[7])
v = {}
for line in open(kv):
    k, x = line.rstrip("\n").split("=", 1)
    v[k] = float(x)
local, g0, p10 = v.get("local"), v.get("guest0"), v.get("prof%s-%s" % (rtt, rate))
paper = {"local": ("DVD", 184), "guest0": ("LAN", 173), "guest%s" % rtt: ("100 ms RTT", 432),
         "prof%s" % rtt: ("100 ms, DLAHEAD", 282)}
def what(r):
    n, _, lim = r.partition("-")
    bw = ("%sbit/s" % lim) if lim else "unlimited"
    m = re.fullmatch(r"([a-z]+)(\d*)", n)
    kind, ms = m.group(1), m.group(2)
    d = {"local": "local disk", "guest": "in-guest boot=hfc", "prof": "in-guest, profile (auto)",
         "fetch": "whole download, then boot"}[kind]
    return d, ("-" if kind == "local" else ms), ("-" if kind == "local" else bw)
targets = {}
def target(r):
    if r == "guest0" and local:
        return "<=130% local", 100 * v[r] / local <= 130
    if r == "guest%s" % rtt and g0:
        return "<=150% guest0", 100 * v[r] / g0 <= 150
    if r == "prof%s" % rtt and g0:
        return "<=110% guest0", 100 * v[r] / g0 <= 110
    f = v.get("fetch%s-%s" % (rtt, rate))
    if r == "prof%s-%s" % (rtt, rate) and f:
        return ">=2x faster than fetch (%.1fx)" % (f / v[r]), f / v[r] >= 2
    return None
print()
print("boot of a Debian 12 image in qemu (TCG, 1 CPU), power-on to power-off; one run a row"
      + ("" if runs == 1 else ", local and guest0: the median of %d" % runs))
print("%-16s %-27s %6s %10s %8s %8s %8s  %-22s %s" % ("row", "root", "RTT ms", "bandwidth",
      "seconds", "% local", "% guest0", "paper (Table 3)", "target"))
for r in rows:
    if r not in v:
        continue
    d, ms, bw = what(r)
    pl = "%.0f%%" % (100 * v[r] / local) if local else "-"
    pg = "%.0f%%" % (100 * v[r] / g0) if g0 and r != "local" else "-"
    p = paper.get(r)
    ps = "%s %d s = %.0f%%" % (p[0], p[1], 100 * p[1] / 184) if p else ""
    t = target(r)
    ts = "" if t is None else "%s %s" % (t[0], "PASS" if t[1] else "MISS")
    if t is not None:
        targets[r] = {"target": t[0], "pass": t[1]}
    extra = ""
    if r + ".download" in v:
        extra = " (download %.1f s + boot %.1f s)" % (v[r + ".download"], v[r + ".boot"])
    print("%-16s %-27s %6s %10s %8.1f %8s %8s  %-22s %s%s" % (r, d, ms, bw, v[r], pl, pg, ps, ts, extra))
if "trace" in v:
    print("(the traced boot that made the profile, at 0 ms: %.1f s)" % v["trace"])
pj = os.path.join(rdir, "profile.json")
prof = json.load(open(pj)) if os.path.exists(pj) else None
if prof:
    print("profile: %s" % json.dumps(prof))
stats = {}
for r in rows:
    f = os.path.join(rdir, r + ".stats")
    if os.path.exists(f):
        st = {}
        for line in open(f, errors="replace"):
            if line.startswith("---"):
                break
            k, _, x = line.partition(":")
            if re.fullmatch(r"\s*\d+\s*", x):
                st[k.strip()] = int(x)
        stats[r] = st
if stats:
    print("\nthe client at the end of each in-guest boot (.stats)")
    print("%-16s %7s %7s %9s %9s %9s %10s" % ("row", "reads", "misses", "MiB fetched", "pf total",
          "pf hits", "ra fetched"))
    for r, st in stats.items():
        print("%-16s %7s %7s %9.1f %9s %9s %10s" % (r, st.get("reads", "-"), st.get("misses", "-"),
              st.get("bytes_fetched", 0) / 2**20, st.get("prefetch_total", "-"),
              st.get("prefetch_hits", "-"), st.get("readahead_fetched", "-")))
json.dump({"rtt_ms": int(rtt), "rate": rate, "seconds": v, "targets": targets, "profile": prof,
           "stats": stats}, open(out, "w"), indent=1, sort_keys=True)
print("\n(figures in %s)" % out)
PY
