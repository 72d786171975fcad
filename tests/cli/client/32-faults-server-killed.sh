# nginx dies (SIGKILL, master and workers) in the middle of a long sequential read through a mount
# with a small memory cache and no disk cache, while transfers are in flight (the server is
# rate-limited): the reader gets EIO, never wrong bytes. When the server is back, the same
# range reads correctly through the same mount. hfc-get in the same situation exits 1 with one
# error line and leaves no output file (or, to stdout, an exact prefix).
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
img=$(fixture_image)
site=$(fixture_site)
size=$(stat -c %s "$img")

# Slow enough that several transfers are cut short by the kill.
NGINX_EXTRA="limit_rate 3m;"
start_nginx "$site" A
NGINX_EXTRA=

mount_hfc "$T/mnt" --mem-cache 4M --readahead 0 --connections 2 --timeout 3000 --retries 2 "$NGINX_URL_A"
dd if="$T/mnt/image" of="$T/got" bs=1M iflag=direct 2>"$T/dd.err" &
reader=$!
at_exit "kill $reader 2>/dev/null || true"

# Let it read a few MiB first.
for ((n = 0; n < 300; n++)); do
	[ "$(stat -c %s "$T/got" 2>/dev/null || echo 0)" -ge $((6 << 20)) ] && break
	_alive "$reader" || break
	sleep 0.1
done
_alive "$reader" || fail "the reader ended before the server was stopped: $(cat "$T/dd.err")"
before=$(stat -c %s "$T/got")
stop_nginx A KILL

# The reader must end (bounded by --timeout and --retries), with an error.
for ((n = 0; n < 600; n++)); do
	_alive "$reader" || break
	sleep 0.1
done
_alive "$reader" && fail "the reader still blocks 60 s after the server died"
rc=0
wait "$reader" || rc=$?
got=$(stat -c %s "$T/got")
cmp -n "$got" "$T/got" "$img" || fail "the reader got wrong bytes before the error (read $got bytes)"
[ "$rc" -ne 0 ] || fail "the reader read all $got bytes with the server gone"
grep -q "Input/output error" "$T/dd.err" || fail "the reader failed with $(cat "$T/dd.err"), want Input/output error"
[ "$got" -lt "$size" ] || fail "read the whole image although it failed"
note "server killed after $((before >> 20)) MiB; the reader stopped at $((got >> 20)) MiB with EIO, bytes before are exact; errors $(hfc_stat "$T/mnt" errors), retries $(hfc_stat "$T/mnt" retries)"

# Back again: the range that failed now reads, and correctly (the client may wait before it tries
# a mirror it saw fail, so give it a while).
restart_nginx A
off=$((got >> 20))
ok=0
for ((n = 0; n < 30; n++)); do
	if dd if="$T/mnt/image" of="$T/again" bs=1M skip="$off" count=32 iflag=direct status=none 2>/dev/null; then
		ok=1
		break
	fi
	sleep 0.5
done
[ "$ok" = 1 ] || fail "the mount did not recover within 15 s of the server coming back"
cmp -s "$T/again" <(dd if="$img" bs=1M skip="$off" count=32 status=none) ||
	fail "after recovery the 32 MiB at $off MiB differ"
umount_hfc "$T/mnt"

# hfc-get with the server killed half-way: exit 1 with one error line; to a file, nothing is left
# under the output's name (nor beside it); to stdout, what was written is an exact prefix.
NGINX_EXTRA="limit_rate 3m;"
restart_nginx A
NGINX_EXTRA=
get_killed() { # get_killed OUT: runs hfc-get into OUT (- for stdout to $T/stdout.img), kills nginx
	local out=$1 log requests pid n rc=0
	log=$(nginx_log A)
	requests=$(grep -c ' /blocks/' "$log" || true)
	if [ "$out" = - ]; then
		hfc-get -q --connections 2 --timeout 3000 --retries 1 "$NGINX_URL_A" - >"$T/stdout.img" 2>"$T/get.err" &
	else
		hfc-get -q --connections 2 --timeout 3000 --retries 1 "$NGINX_URL_A" "$out" >"$T/get.out" 2>"$T/get.err" &
	fi
	pid=$!
	for ((n = 0; n < 300; n++)); do
		[ $(($(grep -c ' /blocks/' "$log" || true) - requests)) -ge 40 ] && break
		_alive "$pid" || break
		sleep 0.1
	done
	_alive "$pid" || fail "hfc-get $out ended before the server was stopped: $(cat "$T/get.err")"
	stop_nginx A KILL
	for ((n = 0; n < 600; n++)); do
		_alive "$pid" || break
		sleep 0.1
	done
	_alive "$pid" && fail "hfc-get $out still runs 60 s after the server died"
	wait "$pid" || rc=$?
	[ "$rc" = 1 ] || fail "hfc-get $out exited $rc after the server died, want 1: $(cat "$T/get.err")"
	[ "$(wc -l <"$T/get.err")" = 1 ] || fail "hfc-get $out: want one error line, got: $(cat "$T/get.err")"
	grep -q '^hfc-get: ' "$T/get.err" || fail "hfc-get $out: $(cat "$T/get.err")"
	restart_nginx A
}
mkdir -p "$T/out"
get_killed "$T/out/get.img"
[ -z "$(ls -A "$T/out")" ] || fail "a failed hfc-get left $(ls -A "$T/out" | tr '\n' ' ') in the output directory"
note "hfc-get killed half-way: $(cat "$T/get.err")"
get_killed -
n=$(stat -c %s "$T/stdout.img")
cmp -n "$n" "$T/stdout.img" "$img" || fail "hfc-get to stdout wrote wrong bytes before failing ($n bytes)"
[ "$n" -lt "$size" ] || fail "hfc-get to stdout wrote the whole image, yet failed"
