# shellcheck shell=bash
# The latency harness: a private network namespace whose path to a peer address goes through
# a delay line, so that every packet (handshakes included) takes DELAY_MS each way and a round
# trip takes 2 * DELAY_MS. Source after tests/lib.sh (it sources tests/http.sh itself when the
# case has not):
#
#   . "$HFC_TOP/tests/lib.sh"
#   . "$HFC_TOP/tests/http.sh"      # optional: netns.sh brings it in when missing
#   . "$HFC_TOP/tests/netns.sh"
#
# The network. In namespace NAME a TUN device (hfcd0) is up with the local address
# A = 198.18.0.1/32 ($NETNS_LOCAL) and a route to the peer B = 198.18.0.2 ($NETNS_PEER)
# through it (198.18.0.0/15 is the benchmark range, RFC 2544: no real host has it). The
# helper build/netdelay reads every packet from the device, holds it DELAY_MS, and writes it
# back with source and destination swapped: a client inside the namespace connects to B, the
# packet comes back as B -> A and reaches a server listening on A (or 0.0.0.0), whose answer
# takes the same way back. Nothing leaves the namespace; no other address is ever used.
#
#   netns_up NAME DELAY_MS [RATE]  makes the namespace, the device and the helper; everything
#                                is removed when the case ends (helper stopped, namespace
#                                deleted). RATE limits the bandwidth of each direction (the
#                                helper's -r: 10M is 10 Mbit/s, 8M/1M an ADSL line, down/up);
#                                none by default
#   netns_delay NAME DELAY_MS [RATE]  changes the delay and the rate (restarts the helper;
#                                connections survive, packets in flight at that moment are
#                                lost and retransmitted)
#   netns_exec NAME CMD...       runs CMD in the namespace (`ip netns exec`: also a private
#                                mount namespace, with /sys remounted)
#   netns_enter NAME CMD...      runs CMD with only the network namespace changed (nsenter
#                                --net): mounts it makes stay visible to the host; use it for
#                                hfc-mount, whose MOUNTPOINT/image the host must see
#   netns_nginx NAME DIR         serves DIR with nginx inside the namespace, listening on
#                                A:PORT (8080, then 8081, ... for more servers in one
#                                namespace); prints the client URL http://198.18.0.2:PORT.
#                                NETNS_NGINX_KEEPALIVE=0 makes it close every connection after
#                                one response (default: keepalive_timeout 65s)
#   netns_mount_hfc NAME MP ARGS...  mount_hfc (tests/http.sh) with hfc-mount running inside
#                                the namespace (through netns_enter): the mount is recorded,
#                                checked and torn down like any mount_hfc mount
#   netns_path NAME              prints /run/netns/<namespace> (for nsenter --net=...)
#   netns_rtt NAME               prints the average ping RTT to the peer in ms (5 pings)
#
# NAME is a short word ([A-Za-z0-9_], up to 16); the namespace itself is named
# hfc-<case>-NAME, so that parallel cases and runs do not collide.
#
# The helper: ${HFC_NETDELAY:-$HFC_TOP/build/netdelay} (built by `make`; made here with
# `make build/netdelay` when missing). The device's MTU is ${NETNS_MTU:-1500}, like a real
# Ethernet path (TCP's slow start counts in segments: a larger MTU would make the path
# look faster than a real one). The helper runs with SCHED_FIFO priority 10 (chrt), so that
# the delay stays exact while other work takes the cores; NETNS_RT=0 turns that off.

declare -F start_nginx >/dev/null || . "$HFC_TOP/tests/http.sh"

NETNS_LOCAL=198.18.0.1
NETNS_PEER=198.18.0.2
export NETNS_LOCAL NETNS_PEER
_NETNS=$T/.netns
mkdir -p "$_NETNS"

_netns_helper() {
	local h=${HFC_NETDELAY:-$HFC_TOP/build/netdelay}
	if [ ! -x "$h" ] && [ -z "${HFC_NETDELAY:-}" ]; then
		make -s -C "$HFC_TOP" build/netdelay >"$_NETNS/make.log" 2>&1 ||
			{ cat "$_NETNS/make.log" >&2; fail "netns: cannot build build/netdelay"; }
	fi
	[ -x "$h" ] || fail "netns: no delay helper at $h"
	echo "$h"
}

# _netns_ns NAME: the namespace's real name (the case's namespace must exist).
_netns_ns() {
	[ -s "$_NETNS/$1/ns" ] || fail "netns: no namespace '$1' (netns_up it first)"
	cat "$_NETNS/$1/ns"
}

netns_path() {
	echo "/run/netns/$(_netns_ns "$1")"
}

