#!/usr/bin/env bash
# bench-latency.sh — the boot benchmark of issue 6 (the shape of the paper's Table 3): a real
# Debian boot in qemu (TCG) whose read-only root disk is (a) a local file, (b) hfc-mount of a
# site served by nginx at 0 ms and at ${HFC_LAT_RTT:-100} ms RTT, without and with a DLAHEAD
# boot profile (hfc-mount --prefetch, 4, 8 and 16 prefetch connections), (c) qemu's own curl
# driver reading the raw image from nginx at the same RTTs (the baseline a user would pick).
#
#   usage: bash bench/bench-latency.sh BUILD_DIR   (BUILD_DIR holds hfc-mkimage, hfc-mount,
#                                                   hfc-profile and netdelay: `make`)
#
# Needs root (network namespaces, FUSE), qemu-system-x86 and qemu-block-extra, debootstrap
# (the first run builds the image: a few minutes, from the Debian archive apt uses here, see
# bench/debian-mirror.sh), nginx, curl, iproute2,
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
#   HFC_LAT_ROWS       the rows to run, in order (default: local mount0 mount0-trace mountR
#                      prefetch4-R prefetch8-R prefetch16-R curlR curl0; R stands for
#                      HFC_LAT_RTT). Known rows:
#                        local          the image as a local file
#                        mountD         hfc-mount at D ms RTT (D = 0: no delay)
#                        mountD-trace   the same with --trace: the trace the profile is made of
#                        prefetchN-D    hfc-mount --prefetch=auto --prefetch-connections N at
#                                       D ms RTT (DLAHEAD: the site's installed profile)
#                        curlD          qemu's curl driver on the raw image at D ms RTT
#   HFC_LAT_TRACE=0    no --trace on the mountD (D > 0) and prefetchN-D rows; by default they
#                      write one, for the wait figures below (mount0 never does, mountD-trace
#                      always does). A trace is one buffered line per block read.
#   HFC_LAT_MOUNT_OPTS more hfc-mount options for every hfc-mount row (default none), e.g.
#                      "--mem-cache 256M" or "--readahead 0", for a look at one setting.
#   HFC_LAT_RESULTS    where the JSON goes (default $HFC_BENCH_DIR/latency-results.json): a
#                      re-run of a few rows can leave the full run's file alone.
#   HFC_BENCH_KEEP=1   keep the scratch (logs, traces, .stats) under latency-run/.
#
# Every boot is cold for the client: a fresh hfc-mount without --cache (empty memory cache);
# the page cache is warm for every row alike (the image file and the site are read once before
# each boot: nginx serves from memory, the local file is read from memory), so a row measures
# the network path and the client, not the disk.
#
# DLAHEAD. The first mountD-trace boot of the run gives the profile:
#   hfc-profile record -o latency-run/boot.prof --site SITE TRACE   (one run: every block read)
#   hfc-profile install latency-run/boot.prof SITE                  (SITE/profiles/NNNNNN.prof)
# and the prefetchN-D rows mount with --prefetch=auto: hfc-mount fetches that profile from
# nginx like any client. Prefetch rows that come before any mountD-trace row use the profile
# an earlier run installed in the site (the site and its profile are rebuilt when the image
# changes); when the site has none, a mount0-trace boot is run first to make one.
#
# After each hfc-mount boot, before the unmount, MNT/.stats is kept. For the prefetch rows the
# report gives: prefetch_hits / (reads - zero_reads), the share of the demand reads of
# non-zero blocks served by prefetched blocks (a block read again counts again in reads, once
# in prefetch_hits, so this share is a lower bound); prefetch_hits / the distinct non-zero
# blocks the boot read (from the row's trace, hfc-profile show --trace); prefetch_hits /
# prefetch_total; prefetch_wasted_bytes (fetched and not read by the end of the boot); misses.
# From each row's trace: the demand misses and how long they waited, the hits that waited for
# a load under way (readahead or prefetch), and the wall time during which at least one read of
# the guest waited on the network (the union of those waits: the time the network adds, at
# most, to a CPU-bound boot).
#
# Output: the table in the shape of the paper's Table 3 (seconds, % of the local-file boot,
# the issue's targets at RTT R: with the profile <= 115% of local, without <= 150%: PASS or
# MISS), the prefetch and wait figures, and $HFC_BENCH_DIR/latency-results.json (all of it,
# with the load average before each boot: qemu TCG is CPU-bound, a busy machine slows a boot).
# Exit status 0 when every row ran, whatever the figures; 1 when a boot failed.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_start bench-latency "$@"
bench_built hfc-mkimage hfc-mount hfc-profile netdelay
bench_root "network namespaces, FUSE"
bench_cmds qemu-system-x86_64 nginx curl ip nsenter ping debootstrap fusermount3

