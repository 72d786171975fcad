#!/usr/bin/env bash
# Installs every Debian package that hfcloop's build, tests and benchmarks use, when missing.
# Called by `make check`, `make demo` and .ci/run; safe to run again (it does nothing then).
# --bench adds the benchmarks' packages (make bench), --long those of make check-long (valgrind).
set -euo pipefail

build=(make gcc pkg-config libdeflate-dev zlib1g-dev libssl-dev libcurl4-openssl-dev
       libarchive-dev libyaml-dev libjansson-dev libext2fs-dev e2fsprogs libfuse3-dev fuse3 libcmocka-dev
       clang libclang-rt-14-dev)
# The boot tests (tests/cli/boot) debootstrap a small Debian, boot it in qemu, and make a boot
# CD with grub-mkrescue (xorriso, mtools); busybox runs the boot script's tests on the host.
# The tree-input tests (tests/cli/mkimage/6*) make ISO 9660 (xorriso) and cloop (cloop-utils)
# inputs and trees with xattrs and ACLs (attr, acl).
test=(nginx-light rsync iproute2 curl python3 time util-linux kmod apache2 lighttpd openssl
      iputils-ping debootstrap qemu-system-x86 xorriso grub-pc-bin grub-common mtools busybox
      cpio zstd cloop-utils attr acl)
bench=(casync qemu-block-extra)
long=(valgrind)

want=("${build[@]}" "${test[@]}")
[ "${1:-}" = "--bench" ] && want+=("${bench[@]}")
[ "${1:-}" = "--long" ] && want+=("${long[@]}")

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages: ${missing[*]} (run as root or install them)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
