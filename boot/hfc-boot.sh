#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# hfc-boot — build the boot artifacts of an hfcloop site: an initrd whose boot=hfc mounts the
# root file system from the site, and a small bootable ISO with it (the "boot CD").
# See hfc-boot(1). Nothing of the host's configuration is read or changed: mkinitramfs runs in
# the root tree, in a private mount namespace, with hfcloop's own configuration directory.
set -eu

prog=hfc-boot
here=$(cd "$(dirname "$0")" && pwd)

usage() {
	cat <<'USAGE'
Usage: hfc-boot initrd --root DIR -o FILE [OPTIONS]
       hfc-boot iso --root DIR --url URL[,URL...] -o FILE [OPTIONS]

Build, from DIR (a Debian root tree with a kernel, initramfs-tools and busybox), an initrd
whose boot=hfc mounts the root file system from an hfcloop site over HTTP; or a bootable ISO
with that kernel, that initrd and a boot menu for the site.

  -r, --root DIR         the root tree (its kernel, modules, libraries and initramfs-tools)
  -o, --output FILE      the initrd or ISO to write (replaced only when complete)
  -u, --url URL[,URL...] iso: the site's mirrors, for the boot menu (hfc=)
  -a, --append OPTIONS   iso: more of the kernel command line (e.g. "hfc.prefetch=auto
                         console=ttyS0"); default "ip=dhcp"
  -k, --kernel VERSION   the kernel of DIR to use (default: the newest in DIR/boot)
  -m, --modules MODE     initramfs-tools MODULES: netboot (default), list, most or dep
  -c, --client FILE      the hfc-mount to put in (default: the one installed beside hfc-boot)
  -p, --pubkey FILE      a public key to put in as /etc/hfcloop/keys/NAME.pub (repeatable)
      --initrd FILE      iso: use this initrd instead of building one
  -h, --help             print this help and exit

The kernel command line is boot=hfc hfc=URL[,URL...] [hfc.version=N] [hfc.prefetch=auto|off]
[hfc.cache=DEVICE|none] [hfc.pubkey=FILE[,FILE]] [hfc.trace] [ip=...].
Exit status: 0 success, 1 failure, 2 usage error.
USAGE
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage_error() {
	echo "$prog: $*" >&2
	echo "Try 'hfc-boot --help'." >&2
	exit 2
}

cmd= root= out= urls= append=ip=dhcp kver= modules=netboot client= initrd_in= keys=
need_arg() {
	[ "$#" -ge 2 ] || usage_error "option '$1' needs a value"
}

[ "$#" -gt 0 ] || usage_error "no command (initrd or iso)"
case $1 in
-h | --help) usage; exit 0 ;;
initrd | iso) cmd=$1; shift ;;
-*) usage_error "no command before '$1' (initrd or iso)" ;;
*) usage_error "unknown command '$1' (initrd or iso)" ;;
esac

nl='
'
while [ "$#" -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	-r | --root) need_arg "$@"; root=$2; shift 2 ;;
	--root=*) root=${1#*=}; shift ;;
	-o | --output) need_arg "$@"; out=$2; shift 2 ;;
	--output=*) out=${1#*=}; shift ;;
	-u | --url) need_arg "$@"; urls=$2; shift 2 ;;
	--url=*) urls=${1#*=}; shift ;;
	-a | --append) need_arg "$@"; append=$2; shift 2 ;;
	--append=*) append=${1#*=}; shift ;;
	-k | --kernel) need_arg "$@"; kver=$2; shift 2 ;;
	--kernel=*) kver=${1#*=}; shift ;;
	-m | --modules) need_arg "$@"; modules=$2; shift 2 ;;
	--modules=*) modules=${1#*=}; shift ;;
	-c | --client) need_arg "$@"; client=$2; shift 2 ;;
	--client=*) client=${1#*=}; shift ;;
	-p | --pubkey) need_arg "$@"; keys="$keys$2$nl"; shift 2 ;;
	--pubkey=*) keys="$keys${1#*=}$nl"; shift ;;
	--initrd) need_arg "$@"; initrd_in=$2; shift 2 ;;
	--initrd=*) initrd_in=${1#*=}; shift ;;
	-*) usage_error "unknown option '$1'" ;;
	*) usage_error "unexpected argument '$1'" ;;
	esac
done

