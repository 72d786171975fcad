#!/usr/bin/env bash
# boot.sh — boot the benchmark's Debian image in qemu (TCG) and time it.
#
#   usage: bash bench/boot/boot.sh [-k DIR] IMAGE LOG
#
# IMAGE is the image made by make-image.sh: a file (the local file, or MOUNTPOINT/image of
# hfc-mount), or an http:// URL that qemu reads itself with its curl block driver (range
# requests; qemu-block-extra). DIR holds vmlinuz, initrd and cmdline (make-image.sh's
# OUTDIR); it defaults to IMAGE's directory, and is needed for a URL or a FUSE mount.
# The disk is read-only to the guest (readonly=on); the guest runs on a tmpfs overlay.
#
# qemu runs with -machine accel=tcg -m 1024 -no-reboot, no network device, the serial
# console written to LOG (qemu's own messages to LOG.qemu). The guest powers itself off at
# the end of its boot (hfc-poweroff.service, after multi-user.target); qemu then exits.
#
# Prints the boot's wall time, qemu start to qemu exit, in seconds ("23.41") on stdout, and
# one line of detail on stderr. Exit status 1 (with one line `boot: what`) when qemu failed,
# timed out (${HFC_BOOT_TIMEOUT:-600} s), or the log does not show the end of the boot and
# the power-off: a boot that did not finish is never timed.
#
# Environment: HFC_BOOT_TIMEOUT (seconds, default 600), HFC_BOOT_SMP (guest CPUs, default 1),
# HFC_BOOT_QEMU_OPTS (more qemu options), HFC_BOOT_DRIVE_OPTS (more -drive options, e.g.
# file.readahead=1M for the curl driver).
set -euo pipefail

die() { echo "boot: $*" >&2; exit 1; }

kdir=
while getopts k: opt; do
	case $opt in
	k) kdir=$OPTARG ;;
	*) echo "usage: bash bench/boot/boot.sh [-k DIR] IMAGE LOG" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: bash bench/boot/boot.sh [-k DIR] IMAGE LOG" >&2; exit 2; }
img=$1 log=$2
timeout_s=${HFC_BOOT_TIMEOUT:-600}
PATH=$PATH:/usr/sbin:/sbin
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"

case $img in
http://* | https://*)
	[ -n "$kdir" ] || die "-k DIR is needed with a URL"
	# raw over qemu's curl driver: it reads with range requests, 256 KiB ahead by default.
	drive="driver=raw,file.driver=http,file.url=$img,if=virtio,readonly=on"
	;;
*)
	[ -r "$img" ] || die "$img: cannot read it"
	[ -n "$kdir" ] || kdir=$(dirname "$img")
	# cache=none is refused on FUSE without direct I/O; the default writeback cache of a
	# read-only disk only means the host's page cache may hold what the guest read.
	drive="file=$img,format=raw,if=virtio,readonly=on"
	;;
esac
[ -n "${HFC_BOOT_DRIVE_OPTS:-}" ] && drive+=",$HFC_BOOT_DRIVE_OPTS"
for f in vmlinuz initrd cmdline; do
	[ -s "$kdir/$f" ] || die "$kdir/$f: missing (bash bench/boot/make-image.sh $kdir)"
done

rm -f "$log" "$log.qemu"
start=$(date +%s.%N)
rc=0
# shellcheck disable=SC2086
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
	-machine accel=tcg -m 1024 -smp "${HFC_BOOT_SMP:-1}" \
	-nodefaults -no-user-config -display none -no-reboot \
	-serial "file:$log" -monitor none \
	-kernel "$kdir/vmlinuz" -initrd "$kdir/initrd" -append "$(cat "$kdir/cmdline")" \
	-drive "$drive" ${HFC_BOOT_QEMU_OPTS:-} \
	</dev/null >"$log.qemu" 2>&1 || rc=$?
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')

if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	die "no power-off within $timeout_s s (log: $log)"
fi
[ "$rc" = 0 ] || die "qemu exited $rc after $secs s: $(tail -1 "$log.qemu" 2>/dev/null) (log: $log)"
# The guest's own word that the boot is complete, then the kernel's that it powered off.
done_line=$(grep -a 'hfc-boot: multi-user.target reached' "$log" | tail -1 | tr -d '\r') ||
	die "the guest never reached multi-user.target (log: $log)"
grep -aq 'reboot: Power down' "$log" || die "the guest did not power itself off (log: $log)"
grep -aq 'hfc-overlay: read-only root under a tmpfs overlay' "$log" ||
	die "the root was not the read-only overlay (log: $log)"
uptime=$(sed 's/.*uptime \([0-9.]*\) s.*/\1/' <<<"$done_line")
echo "boot: $img: $secs s wall (qemu start to exit); multi-user.target at $uptime s guest uptime" >&2
echo "$secs"
