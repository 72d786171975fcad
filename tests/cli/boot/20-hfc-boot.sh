#!/usr/bin/env bash
# hfc-boot: --help, usage errors (exit 2), failures as one line "hfc-boot: where: what" (exit
# 1) that leave no output behind; a real initrd from the test tree holds the client, the
# link that makes it a root-storage daemon, the boot script and parser, the modules, the
# NSS configuration and the CA certificates; the tree is left as it was, and no mount stays.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/debian-tree.sh"

expect_status 0 hfc-boot --help
grep -q '^Usage: hfc-boot initrd --root DIR -o FILE' "$T/out" || fail "--help: $(head -2 "$T/out")"
[ ! -s "$T/err" ] || fail "--help wrote to stderr"
# The page as installed (man itself is not on every machine: read the file).
grep -q '^\.TH HFC-BOOT 1' "$(dirname "$(command -v hfc-boot)")/../share/man/man1/hfc-boot.1" ||
	fail "the man page is not installed"

usage() {
	local pat=$1
	shift
	expect_status 2 hfc-boot "$@"
	grep -qE "^hfc-boot: $pat" "$T/err" || fail "hfc-boot $*: $(cat "$T/err")"
}
usage "no command" 
usage "unknown command 'make'" make
usage "--root DIR is required" initrd -o x
usage "--output FILE is required" initrd --root /
usage "unknown option '--bogus'" initrd --bogus
usage "option '--root' needs a value" initrd --root
usage "iso needs --url" iso --root / -o x
usage "--url is for iso only" initrd --root / -o x --url http://h/
usage "--modules must be" initrd --root / -o x --modules all
usage "unexpected argument 'extra'" initrd --root / -o x extra

# Failures: one line, exit 1, nothing written.
mkdir -p "$T/empty/boot" "$T/o"
expect_error "^hfc-boot: $T/none: not a directory$" hfc-boot initrd --root "$T/none" -o "$T/o/i"
expect_error "^hfc-boot: /: the host itself is not a root tree" hfc-boot initrd --root / -o "$T/o/i"
expect_error "^hfc-boot: $T/empty/boot: no kernel" hfc-boot initrd --root "$T/empty" -o "$T/o/i"
expect_error "^hfc-boot: $T/o/x/i: no directory" hfc-boot initrd --root "$T/empty" -o "$T/o/x/i"
touch "$T/empty/boot/vmlinuz-6.1.0-test"
expect_error "^hfc-boot: $T/empty/lib/modules/6.1.0-test: the kernel's modules are not in the tree" \
	hfc-boot initrd --root "$T/empty" -o "$T/o/i"
mkdir -p "$T/empty/lib/modules/6.1.0-test"
expect_error "^hfc-boot: $T/empty: no mkinitramfs in the tree" hfc-boot initrd --root "$T/empty" -o "$T/o/i"
expect_error "^hfc-boot: iso: .*|^hfc-boot: hfc=ftp://h/: 'ftp://h/' is not an http:// or https:// URL$" \
	hfc-boot iso --root "$T/empty" --url ftp://h/ -o "$T/o/i"
expect_error "^hfc-boot: --append: .* not allowed" hfc-boot iso --root "$T/empty" --url http://h/ \
	--append 'ip=dhcp;reboot' -o "$T/o/i"
[ -z "$(ls -A "$T/o")" ] || fail "a failure left files: $(ls -A "$T/o")"

# --- a real initrd from the test tree
tree=$(debian_tree) || fail "cannot make the Debian tree"
before=$(cd "$tree" && find . -xdev -newer "$tree/.hfc-tree" | sort | md5sum)
# A client whose libraries the tree lacks: refused, nothing written, nothing left.
cc -o "$T/needs-yaml" -x c - -lyaml <<<'int yaml_get_version_string(void); int main(void) { return yaml_get_version_string() == 0; }' ||
	fail "cannot build a client stand-in"
expect_error "^hfc-boot: $tree: mkinitramfs failed: hfcloop: hfc-mount needs libraries the tree does not have: libyaml-0.so.2" \
	hfc-boot initrd --root "$tree" --modules list --client "$T/needs-yaml" -o "$T/o/i"
[ -z "$(ls -A "$T/o")" ] || fail "a failed build left files: $(ls -A "$T/o")"

echo "untrusted comment: test key" >"$T/site.pub"
expect_status 0 hfc-boot initrd --root "$tree" --modules list --pubkey "$T/site.pub" -o "$T/o/initrd.img"
grep -q "^$T/o/initrd.img: initrd for " "$T/err" || fail "the summary: $(cat "$T/err")"
[ "$(ls -A "$T/o")" = initrd.img ] || fail "files beside the initrd: $(ls -A "$T/o")"
! awk -v t="$tree" 'index($5, t) == 1' /proc/self/mountinfo | grep -q . || fail "hfc-boot left a mount in the tree"
after=$(cd "$tree" && find . -xdev -newer "$tree/.hfc-tree" | sort | md5sum)
[ "$before" = "$after" ] || fail "hfc-boot changed the tree"
[ -z "$(ls -A "$tree/tmp")" ] || fail "hfc-boot left files in the tree's /tmp"

mkdir "$T/x"
# zstd, as the configuration asks, also from a tree without the zstd program.
[ "$(od -An -tx1 -N4 "$T/o/initrd.img" | tr -d ' ')" = 28b52ffd ] ||
	fail "the initrd is not zstd: $(file -b "$T/o/initrd.img")"
(cd "$T/x" && zstd -dc "$T/o/initrd.img" | cpio -idm --quiet) || fail "cannot unpack the initrd"
for f in usr/bin/hfc-mount scripts/hfc scripts/hfc-cmdline.sh etc/nsswitch.conf etc/hosts \
	etc/ssl/certs/ca-certificates.crt etc/hfcloop/keys/site.pub bin/busybox; do
	[ -e "$T/x/$f" ] || fail "the initrd has no $f"
done
[ "$(readlink "$T/x/usr/lib/hfcloop/@hfc-mount")" = /usr/bin/hfc-mount ] || fail "no @hfc-mount link"
for m in fuse overlay ext4 virtio_net; do
	find "$T/x/usr/lib/modules" -name "$m.ko*" | grep -q . || grep -qw "$m" "$T/x/usr/lib/modules"/*/modules.builtin ||
		fail "the initrd has no module $m"
done
cmp -s "$T/x/usr/bin/hfc-mount" "$(command -v hfc-mount)" || fail "the initrd's client is not the installed hfc-mount"
grep -qx 'hosts: files dns' "$T/x/etc/nsswitch.conf" || fail "nsswitch.conf: $(cat "$T/x/etc/nsswitch.conf")"
# Every library of the client is in the initrd (the tree's).
chroot "$T/x" /usr/bin/hfc-mount --help >/dev/null || fail "the initrd's client does not run from the initrd's libraries"
note "initrd: $(wc -c <"$T/o/initrd.img") bytes; $(find "$T/x" -type f | wc -l) files"