[ -n "$root" ] || usage_error "--root DIR is required"
[ -n "$out" ] || usage_error "--output FILE is required"
case $modules in netboot | list | most | dep) ;; *) usage_error "--modules must be netboot, list, most or dep" ;; esac
if [ "$cmd" = iso ]; then
	[ -n "$urls" ] || usage_error "iso needs --url URL[,URL...]"
else
	[ -z "$urls" ] || usage_error "--url is for iso only"
	[ -z "$initrd_in" ] || usage_error "--initrd is for iso only"
	[ "$append" = ip=dhcp ] || usage_error "--append is for iso only"
fi

# --- checks that need no root
[ -d "$root" ] || die "$root: not a directory"
root=$(cd "$root" && pwd)
[ "$root" != / ] || die "$root: the host itself is not a root tree (hfc-boot never builds in the host's configuration)"
outdir=$(dirname "$out")
[ -d "$outdir" ] || die "$out: no directory $outdir"
outdir=$(cd "$outdir" && pwd)
out=$outdir/$(basename "$out")

confsrc=
for d in "$here/../share/hfcloop/initramfs-tools" "$here/initramfs-tools"; do
	if [ -f "$d/scripts/hfc" ]; then confsrc=$(cd "$d" && pwd); break; fi
done
[ -n "$confsrc" ] || die "$here: hfcloop's initramfs-tools configuration is missing (share/hfcloop/initramfs-tools)"

if [ -z "$kver" ]; then
	kver=$(cd "$root/boot" 2>/dev/null && ls vmlinuz-* 2>/dev/null | sed 's/^vmlinuz-//' | sort -V | tail -n 1) || true
	[ -n "$kver" ] || die "$root/boot: no kernel (vmlinuz-VERSION) in the tree"
fi
kernel=$root/boot/vmlinuz-$kver
[ -f "$kernel" ] || die "$kernel: no such kernel in the tree"
[ -d "$root/lib/modules/$kver" ] || die "$root/lib/modules/$kver: the kernel's modules are not in the tree"

if [ "$cmd" = iso ]; then
	# hfc_parse checks the URLs as the boot will: what the menu says must boot.
	# shellcheck source=initramfs-tools/scripts/hfc-cmdline.sh
	. "$confsrc/scripts/hfc-cmdline.sh"
	hfc_parse "boot=hfc hfc=$urls $append" || die "${HFC_ERROR#hfc: }"
	case $append in
	*[\"\'\\\$\`\;\&\|\<\>]*) die "--append: '$append' holds a character that is not allowed in a boot menu" ;;
	esac
	command -v grub-mkrescue >/dev/null 2>&1 ||
		die "grub-mkrescue: not found (apt-get install grub-common grub-pc-bin xorriso mtools)"
	command -v xorriso >/dev/null 2>&1 || die "xorriso: not found (apt-get install xorriso)"
	if [ -n "$initrd_in" ]; then
		[ -f "$initrd_in" ] || die "$initrd_in: no such initrd"
	fi
fi

if [ -z "$initrd_in" ]; then
	if [ -z "$client" ]; then
		if [ -x "$here/hfc-mount" ]; then
			client=$here/hfc-mount
		elif [ -x "$here/../build/hfc-mount" ]; then
			client=$here/../build/hfc-mount
		else
			client=$(command -v hfc-mount 2>/dev/null) || die "hfc-mount: not found beside hfc-boot or on PATH (--client FILE)"
		fi
	fi
	[ -f "$client" ] && [ -x "$client" ] || die "$client: not an executable file"
	[ -x "$root/usr/sbin/mkinitramfs" ] || die "$root: no mkinitramfs in the tree (install initramfs-tools in it)"
	[ -x "$root/bin/busybox" ] || [ -x "$root/usr/bin/busybox" ] || die "$root: no busybox in the tree (install busybox in it)"
	printf '%s' "$keys" | while IFS= read -r k; do
		case $k in *.pub) ;; *) die "$k: a public key file's name must end in .pub" ;; esac
		[ -f "$k" ] || die "$k: no such file"
	done
	[ "$(id -u)" = 0 ] || die "$root: building in a root tree needs root (chroot)"
	for t in unshare chroot; do
		command -v "$t" >/dev/null 2>&1 || die "$t: not found (util-linux, coreutils)"
	done
fi