W=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}
ROUNDS=${HFC_BENCH_ROUNDS:-1}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "HFC_BENCH_ROUNDS must be a number from 1 to 99"
RTT=${HFC_LAT_RTT:-100}
[[ $RTT =~ ^[0-9]+$ ]] || die "HFC_LAT_RTT must be a whole number of milliseconds"
ROWS=${HFC_LAT_ROWS:-local mount0 mount0-trace mount$RTT prefetch4-$RTT prefetch8-$RTT prefetch16-$RTT curl$RTT curl0}
TRACE_ALL=${HFC_LAT_TRACE:-1}
read -r -a MOUNT_OPTS <<<"${HFC_LAT_MOUNT_OPTS:-}"
for row in $ROWS; do
	[[ $row =~ ^(local|mount[0-9]+|mount[0-9]+-trace|prefetch[1-9][0-9]?-[0-9]+|curl[0-9]+)$ ]] ||
		die "unknown row '$row' (HFC_LAT_ROWS)"
done

# --- the image (cached)
IMGDIR=$W/boot-image
bash "$TOP/bench/boot/make-image.sh" "$IMGDIR" || die "make-image.sh failed"
IMG=$IMGDIR/boot.img

# --- the site (rebuilt when the image changed)
SITE=$W/latency-site
bench_site "$IMG" "$SITE" "$IMGDIR/stamp"
# The raw image, for qemu's curl driver, in a directory of its own.
RAW=$W/latency-raw
mkdir -p "$RAW"
ln -f "$IMG" "$RAW/boot.img" 2>/dev/null || cp --reflink=auto "$IMG" "$RAW/boot.img"

# --- the harness (tests/lib.sh's cleanup: mounts, nginx, namespaces, whatever happens)
bench_harness "$W/latency-run" '*.log' '*.trace'

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
warm() { warm_page_cache "$IMG" "$SITE"; }

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

# --- DLAHEAD: the profile of the site, from a traced boot at 0 ms
PROFILE_MADE=
# site_profile: prints the path of the profile installed in the site (its one version).
site_profile() {
	local f
	for f in "$SITE"/profiles/[0-9]*.prof; do
		[ -s "$f" ] && { echo "$f"; return 0; }
	done
	return 0
}
# make_profile TRACE: record the profile from one boot's trace and install it in the site.
make_profile() {
	local trace=$1 prof=$R/boot.prof
	[ -s "$trace" ] || die "no trace at $trace"
	hfc-profile record -q --json -o "$prof" --site "$SITE" "$trace" >"$R/profile-record.json" ||
		die "hfc-profile record failed"
	hfc-profile install -q "$prof" "$SITE" || die "hfc-profile install failed"
	PROFILE_MADE=$trace
	say "profile: $(cat "$R/profile-record.json") installed as $(site_profile)"
}

# trace_cover NAME ROUND: how much of the boot's trace the installed profile covers.
trace_cover() {
	local tr=$R/$1.$2.trace p
	p=$(site_profile)
	[ -s "$tr" ] && [ -n "$p" ] || return 0
	hfc-profile show --json --site "$SITE" --trace "$tr" "$p" >"$R/$1.$2.cover.json" 2>"$R/$1.$2.cover.err" ||
		say "hfc-profile show --trace $tr: $(cat "$R/$1.$2.cover.err")"
	[ -s "$R/$1.$2.cover.err" ] || rm -f "$R/$1.$2.cover.err"
}

