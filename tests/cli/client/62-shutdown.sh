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

# end_within PID CHILD MP LOG WHAT CMD...: hfc-mount PID runs, CMD (a signal, an unmount) lands,
# and within $limit s the process is gone (a zombie counts as gone) and MP is not mounted; when
# CHILD is yes, PID is this shell's child and must have exited 0. Sets SECS, the time it took.
end_within() {
	local pid=$1 child=$2 mp=$3 log=$4 what=$5 start n rc=0
	shift 5
	_alive "$pid" || fail "$what: hfc-mount ($pid) is not running before the end"
	start=$(date +%s.%N)
	"$@" || fail "$what: '$*' did not land"
	for ((n = 0; n < limit * 50; n++)); do
		_alive "$pid" || break
		sleep 0.02
	done
	! _alive "$pid" || fail "$what: hfc-mount ($pid) still runs $limit s later"
	SECS=$(since "$start")
	if [ "$child" = yes ]; then
		wait "$pid" || rc=$?
		[ "$rc" = 0 ] || { cat "$log" >&2; fail "$what: hfc-mount exited $rc"; }
	fi
	! is_mounted "$mp" || fail "$what: $mp is still mounted: $(cat "$log")"
	_forget "$_HTTP/fuse" "$(realpath "$mp")"
}

# block_requests LOG MORE_THAN: the mirror's log shows more block requests than that.
block_requests() { [ "$(grep -c ' /blocks/' "$1" || true)" -gt "$2" ]; }

# Every block request is held: the first read of the image waits on the mirror.
start_hostile H "$T/site" --hold /blocks/ --hold-secs 60

# in_flight MODE SIGNAL: mounts (fg or daemon), starts a read of block 0, waits until its request
# is at the mirror, sends SIGNAL, and checks the end.
in_flight() {
	local mode=$1 sig=$2 pid reader rc=0 before
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
	# The read waits on the mirror, and the kill must land on a live process (end_within).
	_alive "$reader" || fail "$mode: the read ended before the signal: $(cat "$T/dd.err")"
	end_within "$pid" "$([ "$mode" = fg ] && echo yes || echo no)" "$mnt" "$HFC_MOUNT_LOG" \
		"$mode SIG$sig" kill -"$sig" "$pid"
	# The reader ends too, with an error: it never gets bytes the mirror did not give.
	wait_for "the reader after SIG$sig" 5 bash -c "! kill -0 $reader"
	rc=0
	wait "$reader" || rc=$?
	[ "$rc" != 0 ] || fail "$mode: the read of a held block succeeded"
	note "$mode mount, one block read in flight: SIG$sig ended it in $SECS s ($(tail -1 "$T/dd.err"))"
}
in_flight fg TERM
in_flight fg INT
in_flight daemon TERM

# fusermount3 -u, no reader left, readahead transfers held at the mirror: block 0 is served, the
# readahead its read starts is held.
stop_hostile H
name=$(awk '/^blocks / { getline; print $1; exit }' "$T/site/index.idx")
start_hostile R "$T/site" --hold /blocks/ --hold-secs 60 --no-hold "/blocks/${name:0:2}/$name"
mount_hfc "$mnt" --readahead 8 "$HOSTILE_URL_R"
pid=$HFC_MOUNT_PID
dd if="$mnt/image" of="$T/got" bs=256K count=1 iflag=direct status=none || fail "block 0"
cmp "$T/got" <(head -c 262144 "$T/site.img") || fail "block 0 differs"
wait_for "readahead requests" 10 block_requests "$HOSTILE_LOG_R" 2
end_within "$pid" yes "$mnt" "$HFC_MOUNT_LOG" "fusermount3 -u" fusermount3 -u "$mnt"
note "fusermount3 -u with $(($(grep -c ' /blocks/' "$HOSTILE_LOG_R") - 1)) readahead requests held: ended in $SECS s"
stop_hostile R

# A relative mount point: libfuse changes to / even in the foreground, yet it is unmounted.
start_hostile G "$T/site"
mkdir -p "$T/rel"
(cd "$T" && exec env --default-signal=HUP,INT,QUIT,TERM hfc-mount -f "$HOSTILE_URL_G" rel) >"$T/rel.log" 2>&1 &
pid=$!
echo "$pid $T/rel" >>"$_HTTP/fuse"
wait_for "the relative mount" 20 test -e "$T/rel/image"
cmp "$T/rel/image" "$T/site.img" || fail "the image on the relative mount point differs"
end_within "$pid" yes "$T/rel" "$T/rel.log" "relative mount point" kill -TERM "$pid"
[ ! -s "$T/rel.log" ] || fail "hfc-mount printed: $(cat "$T/rel.log")"
note "relative mount point: unmounted on SIGTERM in $SECS s"
