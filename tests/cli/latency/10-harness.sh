#!/usr/bin/env bash
# The latency harness itself (tests/netns.sh + build/netdelay): at a one-way delay D = 50 ms a
# round trip through it takes 2·D = 100 ms — ping, a TCP handshake, and an HTTP request to
# nginx in the namespace on a fresh connection (handshake + request = 2 RTT) — bulk data
# arrives intact, D = 0 adds next to nothing, and the helper stops cleanly on SIGTERM.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/netns.sh"

command -v ping >/dev/null || fail "ping is missing (iputils-ping; scripts/install-deps.sh installs it)"
H=${HFC_NETDELAY:-$HFC_TOP/build/netdelay}

# --- the helper's command line: usage errors and one-line errors
expect_status 2 "$H"
expect_error '^netdelay: abc: the delay must be' "$H" hfcd0 abc
expect_error '^netdelay: -q: ' "$H" -q 0 hfcd0 5
expect_error '^netdelay: 0123456789abcdefXYZ: not a valid interface name$' "$H" 0123456789abcdefXYZ 5

# approx VALUE WANT TOLERANCE: |VALUE - WANT| <= TOLERANCE (milliseconds, decimals allowed)
approx() {
	awk -v v="$1" -v w="$2" -v t="$3" 'BEGIN { d = v - w; if (d < 0) d = -d; exit !(d <= t) }'
}

# --- D = 50 ms: RTT = 100 ms
D=50
netns_up lat "$D"
rtt=$(netns_rtt lat)
note "D = $D ms: ping RTT $rtt ms (5 pings; want 100 ± 15)"
approx "$rtt" 100 15 || fail "ping RTT $rtt ms through the harness at D = $D ms, want 100 ± 15"
# Every ping of the five, not only the average.
awk '/time=/ { sub(/.*time=/, ""); sub(/ ms.*/, ""); if ($1 < 85 || $1 > 115) bad = 1 } END { exit bad }' \
	"$_NETNS/lat/ping.out" || { cat "$_NETNS/lat/ping.out" >&2; fail "a ping outside 100 ± 15 ms"; }

mkdir -p "$T/www"
echo "hello through the delay line" >"$T/www/small.txt"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/www/big.bin"
url=$(netns_nginx lat "$T/www")
[ "$url" = "http://198.18.0.2:8080" ] || fail "netns_nginx printed '$url'"

# A fresh connection: connect = one RTT (SYN, SYN-ACK), total = two (request, answer).
read -r conn total < <(netns_enter lat curl -sS --no-keepalive -o "$T/small.got" \
	-w '%{time_connect} %{time_total}\n' "$url/small.txt")
cmp -s "$T/small.got" "$T/www/small.txt" || fail "the small file came back different"
conn_ms=$(awk -v s="$conn" 'BEGIN { printf "%.1f", s * 1000 }')
total_ms=$(awk -v s="$total" 'BEGIN { printf "%.1f", s * 1000 }')
note "D = $D ms: curl of a small file: time_connect $conn_ms ms (want 100 ± 15), total $total_ms ms (want 200 ± 30)"
approx "$conn_ms" 100 15 || fail "TCP connect took $conn_ms ms, want 100 ± 15"
approx "$total_ms" 200 30 || fail "the request took $total_ms ms in all, want 200 ± 30"

# The same through hfc-mount's side of things: the host's mount namespace, only the network
# entered (what netns_mount_hfc does): the peer is reachable the same way.
read -r total < <(netns_enter lat curl -sS -o /dev/null -w '%{time_total}\n' "$url/small.txt")
approx "$(awk -v s="$total" 'BEGIN { print s * 1000 }')" 200 30 ||
	fail "a request through nsenter --net took $total s"

# Bulk data: 4 MiB over one connection (thousands of packets each way, in order, checksums
# valid after the address swap), and a slow start at 100 ms RTT.
read -r total speed < <(netns_enter lat curl -sS -o "$T/big.got" -w '%{time_total} %{speed_download}\n' \
	"$url/big.bin")
cmp -s "$T/big.got" "$T/www/big.bin" || fail "4 MiB through the harness came back different"
note "D = $D ms: 4 MiB in $total s ($(awk -v b="$speed" 'BEGIN { printf "%.1f", b / 1e6 }') MB/s, one connection, slow start included)"

# The address swap keeps every checksum valid: packets written to a tun device are checked by
# the kernel like any received packet, and none failed (IP header, TCP, UDP, ICMP).
# /proc/net/snmp: a line of names, then a line of values, per protocol.
csum=$(netns_enter lat awk '$1 ~ /^(Ip|Tcp|Udp|Icmp):$/ {
	if (seen[$1]) { for (i = 2; i <= NF; i++) if (h[$1, i] ~ /CsumErrors|InHdrErrors/) s = s " " $1 h[$1, i] "=" $i }
	else { seen[$1] = 1; for (i = 2; i <= NF; i++) h[$1, i] = $i } }
	END { print s }' /proc/net/snmp)
note "checksum and header errors in the namespace:$csum"
if grep -qE '=[1-9]' <<<"$csum"; then fail "packets through the harness failed their checks:$csum"; fi

# Nothing of this is on the host's network: the peer address is not routed there.
if ip route get "$NETNS_PEER" 2>/dev/null | grep -q hfcd0; then
	fail "the host routes $NETNS_PEER through a harness device"
fi
grep -q "GET /big.bin" "$_NETNS/lat/nginx-8080/access.log" || fail "nginx in the namespace did not serve the request"

# --- D = 0: next to nothing
netns_delay lat 0
rtt0=$(netns_rtt lat)
read -r total0 < <(netns_enter lat curl -sS --no-keepalive -o /dev/null -w '%{time_total}\n' "$url/small.txt")
total0_ms=$(awk -v s="$total0" 'BEGIN { printf "%.1f", s * 1000 }')
note "D = 0: ping RTT $rtt0 ms (want < 5), curl of a small file $total0_ms ms"
awk -v v="$rtt0" 'BEGIN { exit !(v < 5) }' || fail "ping RTT $rtt0 ms at D = 0, want < 5"
awk -v v="$total0_ms" 'BEGIN { exit !(v < 50) }' || fail "a request took $total0_ms ms at D = 0"

# --- the helper stops cleanly on SIGTERM: status 0, not a word
pid=$(cat "$_NETNS/lat/helper")
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "netdelay exited $rc on SIGTERM"
[ ! -s "$_NETNS/lat/netdelay.err" ] || fail "netdelay wrote: $(cat "$_NETNS/lat/netdelay.err")"
: >"$_NETNS/lat/helper"
# Without the helper the path is cut (no carrier): a ping is lost, it does not go elsewhere.
if netns_enter lat ping -n -c 1 -W 1 "$NETNS_PEER" >/dev/null 2>&1; then
	fail "the peer answers with the helper stopped"
fi
