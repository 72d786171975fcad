#!/usr/bin/env bash
# bench-delta.sh — what a mirror must receive for a real update of a real root file system:
# new 256 KiB block files (the paper's way) vs `casync make` new chunks vs an hfcloop delta
# bundle vs the 4 KiB floor; once for an update made in place (loop mount, apt-get), once for
# the same tree rebuilt from scratch with mke2fs -d. Plus the time to diff, make and apply.
#
#   usage: bash bench/bench-delta.sh BUILD_DIR      (BUILD_DIR holds hfc-mkimage, hfc-diff, ...)
#
# Needs root (debootstrap, loop mount, chroot) and a Debian archive: the one this machine's apt
# uses (tests/debian-mirror.sh reads its sources), for SUITE and for SUITE-security.
#
# Environment:
#   HFC_BENCH_DIR    work directory (default /var/tmp/hfc-bench); this benchmark uses
#                    $HFC_BENCH_DIR/delta. The two root file systems and their images are
#                    kept there and reused while their stamps match (delete the directory to
#                    start again); sites, stores and bundles are made again on every run.
#   HFC_BENCH_SUITE  Debian suite (default bookworm).
#   HFC_DEBIAN_MIRROR, HFC_DEBIAN_SECURITY_MIRROR  the archive and the security archive to use
#                    instead of apt's (tests/debian-mirror.sh); apt's HTTP proxy is used too.
#   HFC_BENCH_PKGS   packages v1 has besides minbase, from the release suite (default
#                    "perl openssl ca-certificates xz-utils curl"; the update upgrades them).
#   HFC_BENCH_INSTALL packages the update installs besides the upgrade (default none).
#
# The data:
#   v1   debootstrap --variant=minbase --include=HFC_BENCH_PKGS SUITE (the release suite
#        only), put into a 1 GiB ext2 image by mke2fs -d;
#   v2   a copy of the v1 image, loop-mounted, updated inside by chroot apt-get: a security
#        update (apt-get upgrade from SUITE-security; apt's lists and .debs live on tmpfs
#        mounts, as an image builder keeps them: the image changes by what dpkg installs);
#   v2r  the updated tree copied out and put into a new image by mke2fs -d (every block moves).
#
# The figures (bytes a mirror that holds v1 must receive for v2):
#   blocks   new block files of the hfcloop site (hfc-diff new_bytes);
#   casync   new chunk files in a casync store holding v1 (`casync make`, default settings);
#   bundle   hfc-diff --bundle;
#   floor    the distinct 4 KiB pages of v2 found nowhere in v1, each compressed alone
#            (zlib level 9), zero pages excluded: what any page-granular scheme must send.
# Targets: bundle <= 1.2x floor (both cases) and <= 0.5x casync (the update in place).
# Ends with a table, also written to $HFC_BENCH_DIR/delta-results.json. Exit status 0 when every
# step ran, whatever the figures; 1 when a step failed.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_start bench-delta "$@"
bench_built hfc-mkimage hfc-diff hfc-apply hfc-index
bench_root "debootstrap, loop mounts, chroot"

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v casync >/dev/null || need+=(casync)
[ -x /usr/bin/time ] || need+=(time)
command -v rsync >/dev/null || need+=(rsync)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${need[@]}" >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; } ||
		die "cannot install ${need[*]}"
fi

W=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}
DW=$W/delta
SUITE=${HFC_BENCH_SUITE:-bookworm}
. "$TOP/tests/debian-mirror.sh"
MIRROR=$(debian_mirror "$SUITE") || exit 1
SECMIRROR=$(debian_security_mirror "$SUITE") || exit 1
debian_proxy_env
PKGS=${HFC_BENCH_PKGS-perl openssl ca-certificates xz-utils curl}
INSTALL=${HFC_BENCH_INSTALL:-}
SIZE=1G
mkdir -p "$DW"

mkfs_img() { # TREE IMG
	E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext2 -b 4096 -L hfc-delta \
		-U 5f1c2a3e-8d4b-4c6f-9a0e-1b2c3d4e5f61 \
		-E hash_seed=0d9c1f2e-3a4b-4c5d-8e6f-708192a3b4c6,root_owner=0:0 \
		-d "$1" "$2.tmp" "$SIZE" >"$DW/mke2fs.log" 2>&1 ||
		{ cat "$DW/mke2fs.log" >&2; die "mke2fs -d $1 failed"; }
	mv "$2.tmp" "$2"
}

