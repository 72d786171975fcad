#!/usr/bin/env bash
# The boot script of boot=hfc on the host: its command-line parser (scripts/hfc-cmdline.sh) for
# every option and every error, under the shells it meets (busybox sh in the initramfs; dash
# and bash here), and the boot script (scripts/hfc) with initramfs-tools' functions, mount and
# the client replaced by stand-ins: every failure is one line "hfc: ..." given to panic, and a
# good command line mounts what it should, in order.
. "$HFC_TOP/tests/lib.sh"
CONF=$HFC_TOP/boot/initramfs-tools/scripts

shells=(bash dash)
command -v busybox >/dev/null && shells+=("busybox sh")
command -v dash >/dev/null || shells=(bash)

# parse SHELL CMDLINE: prints the variables after hfc_parse, or ERROR: line.
parse() {
	local sh=$1
	shift
	# shellcheck disable=SC2086
	$sh -c '. "$1"; if hfc_parse "$2"; then
		printf "urls=%s version=%s prefetch=%s cache=%s trace=%s\n" "$HFC_URLS" "$HFC_VERSION" \
			"$HFC_PREFETCH" "$HFC_CACHE" "$HFC_TRACE"
		printf "pubkeys=%s\n" "$(printf "%s" "$HFC_PUBKEYS" | tr "\n" " ")"
		printf "args=%s\n" "$(hfc_client_args /mnt /c /t | tr "\n" " ")"
	else echo "ERROR: $HFC_ERROR"; fi' sh "$CONF/hfc-cmdline.sh" "$*"
}

# ok CMDLINE EXPECTED-LINE...: every shell gives exactly these lines.
ok() {
	local cmd=$1 sh out
	shift
	for sh in "${shells[@]}"; do
		out=$(parse "$sh" "$cmd")
		for want in "$@"; do
			grep -qxF -- "$want" <<<"$out" || fail "$sh: '$cmd': no line '$want' in:
$out"
		done
	done
}

# bad CMDLINE ERROR-PATTERN: every shell fails with one line matching the pattern.
bad() {
	local cmd=$1 pat=$2 sh out
	for sh in "${shells[@]}"; do
		out=$(parse "$sh" "$cmd")
		[ "$(wc -l <<<"$out")" = 1 ] || fail "$sh: '$cmd': more than one line: $out"
		grep -qE -- "^ERROR: hfc: $pat" <<<"$out" || fail "$sh: '$cmd': got '$out', want /$pat/"
	done
}

note "shells: ${shells[*]}"
# --- good command lines
ok "BOOT_IMAGE=/vmlinuz boot=hfc hfc=http://h/site ip=dhcp quiet" \
	"urls=http://h/site version= prefetch=off cache=none trace=" \
	"args=--allow-other --cache /c --trace /t http://h/site /mnt "
ok "boot=hfc hfc=http://a:8080/s,https://b.example/x/y hfc.version=12 hfc.prefetch=auto hfc.cache=LABEL=hfc-cache hfc.trace" \
	"urls=http://a:8080/s,https://b.example/x/y version=12 prefetch=auto cache=LABEL=hfc-cache trace=y" \
	"args=--allow-other --version 12 --prefetch=auto --cache /c --trace /t http://a:8080/s,https://b.example/x/y /mnt "
ok "hfc=http://h/ hfc.prefetch" "urls=http://h/ version= prefetch=auto cache=none trace="
ok "hfc=http://h/ hfc.prefetch=auto hfc.prefetch=off hfc.cache=/dev/vdb hfc.cache=none" \
	"urls=http://h/ version= prefetch=off cache=none trace="
ok "hfc=http://old/ hfc=http://[::1]:8080/new" "urls=http://[::1]:8080/new version= prefetch=off cache=none trace="
ok "hfc=http://h/ hfc.version=99999999 hfc.cache=UUID=0b1f-2a2e" \
	"urls=http://h/ version=99999999 prefetch=off cache=UUID=0b1f-2a2e trace="
ok "hfc=http://h/ hfc.pubkey=/etc/hfcloop/keys/a.pub,/k/b.pub hfc.pubkey=/k/c.pub" \
	"pubkeys=/etc/hfcloop/keys/a.pub /k/b.pub /k/c.pub " \
	"args=--allow-other --cache /c --trace /t --pubkey /etc/hfcloop/keys/a.pub --pubkey /k/b.pub --pubkey /k/c.pub http://h/ /mnt "
