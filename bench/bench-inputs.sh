#!/usr/bin/env bash
# bench-inputs.sh — what clients download for a real security update of a real root file
# system, by how the new image is made (issue: release inputs):
#
#   (a) hfc-mkimage --base --from-archive: the updated tree's tarball on top of the last image
#   (b) mke2fs -d of the updated tree (a rebuild), then hfc-mkimage
#   (c) the update applied in place on a loop-mounted copy of the last image, then hfc-mkimage
#
# and, for the same image pairs, the 4 KiB page floor (distinct new non-zero pages, each
# zlib -9 compressed) and casync's new chunks. All measured side by side in one run.
#
#   usage: bash bench/bench-inputs.sh BUILD_DIR
#
# The trees: v1 = debootstrap --variant=minbase of Debian 12 with the kernel, systemd, perl,
# python3 and openssl; v2 = a copy of v1 updated by chroot apt-get upgrade from the security
# pocket (a real update: whatever it has on the day). Both are cached in
# ${HFC_BENCH_DIR:-/var/tmp/hfc-bench}/inputs (minutes to make; seconds when cached).
# Needs root (debootstrap, chroot, loop mount) and the Debian mirror of the machine's apt
# configuration. The image is 1 GiB of 4 KiB blocks, 256 KiB site blocks.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_start bench-inputs "$@"
bench_built hfc-mkimage hfc-index
bench_root "debootstrap, chroot, loop mounts"
bench_cmds debootstrap casync rsync mke2fs

# The Debian mirrors of this machine's apt configuration (tests/debian-mirror.sh;
# HFC_DEBIAN_MIRROR and HFC_DEBIAN_SECURITY_MIRROR override them), and apt's proxy.
. "$TOP/tests/debian-mirror.sh"
SUITE=bookworm
MIRROR=$(debian_mirror "$SUITE") || exit 1
SECMIRROR=$(debian_security_mirror "$SUITE") || exit 1
debian_proxy_env
INCLUDE=systemd-sysv,udev,linux-image-amd64,initramfs-tools,kmod,dbus,procps,iproute2,perl,openssl,ca-certificates,tzdata,python3.11-minimal,python3-minimal,curl,xz-utils,less,vim-tiny
SIZE=1G
W=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}/inputs
mkdir -p "$W/debs"
exec 9>"$W/.lock"
flock 9

