# A 6 GiB sparse image: holes cost nothing, memory stays bounded, the image extracts exactly.
. "$HFC_TOP/tests/lib.sh"
img=$T/sparse.img
truncate -s 6G "$img"
for off in 0 1000 3000 6100; do
	head -c 3145728 /dev/urandom | dd of="$img" bs=1M seek="$off" conv=notrunc status=none
done
/usr/bin/time -v hfc-mkimage --json "$img" "$T/site" >"$T/out" 2>"$T/time" || { cat "$T/time"; fail "build failed"; }
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$T/time")
blocks=$(json_get "$T/out" blocks)
[ "$blocks" = 24576 ] || fail "expected 24576 blocks, got $blocks"
idx_kb=$(( $(stat -c %s "$T/site/index.idx") / 1024 ))
note "6 GiB sparse: peak RSS ${rss_kb} KiB, index ${idx_kb} KiB, new $(json_get "$T/out" new), zero $(json_get "$T/out" zero)"
[ "$rss_kb" -lt $((64 * 1024 + idx_kb)) ] || fail "peak RSS ${rss_kb} KiB is over 64 MiB plus the index"
# Holes are skipped without reading: only the written regions are read.
[ "$(json_get "$T/out" bytes_read)" -le $((16 * 1048576)) ] || fail "read $(json_get "$T/out" bytes_read) bytes of a mostly-hole image"
expect_status 0 hfc-index extract "$T/site" "$T/x.img"
[ "$(stat -c %s "$T/x.img")" = "$(stat -c %s "$img")" ] || fail "size differs"
cmp "$img" "$T/x.img" || fail "extract differs"
[ "$(du -k "$T/x.img" | cut -f1)" -lt 65536 ] || fail "extract of a sparse image is not sparse"