# A word that is a file name pattern stays a word (no globbing of the command line).
ok "hfc=http://h/* init=/bin/*" "urls=http://h/* version= prefetch=off cache=none trace="
# 64 mirrors are allowed.
m64=$(for i in $(seq 64); do printf 'http://m%d/,' "$i"; done)
ok "hfc=${m64%,}" "urls=${m64%,} version= prefetch=off cache=none trace="

# --- every error: one line
bad "boot=hfc ip=dhcp" "no site: boot=hfc needs hfc=URL"
bad "hfc=" "hfc=: no URL given"
bad "hfc=http://a/,,http://b/" "hfc=http://a/,,http://b/: an empty URL in the list"
bad "hfc=http://a/," "hfc=http://a/,: an empty URL"
bad "hfc=,http://a/" "hfc=,http://a/: an empty URL"
bad "hfc=ftp://a/site" "hfc=ftp://a/site: 'ftp://a/site' is not an http:// or https:// URL"
bad "hfc=file:///srv/site" "hfc=file:///srv/site: 'file:///srv/site' is not an http:// or https://"
bad "hfc=/srv/site" "hfc=/srv/site: '/srv/site' is not a URL"
bad "hfc=http://" "hfc=http://: 'http://' has no host"
bad "hfc=http:///site" "hfc=http:///site: 'http:///site' has no host"
bad "hfc=http://:80/site" "hfc=http://:80/site: 'http://:80/site' has no host"
bad "hfc=http://h/a;reboot" "hfc=http://h/a;reboot: 'http://h/a;reboot' holds a character"
bad "hfc=http://h/\$x" "hfc=http://h/\\\$x: 'http://h/\\\$x' holds a character"
bad "hfc=${m64}http://m65/" "hfc=.*: 65 mirrors, at most 64"
bad "hfc=http://h/ hfc.version=0" "hfc.version=0: not a version number \(1 to 99999999\)"
bad "hfc=http://h/ hfc.version=007" "hfc.version=007: not a version number"
bad "hfc=http://h/ hfc.version=" "hfc.version=: not a version number"
bad "hfc=http://h/ hfc.version=1x" "hfc.version=1x: not a version number"
bad "hfc=http://h/ hfc.version=100000000" "hfc.version=100000000: not a version number"
bad "hfc=http://h/ hfc.prefetch=on" "hfc.prefetch=on: must be hfc.prefetch=auto or hfc.prefetch=off"
bad "hfc=http://h/ hfc.prefetch=" "hfc.prefetch=: must be"
bad "hfc=http://h/ hfc.cache=sdb" "hfc.cache=sdb: must be a device"
bad "hfc=http://h/ hfc.cache=" "hfc.cache=: must be a device"
bad "hfc=http://h/ hfc.cache=/dev/" "hfc.cache=/dev/: must be a device"
bad "hfc=http://h/ hfc.pubkey=" "hfc.pubkey=: an empty key file name"
bad "hfc=http://h/ hfc.pubkey=/a.pub," "hfc.pubkey=/a.pub,: an empty key file name"
bad "hfc=http://h/ hfc.pubkey=a.pub" "hfc.pubkey=a.pub: 'a.pub' is not an absolute path"
bad "hfc=http://h/ hfc.trace=1" "hfc.trace=1: unknown option"
bad "hfc=http://h/ hfc.mirrors=x" "hfc.mirrors=x: unknown option \(hfc=, hfc.version=,"
bad "hfc=http://h/ hfc" "hfc: unknown option"
bad "hfc=http://h/ hfc.Version=2" "hfc.Version=2: unknown option"
# The first error is the one told.
bad "hfc=ftp://x hfc.version=x" "hfc.version=x: not a version number"

