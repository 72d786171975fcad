# The disk cache: a tree read once through --cache reads again with the server gone; a damaged
# cache file is never used (EIO while offline, fetched again once the server is back); with
# --cache-size smaller than what is read, the cache directory stays within the bound all along.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
img=$(fixture_image)
site=$(fixture_site)
tree=$HFC_TEST_TMP/tree
bs=262144
cache=$T/cache

start_nginx "$site" A
url=$NGINX_URL_A
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# 1. Read the whole tree (every file's data) through a mount with a cache.
mount_hfc "$T/mnt" --cache "$cache" "$url"
loop_mount "$T/mnt/image" "$T/loop"
start=$(date +%s.%N)
bytes=$(tar -C "$T/loop" -cf - . | wc -c)
note "tar of the tree through loop + FUSE: $((bytes >> 20)) MiB in $(since "$start") s, fetched $(($(hfc_stat "$T/mnt" bytes_fetched) >> 20)) MiB"
cached=$(hfc_stat "$T/mnt" cache_bytes)
[ "$cached" -gt 0 ] || fail "cache_bytes is 0 after reading the tree with --cache"
loop_umount "$T/loop"
umount_hfc "$T/mnt"
n=$(find "$cache/blocks" -type f | wc -l)
[ "$n" -gt 100 ] || fail "only $n files in the cache after reading the tree"
# Cached block files are the site's block files (checked on a sample).
find "$cache/blocks" -type f -name '[0-9a-f]*' | sort | awk 'NR % 50 == 1' | while read -r f; do
	cmp -s "$f" "$(block_file "$site" "${f##*/}")" || fail "cached $f differs from the site's block file"
done

# 2. The server is gone: the same cache serves the whole tree, nothing is fetched.
stop_nginx A
start=$(date +%s.%N)
mount_hfc "$T/mnt" --cache "$cache" --offline --timeout 2000 --retries 1 "$url"
loop_mount "$T/mnt/image" "$T/loop"
diff -r --no-dereference -x lost+found "$tree" "$T/loop" >"$T/diff" 2>&1 ||
	{ head -20 "$T/diff" >&2; fail "offline: diff -r of the tree through the cache"; }
[ "$(hfc_stat "$T/mnt" bytes_fetched)" = 0 ] || fail "offline: bytes_fetched $(hfc_stat "$T/mnt" bytes_fetched)"
note "offline from the cache: mount + diff -r in $(since "$start") s, disk hits $(hfc_stat "$T/mnt" disk_hits 2>/dev/null || echo ?)"
loop_umount "$T/loop"
umount_hfc "$T/mnt"

# 3. A damaged cache file (valid zlib, right size, wrong bytes) is not used: EIO while the server
# is down, the right bytes once it is back, and the cache file is replaced.
read -r i name _ < <(site_blocks "$site" | awk 'NR == FNR { c[$2]++; next } c[$2] == 1 && $1 >= 100' - <(site_blocks "$site") | head -1)
cf=$(block_file "$cache" "$name")
[ -f "$cf" ] || fail "block $i ($name) is not in the cache"
forge_block "$cf" "$bs"
mount_hfc "$T/mnt" --cache "$cache" --offline --timeout 2000 --retries 1 "$url"
if dd if="$T/mnt/image" of="$T/got" bs=$bs skip="$i" count=1 iflag=direct status=none 2>"$T/dd.err"; then
	fail "block $i was read from a damaged cache file with the server down"
fi
grep -q "Input/output error" "$T/dd.err" || fail "damaged cache, server down: $(cat "$T/dd.err")"
[ "$(hfc_stat "$T/mnt" bad_blocks)" -ge 1 ] || fail "bad_blocks is 0 after a damaged cache file"
restart_nginx A
ok=0
for ((n = 0; n < 30; n++)); do
	if dd if="$T/mnt/image" of="$T/got" bs=$bs skip="$i" count=1 iflag=direct status=none 2>/dev/null; then
		ok=1
		break
	fi
	sleep 0.5
done
[ "$ok" = 1 ] || fail "block $i still unreadable 15 s after the server came back"
cmp -s "$T/got" <(dd if="$img" bs=$bs skip="$i" count=1 status=none) || fail "block $i has wrong bytes"
umount_hfc "$T/mnt"
cmp -s "$cf" "$(block_file "$site" "$name")" || fail "the damaged cache file was not replaced"

# 4. --cache-size 40M while reading about 200 MiB: du -sb of the cache never exceeds 40 MiB.
limit=$((40 << 20))
cache2=$T/cache2
mount_hfc "$T/mnt" --cache "$cache2" --cache-size 40M "$url"
loop_mount "$T/mnt/image" "$T/loop"
(
	while :; do
		du -sb "$cache2" 2>/dev/null | cut -f1 || true
		sleep 0.05
	done
) >"$T/du.log" &
poller=$!
at_exit "kill $poller 2>/dev/null || true"
diff -r --no-dereference -x lost+found "$tree" "$T/loop" >"$T/diff" 2>&1 ||
	{ head -20 "$T/diff" >&2; fail "diff -r with a 40M cache"; }
_alive "$poller" || fail "the du poller died: $(tail -3 "$T/du.log")"
kill "$poller" 2>/dev/null || true
wait "$poller" 2>/dev/null || true
fetched=$(hfc_stat "$T/mnt" bytes_fetched)
[ "$fetched" -gt $((2 * limit)) ] || fail "only $fetched bytes fetched: the test did not exceed the cache bound"
[ "$(hfc_stat "$T/mnt" cache_bytes)" -le "$limit" ] || fail "cache_bytes $(hfc_stat "$T/mnt" cache_bytes) > $limit"
loop_umount "$T/loop"
umount_hfc "$T/mnt"
du -sb "$cache2" | cut -f1 >>"$T/du.log"
samples=$(wc -l <"$T/du.log")
max=$(sort -n "$T/du.log" | tail -1)
[ "$samples" -ge 10 ] || fail "only $samples du samples"
[ "$max" -le "$limit" ] || fail "du -sb of the cache reached $max bytes, bound $limit ($(awk -v l="$limit" '$1 > l' "$T/du.log" | wc -l) of $samples samples over)"
note "--cache-size 40M: fetched $((fetched >> 20)) MiB, cache at most $((max >> 20)) MiB over $samples samples"
