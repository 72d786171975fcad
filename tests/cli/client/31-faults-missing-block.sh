# A block file missing on every mirror (404 on A and B): reading its range of the image fails with
# EIO, every time, while every other range reads correctly; through the loop mount, exactly the
# files with data in that block fail with EIO and all other files are intact; hfc-get fails
# cleanly on them.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
img=$(fixture_image)
site=$(fixture_site)
tree=$HFC_TEST_TMP/tree
bs=262144
size=$(stat -c %s "$img")
fsb=4096
per=$((bs / fsb))

# A block holding only regular files' data (no metadata, so the file system still mounts), whose
# name occurs once in the index. debugfs says which inodes own its 64 file system blocks.
site_blocks "$site" >"$T/blocks"
awk 'NR == FNR { c[$2]++; next } c[$2] == 1' "$T/blocks" "$T/blocks" >"$T/unique"
victim='' name=''
while read -r i n _; do
	[ "$i" -ge 200 ] || continue
	first=$((i * per))
	debugfs -R "icheck $(seq -s ' ' "$first" $((first + per - 1)))" "$img" 2>/dev/null |
		awk 'NR > 1 && $2 ~ /^[0-9]+$/ { print $2 }' | sort -un >"$T/inodes"
	[ -s "$T/inodes" ] || continue
	# Owners must be regular files (inode >= 12) listed by ncheck with a path.
	awk '$1 < 12 { bad = 1 } END { exit bad }' "$T/inodes" || continue
	debugfs -R "ncheck $(tr '\n' ' ' <"$T/inodes")" "$img" 2>/dev/null |
		awk 'NR > 1 { $1 = ""; sub(/^ /, ""); print }' | sort -u >"$T/affected"
	ok=1
	while IFS= read -r p; do
		[ -f "$tree$p" ] && [ ! -L "$tree$p" ] || { ok=0; break; }
	done <"$T/affected"
	[ "$ok" = 1 ] && [ "$(wc -l <"$T/affected")" -ge 2 ] || continue
	victim=$i name=$n
	break
done <"$T/unique"
[ -n "$victim" ] || fail "no block of plain file data found in the fixture"
note "block $victim ($name) holds data of $(wc -l <"$T/affected") files, e.g. $(head -1 "$T/affected")"

cp -a "$site" "$T/a"
cp -a "$site" "$T/b"
rm "$(block_file "$T/a" "$name")" "$(block_file "$T/b" "$name")"
start_nginx "$T/a" A
start_nginx "$T/b" B
[ "$(curl -s -o /dev/null -w '%{http_code}' "$NGINX_URL_B/blocks/${name:0:2}/$name")" = 404 ] ||
	fail "the deleted block file does not give 404"

mount_hfc "$T/mnt" --retries 1 --timeout 5000 "$NGINX_URL_A,$NGINX_URL_B"
for try in 1 2; do
	if dd if="$T/mnt/image" of="$T/got" bs=256K skip="$victim" count=1 iflag=direct status=none 2>"$T/dd.err"; then
		fail "block $victim, missing on every mirror, was read (try $try)"
	fi
	grep -q "Input/output error" "$T/dd.err" || fail "missing block: $(cat "$T/dd.err"), want Input/output error"
done
# A 4 KiB read inside the block fails too; one that ends just before it does not.
if dd if="$T/mnt/image" of=/dev/null bs=4096 skip=$((victim * per + 5)) count=1 iflag=direct status=none 2>/dev/null; then
	fail "4 KiB inside the missing block were read"
fi
dd if="$T/mnt/image" of="$T/got" bs=4096 skip=$((victim * per - 1)) count=1 iflag=direct status=none ||
	fail "the 4 KiB before the missing block are unreadable"
cmp -s "$T/got" <(dd if="$img" bs=4096 skip=$((victim * per - 1)) count=1 status=none) ||
	fail "the 4 KiB before the missing block differ"

# Everything before and after the block, with O_DIRECT in block-sized reads.
dd if="$T/mnt/image" bs=256K count="$victim" iflag=direct status=none | cmp - <(head -c $((victim * bs)) "$img") ||
	fail "the image before block $victim differs"
dd if="$T/mnt/image" bs=256K skip=$((victim + 1)) iflag=direct status=none |
	cmp - <(tail -c $((size - (victim + 1) * bs)) "$img") || fail "the image after block $victim differs"
[ "$(hfc_stat "$T/mnt" errors)" -ge 1 ] || fail "errors: $(hfc_stat "$T/mnt" errors) after 404s on every mirror"
note "missing block: EIO; errors $(hfc_stat "$T/mnt" errors), retries $(hfc_stat "$T/mnt" retries)"

# Through the loop mount: the affected files give EIO, all others are intact.
loop_mount "$T/mnt/image" "$T/loop"
python3 - "$tree" "$T/loop" "$T/affected" <<'PY' || fail "files through the loop mount"
import errno, os, sys
tree, loop, affected = sys.argv[1], sys.argv[2], set(open(sys.argv[3]).read().splitlines())
checked = failed = 0
bad = []
for top, dirs, files in os.walk(tree):
    dirs.sort()
    for f in sorted(files):
        p = os.path.join(top, f)
        if os.path.islink(p):
            continue
        rel = p[len(tree):]
        want = open(p, "rb").read()
        try:
            got = open(loop + rel, "rb").read()
        except OSError as e:
            if rel in affected and e.errno == errno.EIO:
                failed += 1
                continue
            bad.append("%s: %s" % (rel, e))
            continue
        checked += 1
        if rel in affected:
            bad.append("%s: has data in the missing block, yet was read" % rel)
        elif got != want:
            bad.append("%s: wrong bytes" % rel)
if failed != len(affected):
    bad.append("%d of %d affected files gave EIO" % (failed, len(affected)))
if bad:
    print("\n".join(bad[:20]), file=sys.stderr)
    sys.exit(1)
print("  - loop mount: %d files intact, %d with data in the missing block give EIO" % (checked, failed))
PY
loop_umount "$T/loop"
umount_hfc "$T/mnt"

# hfc-get: an affected file and the whole image fail with one error line; other files are fine.
url="$NGINX_URL_A,$NGINX_URL_B"
expect_error '^hfc-get: ' hfc-get --retries 1 --cat "$url" "$(head -1 "$T/affected")"
expect_error '^hfc-get: ' hfc-get -q --retries 1 "$url" "$T/get.img"
[ ! -e "$T/get.img" ] || fail "a failed hfc-get left $T/get.img"
expect_status 0 hfc-get --cat "$url" /doc/bash/copyright
cmp "$T/out" "$tree/doc/bash/copyright" || fail "--cat of an intact file"