# --- the boot script itself, with stand-ins: mountroot LOG CMDLINE [CLIENT_RC [CLIENT_MSG]]
# runs hfc_mountroot; the stand-in client records its argv, and fails with CLIENT_RC and a
# message when asked. Prints PANIC: line, or ROOT MOUNTED.
# A compiled stand-in: a script cannot see the argv[0] it was called with, and that is what
# makes the client a root-storage daemon.
mkdir -p "$T/bin"
cat >"$T/fake.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
	FILE *f = fopen(getenv("HFC_TEST_ARGV"), "w");
	for (int i = 0; i < argc; i++)
		fprintf(f, "%s\n", argv[i]);
	fclose(f);
	int rc = atoi(getenv("FAKE_RC") ? getenv("FAKE_RC") : "0");
	if (rc)
		fprintf(stderr, "hfc-mount: starting\n%s\n", getenv("FAKE_MSG"));
	return rc;
}
C
cc -o "$T/bin/@hfc-mount" "$T/fake.c" || fail "cannot build the stand-in client"
mountroot() {
	local log=$1 cmd=$2 sh=${SHELL_UNDER_TEST:-dash}
	command -v dash >/dev/null || sh=bash
	rm -rf "$T/root" && mkdir -p "$T/root/etc"
	printf '%s\n' "$cmd" >"$T/root/cmdline"
	: >"$log"
	rm -rf "$T/sys" && mkdir -p "$T/sys/class/net/lo" "$T/sys/class/net/ens2" "$T/sys/class/net/eth1"
	echo 0x9 >"$T/sys/class/net/lo/flags"
	echo 0x1002 >"$T/sys/class/net/ens2/flags"
	echo 0x1003 >"$T/sys/class/net/eth1/flags"
	echo 1 >"$T/sys/class/net/eth1/carrier"
	HFC_SYSFS=$T/sys HFC_SCRIPTS=$CONF HFC_DIR=$T/root/hfc HFC_RUN=$T/root/run HFC_CMDLINE=$T/root/cmdline HFC_TEST_ARGV=$T/root/argv \
		FAKE_RC=${3:-0} FAKE_MSG=${4:-} PATH=$T/bin:$PATH LOG=$log rootmnt=$T/root/root quiet=n \
		$sh -c '
		. "$1"
		_hfc_is_block() { [ "$1" = /dev/null ]; }
		panic() { echo "PANIC: $*"; exit 9; }
		log_begin_msg() { echo "begin: $*" >>"$LOG"; }
		log_end_msg() { :; }
		configure_networking() { echo "configure_networking $(cat "$HFC_SYSFS/class/net/ens2/flags")" >>"$LOG"; }
		wait_for_udev() { echo "wait_for_udev $*" >>"$LOG"; }
		modprobe() { echo "modprobe $*" >>"$LOG"; }
		resolve_device() { case $1 in LABEL=good) echo /dev/null ;; *) return 1 ;; esac; }
		sleep() { :; }
		mount() { echo "mount $*" >>"$LOG"; case " $* " in *" $FAIL_MOUNT "*) echo "mount: $FAIL_MOUNT: failed" >&2; return 1 ;; esac; }
		cp() { echo "cp $*" >>"$LOG"; }
		hfc_mountroot
		echo "ROOT MOUNTED"' sh "$CONF/hfc"
}

out=$(mountroot "$T/log" "boot=hfc ip=dhcp hfc=http://198.18.0.2:8080/site,http://m2/site hfc.version=3 hfc.prefetch=auto")
[ "$out" = "ROOT MOUNTED" ] || fail "a good command line: $out"
# The client is called as @hfc-mount, with the site's options, the URLs and its mount point.
[ "$(cat "$T/root/argv" | tr '\n' ' ')" = "@hfc-mount --allow-other --version 3 --prefetch=auto http://198.18.0.2:8080/site,http://m2/site $T/root/hfc/mnt " ] ||
	fail "the client's argv: $(tr '\n' ' ' <"$T/root/argv")"