# prefetch_poll MP OUT: writes to OUT the seconds from the start of the boot (this call) until
# the prefetch has been through the whole profile (prefetch_done + prefetch_errors +
# prefetch_present = prefetch_total in MP/.stats); reads .stats 5 times a second.
prefetch_poll() {
	local mp=$1 out=$2 t0
	t0=$(date +%s.%N)
	while sleep 0.2; do
		if awk -F': *' '{ v[$1] = $2 }
			END { exit !(v["prefetch_total"] > 0 && v["prefetch_done"] + v["prefetch_errors"] + v["prefetch_present"] >= v["prefetch_total"]) }' \
			"$mp/.stats" 2>/dev/null; then
			awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }' >"$out"
			return 0
		fi
	done
}

# boot_row NAME ROUND: one boot of a row; records NAME.ROUND=seconds.
boot_row() {
	local name=$1 round=$2 log=$R/$1.$2.log secs mp
	if [[ $name == prefetch* ]] && [ -z "$PROFILE_MADE" ] && [ -z "$(site_profile)" ]; then
		say "the site has no profile yet: a mount0-trace boot first"
		boot_row mount0-trace "$round"
	fi
	warm
	put "load.$name.$round" "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)"
	case $name in
	local)
		secs=$(bash "$TOP/bench/boot/boot.sh" "$IMG" "$log") || die "boot $name failed"
		;;
	mount[0-9]* | prefetch[0-9]*-[0-9]*)
		local rtt conn args=()
		case $name in
		prefetch*)
			rtt=${name#*-}
			# DLAHEAD: the site's profile (auto), N prefetch connections.
			conn=${name%%-*}
			args+=(--prefetch=auto --prefetch-connections "${conn#prefetch}")
			;;
		*)
			rtt=${name#mount}
			rtt=${rtt%-trace}
			;;
		esac
		if [[ $name == *-trace ]] || { [ "$TRACE_ALL" != 0 ] && [ "$name" != mount0 ]; }; then
			args+=(--trace "$R/$name.$round.trace")
		fi
		set_rtt "$rtt"
		mp=$R/mnt
		netns_mount_hfc lat "$mp" "${MOUNT_OPTS[@]}" "${args[@]}" "$SITE_URL"
		local poller=
		if [[ $name == prefetch* ]]; then
			prefetch_poll "$mp" "$R/$name.$round.pfdone" &
			poller=$!
		fi
		secs=$(bash "$TOP/bench/boot/boot.sh" -k "$IMGDIR" "$mp/image" "$log") ||
			{ cat "$HFC_MOUNT_LOG" >&2; die "boot $name failed"; }
		if [ -n "$poller" ]; then
			kill "$poller" 2>/dev/null || true
			wait "$poller" 2>/dev/null || true
		fi
		# The counters at the end of the boot (this also flushes the trace).
		cp "$mp/.stats" "$R/$name.$round.stats"
		umount_hfc "$mp"
		if [[ $name == *-trace ]] && [ -z "$PROFILE_MADE" ]; then
			make_profile "$R/$name.$round.trace"
		fi
		if [[ $name == prefetch* ]]; then trace_cover "$name" "$round"; fi
		;;
	curl[0-9]*)
		set_rtt "${name#curl}"
		secs=$(netns_enter lat bash "$TOP/bench/boot/boot.sh" -k "$IMGDIR" "$RAW_URL" "$log") ||
			die "boot $name failed"
		;;
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

# The profile the prefetch rows used (made in this run, or installed earlier).
p=$(site_profile)
if [ -n "$p" ]; then
	hfc-profile show --json --site "$SITE" "$p" >"$R/profile-show.json" || die "hfc-profile show $p failed"
fi

# --- table and JSON: medians over the rounds, % of the local-file boot, the targets, the
# prefetch counters and the waits of the traced rows
python3 - "$KV" "$ROWS" "${HFC_LAT_RESULTS:-$W/latency-results.json}" "$RTT" "$R" "${HFC_LAT_MOUNT_OPTS:-}" <<'PY'
import json, os, re, statistics, sys
kv, rows, out, rtt, rdir = sys.argv[1], sys.argv[2].split(), sys.argv[3], int(sys.argv[4]), sys.argv[5]
mount_opts = sys.argv[6]
runs, load, order = {}, {}, []
for line in open(kv):
    k, v = line.rstrip("\n").split("=", 1)
    name, rnd = k.rsplit(".", 1)
    if name.startswith("load."):
        load.setdefault(name[5:], {})[rnd] = [float(x) for x in v.split(",")]
    else:
        runs.setdefault(name, []).append((int(rnd), float(v)))
        if name not in order:
            order.append(name)
