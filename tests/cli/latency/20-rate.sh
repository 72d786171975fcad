#!/usr/bin/env bash
# The harness's bandwidth limit (netdelay -r, netns_up NAME DELAY RATE): a download through a
# 10 Mbit/s line takes the time its bytes need at that rate, not less; an ADSL-like line
# (8M/1M) is slow upstream and fast downstream; data arrives intact; the line's buffer is
# bounded, so a ping while the line is full waits at most about its limit (100 ms); and the
# option's errors are one line each.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/netns.sh"
H=${HFC_NETDELAY:-$HFC_TOP/build/netdelay}

expect_error '^netdelay: -r: must be a rate' "$H" -r 0 hfcd0 5
expect_error '^netdelay: -r: must be a rate' "$H" -r 10X hfcd0 5
expect_error '^netdelay: -r: must be a rate' "$H" -r 10M/ hfcd0 5
expect_error '^netdelay: -r: must be a rate' "$H" -r 999 hfcd0 5
expect_error '^netdelay: -b: must be a number of bytes' "$H" -r 10M -b 100 hfcd0 5
expect_error '^netdelay: -l: must be a number of milliseconds' "$H" -r 10M -l 0 hfcd0 5

# secs_between A B VALUE: A <= VALUE <= B
between() {
	awk -v a="$1" -v b="$2" -v v="$3" 'BEGIN { exit !(v >= a && v <= b) }'
}

mkdir -p "$T/www"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/www/big.bin"
head -c $((1024 * 1024)) /dev/urandom >"$T/up.bin"

# --- 10 Mbit/s both ways, 5 ms each way: 4 MiB need 3.36 s on the wire (and a little more
# for headers and the slow start), never less.
netns_up rate 5 10M
url=$(netns_nginx rate "$T/www")
read -r total speed < <(netns_enter rate curl -sS -o "$T/big.got" -w '%{time_total} %{speed_download}\n' "$url/big.bin")
cmp -s "$T/big.got" "$T/www/big.bin" || fail "4 MiB through a 10 Mbit/s line came back different"
mbit=$(awk -v b="$speed" 'BEGIN { printf "%.2f", b * 8 / 1e6 }')
note "10M: 4 MiB in $total s ($mbit Mbit/s of payload; want 8.5 to 10)"
between 8.5 10.0 "$mbit" || fail "a 10 Mbit/s line gave $mbit Mbit/s of payload"

# The buffer of the line is bounded: a small request during a download waits behind at most
# about 100 ms of it each time it crosses the line downstream (its SYN-ACK and its answer).
echo small >"$T/www/small.txt"
netns_enter rate curl -sS -o /dev/null "$url/big.bin" &
dl=$!
sleep 1.5
read -r small < <(netns_enter rate curl -sS -o /dev/null -w '%{time_total}\n' "$url/small.txt")
wait "$dl" || fail "the download beside the small request failed"
small_ms=$(awk -v s="$small" 'BEGIN { printf "%.0f", s * 1000 }')
note "10M, 5 ms: a small request during a download: $small_ms ms (want < 2 x 10 + 2 x 100 + 80)"
[ "$small_ms" -lt 300 ] || fail "a small request waited $small_ms ms behind a download: the buffer is not bounded"

# --- an ADSL line, 8 Mbit/s down and 1 Mbit/s up: 1 MiB up takes about 8.4 s, 4 MiB down
# about 4.2 s (up is the slow way, though it is the smaller file).
netns_delay rate 5 8M/1M
# Upstream: a client sends 1 MiB to a sink on a low port (9000) in the namespace, which
# answers once it has it all; the client times the whole.
netns_enter rate python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 9000)); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(60); n = 0
while n < 1 << 20:
    b = c.recv(65536)
    if not b: break
    n += len(b)
c.sendall(b"%d\n" % n); c.close()' "$NETNS_LOCAL" &
sink=$!
sleep 0.5
up=$(netns_enter rate python3 -c '
import socket, sys, time
c = socket.create_connection((sys.argv[1], 9000), timeout=60)
t = time.monotonic(); c.sendall(open(sys.argv[2], "rb").read())
assert c.recv(64).strip() == b"1048576"
print("%.1f" % ((1 << 20) / (time.monotonic() - t)))' "$NETNS_PEER" "$T/up.bin") || fail "the upload to the sink failed"
wait "$sink" || fail "the sink failed"
read -r down < <(netns_enter rate curl -sS -o /dev/null -w '%{speed_download}\n' "$url/big.bin")
upm=$(awk -v b="$up" 'BEGIN { printf "%.2f", b * 8 / 1e6 }')
downm=$(awk -v b="$down" 'BEGIN { printf "%.2f", b * 8 / 1e6 }')
note "8M/1M: upload $upm Mbit/s (want 0.8 to 1), download $downm Mbit/s (want 6.8 to 8)"
between 0.8 1.0 "$upm" || fail "upstream at 1 Mbit/s gave $upm Mbit/s"
between 6.8 8.0 "$downm" || fail "downstream at 8 Mbit/s gave $downm Mbit/s"

# No rate: the line is not limited (well above 10 Mbit/s here).
netns_delay rate 0
read -r speed < <(netns_enter rate curl -sS -o /dev/null -w '%{speed_download}\n' "$url/big.bin")
note "no rate: $(awk -v b="$speed" 'BEGIN { printf "%.0f", b * 8 / 1e6 }') Mbit/s"
awk -v b="$speed" 'BEGIN { exit !(b * 8 / 1e6 > 50) }' || fail "without -r the line gave $speed B/s"
