# Background fetches fill the pipe: against a mirror that answers every block request 100 ms
# late (a plain HTTP/1.1 server that counts the requests under way), a DLAHEAD profile of every
# block of the image is fetched with more than 4 requests at once (the old bound, one per
# prefetch connection), and so is a cold sequential read with the default readahead. Every
# byte read is compared with the image; every wait is bounded.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/hostile.sh"

mib=32
small_site "$T/site" $mib
blocks=$((mib * 4)) # 256 KiB blocks, every one non-zero
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

# The profile: every block, in the image's order (sectors of 512 bytes, 512 to a block).
for ((b = 0; b < blocks; b++)); do echo "$((b * 512)) 8"; done >"$T/sectors"
expect_status 0 hfc-profile record -q -o "$T/p.prof" --site "$T/site" --format sectors "$T/sectors"

# prefetch_finished MP: prefetch has been through the whole profile.
prefetch_finished() {
	local s
	s=$(cat "$1/.stats") || return 1
	awk -F': *' '{ v[$1] = $2 }
		END { exit !(v["prefetch_total"] > 0 &&
			     v["prefetch_done"] + v["prefetch_errors"] + v["prefetch_present"] >= v["prefetch_total"]) }' <<<"$s"
}

# 1. Prefetch: the profile's blocks, no reader.
start_hostile P "$T/site" --hold /blocks/ --hold-secs 0.1 --inflight "$T/inflight.P"
start=$(date +%s.%N)
mount_hfc "$T/mnt" --prefetch="$T/p.prof" --readahead 0 "$HOSTILE_URL_P"
wait_for "prefetch of $blocks blocks" 60 prefetch_finished "$T/mnt"
secs=$(since "$start")
[ "$(hfc_stat "$T/mnt" prefetch_total)" = "$blocks" ] || fail "prefetch_total $(hfc_stat "$T/mnt" prefetch_total), not $blocks"
[ "$(hfc_stat "$T/mnt" prefetch_errors)" = 0 ] || fail "prefetch_errors $(hfc_stat "$T/mnt" prefetch_errors)"
peak=$(cat "$T/inflight.P")
note "prefetch of $blocks blocks at 100 ms a request: $peak requests at once at most, done in $secs s (window $(hfc_stat "$T/mnt" fetch_window))"
[ "$peak" -gt 4 ] || fail "prefetch kept only $peak requests in flight"
cmp "$T/mnt/image" "$T/site.img" || fail "the prefetched image differs"
[ "$(hfc_stat "$T/mnt" misses)" = 0 ] || fail "$(hfc_stat "$T/mnt" misses) reads missed after the prefetch"
umount_hfc "$T/mnt"
stop_hostile P

# 2. A cold sequential read with the default readahead.
start_hostile S "$T/site" --hold /blocks/ --hold-secs 0.1 --inflight "$T/inflight.S"
mount_hfc "$T/mnt" "$HOSTILE_URL_S"
start=$(date +%s.%N)
timeout 120 cmp "$T/mnt/image" "$T/site.img" || fail "the image read sequentially differs"
secs=$(since "$start")
peak=$(cat "$T/inflight.S")
note "sequential read of $mib MiB at 100 ms a request: $peak requests at once at most, in $secs s; readahead_fetched $(hfc_stat "$T/mnt" readahead_fetched), misses $(hfc_stat "$T/mnt" misses)"
[ "$peak" -gt 4 ] || fail "readahead kept only $peak requests in flight"
[ "$(hfc_stat "$T/mnt" read_errors)" = 0 ] || fail "read errors: $(hfc_stat "$T/mnt" read_errors)"
umount_hfc "$T/mnt"