# In the order they first ran: a row that was not asked for (the trace boot that a prefetch
# row needed) shows where it ran.
rows = order
secs = {n: [s for _, s in v] for n, v in runs.items()}
med = {n: statistics.median(v) for n, v in secs.items()}
base = med.get("local")

def parse_row(n):
    m = re.fullmatch(r"prefetch(\d+)-(\d+)", n)
    if m:
        return "hfc-mount + profile, %s conn" % m.group(1), int(m.group(2)), int(m.group(1))
    m = re.fullmatch(r"mount(\d+)(-trace)?", n)
    if m:
        return "hfc-mount" + (" --trace" if m.group(2) else ""), int(m.group(1)), None
    m = re.fullmatch(r"curl(\d+)", n)
    if m:
        return "qemu curl driver", int(m.group(1)), None
    return "local file", None, None

def target(n):
    disk, r, conn = parse_row(n)
    if r != rtt or n.endswith("-trace") or n.startswith("curl"):
        return None
    return 115 if conn else 150

def stats_of(n, rnd):
    f = os.path.join(rdir, "%s.%d.stats" % (n, rnd))
    if not os.path.exists(f):
        return None
    st = {}
    for line in open(f):
        k, _, v = line.partition(":")
        v = v.strip()
        if re.fullmatch(r"\d+", v):
            st[k] = int(v)
    return st

def trace_of(n, rnd):
    f = os.path.join(rdir, "%s.%d.trace" % (n, rnd))
    if not os.path.exists(f):
        return None
    lines = []
    for line in open(f):
        if line.startswith("#"):
            continue
        t, b, kind, by, d = line.split()
        lines.append((int(t), int(b), kind, int(by), int(d)))
    if not lines:
        return None
    WAIT = 1000  # us: a read from memory takes microseconds; a longer one waited for a load
    seen, refetch = set(), []
    for t, b, k, _, d in sorted(lines):
        if k == "miss" and b in seen:
            refetch.append(d)
        seen.add(b)
    miss = sorted(d for _, _, k, _, d in lines if k == "miss")
    whit = sorted(d for _, _, k, _, d in lines if k == "hit" and d >= WAIT)
    iv = sorted((t, t + d) for t, _, _, _, d in lines if d >= WAIT)
    union, cs, ce = 0, None, None
    for s0, e0 in iv:
        if ce is None or s0 > ce:
            if ce is not None:
                union += ce - cs
            cs, ce = s0, e0
        else:
            ce = max(ce, e0)
    if ce is not None:
        union += ce - cs
    q = lambda v, p: v[min(len(v) - 1, int(p * len(v)))] / 1e3 if v else 0.0
    return {"lines": len(lines), "blocks": len({b for _, b, _, _, _ in lines}),
            "misses": len(miss), "miss_wait_s": sum(miss) / 1e6,
            "refetches": len(refetch), "refetch_wait_s": sum(refetch) / 1e6,
            "miss_median_ms": q(miss, 0.5), "miss_p90_ms": q(miss, 0.9),
            "miss_max_ms": miss[-1] / 1e3 if miss else 0.0,
            "waited_hits": len(whit), "waited_hits_s": sum(whit) / 1e6,
            "waited_hits_median_ms": q(whit, 0.5),
            "stall_s": union / 1e6,
            "first_read_s": min(t for t, _, _, _, _ in lines) / 1e6,
            "last_read_end_s": max(t + d for t, _, _, _, d in lines) / 1e6}

def guest_of(n, rnd):
    f = os.path.join(rdir, "%s.%d.log" % (n, rnd))
    if not os.path.exists(f):
        return None
    g = {}
    for line in open(f, "rb").read().decode("utf-8", "replace").splitlines():
        m = re.search(r"hfc-boot: multi-user.target reached, uptime ([0-9.]+)", line)
        if m:
            g["multi_user_s"] = float(m.group(1))
        m = re.match(r"\[\s*([0-9.]+)\] reboot: Power down", line)
        if m:
            g["power_down_s"] = float(m.group(1))
    return g or None

