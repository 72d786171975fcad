#!/usr/bin/env bash
# A real boot from a URL: a small Debian 12 (systemd, the Debian kernel; tests/debian-tree.sh)
# made into a site, served by nginx in a private network namespace, booted in qemu (TCG)
# through the initrd of hfc-boot: the guest brings its network up with DHCP, mounts the site
# with the client as a root-storage daemon, loop-mounts the image under a tmpfs overlay,
# switches root, reaches multi-user.target (a unit says so on the console) and powers off:
# qemu exits by itself. Then:
#   - the same with the first of two mirrors dead (a closed port): the boot fails over;
#   - the ISO of hfc-boot iso (GRUB, the boot menu) boots the same way;
#   - no mirror reachable, and a URL with no site at it: one line "hfc: cannot mount the
#     site: ..." on the console and the initramfs shell, within a bound.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/netns.sh"
. "$HFC_TOP/tests/debian-tree.sh"
. "$HFC_TOP/tests/qemu-boot.sh"

tree=$(debian_tree) || fail "cannot make the Debian tree"
kver=$(cd "$tree/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -1)
note "tree $tree, kernel $kver"

# The image of the tree (cached beside it: mke2fs -d is deterministic), and its site.
img=$tree.img
if [ ! -s "$img" ]; then
	E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -b 4096 -U 6b1f2a2e-0000-4000-8000-00000000c0de \
		-E hash_seed=6b1f2a2e-0000-4000-8000-00000000c0de -d "$tree" "$img.tmp" 1G >/dev/null ||
		fail "mke2fs -d $tree"
	mv "$img.tmp" "$img"
fi
mkdir -p "$T/www"
hfc-mkimage -q "$img" "$T/www/site" || fail "hfc-mkimage $img"

# The initrd (MODULES=list keeps it small: qemu's network card is in the modules file).
start=$(date +%s)
hfc-boot initrd --root "$tree" --modules list -o "$T/initrd" 2>"$T/boot.err" ||
	{ cat "$T/boot.err" >&2; fail "hfc-boot initrd"; }
note "hfc-boot initrd: $(cat "$T/boot.err") in $(($(date +%s) - start)) s"

netns_up boot 0
url=$(netns_nginx boot "$T/www")
QEMU_NETNS=boot
dead=http://$NETNS_PEER:8099
CMD="boot=hfc ip=dhcp console=ttyS0 rootfstype=ext2"

# boot_ok LOG URLS [QEMU-ARGS...]: a boot that must reach multi-user.target on the site's root
# overlay, with the client alive as @hfc-mount and its /etc kept, and power off by itself.
boot_ok() {
	local log=$1 urls=$2 t0
	shift 2
	t0=$(date +%s)
	if [ $# -gt 0 ]; then
		qemu_boot "$log" "" "" "" "$@"
	else
		qemu_boot "$log" "$tree/boot/vmlinuz-$kver" "$T/initrd" "$CMD hfc=$urls"
	fi
	qemu_wait_exit 420
	grep -aq 'hfc-boot-test: multi-user.target reached, root hfc-root overlay, client @hfc-mount, its /etc kept' "$log" || {
		grep -a 'hfc' "$log" | tail -20 >&2
		fail "boot from $urls: no marker line, or not the one wanted (log: $log)"
	}
	grep -aq 'reboot: Power down' "$log" || fail "boot from $urls: no power-down"
	note "boot from $urls: marker and power-off in $(($(date +%s) - t0)) s; client: $(grep -E '^(version|bytes_fetched|misses):' "$log.ttyS1" | tr '\n' ' ')"
}

# fails_with LOG URLS PATTERN: the boot stops in the initramfs with one line matching PATTERN
# and the initramfs shell's prompt, within 180 s; qemu is then stopped.
fails_with() {
	local log=$1 urls=$2 pat=$3 t0 n
	t0=$(date +%s)
	qemu_boot "$log" "$tree/boot/vmlinuz-$kver" "$T/initrd" "$CMD hfc=$urls"
	qemu_wait_line '\(initramfs\) ' 180
	n=$(grep -ac '^hfc: ' "$log" || true)
	[ "$n" = 1 ] || { grep -a '^hfc: ' "$log" >&2; fail "boot from $urls: $n lines 'hfc: ...', want one"; }
	grep -aqE -- "^$pat" "$log" || { grep -a '^hfc: ' "$log" >&2; fail "boot from $urls: the line is not /$pat/"; }
	qemu_kill
	note "boot from $urls: '$(grep -a '^hfc: ' "$log" | tr -d '\r')' and the shell in $(($(date +%s) - t0)) s"
}

boot_ok "$T/boot1.log" "$url/site"
grep -aq 'hfc: mounting the site' "$T/boot1.log" || fail "the boot script did not run"
# systemd-shutdown spared the client (@) and never saw its mount: no "Unmounting /hfc".
! grep -aq 'Unmounting /hfc' "$T/boot1.log" || fail "systemd tried to unmount the client's mount"

# The first mirror dead (nothing listens there), from the boot CD: GRUB's menu, then the
# same boot, failed over to the second mirror.
hfc-boot iso --root "$tree" --initrd "$T/initrd" --url "$dead/site,$url/site" \
	--append "ip=dhcp console=ttyS0 rootfstype=ext2" -o "$T/boot.iso" 2>"$T/iso.err" ||
	{ cat "$T/iso.err" >&2; fail "hfc-boot iso"; }
note "$(cat "$T/iso.err")"
boot_ok "$T/boot2.log" "$dead/site,$url/site (ISO)" -cdrom "$T/boot.iso" -boot d
grep -aq "hfcloop: boot from $dead/site,$url/site" "$T/boot2.log" || fail "GRUB's menu did not show the site"

# No mirror at all, and a URL with no site at it: one line, the shell, no hang.
fails_with "$T/boot3.log" "$dead/site,http://$NETNS_PEER:8098/site" \
	"hfc: cannot mount the site: hfc-mount: .*(onnect|refused)"
fails_with "$T/boot4.log" "$url/nosuchsite" "hfc: cannot mount the site: hfc-mount: .*not found"