# _netns_start_helper NAME DELAY_MS [RATE]: starts the helper, waits until it holds the device.
_netns_start_helper() {
	local name=$1 delay=$2 rate=${3:-} d=$_NETNS/$1 ns h pid n ropt=()
	ns=$(_netns_ns "$name")
	h=$(_netns_helper)
	: >"$d/netdelay.err"
	# nsenter, not `ip netns exec`: no private mount namespace is needed for it. A real-time
	# priority (SCHED_FIFO) keeps the delay exact on a busy machine: an ordinary process may
	# wake tens of ms late when the cores are taken (qemu, a parallel build); the helper
	# sleeps but for a few microseconds a packet. NETNS_RT=0 runs it as an ordinary process.
	local rt=()
	if [ "${NETNS_RT:-1}" != 0 ] && command -v chrt >/dev/null; then rt=(chrt -f 10); fi
	[ -z "$rate" ] || ropt=(-r "$rate")
	"${rt[@]}" nsenter --net="/run/netns/$ns" "$h" "${ropt[@]}" hfcd0 "$delay" 2>"$d/netdelay.err" </dev/null &
	pid=$!
	echo "$pid" >"$d/helper"
	echo "$delay" >"$d/delay"
	echo "$rate" >"$d/rate"
	for ((n = 0; n < 100; n++)); do
		if ! _alive "$pid"; then
			wait "$pid" 2>/dev/null || true
			fail "netns: the delay helper of $name exited: $(cat "$d/netdelay.err")"
		fi
		# The carrier is up while a process has the device open.
		ip -n "$ns" -o link show hfcd0 2>/dev/null | grep -q LOWER_UP && return 0
		sleep 0.05
	done
	fail "netns: the delay helper of $name did not attach to hfcd0 within 5 s"
}

_netns_stop_helper() {
	local d=$_NETNS/$1 pid
	[ -s "$d/helper" ] || return 0
	pid=$(cat "$d/helper")
	if _alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		_wait_gone "$pid" 5 || { kill -KILL "$pid" 2>/dev/null || true; _wait_gone "$pid" 2 || true; }
	fi
	wait "$pid" 2>/dev/null || true
	: >"$d/helper"
	if [ -s "$d/netdelay.err" ]; then
		echo "netns: the delay helper of $1 said: $(cat "$d/netdelay.err")" >&2
	fi
}

_netns_check_rate() {
	[ -z "$2" ] || [[ $2 =~ ^[0-9]+(\.[0-9]+)?[kKmMgG]?(/[0-9]+(\.[0-9]+)?[kKmMgG]?)?$ ]] ||
		fail "$1: bad rate '$2' (bits per second: 10M, 640k, 8M/1M)"
}