def pfdone_of(n, rnd):
    f = os.path.join(rdir, "%s.%d.pfdone" % (n, rnd))
    return float(open(f).read()) if os.path.exists(f) else None

def cover_of(n, rnd):
    f = os.path.join(rdir, "%s.%d.cover.json" % (n, rnd))
    return json.load(open(f)) if os.path.exists(f) else None

def derived(st, cov):
    if not st:
        return None
    nz = st["reads"] - st["zero_reads"]
    d = {"nonzero_reads": nz,
         "prefetch_hits_per_nonzero_read": st["prefetch_hits"] / nz if nz else None,
         "prefetch_hits_per_prefetch_total":
             st["prefetch_hits"] / st["prefetch_total"] if st["prefetch_total"] else None}
    if cov and cov.get("trace_blocks"):
        d["distinct_nonzero_blocks"] = cov["trace_blocks"]
        d["prefetch_hits_per_block"] = st["prefetch_hits"] / cov["trace_blocks"]
        d["profile_coverage"] = float(cov["coverage"])
    return d

per = {}
for n in rows:
    per[n] = []
    for rnd, s in sorted(runs[n]):
        st, cov = stats_of(n, rnd), cover_of(n, rnd)
        per[n].append({"round": rnd, "seconds": s, "loadavg": load.get(n, {}).get(str(rnd)),
                       "stats": st, "derived": derived(st, cov), "cover": cov,
                       "prefetch_complete_s": pfdone_of(n, rnd), "guest": guest_of(n, rnd),
                       "trace": trace_of(n, rnd)})

def medof(n, f):
    v = [f(x) for x in per[n]]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None

prof = {}
for f, k in (("profile-show.json", "show"), ("profile-record.json", "record")):
    p = os.path.join(rdir, f)
    if os.path.exists(p):
        prof[k] = json.load(open(p))

MiB = 1 << 20
nr = max(len(v) for v in secs.values())
print()
print("boot of a Debian 12 image in qemu (TCG), read-only root disk; median of %d run(s)%s" %
      (nr, "; hfc-mount " + mount_opts if mount_opts else ""))
print("%-15s %-29s %6s %9s %8s %7s %5s" % ("row", "disk", "RTT ms", "seconds", "% local", "target", ""))
pct, verdict = {}, {}
for n in rows:
    disk, r, _ = parse_row(n)
    pct[n] = 100 * med[n] / base if base else None
    t = target(n)
    v = "" if t is None or pct[n] is None else ("PASS" if pct[n] <= t else "MISS")
    if t is not None:
        verdict[n] = {"limit_percent": t, "percent": pct[n], "result": v or None}
    print("%-15s %-29s %6s %9.2f %8s %7s %5s" % (
        n, disk, "-" if r is None else r, med[n],
        "-" if pct[n] is None else "%.0f%%" % pct[n],
        "" if t is None else "<=%d%%" % t, v))

gr = [n for n in rows if any(x["guest"] for x in per[n])]
if gr:
    print("\nthe guest's clock (medians): uptime at multi-user.target, at the power-down,"
          " the shutdown between them, and the wall time outside the guest's uptime"
          " (qemu start, firmware, kernel load; exit)")
    print("%-15s %12s %12s %10s %10s" % ("row", "multi-user s", "power-down s", "shutdown s",
                                       "outside s"))
    for n in gr:
        q = lambda k: medof(n, lambda x: (x["guest"] or {}).get(k))
        mu, pd = q("multi_user_s"), q("power_down_s")
        out_s = medof(n, lambda x: x["seconds"] - x["guest"]["power_down_s"]
                      if x["guest"] and "power_down_s" in x["guest"] else None)
        f = lambda v: "-" if v is None else "%.2f" % v
        print("%-15s %12s %12s %10s %10s" % (n, f(mu), f(pd),
              f(pd - mu if mu is not None and pd is not None else None), f(out_s)))

