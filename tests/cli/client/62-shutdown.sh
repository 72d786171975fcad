# The end of a mount is bounded whatever is in flight: with a block read waiting on a mirror that
# holds every block request for a minute (the client's own timeout is 30 s, with 4 retries),
# SIGTERM and SIGINT end hfc-mount within 3 s, in the foreground and as a daemon, with status 0
# and nothing left mounted; the reader gets an error, not bytes. fusermount3 -u with readahead
# transfers in flight ends it within 3 s too. A relative mount point is unmounted as well.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/hostile.sh"

small_site "$T/site" 2
limit=3
mnt=$T/mnt
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

# gone_within PID WHAT: PID ends within $limit s (a zombie counts as ended); prints the seconds.
gone_within() {
	local pid=$1 what=$2 start=$3 n
	for ((n = 0; n < limit * 50; n++)); do
		_alive "$pid" || break
		sleep 0.02
	done
	! _alive "$pid" || fail "$what: hfc-mount ($pid) still runs $limit s later"
	since "$start"
}

# block_requests LOG MORE_THAN: the mirror's log shows more block requests than that.
block_requests() { [ "$(grep -c ' /blocks/' "$1" || true)" -gt "$2" ]; }

# Every block request is held: the first read of the image waits on the mirror.
start_hostile H "$T/site" --hold /blocks/ --hold-secs 60

# in_flight MODE SIGNAL: mounts (fg or daemon), starts a read of block 0, waits until its request
# is at the mirror, sends SIGNAL, and checks the end.
in_flight() {
	local mode=$1 sig=$2 pid reader start secs rc=0 before
	before=$(grep -c ' /blocks/' "$HOSTILE_LOG_H" || true)
	if [ "$mode" = fg ]; then
		mount_hfc "$mnt" "$HOSTILE_URL_H"
	else
		mount_hfc_daemon "$mnt" "$HOSTILE_URL_H"
	fi
	pid=$HFC_MOUNT_PID
	dd if="$mnt/image" of="$T/got" bs=256K count=1 iflag=direct 2>"$T/dd.err" &
	reader=$!
	wait_for "a block request of the $mode mount" 10 block_requests "$HOSTILE_LOG_H" "$before"
	# The read waits on the mirror, and the kill must land on a live process.
	_alive "$reader" || fail "$mode: the read ended before the signal: $(cat "$T/dd.err")"
	_alive "$pid" || fail "$mode: hfc-mount is not running before SIG$sig"
	start=$(date +%s.%N)
	kill -"$sig" "$pid" || fail "$mode: kill -$sig $pid did not land"
	secs=$(gone_within "$pid" "$mode SIG$sig" "$start")
	if [ "$mode" = fg ]; then
		wait "$pid" || rc=$?
		[ "$rc" = 0 ] || { cat "$HFC_MOUNT_LOG" >&2; fail "$mode: hfc-mount exited $rc on SIG$sig"; }
	fi
	! is_mounted "$mnt" || fail "$mode: $mnt is still mounted after SIG$sig"
	_forget "$_HTTP/fuse" "$(realpath "$mnt")"
	# The reader ends too, with an error: it never gets bytes the mirror did not give.
	wait_for "the reader after SIG$sig" 5 bash -c "! kill -0 $reader"
	rc=0
	wait "$reader" || rc=$?
	[ "$rc" != 0 ] || fail "$mode: the read of a held block succeeded"
	note "$mode mount, one block read in flight: SIG$sig ended it in $secs s ($(tail -1 "$T/dd.err"))"
}
in_flight fg TERM
in_flight fg INT
in_flight daemon TERM

# fusermount3 -u, no reader left, readahead transfers held at the mirror: the first block
# request is served, the readahead it starts is held.
stop_hostile H
start_hostile R "$T/site" --hold /blocks/ --hold-secs 60 --hold-skip 1
mount_hfc "$mnt" --readahead 8 "$HOSTILE_URL_R"
pid=$HFC_MOUNT_PID
dd if="$mnt/image" of="$T/got" bs=256K count=1 iflag=direct status=none || fail "block 0"
cmp "$T/got" <(head -c 262144 "$T/site.img") || fail "block 0 differs"
wait_for "readahead requests" 10 block_requests "$HOSTILE_LOG_R" 2
_alive "$pid" || fail "hfc-mount is not running before fusermount3 -u"
start=$(date +%s.%N)
fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt"
secs=$(gone_within "$pid" "fusermount3 -u" "$start")
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || { cat "$HFC_MOUNT_LOG" >&2; fail "hfc-mount exited $rc after fusermount3 -u"; }
_forget "$_HTTP/fuse" "$(realpath "$mnt")"
note "fusermount3 -u with $(($(grep -c ' /blocks/' "$HOSTILE_LOG_R") - 1)) readahead requests held: ended in $secs s"
stop_hostile R

# A relative mount point: libfuse changes to / even in the foreground, yet it is unmounted.
start_hostile G "$T/site"
mkdir -p "$T/rel"
(cd "$T" && exec env --default-signal=INT hfc-mount -f "$HOSTILE_URL_G" rel) >"$T/rel.log" 2>&1 &
pid=$!
echo "$pid $T/rel" >>"$_HTTP/fuse"
wait_for "the relative mount" 20 test -e "$T/rel/image"
cmp "$T/rel/image" "$T/site.img" || fail "the image on the relative mount point differs"
start=$(date +%s.%N)
kill -TERM "$pid" || fail "kill -TERM $pid did not land"
secs=$(gone_within "$pid" "relative mount point" "$start")
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || { cat "$T/rel.log" >&2; fail "hfc-mount exited $rc on SIGTERM"; }
! is_mounted "$T/rel" || fail "the relative mount point $T/rel is still mounted: $(cat "$T/rel.log")"
[ ! -s "$T/rel.log" ] || fail "hfc-mount printed: $(cat "$T/rel.log")"
_forget "$_HTTP/fuse" "$T/rel"
note "relative mount point: unmounted on SIGTERM in $secs s"