# In order: the modules, the network, the client's tmpfs and /etc, then the image's loop
# mount, the overlay's tmpfs and the overlay on the root.
grep -E '^(modprobe|configure|mount)' "$T/log" | sed "s|$T/root|R|g" >"$T/steps"
cat >"$T/want" <<'W'
modprobe -q fuse
modprobe -q loop
modprobe -q overlay
configure_networking 0x1003
mount -t tmpfs -o mode=0755,size=64m hfc R/hfc
mount -o bind R/hfc/etc /etc
mount -r -t ext4 -o loop R/hfc/mnt/image R/run/ro
mount -t tmpfs -o mode=0755 hfc-rw R/run/rw
mount -t overlay -o lowerdir=R/run/ro,upperdir=R/run/rw/upper,workdir=R/run/rw/work hfc-root R/root
W
diff -u "$T/want" "$T/steps" || fail "the boot script's steps"
# The network cards were up (IFF_UP) before ipconfig ran; lo and a card already up untouched.
[ "$(cat "$T/sys/class/net/lo/flags")" = 0x9 ] || fail "lo's flags changed"
[ "$(cat "$T/sys/class/net/eth1/flags")" = 0x1003 ] || fail "an up card's flags changed"

# The trace and the cache.
mountroot "$T/log" "boot=hfc hfc=http://h/ hfc.trace hfc.cache=LABEL=good" >"$T/out"
grep -qx "ROOT MOUNTED" "$T/out" || fail "trace and cache: $(cat "$T/out")"
grep -qx -- "--trace" "$T/root/argv" && grep -qx "$T/root/hfc/trace" "$T/root/argv" || fail "no --trace: $(cat "$T/root/argv")"
grep -qx "$T/root/hfc/cache/hfcloop" "$T/root/argv" || fail "no --cache: $(cat "$T/root/argv")"
grep -q "^mount -o rw,noatime /dev/null $T/root/hfc/cache$" "$T/log" || fail "the cache device was not mounted"
# A cache device that is not there: one line, and the boot goes on without a cache.
mountroot "$T/log" "boot=hfc hfc=http://h/ hfc.cache=LABEL=gone" >"$T/out"
grep -qx "hfc: hfc.cache=LABEL=gone: no such device after 30 s; booting without a disk cache" "$T/out" ||
	fail "a missing cache device: $(cat "$T/out")"
grep -qx "ROOT MOUNTED" "$T/out" || fail "a missing cache device stopped the boot"
! grep -qx -- "--cache" "$T/root/argv" || fail "--cache given without a cache device"

# --- the failures: one line, to panic; nothing mounted after it
# (shells: the initramfs runs busybox sh; dash and bash show the script is plain sh)
for SHELL_UNDER_TEST in "${shells[@]}"; do
	export SHELL_UNDER_TEST
	out=$(mountroot "$T/log" "boot=hfc hfc=ftp://x/") || true
	[ "$out" = "PANIC: hfc: hfc=ftp://x/: 'ftp://x/' is not an http:// or https:// URL" ] || fail "$SHELL_UNDER_TEST: bad URL: $out"
	! grep -q configure_networking "$T/log" || fail "the network came up for a bad command line"
	out=$(mountroot "$T/log" "boot=hfc") || true
	[ "$out" = "PANIC: hfc: no site: boot=hfc needs hfc=URL[,URL...] on the kernel command line" ] || fail "no hfc=: $out"
	out=$(mountroot "$T/log" "boot=hfc hfc=http://h/s" 1 "hfc-mount: http://h/s/index.idx: Could not connect to server") || true
	# The "Begin: hfc: mounting the site ..." line is closed first: the message has its own.
	[ "$out" = "failed.
PANIC: hfc: cannot mount the site: hfc-mount: http://h/s/index.idx: Could not connect to server" ] ||
		fail "$SHELL_UNDER_TEST: no mirror: $out"
	! grep -q "loop" <(grep '^mount' "$T/log") || fail "the image was mounted after the client failed"
	out=$(FAIL_MOUNT=loop mountroot "$T/log" "boot=hfc hfc=http://h/s") || true
	[ "$out" = "PANIC: hfc: cannot mount the image read-only as ext4: mount: loop: failed" ] || fail "image: $out"
	out=$(FAIL_MOUNT=overlay mountroot "$T/log" "boot=hfc hfc=http://h/s rootfstype=ext2") || true
	[ "$out" = "PANIC: hfc: cannot mount the overlay on the root: mount: overlay: failed" ] || fail "overlay: $out"
	out=$(FAIL_MOUNT=tmpfs mountroot "$T/log" "boot=hfc hfc=http://h/s") || true
	[ "$out" = "PANIC: hfc: cannot mount a tmpfs on $T/root/hfc" ] || fail "tmpfs: $out"
done
