# A 6 GiB sparse image: holes cost nothing, the image extracts exactly, and memory is what the
# README says: with --jobs 2 the build peaks under 2 MiB above a 1 MiB image's build (whose RSS
# is mostly the shared libraries, which differ from machine to machine); each further job adds under
# 1 MiB; a bigger image adds under 48 bytes per block (the index, which stays in memory) — the
# same data in a 60 GiB image. Peak RSS is /usr/bin/time's "Maximum resident set size".
. "$HFC_TOP/tests/lib.sh"
img=$T/sparse.img
truncate -s 6G "$img"
for off in 0 1000 3000 6100; do
	head -c 3145728 /dev/urandom | dd of="$img" bs=1M seek="$off" conv=notrunc status=none
done
# peak_rss NAME IMAGE ARGS...: builds IMAGE into a new site $T/NAME; prints the peak RSS in KiB.
peak_rss() {
	local name=$1 image=$2
	shift 2
	/usr/bin/time -v hfc-mkimage --json "$@" "$image" "$T/$name" >"$T/$name.out" 2>"$T/$name.time" ||
		{ cat "$T/$name.time" >&2; fail "build of $name failed"; }
	awk -F': ' '/Maximum resident set size/ { print $2 }' "$T/$name.time"
}
head -c 1048576 /dev/urandom >"$T/small.img"
rss0=$(peak_rss small "$T/small.img" --jobs 2)
rss2=$(peak_rss site "$img" --jobs 2)
blocks=$(json_get "$T/site.out" blocks)
[ "$blocks" = 24576 ] || fail "expected 24576 blocks, got $blocks"
note "6 GiB sparse, --jobs 2: peak RSS ${rss2} KiB, index $(($(stat -c %s "$T/site/index.idx") / 1024)) KiB, new $(json_get "$T/site.out" new), zero $(json_get "$T/site.out" zero)"
note "a 1 MiB image, --jobs 2: peak RSS ${rss0} KiB"
[ $((rss2 - rss0)) -lt 2048 ] ||
	fail "peak RSS ${rss2} KiB with --jobs 2 is not under 2 MiB above the 1 MiB image's ${rss0} KiB"

rss8=$(peak_rss site8 "$img" --jobs 8)
note "--jobs 8: peak RSS ${rss8} KiB ($(((rss8 - rss2) / 6)) KiB per further job)"
[ $((rss8 - rss2)) -lt $((6 * 1024)) ] || fail "6 more jobs cost $((rss8 - rss2)) KiB, not under 1 MiB each"
# The jobs change the memory, never the result: the same index but for its time of creation.
cmp <(grep -v '^created ' "$T/site/index.idx") <(grep -v '^created ' "$T/site8/index.idx") ||
	fail "--jobs 8 made another index than --jobs 2"

cp --sparse=always "$img" "$T/big.img"
truncate -s 60G "$T/big.img"
rss60=$(peak_rss big "$T/big.img" --jobs 2)
more=$(($(json_get "$T/big.out" blocks) - blocks))
note "the same data in 60 GiB, --jobs 2: peak RSS ${rss60} KiB ($(((rss60 - rss2) * 1024 / more)) bytes per block more)"
[ $(((rss60 - rss2) * 1024)) -lt $((48 * more)) ] ||
	fail "$more more blocks cost $((rss60 - rss2)) KiB, not under 48 bytes each"
rm -f "$T/big.img"

# Holes are skipped without reading: only the written regions are read.
[ "$(json_get "$T/site.out" bytes_read)" -le $((16 * 1048576)) ] || fail "read $(json_get "$T/site.out" bytes_read) bytes of a mostly-hole image"
expect_status 0 hfc-index extract "$T/site" "$T/x.img"
[ "$(stat -c %s "$T/x.img")" = "$(stat -c %s "$img")" ] || fail "size differs"
cmp "$img" "$T/x.img" || fail "extract differs"
[ "$(du -k "$T/x.img" | cut -f1)" -lt 65536 ] || fail "extract of a sparse image is not sparse"