if prof.get("show"):
    ps = prof["show"]
    print("\nprofile %s: version %s, %s blocks, %.1f MiB to fetch (%s bytes)%s" % (
        os.path.basename(ps["profile"]), ps["version"], ps["blocks"], ps["bytes"] / MiB,
        ps["bytes"], ", from %s run(s)" % prof["record"]["runs"] if "record" in prof else
        " (installed by an earlier run)"))

pf = [n for n in rows if n.startswith("prefetch") and any(x["stats"] for x in per[n])]
if pf:
    print("\nprefetch at the end of the boot (.stats; medians over the rounds); hits/reads ="
          " prefetch_hits / (reads - zero_reads), hits/blocks = prefetch_hits / distinct"
          " non-zero blocks read, hits/total = prefetch_hits / prefetch_total")
    print("(pf end s: seconds from the start of the boot until prefetch had been through the"
          " whole profile; ra: readahead blocks fetched / used)")
    print("%-15s %5s %5s %6s %5s %5s %5s %10s %11s %10s %6s %9s %7s %8s %9s" % (
        "row", "reads", "nz rd", "misses", "total", "done", "hits", "hits/reads",
        "hits/blocks", "hits/total", "pf MiB", "waste MiB", "all MiB", "pf end s", "ra"))
    for n in pf:
        g = lambda k: medof(n, lambda x: x["stats"][k] if x["stats"] else None)
        h = lambda k: medof(n, lambda x: (x["derived"] or {}).get(k))
        fmt = lambda v: "-" if v is None else "%.1f%%" % (100 * v)
        e = medof(n, lambda x: x["prefetch_complete_s"])
        print("%-15s %5d %5d %6d %5d %5d %5d %10s %11s %10s %6.1f %9.2f %7.1f %8s %9s" % (
            n, g("reads"), h("nonzero_reads"), g("misses"), g("prefetch_total"),
            g("prefetch_done"), g("prefetch_hits"), fmt(h("prefetch_hits_per_nonzero_read")),
            fmt(h("prefetch_hits_per_block")), fmt(h("prefetch_hits_per_prefetch_total")),
            g("prefetch_bytes") / MiB, g("prefetch_wasted_bytes") / MiB,
            g("bytes_fetched") / MiB, "-" if e is None else "%.1f" % e,
            "%d/%d" % (g("readahead_fetched"), g("readahead_hits"))))

tr = [n for n in rows if any(x["trace"] for x in per[n])]
if tr:
    print("\nwaits, from the traces (medians over the rounds): misses = demand downloads;"
          " waited hits = reads that waited >= 1 ms for a load under way (readahead,"
          " prefetch); stalled = wall time with at least one read waiting")
    print("(refetch: misses of a block this boot had read before, evicted from memory since;"
          " io end: the last read's end, in seconds from the mount)")
    print("%-15s %5s %6s %7s %8s %8s %7s %7s %8s %6s %8s %9s %8s" % (
        "row", "reads", "misses", "miss s", "med ms", "p90 ms", "max ms", "refetch",
        "refetch s", "waited", "waited s", "stalled s", "io end s"))
    for n in tr:
        t = lambda k: medof(n, lambda x: x["trace"][k] if x["trace"] else None)
        print("%-15s %5d %6d %7.2f %8.1f %8.1f %7.1f %7d %8.2f %6d %8.2f %9.2f %8.2f" % (
            n, t("lines"), t("misses"), t("miss_wait_s"), t("miss_median_ms"),
            t("miss_p90_ms"), t("miss_max_ms"), t("refetches"), t("refetch_wait_s"),
            t("waited_hits"), t("waited_hits_s"), t("stall_s"), t("last_read_end_s")))

print("\nload average before each boot (1, 5, 15 min; 2 cores):")
for n in rows:
    print("  %-15s %s" % (n, "  ".join(",".join("%.2f" % y for y in x["loadavg"])
                                          for x in per[n] if x["loadavg"])))

json.dump({"rtt_ms": rtt, "mount_opts": mount_opts, "runs": secs, "median_s": med,
           "percent_of_local": {n: pct[n] for n in rows} if base else {},
           "targets": verdict, "profile": prof, "rows": per},
          open(out, "w"), indent=1, sort_keys=True)
print("\n(figures in %s)" % out)
PY
