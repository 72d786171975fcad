#!/usr/bin/env bash
# make-image.sh — the boot workload of the latency benchmark: a bootable Debian 12 image.
#
#   usage: bash bench/boot/make-image.sh OUTDIR
#
# Writes into OUTDIR (made if missing):
#   boot.img   an ext2 file system (1280 MiB) of a Debian 12 "minbase" root with systemd, udev
#              and the Debian kernel; the guest mounts it READ-ONLY (see below)
#   vmlinuz    the kernel of that tree
#   initrd     its initramfs (initramfs-tools, MODULES=list: virtio_pci, virtio_blk, ext4,
#              overlay, and what they depend on: small, so it unpacks fast under TCG)
#   cmdline    the kernel command line boot.sh passes
#   stamp      what the files were built from (a rebuild happens when it changes)
#
# Needs root (debootstrap, chroot), debootstrap, e2fsprogs, and a Debian archive: the one this
# machine's apt uses for bookworm (tests/debian-mirror.sh; HFC_DEBIAN_MIRROR overrides it).
#
# The debootstrap tree is cached in ${HFC_BENCH_DIR:-/var/tmp/hfc-bench}/boot/rootfs (with the
# downloaded .debs in .../boot/debs): a second run with the same recipe costs only the
# mke2fs pass (a few seconds), and nothing at all when OUTDIR is already up to date.
# HFC_BOOT_REBUILD=1 throws the cached tree away first.
#
# The read-only root. The guest's disk is opened read-only by qemu (readonly=on) and the file
# system is never written. Debian's initrd (initramfs-tools) has no systemd in it, so
# systemd.volatile=overlay (which systemd-volatile-root.service implements in a systemd
# initrd only) does nothing there. Instead the image carries a small initramfs-tools script
# (local-bottom/hfc-overlay): when the command line has `hfc.overlay`, it moves the read-only
# root to /media/root-ro and mounts an overlay (lower: the disk, upper: a tmpfs) as the root
# that systemd then starts on. The whole boot then runs on a writable root whose reads all
# reach the disk: the same block reads as a read-write boot, minus the writes.
#
# The end of the boot. A unit, hfc-poweroff.service, ordered after multi-user.target (and
# wanted by it), prints one line to the serial console,
#     hfc-boot: multi-user.target reached, uptime N.NN s
# and powers the guest off (`systemctl poweroff`); qemu -no-reboot then exits. boot.sh checks
# that line and the kernel's "reboot: Power down" in the log.
set -euo pipefail

prog=make-image
die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: bash bench/boot/make-image.sh OUTDIR" >&2; exit 2; }
OUT=$1
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
PATH=$PATH:/usr/sbin:/sbin

SUITE=bookworm
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../../tests/debian-tree.sh" # debian_mirror, debian_tree_final_unit
MIRROR=$(debian_mirror "$SUITE") || exit 1
debian_proxy_env
# systemd-sysv makes systemd pid 1; the kernel and initramfs-tools make it bootable; dbus,
# procps, iproute2, kmod, e2fsprogs, less, vim-tiny and python3-minimal make the boot and
# the tree look like a small real system (dbus is started at boot, python3 adds ~25 MiB of
# files that are not read: real images are like that).
# busybox, libcurl4, libfuse3-3, libdeflate0 and ca-certificates let hfc-boot build an initrd
# with the client from this tree (bench/bench-boot.sh boots the image from a URL).
INCLUDE=systemd-sysv,udev,linux-image-amd64,initramfs-tools,kmod,dbus,procps,iproute2,e2fsprogs,less,vim-tiny,python3-minimal,busybox,libcurl4,libfuse3-3,libdeflate0,ca-certificates
IMG_SIZE=1280M
CMDLINE="root=/dev/vda rootfstype=ext2 ro hfc.overlay console=ttyS0 fsck.mode=skip systemd.show_status=1 systemd.unified_cgroup_hierarchy=1 panic=-1"
# Fixed identities: every build of the recipe gives the same tree layout and the same guest.
FS_UUID=6b1f2a2e-0000-4000-8000-00000000b007
MACHINE_ID=6b1f2a2e00004000800000000000b007

