# hfc-mount over HTTP from a real nginx: the image is exact (cmp), the ext2 inside loop-mounts
# read-only and equals its source tree (diff -r), .stats counts what happened, and the mount ends
# cleanly on fusermount3 -u, SIGTERM and SIGINT, in the foreground and as a daemon.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
img=$(fixture_image)
site=$(fixture_site)
tree=$HFC_TEST_TMP/tree
size=$(stat -c %s "$img")

start_nginx "$site" A
url=$NGINX_URL_A
mnt=$T/mnt

start=$(date +%s.%N)
mount_hfc "$mnt" "$url"
note "mounted in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"

# What the mount shows: the image (read-only, exact size) and .stats.
[ "$(cd "$mnt" && LC_ALL=C ls -A | tr '\n' ' ')" = ".stats image " ] ||
	fail "mount point lists: $(ls -A "$mnt" | tr '\n' ' ')"
[ "$(stat -c %s "$mnt/image")" = "$size" ] || fail "image is $(stat -c %s "$mnt/image") bytes, want $size"
[ -f "$mnt/image" ] || fail "image is not a regular file"
created=$(date -u -d "$(sed -n 's/^created //p' "$site/index.idx")" +%s)
[ "$(stat -c %Y "$mnt/image")" = "$created" ] || fail "image mtime $(stat -c %y "$mnt/image"), want the index's created time"
if printf x | dd of="$mnt/image" conv=notrunc status=none 2>/dev/null; then
	fail "writing to the image succeeded"
fi
if (: >"$mnt/new") 2>/dev/null; then fail "creating a file in the mount point succeeded"; fi

start=$(date +%s.%N)
cmp "$mnt/image" "$img" || fail "the mounted image differs from the image"
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
note "cmp of the $((size >> 20)) MiB image through FUSE: $secs s"

# Every key the .stats file promises, as "key: value" lines.
for k in hits misses bytes_fetched retries errors bad_blocks mirror cache_bytes readahead_fetched; do
	hfc_stat "$mnt" "$k" >/dev/null
done
grep -qvE '^[a-z_.0-9]+: ' "$mnt/.stats" && fail ".stats has a line that is not 'key: value': $(grep -vE '^[a-z_.0-9]+: ' "$mnt/.stats" | head -1)"
[ "$(hfc_stat "$mnt" errors)" = 0 ] || fail "errors: $(hfc_stat "$mnt" errors) on a healthy server"
[ "$(hfc_stat "$mnt" bad_blocks)" = 0 ] || fail "bad_blocks: $(hfc_stat "$mnt" bad_blocks) on a healthy server"
case $(hfc_stat "$mnt" mirror) in
*127.0.0.1:$NGINX_PORT_A*) ;;
*) fail "mirror: $(hfc_stat "$mnt" mirror), want $url" ;;
esac
# Every distinct block file was fetched at least once.
stored=$(site_blocks "$site" | awk '!seen[$2]++ { s += $3 } END { print s }')
fetched=$(hfc_stat "$mnt" bytes_fetched)
[ "$fetched" -ge "$stored" ] || fail "bytes_fetched $fetched < $stored bytes of distinct block files"
requests=$(grep -c ' /blocks/' "$(nginx_log A)" || true)
files=$(site_blocks "$site" | awk '!seen[$2]++' | wc -l)
[ "$requests" -ge "$files" ] || fail "nginx saw $requests block requests for $files block files"
note "fetched $((fetched >> 20)) MiB in $requests requests ($files block files), misses $(hfc_stat "$mnt" misses), hits $(hfc_stat "$mnt" hits)"

# The file system inside, loop-mounted read-only, is the tree it was made from.
loop_mount "$mnt/image" "$T/loop"
start=$(date +%s.%N)
diff -r --no-dereference -x lost+found "$tree" "$T/loop" >"$T/diff" 2>&1 ||
	{ head -20 "$T/diff" >&2; fail "diff -r of the tree and the loop-mounted image"; }
note "diff -r of $(du -sm "$tree" | cut -f1) MiB tree through loop + FUSE: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
[ -d "$T/loop/lost+found" ] || fail "no lost+found in the loop mount"
if (: >"$T/loop/new") 2>/dev/null; then fail "the loop mount is writable"; fi
# Busy (the loop device holds the image): fusermount3 -u refuses and the mount keeps working.
if fusermount3 -u "$mnt" 2>/dev/null; then fail "fusermount3 -u succeeded under a loop mount"; fi
cmp -n 1048576 "$mnt/image" "$img" || fail "image differs after a refused unmount"
loop_umount "$T/loop"

# fusermount3 -u ends hfc-mount with status 0.
umount_hfc "$mnt"
[ -z "$(ls -A "$mnt")" ] || fail "mount point not empty after unmount"

# SIGTERM, SIGINT and SIGHUP end it cleanly too (status 0, nothing left mounted), and the trace
# is complete: a header, then one line per block read, "T BLOCK hit|miss BYTES DURATION".
site_blocks "$site" >"$T/blocks"
for sig in TERM INT HUP; do
	trace=$T/trace.$sig
	mount_hfc "$mnt" --connections 2 --readahead 0 --trace "$trace" "$url"
	cmp -n 4194304 "$mnt/image" "$img" || fail "first 4 MiB differ"
	signal_hfc "$mnt" "$sig"
	head -1 "$trace" | grep -qx "# hfc-trace 1 version 1 image-size $size block-size 262144" ||
		fail "trace header: $(head -1 "$trace")"
	tail -n +2 "$trace" | grep -vqE '^[0-9]+ [0-9]+ (hit|miss) [0-9]+ [0-9]+$' &&
		fail "SIG$sig: bad trace line: $(tail -n +2 "$trace" | grep -vE '^[0-9]+ [0-9]+ (hit|miss) [0-9]+ [0-9]+$' | head -1)"
	for b in $(seq 0 15); do
		awk -v b="$b" '$2 == b { f = 1 } END { exit !f }' "$trace" || fail "SIG$sig: block $b read but not in the trace"
	done
	# A miss downloaded the block file: its stored size.
	awk 'NR == FNR { s[$1] = $3; next } FNR > 1 && $3 == "miss" && $4 != s[$2] { print; bad = 1 } END { exit bad }' \
		"$T/blocks" "$trace" >"$T/badtrace" || fail "SIG$sig: trace misses with the wrong byte count: $(head -2 "$T/badtrace")"
done
note "SIGTERM, SIGINT, SIGHUP: clean exit; trace of $(($(wc -l <"$T/trace.HUP") - 1)) block reads"

# Without -f it returns once the mount is ready, and serves from the background.
mount_hfc_daemon "$mnt" "$url"
[ -e "$mnt/image" ] || fail "daemon: no image right after hfc-mount returned"
[ ! -s "$HFC_MOUNT_LOG" ] || fail "daemon: hfc-mount printed: $(head -3 "$HFC_MOUNT_LOG")"
off=$((300 * 262144 + 12345))
cmp <(tail -c +$((off + 1)) "$mnt/image" | head -c 3000000) <(tail -c +$((off + 1)) "$img" | head -c 3000000) ||
	fail "daemon: 3 MB at offset $off differ"
[ "$(hfc_stat "$mnt" errors)" = 0 ] || fail "daemon: errors in .stats"
umount_hfc "$mnt"

# Several mirrors in one argument, the first one down: the second one serves everything.
port=$(_free_port)
mount_hfc "$mnt" --timeout 2000 --retries 2 "http://127.0.0.1:$port,$url"
cmp -n 33554432 "$mnt/image" "$img" || fail "with a dead first mirror the first 32 MiB differ"
umount_hfc "$mnt"