# ---------------------------------------------------------------- 1. v1
KEY1=$(printf 'v1 3|%s|%s|%s|%s|%s' "$SUITE" "$MIRROR" "$SIZE" "$PKGS" "$(mke2fs -V 2>&1 | sed -n 1p)" | sha256sum | cut -c1-16)
if [ "$(cat "$DW/v1.stamp" 2>/dev/null)" = "$KEY1" ] && [ -s "$DW/v1.img" ]; then
	say "reusing $DW/v1.img"
else
	rm -rf "$DW/v1-root" "$DW/v1.img" "$DW/v1.stamp" "$DW/v2.stamp"
	include=()
	[ -n "$PKGS" ] && include=(--include="${PKGS// /,}")
	say "debootstrap --variant=minbase ${include[*]} $SUITE $DW/v1-root $MIRROR"
	debootstrap --variant=minbase "${include[@]}" "$SUITE" "$DW/v1-root" "$MIRROR" \
		>"$DW/debootstrap.log" 2>&1 ||
		{ tail -20 "$DW/debootstrap.log" >&2; die "debootstrap failed (log: $DW/debootstrap.log)"; }
	mkfs_img "$DW/v1-root" "$DW/v1.img"
	echo "$KEY1" >"$DW/v1.stamp"
fi

# ---------------------------------------------------------------- 2. v2: a real update
KEY2=$(printf 'v2 3|%s|%s|%s' "$KEY1" "$SECMIRROR" "$INSTALL" | sha256sum | cut -c1-16)
MNT=$DW/mnt
cleanup_mounts() {
	for m in "$MNT/var/cache/apt/archives" "$MNT/var/lib/apt/lists" "$MNT/proc" "$MNT"; do
		mountpoint -q "$m" 2>/dev/null && umount "$m" 2>/dev/null || true
	done
}
trap cleanup_mounts EXIT
if [ "$(cat "$DW/v2.stamp" 2>/dev/null)" = "$KEY2" ] && [ -s "$DW/v2.img" ] && [ -s "$DW/v2r.img" ]; then
	say "reusing $DW/v2.img and $DW/v2r.img ($(wc -l <"$DW/update.txt") packages changed)"
else
	rm -f "$DW/v2.img" "$DW/v2r.img" "$DW/v2.stamp"
	rm -rf "$DW/v2-root"
	cp --sparse=always "$DW/v1.img" "$DW/v2.img.tmp"
	mkdir -p "$MNT"
	mount -o loop "$DW/v2.img.tmp" "$MNT"
	mount -t proc proc "$MNT/proc"
	mount -t tmpfs tmpfs "$MNT/var/cache/apt/archives"
	mount -t tmpfs tmpfs "$MNT/var/lib/apt/lists"
	cp /etc/resolv.conf "$MNT/etc/resolv.conf"
	echo "deb $SECMIRROR $SUITE-security main" >"$MNT/etc/apt/sources.list.d/security.list"
	printf '#!/bin/sh\nexit 101\n' >"$MNT/usr/sbin/policy-rc.d"
	chmod 755 "$MNT/usr/sbin/policy-rc.d"
	chroot "$MNT" dpkg-query -W -f '${Package} ${Version}\n' | sort >"$DW/before.txt"
	say "updating inside the loop-mounted image: apt-get upgrade from $SUITE-security${INSTALL:+, install $INSTALL}"
	{
		chroot "$MNT" env DEBIAN_FRONTEND=noninteractive apt-get -q update &&
		chroot "$MNT" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
			-o Dpkg::Options::=--force-confold upgrade &&
		if [ -n "$INSTALL" ]; then
			chroot "$MNT" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
				--no-install-recommends install $INSTALL
		fi
	} >"$DW/update.log" 2>&1 || { tail -20 "$DW/update.log" >&2; die "apt-get in the image failed"; }
	chroot "$MNT" dpkg-query -W -f '${Package} ${Version}\n' | sort >"$DW/after.txt"
	comm -13 "$DW/before.txt" "$DW/after.txt" >"$DW/update.txt"
	rm -f "$MNT/usr/sbin/policy-rc.d"
	umount "$MNT/var/cache/apt/archives" "$MNT/var/lib/apt/lists" "$MNT/proc"
	# The same tree, for the image rebuilt from scratch.
	rsync -aHAX --numeric-ids "$MNT/" "$DW/v2-root/"
	umount "$MNT"
	e2fsck -fn "$DW/v2.img.tmp" >/dev/null 2>&1 || die "the updated image is not clean"
	mv "$DW/v2.img.tmp" "$DW/v2.img"
	mkfs_img "$DW/v2-root" "$DW/v2r.img"
	echo "$KEY2" >"$DW/v2.stamp"
	say "update: $(wc -l <"$DW/update.txt") packages installed or upgraded"