# --- the work: a directory removed on every exit, a temporary output renamed at the end
work=$(mktemp -d "${TMPDIR:-/tmp}/hfc-boot.XXXXXX") || die "${TMPDIR:-/tmp}: cannot make a work directory"
tmp_out=
cleanup() {
	rc=$?
	[ -z "$tmp_out" ] || rm -f "$tmp_out"
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# build_initrd FILE: the initrd, made in the tree by its own mkinitramfs.
build_initrd() {
	w=$work/in
	mkdir -p "$w/conf/conf.d" "$w/keys"
	cp -R "$confsrc/." "$w/conf/"
	printf 'MODULES=%s\n' "$modules" >"$w/conf/conf.d/hfc-boot"
	cp "$client" "$w/hfc-mount"
	printf '%s' "$keys" | while IFS= read -r k; do
		cp "$k" "$w/keys/$(basename "$k")"
	done
	# A private mount namespace: the tree gets a tmpfs on /tmp (the work files, and
	# mkinitramfs's own scratch space), /proc, /sys and /dev, all gone when it ends, whatever
	# happens; nothing is written into the tree.
	unshare -m --propagation private -- sh -c '
		set -e
		r=$1 w=$2 kver=$3 outf=$4
		mount -t tmpfs -o mode=0755 hfc-boot "$r/tmp"
		mount -t proc proc "$r/proc"
		mount -t sysfs sys "$r/sys"
		mount --rbind /dev "$r/dev"
		cp -R "$w/." "$r/tmp/"
		chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C TMPDIR=/tmp \
			HFCLOOP_CLIENT=/tmp/hfc-mount HFCLOOP_KEYS=/tmp/keys \
			mkinitramfs -d /tmp/conf -o /tmp/initrd.img "$kver" >"$w/mkinitramfs.log" 2>&1
		cp "$r/tmp/initrd.img" "$outf"' sh "$root" "$w" "$kver" "$1" ||
		{
			sed -n 's/^E: //p' "$w/mkinitramfs.log" 2>/dev/null | head -n 1 >"$w/err" || true
			[ -s "$w/err" ] || tail -n 1 "$w/mkinitramfs.log" >"$w/err" 2>/dev/null || true
			die "$root: mkinitramfs failed: $(cat "$w/err")"
		}
	# The configuration asks for zstd (the kernel unpacks it several times faster than gzip:
	# a second of a boot under qemu TCG). A tree without the zstd program gets gzip from its
	# mkinitramfs: this host's zstd recompresses it (an initrd that starts with an uncompressed
	# cpio, such as early microcode, is left as it is).
	if [ "$(od -An -tx1 -N2 "$1" | tr -d ' ')" = 1f8b ] && command -v zstd >/dev/null; then
		gzip -dc <"$1" | zstd -q -T0 >"$w/initrd.zst" && mv "$w/initrd.zst" "$1" ||
			die "$1: recompressing the initrd with zstd failed"
	fi
}

tmp_out=$(mktemp "$outdir/.$(basename "$out").XXXXXX") || die "$outdir: cannot write there"
case $cmd in
initrd)
	build_initrd "$tmp_out"
	chmod 0644 "$tmp_out"
	;;
iso)
	iso=$work/iso
	mkdir -p "$iso/boot/grub"
	if [ -n "$initrd_in" ]; then
		cp "$initrd_in" "$iso/boot/initrd.img"
	else
		build_initrd "$iso/boot/initrd.img"
	fi
	cp "$kernel" "$iso/boot/vmlinuz"
	# Single quotes keep the URLs as they are in GRUB's shell; the menu shows the site.
	cat >"$iso/boot/grub/grub.cfg" <<CFG
# hfc-boot: boot from an hfcloop site ($kver)
set timeout=3
set default=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry 'hfcloop: boot from $urls' {
	linux /boot/vmlinuz boot=hfc 'hfc=$urls' $append
	initrd /boot/initrd.img
}
CFG
	grub-mkrescue -o "$tmp_out" "$iso" >"$work/grub-mkrescue.log" 2>&1 ||
		die "grub-mkrescue failed: $(tail -n 1 "$work/grub-mkrescue.log")"
	chmod 0644 "$tmp_out"
	;;
esac
mv -f "$tmp_out" "$out"
tmp_out=
size=$(wc -c <"$out")
echo "$out: $cmd for $kver, $((size / 1024)) KiB" >&2
