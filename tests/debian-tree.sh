# shellcheck shell=bash
# A Debian 12 root tree made with debootstrap, cached: the small system that the boot tests
# (tests/cli/boot/) boot in qemu. Source it (after tests/lib.sh in a case, or alone):
#
#   debian_tree_packages           the package list of the test tree (one line, commas)
#   (the mirror: debian_mirror of tests/debian-mirror.sh, from the machine's apt sources)
#   debian_tree DIR                makes (or reuses) the tree; prints its path
#
# The tree is kept in ${HFC_BOOT_CACHE:-/var/tmp/hfc-boot-cache}/tree-KEY, KEY a hash of the
# suite, the package list and TREE_REV (bumped when what is written into the tree changes):
# a second run costs nothing, and a changed list makes a new tree beside the old one. The
# .debs are kept in .../debs. Built from scratch it takes a few minutes (debootstrap).
#
# The tree: minbase, systemd as pid 1, the Debian kernel, initramfs-tools with busybox (the
# boot script starts the client under another argv[0], which busybox's shell can do), and the
# client's run-time libraries (libcurl4, libfuse3-3, libdeflate0) and CA certificates, which
# hfc-boot copies from the tree into the initrd. A unit, hfc-marker.service, writes
#     hfc-boot-test: multi-user.target reached, root SOURCE FSTYPE, client ARGV0, its /etc kept
# to the serial console after multi-user.target and powers the guest off.

_DEBIAN_TREE_REV=2
_DEBIAN_TREE_SUITE=bookworm

debian_tree_packages() {
	echo systemd-sysv,udev,kmod,linux-image-amd64,initramfs-tools,busybox,libcurl4,libfuse3-3,libdeflate0,ca-certificates
}

. "$(dirname "${BASH_SOURCE[0]}")/debian-mirror.sh"

# debian_tree_final_unit ROOT NAME: the unit on stdin becomes ROOT's NAME.service, started
# once multi-user.target (made the default) is reached; the timers that would start downloads
# or scrubs if the guest lived long enough are removed. The boot tests' tree and the bench
# image (bench/boot/make-image.sh) end their boots this way.
debian_tree_final_unit() {
	local r=$1 name=$2 u
	cat >"$r/etc/systemd/system/$name.service"
	mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
	ln -sf "/etc/systemd/system/$name.service" \
		"$r/etc/systemd/system/multi-user.target.wants/$name.service"
	ln -sf /lib/systemd/system/multi-user.target "$r/etc/systemd/system/default.target"
	for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
		rm -f "$r/etc/systemd/system/timers.target.wants/$u"
	done
}

# debian_tree: the tree's path on stdout; progress and errors on stderr; status 1 on failure.
debian_tree() {
	local cache=${HFC_BOOT_CACHE:-/var/tmp/hfc-boot-cache} pkgs key dir tmp mirror
	pkgs=$(debian_tree_packages)
	key=$(printf '%s %s %s\n' "$_DEBIAN_TREE_REV" "$_DEBIAN_TREE_SUITE" "$pkgs" | sha256sum | cut -c1-12)
	dir=$cache/tree-$key
	mkdir -p "$cache/debs"
	(
		flock 9
		[ -s "$dir/.hfc-tree" ] && exit 0
		command -v debootstrap >/dev/null || { echo "debian_tree: debootstrap is missing" >&2; exit 1; }
		mirror=$(debian_mirror "$_DEBIAN_TREE_SUITE") || exit 1
		tmp=$dir.tmp
		rm -rf "$tmp"
		echo "debian_tree: debootstrap $_DEBIAN_TREE_SUITE from $mirror into $tmp (a few minutes)" >&2
		if ! debootstrap --variant=minbase --include="$pkgs" --cache-dir="$cache/debs" \
			"$_DEBIAN_TREE_SUITE" "$tmp" "$mirror" >"$cache/debootstrap-$key.log" 2>&1; then
			tail -20 "$cache/debootstrap-$key.log" >&2
			echo "debian_tree: debootstrap failed (log: $cache/debootstrap-$key.log)" >&2
			exit 1
		fi
		_debian_tree_setup "$tmp" || exit 1
		rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
		printf '%s\n' "$pkgs" >"$tmp/.hfc-tree"
		mv "$tmp" "$dir"
	) 9>"$cache/.lock-$key" || return 1
	echo "$dir"
}

# What makes the tree a test guest: a name, no password on the console, nothing to mount
# from fstab (the root is the boot's overlay), and the unit that ends the boot.
_debian_tree_setup() {
	local r=$1
	echo hfc-test >"$r/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\thfc-test\n' >"$r/etc/hosts"
	echo 6b1f2a2e00004000800000000000c0de >"$r/etc/machine-id"
	printf '# the root is an overlay made in the initramfs\n' >"$r/etc/fstab"
	sed -i 's/^root:[^:]*:/root::/' "$r/etc/shadow"
	# The marker tells what the tests check: the root is the boot's overlay, the client runs
	# on as "@hfc-mount" with its /etc (kept on /hfc, see boot/initramfs-tools/scripts/hfc).
	cat >"$r/usr/local/sbin/hfc-marker" <<'EOF'
#!/bin/sh
p=$(cat /run/hfc/pid 2>/dev/null)
a=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -n 1)
[ -e /run/hfc/client/etc/nsswitch.conf ] && e=kept || e=lost
echo "hfc-boot-test: multi-user.target reached, root $(findmnt -n -o SOURCE,FSTYPE /), client ${a:-none}, its /etc $e" >/dev/ttyS0
# The client's counters on the second serial port, for the test's log.
cat /run/hfc/client/mnt/.stats >/dev/ttyS1 2>/dev/null
exit 0
EOF
	chmod 755 "$r/usr/local/sbin/hfc-marker"
	debian_tree_final_unit "$r" hfc-marker <<'EOF'
[Unit]
Description=hfcloop boot test: say so on the console, then power off
After=multi-user.target
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hfc-marker
ExecStart=/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
EOF
}