fi
trap - EXIT

# ---------------------------------------------------------------- 3. measure
R=$DW/run
rm -rf "$R"
mkdir -p "$R"
KV=$R/results.kv
: >"$KV"
put() { printf '%s=%s\n' "$1" "$2" >>"$KV"; }
files_bytes() { find "$@" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'; }

# timed NAME cmd...: wall seconds into $T and results.kv, peak RSS (KiB) as NAME_rss_kb
timed() {
	local name=$1 s e
	shift
	sync
	s=$(date +%s.%N)
	/usr/bin/time -o "$R/$name.time" -f '%M' "$@" >"$R/$name.log" 2>&1 ||
		{ tail -20 "$R/$name.log" >&2; die "$name: '$*' failed"; }
	e=$(date +%s.%N)
	T=$(python3 -c "print(f'{$e - $s:.3f}')")
	put "$name" "$T"
	put "${name}_rss_kb" "$(tail -1 "$R/$name.time")"
	say "$(printf '%-16s %8s s  %s' "$name" "$T" "$*")"
}

put suite "$SUITE"
put pkgs_changed "$(wc -l <"$DW/update.txt")"
put update "$(awk '{print $1}' "$DW/update.txt" | tr '\n' ' ')"
put loadavg_at_start "$(cut -d' ' -f1 /proc/loadavg)"
put cores "$(nproc)"

say "building the site: v1, then v2 (in place) and, in a copy, v2r (rebuilt)"
SOURCE_DATE_EPOCH=1700000000 hfc-mkimage -q -L "v1" "$DW/v1.img" "$R/site"
cp -a "$R/site" "$R/site1"
cp -a "$R/site" "$R/siter"
SOURCE_DATE_EPOCH=1700086400 hfc-mkimage -q -L "v2 update" "$DW/v2.img" "$R/site"
SOURCE_DATE_EPOCH=1700086400 hfc-mkimage -q -L "v2 rebuilt" "$DW/v2r.img" "$R/siter"

say "casync make: v1 into a store"
casync make --store="$R/store1" "$R/v1.caibx" "$DW/v1.img" >/dev/null

# The floor, from the images alone.
floor() { # V1 V2: "pages bytes" of the change (bench/page-floor.py)
	python3 "$TOP/bench/page-floor.py" "$1" "$2"
}

for case in upd reb; do
	if [ $case = upd ]; then src=$R/site img=$DW/v2.img; else src=$R/siter img=$DW/v2r.img; fi
	changed=$(python3 - "$DW/v1.img" "$img" <<'PY'
import sys
n = 0
with open(sys.argv[1], "rb") as a, open(sys.argv[2], "rb") as b:
    while True:
        x, y = a.read(262144), b.read(262144)
        if not x and not y:
            break
        n += x != y
print(n)
PY
)
	put "${case}_changed_blocks" "$changed"
	# hfc-diff exits 1 for "different", like diff(1)
	timed "${case}_diff" sh -c 'hfc-diff --json "$1" 1 2; [ $? -le 1 ]' sh "$src"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["new_blocks"], d["new_bytes"], d["blocks_b"])' \
		"$R/${case}_diff.log" >"$R/${case}_diff.kv"
	read -r nb nbytes nblocks <"$R/${case}_diff.kv"
	put "${case}_new_block_files" "$nb"
	put "${case}_blocks_bytes" "$nbytes"
	put total_blocks "$nblocks"

	timed "${case}_bundle" hfc-diff --json --bundle "$R/$case.tar" "$src" 1 2
	put "${case}_bundle_bytes" "$(stat -c %s "$R/$case.tar")"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(str(d[k]) for k in ("copied_pages","literal_pages","repeated_pages","zero_pages","raw")))' \
		"$R/${case}_bundle.log" >"$R/${case}_ops"
	read -r cp lit rep zp raw <"$R/${case}_ops"
	put "${case}_copied_pages" "$cp"
	put "${case}_literal_pages" "$lit"
	put "${case}_repeated_pages" "$rep"
	put "${case}_raw_blocks" "$raw"

	cp -a "$R/site1" "$R/mirror-$case"
	timed "${case}_apply" hfc-apply --json "$R/$case.tar" "$R/mirror-$case"
	hfc-index verify -q "$R/mirror-$case" || die "$case: the mirror does not verify after apply"
	hfc-index extract -q "$R/mirror-$case" - | cmp -s - "$img" ||
		die "$case: the mirror's version 2 is not the image"
	cmp -s "$R/mirror-$case/index.idx" "$src/index.idx" || die "$case: index differs"

	cp -a "$R/store1" "$R/store-$case"
	timed "${case}_casync" casync make --store="$R/store-$case" "$R/$case.caibx" "$img"
	put "${case}_casync_bytes" $(( $(files_bytes "$R/store-$case") - $(files_bytes "$R/store1") ))
	put "${case}_casync_chunks" $(( $(find "$R/store-$case" -type f | wc -l) - $(find "$R/store1" -type f | wc -l) ))

	read -r fp fb < <(floor "$DW/v1.img" "$img")
	put "${case}_floor_pages" "$fp"
	put "${case}_floor_bytes" "$fb"
	rm -rf "$R/mirror-$case" "$R/store-$case"