netns_up() {
	local name=$1 delay=$2 rate=${3:-} d ns
	[[ $name =~ ^[A-Za-z0-9_]{1,16}$ ]] || fail "netns_up: bad name '$name'"
	[[ $delay =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "netns_up: bad delay '$delay' (milliseconds)"
	_netns_check_rate netns_up "$rate"
	d=$_NETNS/$name
	[ -e "$d/ns" ] && fail "netns_up: $name is already up"
	command -v nsenter >/dev/null || fail "netns: nsenter (util-linux) is missing"
	mkdir -p "$d"
	ns=hfc-${T##*.}-$name
	ip netns add "$ns" 2>"$d/ip.err" || fail "netns_up: ip netns add $ns: $(cat "$d/ip.err")"
	echo "$ns" >"$d/ns"
	{
		ip -n "$ns" link set lo up &&
			ip -n "$ns" tuntap add dev hfcd0 mode tun &&
			ip -n "$ns" link set hfcd0 mtu "${NETNS_MTU:-1500}" txqueuelen 10000 up &&
			ip -n "$ns" addr add "$NETNS_LOCAL/32" dev hfcd0 &&
			ip -n "$ns" route add "$NETNS_PEER/32" dev hfcd0
	} 2>"$d/ip.err" || fail "netns_up: setting up $ns: $(cat "$d/ip.err")"
	# No IPv6 on the device: no router solicitations or MLD reports to carry.
	nsenter --net="/run/netns/$ns" sysctl -qw net.ipv6.conf.hfcd0.disable_ipv6=1 2>/dev/null || true
	_netns_start_helper "$name" "$delay" "$rate"
}

netns_delay() {
	local name=$1 delay=$2 rate=${3:-}
	[[ $delay =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "netns_delay: bad delay '$delay' (milliseconds)"
	_netns_check_rate netns_delay "$rate"
	_netns_ns "$name" >/dev/null
	_netns_stop_helper "$name"
	_netns_start_helper "$name" "$delay" "$rate"
}

netns_exec() {
	local ns
	ns=$(_netns_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

netns_enter() {
	local ns
	ns=$(_netns_ns "$1")
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

netns_rtt() {
	local ns
	ns=$(_netns_ns "$1")
	command -v ping >/dev/null || fail "netns_rtt: ping is missing (iputils-ping)"
	nsenter --net="/run/netns/$ns" ping -n -q -c 5 -i 0.2 -W 5 "$NETNS_PEER" >"$_NETNS/$1/ping.out" 2>&1 ||
		{ cat "$_NETNS/$1/ping.out" >&2; fail "netns_rtt: ping $NETNS_PEER in $1 failed"; }
	# rtt min/avg/max/mdev = 100.3/100.9/102.2/0.7 ms
	awk -F'[/ =]+' '/^rtt|^round-trip/ { print $7 }' "$_NETNS/$1/ping.out"
}

# netns_nginx NAME DIR: the configuration is tests/http.sh's (_nginx_conf), listening on A.
netns_nginx() {
	local name=$1 dir=$2 ns port d n pid
	ns=$(_netns_ns "$name")
	[ -d "$dir" ] || fail "netns_nginx: no directory $dir"
	_world_readable "$dir"
	for ((port = 8080; ; port++)); do
		[ -e "$_NETNS/$name/nginx-$port" ] || break
	done
	d=$_NETNS/$name/nginx-$port
	mkdir -p "$d"
	_nginx_conf "$d" "$(realpath "$dir")" "$port"
	sed -i -e "s/listen 127\.0\.0\.1:$port;/listen $NETNS_LOCAL:$port;/" \
		-e "s/keepalive_timeout 65s;/keepalive_timeout ${NETNS_NGINX_KEEPALIVE:-65s};/" "$d/nginx.conf"
	if ! grep -q "listen $NETNS_LOCAL:$port;" "$d/nginx.conf" ||
		! grep -q "keepalive_timeout ${NETNS_NGINX_KEEPALIVE:-65s};" "$d/nginx.conf"; then
		fail "netns_nginx: cannot render the configuration"
	fi
	_spawn_reaped "$d" nsenter --net="/run/netns/$ns" nginx -p "$d/" -e "$d/error.log" -c "$d/nginx.conf" ||
		{ cat "$d/out" "$d/error.log" >&2; fail "netns_nginx: nginx did not start in $name"; }
	for ((n = 0; n < 100; n++)); do
		[ -s "$d/nginx.pid" ] && break
		sleep 0.05
	done
	[ -s "$d/nginx.pid" ] || fail "netns_nginx: nginx wrote no pid file"
	pid=$(cat "$d/nginx.pid")
	echo "$pid" >"$d/master"
	# Asked on A directly: no delay, so this is quick whatever DELAY_MS is.
	for ((n = 0; n < 200; n++)); do
		[ "$(nsenter --net="/run/netns/$ns" curl -s -o /dev/null -w '%{http_code}' \
			"http://$NETNS_LOCAL:$port/" 2>/dev/null)" != 000 ] && {
			echo "http://$NETNS_PEER:$port"
			return 0
		}
		_alive "$pid" || break
		sleep 0.05
	done
	cat "$d/error.log" >&2
	fail "netns_nginx: nginx in $name does not answer on $NETNS_LOCAL:$port"
}

_netns_stop_nginx() {
	local d=$1 pid workers w
	[ -s "$d/master" ] || return 0
	pid=$(cat "$d/master")
	workers=$(pgrep -P "$pid" 2>/dev/null || true)
	if _alive "$pid"; then
		kill -QUIT "$pid" 2>/dev/null || true
		_wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null || true; _wait_gone "$pid" 3 || true; }
	fi
	for w in $workers; do
		if _alive "$w"; then kill -KILL "$w" 2>/dev/null || true; fi
		_wait_gone "$w" 3 || true
	done
	: >"$d/master"
	if [ -s "$d/reaper" ]; then
		_wait_gone "$(cat "$d/reaper")" 5 || true
		wait "$(cat "$d/reaper")" 2>/dev/null || true
	fi
}

# netns_mount_hfc NAME MP ARGS...: mount_hfc, with hfc-mount in the network namespace. A
# wrapper named hfc-mount first on PATH enters the namespace and execs the real one: the pid
# that mount_hfc records is hfc-mount's own (nsenter execs, it does not fork).
netns_mount_hfc() {
	local name=$1 ns w real
	shift
	ns=$(_netns_ns "$name")
	real=$(command -v hfc-mount) || fail "netns_mount_hfc: hfc-mount is not on PATH"
	w=$_NETNS/$name/bin
	mkdir -p "$w"
	printf '#!/bin/sh\nexec nsenter --net=%q %q "$@"\n' "/run/netns/$ns" "$real" >"$w/hfc-mount"
	chmod 755 "$w/hfc-mount"
	PATH=$w:$PATH mount_hfc "$@"
}

# Stops every server and helper of the case's namespaces and deletes them. It runs before
# tests/http.sh's cleanup (registered after it): hfc-mount processes that entered a namespace
# are unmounted there, after the namespace is gone (a namespace lives on while a process is
# in it; only its name is removed here).
_netns_cleanup() {
	local d name ns n
	for d in "$_NETNS"/*/; do
		[ -s "$d/ns" ] || continue
		name=$(basename "$d")
		ns=$(cat "$d/ns")
		for n in "$d"/nginx-*; do
			[ -d "$n" ] && _netns_stop_nginx "$n"
		done
		_netns_stop_helper "$name"
		ip netns delete "$ns" 2>/dev/null || true
		: >"$d/ns"
	done
}
at_exit _netns_cleanup
