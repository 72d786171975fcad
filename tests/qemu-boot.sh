# shellcheck shell=bash
# Boots a kernel and initrd in qemu (TCG) whose network is qemu's user-mode stack, for the
# boot tests (tests/cli/boot/) and bench/bench-boot.sh. Source after tests/lib.sh.
#
#   qemu_boot LOG KERNEL INITRD CMDLINE [QEMU-ARGS...]
#       (KERNEL empty: no -kernel, -initrd, -append; e.g. -cdrom FILE -boot d) starts qemu in the background, the serial console written to LOG (ttyS1, when the
#       guest writes there, to LOG.ttyS1; qemu's own messages to LOG.qemu); sets QEMU_PID.
#       With QEMU_NETNS set to a name of tests/netns.sh, qemu runs in that namespace, so the
#       guest reaches what the namespace reaches (nginx on $NETNS_PEER, through the delay
#       line) and nothing else: the user-mode stack's connections are the namespace's.
#       The user-mode network is 198.18.2.0/24 (the benchmark range; the guest is .15),
#       its DHCP gives the guest an address; there is no DNS server.
#   qemu_wait_exit SECONDS        waits for qemu to exit by itself (the guest powered off);
#                                 fails the case when it does not within SECONDS, or exits
#                                 with a status other than 0
#   qemu_wait_line PATTERN SECONDS  waits for a line matching PATTERN (grep -E) in the log
#   qemu_kill                     stops qemu (a guest left in the initramfs shell)
#
# QEMU_MEM (MiB, default 1024) and QEMU_SMP (default 1) size the guest; -no-reboot makes a
# reboot of the guest end qemu like a power-off.

QEMU_PID=
QEMU_LOG=

qemu_boot() {
	local log=$1 kernel=$2 initrd=$3 cmdline=$4 pre=() kargs=()
	shift 4
	[ -z "$kernel" ] || kargs=(-kernel "$kernel" -initrd "$initrd" -append "$cmdline")
	command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is missing (qemu-system-x86)"
	[ -z "${QEMU_NETNS:-}" ] || pre=(nsenter --net="$(netns_path "$QEMU_NETNS")")
	rm -f "$log" "$log.ttyS1" "$log.qemu"
	QEMU_LOG=$log
	"${pre[@]}" qemu-system-x86_64 -machine accel=tcg -m "${QEMU_MEM:-1024}" -smp "${QEMU_SMP:-1}" \
		-nodefaults -no-user-config -display none -no-reboot -monitor none \
		-serial "file:$log" -serial "file:$log.ttyS1" \
		-netdev user,id=n0,net=198.18.2.0/24,host=198.18.2.2,dhcpstart=198.18.2.15,ipv6=off \
		-device virtio-net-pci,netdev=n0 \
		"${kargs[@]}" "$@" </dev/null >"$log.qemu" 2>&1 &
	QEMU_PID=$!
	at_exit qemu_kill
}

qemu_kill() {
	[ -n "$QEMU_PID" ] || return 0
	if _alive "$QEMU_PID"; then
		kill -TERM "$QEMU_PID" 2>/dev/null || true
		_wait_gone "$QEMU_PID" 10 || kill -KILL "$QEMU_PID" 2>/dev/null || true
	fi
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=
}

qemu_wait_exit() {
	local secs=$1 rc=0 n
	for ((n = 0; n < secs * 10; n++)); do
		_alive "$QEMU_PID" || break
		sleep 0.1
	done
	if _alive "$QEMU_PID"; then
		tail -30 "$QEMU_LOG" >&2
		fail "qemu did not exit by itself within $secs s (log: $QEMU_LOG)"
	fi
	wait "$QEMU_PID" || rc=$?
	QEMU_PID=
	[ "$rc" = 0 ] || { cat "$QEMU_LOG.qemu" >&2; fail "qemu exited $rc"; }
}

qemu_wait_line() {
	local pat=$1 secs=$2 n
	for ((n = 0; n < secs * 10; n++)); do
		grep -aqE -- "$pat" "$QEMU_LOG" 2>/dev/null && return 0
		_alive "$QEMU_PID" || break
		sleep 0.1
	done
	grep -aqE -- "$pat" "$QEMU_LOG" 2>/dev/null && return 0
	tail -30 "$QEMU_LOG" >&2
	fail "no line /$pat/ on the guest's console within $secs s (log: $QEMU_LOG)"
}