done

# ---------------------------------------------------------------- 4. report
python3 - "$KV" "$W/delta-results.json" <<'PY'
import json, os, sys
kv = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition("=")
    kv[k] = v
f = lambda k: float(kv[k])
MiB = 1024 * 1024
mib = lambda x: f"{x / MiB:.1f} MiB"
secs = lambda x: f"{x:.2f} s"
rows = []
def row(metric, hfc, other, ratio, target, ok):
    rows.append(dict(metric=metric, hfc=hfc, other=other, ratio=ratio, target=target,
                     result="info" if ok is None else "PASS" if ok else "MISS"))
names = {"upd": "update in place", "reb": "rebuilt from scratch"}
for c in ("upd", "reb"):
    b, fl, cs, bl = f(c + "_bundle_bytes"), f(c + "_floor_bytes"), f(c + "_casync_bytes"), f(c + "_blocks_bytes")
    row(f"{names[c]}: bundle vs 4 KiB floor", mib(b), mib(fl), f"{b / fl:.2f}x", "<= 1.2x", b <= 1.2 * fl)
    row(f"{names[c]}: bundle vs casync new chunks", mib(b), mib(cs), f"{b / cs:.2f}x",
        "<= 0.5x" if c == "upd" else "-", b <= 0.5 * cs if c == "upd" else None)
    row(f"{names[c]}: bundle vs new 256 KiB block files", mib(b), mib(bl), f"{b / bl:.2f}x", "-", None)
for c in ("upd", "reb"):
    row(f"{names[c]}: make bundle / apply", secs(f(c + "_bundle")), secs(f(c + "_apply")), "", "-", None)
    row(f"{names[c]}: hfc-diff / casync make", secs(f(c + "_diff")), secs(f(c + "_casync")), "", "-", None)
print()
print(f"hfcloop delta benchmark: Debian {kv['suite']} minbase in a 1 GiB ext2 image, "
      f"{kv['cores']} cores, load {kv['loadavg_at_start']} at start")
print(f"  update: {kv['pkgs_changed']} packages installed or upgraded ({kv['update'].strip()})")
for c in ("upd", "reb"):
    print(f"  {names[c]}: {kv[c + '_changed_blocks']} of {kv['total_blocks']} blocks changed, "
          f"{kv[c + '_new_block_files']} new block files ({mib(f(c + '_blocks_bytes'))}), "
          f"{kv[c + '_casync_chunks']} new casync chunks; bundle: {kv[c + '_copied_pages']} pages copied, "
          f"{kv[c + '_literal_pages']} literal, {kv[c + '_repeated_pages']} repeated, "
          f"{kv[c + '_raw_blocks']} plain blocks; floor {kv[c + '_floor_pages']} pages")
    print(f"    peak RSS: hfc-diff --bundle {int(kv[c + '_bundle_rss_kb']) // 1024} MiB, "
          f"hfc-apply {int(kv[c + '_apply_rss_kb']) // 1024} MiB")
print(f"{'metric':<50}{'hfc':>11}{'other':>12}{'ratio':>8}   {'target':<9} result")
for r in rows:
    print(f"{r['metric']:<50}{r['hfc']:>11}{r['other']:>12}{r['ratio']:>8}   {r['target']:<9} {r['result']}")
out = dict(benchmark="hfcloop delta bundles", raw={k: (int(v) if v.isdigit() else v) for k, v in kv.items()},
           metrics=rows)
tmp = sys.argv[2] + ".tmp"
with open(tmp, "w") as fh:
    json.dump(out, fh, indent=2)
    fh.write("\n")
os.replace(tmp, sys.argv[2])
print(f"\nresults: {sys.argv[2]}")
PY

if [ "${HFC_BENCH_KEEP:-0}" != 1 ]; then
	rm -rf "$R/site" "$R/site1" "$R/siter" "$R/store1" "$R"/*.tar "$R"/*.caibx
fi