C=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}/boot
ROOT=$C/rootfs
# Bump TREE_REV when a change to this script changes the tree (the debootstrap step and the
# files written into it): the cached tree is then rebuilt. OUTDIR is remade whenever this
# script changes at all.
TREE_REV=3
TREE_RECIPE="$TREE_REV $SUITE $INCLUDE"
RECIPE=$(sha256sum <"$HERE/make-image.sh" | cut -c1-16)

for t in debootstrap mke2fs chroot unshare; do
	command -v $t >/dev/null || die "$t is missing (apt-get install debootstrap e2fsprogs util-linux)"
done

mkdir -p "$C" "$OUT"
OUT=$(cd "$OUT" && pwd)
exec 9>"$C/.lock"
flock 9

if [ -s "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$RECIPE" ] &&
	[ -s "$OUT/boot.img" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd" ]; then
	say "$OUT is up to date (recipe $RECIPE)"
	exit 0
fi

[ "${HFC_BOOT_REBUILD:-}" = 1 ] && rm -rf "$ROOT" "$C/rootfs.stamp"
if [ -d "$ROOT" ] && [ "$(cat "$C/rootfs.stamp" 2>/dev/null)" != "$TREE_RECIPE" ]; then
	say "the cached tree was made by another recipe: rebuilding it"
	rm -rf "$ROOT" "$C/rootfs.stamp"
fi

# Runs CMD in the tree with /proc, /sys and /dev mounted, in a private mount namespace: the
# mounts vanish with it, whatever happens.
in_root() {
	unshare -m --propagation private -- sh -c '
		r=$1; shift
		mount -t proc proc "$r/proc" && mount -t sysfs sys "$r/sys" &&
		mount --rbind /dev "$r/dev" || exit 1
		exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"' sh "$ROOT" "$@"
}

if [ ! -d "$ROOT" ]; then
	T=$C/rootfs.tmp
	rm -rf "$T"
	mkdir -p "$C/debs"
	say "debootstrap $SUITE into $T (a few minutes)"
	debootstrap --variant=minbase --include="$INCLUDE" --cache-dir="$C/debs" \
		"$SUITE" "$T" "$MIRROR" >"$C/debootstrap.log" 2>&1 ||
		{ tail -20 "$C/debootstrap.log" >&2; die "debootstrap failed (log: $C/debootstrap.log)"; }
	ROOT=$T

	# --- the read-only root: an overlay made in the initrd
	cat >"$ROOT/etc/initramfs-tools/scripts/local-bottom/hfc-overlay" <<'EOF'
#!/bin/sh
# hfcloop bench: with `hfc.overlay` on the kernel command line, the root file system (mounted
# read-only from a read-only disk) becomes the lower layer of an overlay whose upper layer is
# a tmpfs. The disk is never written.
# The initrd has klibc's tools, no grep: the shell reads the command line.
case $1 in prereqs) exit 0 ;; esac
read -r cmdline </proc/cmdline
case " $cmdline " in *" hfc.overlay "*) ;; *) exit 0 ;; esac
. /scripts/functions
log_begin_msg "hfc-overlay: read-only root under a tmpfs overlay"
modprobe overlay || panic "hfc-overlay: no overlay module"
mkdir -p /hfc-ovl
mount -t tmpfs -o mode=0755,size=50% hfc-rw /hfc-ovl || panic "hfc-overlay: tmpfs"
mkdir -p /hfc-ovl/lower /hfc-ovl/upper /hfc-ovl/work
mount -n -o move "${rootmnt}" /hfc-ovl/lower || panic "hfc-overlay: move root"
mount -t overlay -o lowerdir=/hfc-ovl/lower,upperdir=/hfc-ovl/upper,workdir=/hfc-ovl/work \
	hfc-root "${rootmnt}" || panic "hfc-overlay: overlay mount"
