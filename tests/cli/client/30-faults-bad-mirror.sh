# Two mirrors serve damaged block files (a valid zlib stream of the right size but the wrong bytes,
# a flipped byte, a truncated file, trailing garbage), each for blocks the other has good. As A,B every read
# is correct and .stats counts the bad blocks; mounted from A alone those blocks read as EIO,
# every time, and the rest of the image is still correct.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
img=$(fixture_image)
site=$(fixture_site)
bs=262144

cp -a "$site" "$T/a"
cp -a "$site" "$T/b"
# Blocks whose name occurs once, so each damaged file stands for exactly one block.
site_blocks "$site" >"$T/blocks"
awk 'NR == FNR { c[$2]++; next } c[$2] == 1' "$T/blocks" "$T/blocks" >"$T/unique"
mapfile -t victims < <(sed -n '50p;100p;150p;200p;250p;300p;350p;400p' "$T/unique")
[ ${#victims[@]} = 8 ] || fail "fewer than 400 distinct blocks in the fixture site"

damage() { # damage KIND FILE
	python3 - "$1" "$2" <<'PY'
import os, sys
kind, path = sys.argv[1], sys.argv[2]
d = bytearray(open(path, "rb").read())
if kind == "flip":
    d[len(d) // 2] ^= 0x5A
elif kind == "truncate":
    d = d[: len(d) // 2]
elif kind == "garbage":
    d += b"<html>oops</html>\n"
# A new file, renamed over: never write through a link into the shared fixture site.
open(path + ".new", "wb").write(d)
os.chmod(path + ".new", 0o644)
os.rename(path + ".new", path)
PY
}
# Even victims are damaged on A, odd ones on B, each mirror with one of each kind: whichever mirror
# the client prefers, it meets damaged files and has to get those blocks from the other one.
kinds=(forge flip truncate garbage)
paths=() where=()
for k in 0 1 2 3 4 5 6 7; do
	read -r i name stored <<<"${victims[$k]}"
	m=a
	[ $((k % 2)) = 1 ] && m=b
	f=$(block_file "$T/$m" "$name")
	kind=${kinds[$((k / 2))]}
	if [ "$kind" = forge ]; then
		forge_block "$f" "$bs"
		[ "$(stat -c %s "$f")" = "$stored" ] || fail "forged block has the wrong size"
	else
		damage "$kind" "$f"
	fi
	cmp -s "$f" "$(block_file "$site" "$name")" && fail "block $i was not damaged"
	paths+=("/blocks/${name:0:2}/$name")
	where+=("$m")
done

start_nginx "$T/a" A
start_nginx "$T/b" B
log_a=$(nginx_log A) log_b=$(nginx_log B)

# mnt_block MP I: block I of the mounted image, read with O_DIRECT (no page cache).
mnt_block() { dd if="$1/image" bs=$bs skip="$2" count=1 iflag=direct status=none; }
img_block() { dd if="$img" bs=$bs skip="$1" count=1 status=none; }

mount_hfc "$T/mnt" --retries 2 "$NGINX_URL_A,$NGINX_URL_B"
for v in "${victims[@]}"; do
	read -r i name stored <<<"$v"
	mnt_block "$T/mnt" "$i" >"$T/got" 2>"$T/dd.err" ||
		fail "block $i (damaged on one mirror, good on the other) could not be read: $(cat "$T/dd.err")"
	img_block "$i" | cmp -s - "$T/got" || fail "block $i read from A,B has wrong bytes"
done
# The damaged files the client met, and for each of them, the good mirror was asked next.
met=0
for k in 0 1 2 3 4 5 6 7; do
	p=${paths[$k]}
	if [ "${where[$k]}" = a ]; then bad_log=$log_a good_log=$log_b; else bad_log=$log_b good_log=$log_a; fi
	grep -qF " $p " "$bad_log" || continue
	met=$((met + 1))
	grep -qF " $p " "$good_log" || fail "$p was damaged on one mirror and never asked from the other"
done
[ "$met" -ge 1 ] || fail "the client never met a damaged block file"
bad=$(hfc_stat "$T/mnt" bad_blocks)
errors=$(hfc_stat "$T/mnt" errors)
[ "$bad" -ge 1 ] || fail "bad_blocks is $bad after $met damaged files were served"
[ "$((bad + errors))" -ge "$met" ] || fail "$met damaged files served, .stats counts bad_blocks $bad, errors $errors"
# The whole image, through the same mount.
cmp "$T/mnt/image" "$img" || fail "the image read from A,B differs"
note "A,B: $met damaged files met, bad_blocks $(hfc_stat "$T/mnt" bad_blocks), errors $(hfc_stat "$T/mnt" errors), retries $(hfc_stat "$T/mnt" retries), mirror now $(hfc_stat "$T/mnt" mirror)"
umount_hfc "$T/mnt"

# From A alone: each block damaged there is EIO (twice: nothing wrong was cached), its neighbours
# are fine.
mount_hfc "$T/mnt" --retries 1 --timeout 5000 "$NGINX_URL_A"
for v in "${victims[0]}" "${victims[2]}" "${victims[4]}" "${victims[6]}"; do
	read -r i name stored <<<"$v"
	for try in 1 2; do
		if mnt_block "$T/mnt" "$i" >"$T/got" 2>"$T/dd.err"; then
			fail "block $i read without an error from a damaged file (try $try)"
		fi
		grep -q "Input/output error" "$T/dd.err" || fail "block $i: $(cat "$T/dd.err"), want Input/output error"
	done
	for j in $((i - 1)) $((i + 1)); do
		mnt_block "$T/mnt" "$j" >"$T/got" || fail "block $j next to damaged block $i unreadable"
		img_block "$j" | cmp -s - "$T/got" || fail "block $j next to damaged block $i has wrong bytes"
	done
done
[ "$(hfc_stat "$T/mnt" bad_blocks)" -ge 4 ] || fail "A alone: bad_blocks $(hfc_stat "$T/mnt" bad_blocks) after 4 damaged blocks"
# Still alive and correct elsewhere.
read -r first _ <<<"${victims[0]}"
cmp -n $((first * bs)) "$T/mnt/image" "$img" || fail "A alone: the $first blocks before the first damaged one differ"
note "A alone: 4 damaged blocks give EIO, bad_blocks $(hfc_stat "$T/mnt" bad_blocks)"
umount_hfc "$T/mnt"