# ---------------------------------------------------------------- the trees
KEY1=$(printf 'v1 1|%s|%s|%s' "$SUITE" "$MIRROR" "$INCLUDE" | sha256sum | cut -c1-16)
if [ "$(cat "$W/v1.stamp" 2>/dev/null)" != "$KEY1" ] || [ ! -d "$W/v1-root" ]; then
	rm -rf "$W/v1-root" "$W/v1.stamp" "$W/v2.stamp"
	say "debootstrap --variant=minbase $SUITE (kernel, systemd, perl, python3; minutes)"
	debootstrap --variant=minbase --include="$INCLUDE" --cache-dir="$W/debs" \
		"$SUITE" "$W/v1-root" "$MIRROR" >"$W/debootstrap.log" 2>&1 ||
		{ tail -20 "$W/debootstrap.log" >&2; die "debootstrap failed (log: $W/debootstrap.log)"; }
	rm -rf "$W/v1-root"/var/lib/apt/lists/* "$W/v1-root"/var/cache/apt/*.bin
	echo "$KEY1" >"$W/v1.stamp"
fi
KEY2=$(printf 'v2 1|%s|%s' "$KEY1" "$SECMIRROR" | sha256sum | cut -c1-16)
if [ "$(cat "$W/v2.stamp" 2>/dev/null)" != "$KEY2" ] || [ ! -d "$W/v2-root" ]; then
	rm -rf "$W/v2-root" "$W/v2.stamp"
	cp -a "$W/v1-root" "$W/v2-root"
	R2=$W/v2-root
	cp /etc/resolv.conf "$R2/etc/resolv.conf"
	echo "deb $SECMIRROR $SUITE-security main" >"$R2/etc/apt/sources.list.d/security.list"
	printf '#!/bin/sh\nexit 101\n' >"$R2/usr/sbin/policy-rc.d"
	chmod 755 "$R2/usr/sbin/policy-rc.d"
	chroot "$R2" dpkg-query -W -f '${Package} ${Version}\n' | sort >"$W/before.txt"
	say "apt-get upgrade from $SUITE-security in a copy of the tree"
	unshare -m --propagation private sh -c "mount -t proc proc '$R2/proc' &&
		chroot '$R2' env DEBIAN_FRONTEND=noninteractive apt-get -q update &&
		chroot '$R2' env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
			-o Dpkg::Options::=--force-confold upgrade" >"$W/update.log" 2>&1 ||
		{ tail -20 "$W/update.log" >&2; die "apt-get upgrade failed (log: $W/update.log)"; }
	chroot "$R2" dpkg-query -W -f '${Package} ${Version}\n' | sort >"$W/after.txt"
	comm -13 "$W/before.txt" "$W/after.txt" >"$W/update.txt"
	rm -f "$R2/usr/sbin/policy-rc.d"
	rm -rf "$R2"/var/lib/apt/lists/* "$R2"/var/cache/apt/archives/*.deb "$R2"/var/cache/apt/*.bin
	echo "$KEY2" >"$W/v2.stamp"
fi

# ---------------------------------------------------------------- measure
R=$W/run
MNT=$W/mnt
cleanup() { mountpoint -q "$MNT" 2>/dev/null && umount "$MNT" || true; }
trap cleanup EXIT
rm -rf "$R"
mkdir -p "$R" "$MNT"
export SOURCE_DATE_EPOCH=1700000000
UUID=5f1c2a3e-8d4b-4c6f-9a0e-1b2c3d4e5f61 SEED=0d9c1f2e-3a4b-4c5d-8e6f-708192a3b4c6
declare -A V

timed() { # NAME CMD...: wall seconds into V[NAME]
	local name=$1 s
	shift
	sync
	s=$(date +%s.%N)
	"$@" >"$R/$name.log" 2>&1 || { tail -20 "$R/$name.log" >&2; die "$name: '$*' failed"; }
	V[$name]=$(python3 -c "print(f'{$(date +%s.%N) - $s:.2f}')")
	say "$(printf '%-14s %7s s  %s' "$name" "${V[$name]}" "$*")"
}
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
mkfs() { # TREE IMG
	E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -F -t ext2 -b 4096 -U $UUID \
		-E hash_seed=$SEED,root_owner=0:0 -d "$1" "$2" $SIZE
}

say "tarballs of both trees"
for v in 1 2; do
	tar --xattrs --xattrs-include='*' --acls --numeric-owner -C "$W/v$v-root" -cf "$R/v$v.tar" .
done

# The timed builds run ROUNDS times (HFC_BENCH_ROUNDS, default 3), (a) and (b) taking turns
# first, and the medians are compared: one slow run on a shared machine decides nothing.
ROUNDS=${HFC_BENCH_ROUNDS:-3}
median() { # NAME: the median of the NAME@1..NAME@ROUNDS runs into V[NAME]
	V[$1]=$(for i in $(seq "$ROUNDS"); do echo "${V[$1@$i]}"; done | sort -g |
		awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
}
run_a() { # ROUND: (a) from the tarball: a new layout for v1, --base for v2
	rm -rf "$R/site-a"
	timed a_v1@$1 hfc-mkimage --json --size $SIZE --from-archive "$R/v1.tar" "$R/site-a"
	timed a_v2@$1 hfc-mkimage --json --base --from-archive "$R/v2.tar" "$R/site-a"
}
run_b() { # ROUND: (b) mke2fs -d rebuilds, each put into the site
	rm -rf "$R/site-b" "$R/site-b1"
	timed b_mkfs1@$1 mkfs "$W/v1-root" "$R/b1.img"
	timed b_site1@$1 hfc-mkimage --json "$R/b1.img" "$R/site-b"
	cp -a "$R/site-b" "$R/site-b1"
	timed b_mkfs2@$1 mkfs "$W/v2-root" "$R/b2.img"
	timed b_site2@$1 hfc-mkimage --json "$R/b2.img" "$R/site-b"
}
for i in $(seq "$ROUNDS"); do
	if [ $((i % 2)) = 1 ]; then run_a "$i"; run_b "$i"; else run_b "$i"; run_a "$i"; fi
done
for n in a_v1 a_v2 b_mkfs1 b_site1 b_mkfs2 b_site2; do median $n; done
cp "$R/a_v2@1.log" "$R/a_v2.log"
cp "$R/b_site2@1.log" "$R/b_site2.log"
V[a_bytes]=$(jget "$R/a_v2.log" bytes_written)
V[b_bytes]=$(jget "$R/b_site2.log" bytes_written)
rm -rf "$R/site-c"
mv "$R/site-b1" "$R/site-c"
# (c) in place: v1's image loop-mounted, made equal to v2's tree by rsync (dpkg's way:
# changed files are written anew and renamed over the old ones), then put into the site
cp --sparse=always "$R/b1.img" "$R/c2.img"
mount -o loop "$R/c2.img" "$MNT"
timed c_update rsync -aHAX --delete --numeric-ids "$W/v2-root/" "$MNT/"
umount "$MNT"
timed c_site2 hfc-mkimage --json "$R/c2.img" "$R/site-c"
V[c_bytes]=$(jget "$R/c_site2.log" bytes_written)

say "images, floors and casync"
hfc-index extract -q -v 1 "$R/site-a" "$R/a1.img"
hfc-index extract -q -v 2 "$R/site-a" "$R/a2.img"
for x in a2 b2 c2; do e2fsck -fn "$R/$x.img" >/dev/null 2>&1 || die "$x.img is not clean"; done
floor() { # V1 V2: compressed bytes of the change's 4 KiB page floor (bench/page-floor.py)
	python3 "$TOP/bench/page-floor.py" "$1" "$2" | cut -d" " -f2
}
casync_new() { # V1 V2: bytes of the chunks V2 adds to a store holding V1
	local s=$R/store-$RANDOM
	casync make --store="$s" "$R/cx1.caibx" "$1" >/dev/null
	find "$s" -type f -printf '%P\n' | sort >"$R/chunks1"
	casync make --store="$s" "$R/cx2.caibx" "$2" >/dev/null
	find "$s" -type f -printf '%P %s\n' | sort | join -v1 - "$R/chunks1" |
		awk '{s += $2} END {print s + 0}'
	rm -rf "$s"
}
V[a_floor]=$(floor "$R/a1.img" "$R/a2.img")
V[b_floor]=$(floor "$R/b1.img" "$R/b2.img")
V[c_floor]=$(floor "$R/b1.img" "$R/c2.img")
V[a_casync]=$(casync_new "$R/a1.img" "$R/a2.img")
V[b_casync]=$(casync_new "$R/b1.img" "$R/b2.img")
V[c_casync]=$(casync_new "$R/b1.img" "$R/c2.img")
FLOOR=$(printf '%s\n' "${V[a_floor]}" "${V[b_floor]}" "${V[c_floor]}" | sort -n | head -1)

python3 - "$W/update.txt" <<PY
import sys
v = {k: float(x) for k, x in [$(for k in "${!V[@]}"; do printf '("%s", "%s"),' "$k" "${V[$k]}"; done)]}
pk = [l.split()[0] for l in open(sys.argv[1]) if l.strip()]
mib = lambda b: f"{b / 2**20:8.1f} MiB"
floor = $FLOOR
print(f"bench-inputs: Debian 12 debootstrap tree, update: {len(pk)} packages from the security pocket")
print("  (" + " ".join(pk[:12]) + (" ..." if len(pk) > 12 else "") + ")")
print(f"  1 GiB ext2 image, 256 KiB blocks; the 4 KiB page floor of the change: {mib(floor)}")
print()
print(f"  {'how v2 is made':44} {'clients fetch':>13} {'x floor':>8} {'build s':>8} {'casync new':>13} {'page floor':>13}")
rows = [("(a) --base --from-archive v2.tar", "a", v["a_v2"]),
        ("(b) mke2fs -d + hfc-mkimage", "b", v["b_mkfs2"] + v["b_site2"]),
        ("(c) in place on a loop mount + hfc-mkimage", "c", v["c_update"] + v["c_site2"])]
for name, k, t in rows:
    print(f"  {name:44} {mib(v[k + '_bytes'])} {v[k + '_bytes'] / floor:8.2f} {t:8.2f} "
          f"{mib(v[k + '_casync'])} {mib(v[k + '_floor'])}")
print()
ra, rc = v["a_bytes"] / floor, v["a_bytes"] / v["c_bytes"]
sp = (v["b_mkfs2"] + v["b_site2"]) / v["a_v2"]
fresh = v["a_v1"] / (v["b_mkfs1"] + v["b_site1"])
print(f"  build times: medians of $ROUNDS runs each, (a) and (b) taking turns")
ok = lambda c: "ok" if c else "MISSED"
print(f"  (a) / page floor            {ra:6.2f}x  (target <= 1.4x)  {ok(ra <= 1.4)}")
print(f"  (a) / (c)                   {rc:6.2f}x  (target <= 0.5x)  {ok(rc <= 0.5)}")
print(f"  (b) build / (a) build       {sp:6.2f}x  (target >= 5x)    {ok(sp >= 5)}")
print(f"  v1 from the tarball / (mke2fs -d + hfc-mkimage)  {fresh:5.2f}x  (target <= 1x)  "
      f"{ok(fresh <= 1)}  ({v['a_v1']:.2f} s vs {v['b_mkfs1']:.2f} + {v['b_site1']:.2f} s)")
PY