mkdir -p "${rootmnt}/media/root-ro" "${rootmnt}/media/root-rw"
mount -n -o move /hfc-ovl/lower "${rootmnt}/media/root-ro"
mount -n -o move /hfc-ovl "${rootmnt}/media/root-rw"
log_end_msg
EOF
	chmod 755 "$ROOT/etc/initramfs-tools/scripts/local-bottom/hfc-overlay"
	printf '%s\n' virtio_pci virtio_blk ext4 overlay >>"$ROOT/etc/initramfs-tools/modules"
	sed -i 's/^MODULES=.*/MODULES=list/' "$ROOT/etc/initramfs-tools/initramfs.conf"

	# --- identity, fstab, console
	echo hfc-boot >"$ROOT/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\thfc-boot\n' >"$ROOT/etc/hosts"
	echo "$MACHINE_ID" >"$ROOT/etc/machine-id"
	cat >"$ROOT/etc/fstab" <<'EOF'
# The root is an overlay made in the initrd (hfc.overlay): nothing to mount or check here.
tmpfs /tmp tmpfs defaults,nosuid,nodev 0 0
EOF
	# Root logs in on the serial console without a password (a bench guest with no network).
	sed -i 's/^root:[^:]*:/root::/' "$ROOT/etc/shadow"

	# --- the end of the boot: report, then power off
	debian_tree_final_unit "$ROOT" hfc-poweroff <<'EOF'
[Unit]
Description=hfcloop bench: power off once the boot is complete
After=multi-user.target
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "hfc-boot: multi-user.target reached, uptime $(cut -d" " -f1 /proc/uptime) s" >/dev/ttyS0'
# Booted from a URL (bench-boot.sh, boot=hfc): the client's counters, and its trace when
# there is one (hfc.trace; reading .stats flushes it), on the second serial port.
ExecStart=-/bin/sh -c 'if [ -e /run/hfc/client/mnt/.stats ]; then cat /run/hfc/client/mnt/.stats; if [ -e /run/hfc/client/trace ]; then echo "--- trace"; cat /run/hfc/client/trace; fi; echo "--- end"; fi >/dev/ttyS1'
ExecStart=/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
EOF

	say "update-initramfs in the tree"
	in_root update-initramfs -u -k all >"$C/initramfs.log" 2>&1 ||
		{ tail -20 "$C/initramfs.log" >&2; die "update-initramfs failed (log: $C/initramfs.log)"; }
	# The .debs are cached in $C/debs; the tree needs no apt lists or archives.
	rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*_Packages
	echo "$TREE_RECIPE" >"$C/rootfs.stamp"
	mv "$T" "$C/rootfs"
	ROOT=$C/rootfs
fi

# --- kernel, initrd, image
k=$(ls "$ROOT"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
[ -n "$k" ] || die "no kernel in $ROOT/boot"
ver=${k##*/vmlinuz-}
[ -s "$ROOT/boot/initrd.img-$ver" ] || die "no initrd for $ver in $ROOT/boot"
# lsinitramfs of the tree itself (the host may have no initramfs-tools).
chroot "$ROOT" lsinitramfs "/boot/initrd.img-$ver" >"$C/initrd.list" 2>/dev/null ||
	die "lsinitramfs of the tree's initrd failed"
for m in virtio_blk.ko virtio_pci.ko overlay.ko ext4.ko scripts/local-bottom/hfc-overlay; do
	grep -q "$m\$" "$C/initrd.list" || die "the initrd has no $m"
done
rm -f "$OUT/stamp"
cp "$k" "$OUT/vmlinuz.tmp" && mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
cp "$ROOT/boot/initrd.img-$ver" "$OUT/initrd.tmp" && mv "$OUT/initrd.tmp" "$OUT/initrd"
echo "$CMDLINE" >"$OUT/cmdline"
say "mke2fs -t ext2 -d $ROOT $OUT/boot.img $IMG_SIZE"
rm -f "$OUT/boot.img.tmp"
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -b 4096 -L hfc-boot -U "$FS_UUID" \
	-E hash_seed="$FS_UUID" -d "$ROOT" "$OUT/boot.img.tmp" "$IMG_SIZE" >/dev/null ||
	die "mke2fs failed"
mv "$OUT/boot.img.tmp" "$OUT/boot.img"
echo "$RECIPE" >"$OUT/stamp"
used=$(du -sm "$ROOT" | cut -f1)
say "$OUT: boot.img ($IMG_SIZE, $used MiB of files), vmlinuz and initrd of $ver"
