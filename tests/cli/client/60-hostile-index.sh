# A hostile server's index.idx costs the client what its header can justify, no more: an endless
# body, a small index that claims 2^24 blocks, an all-zero index of a 1 PiB image, and an index
# that carries terminal escape sequences each get one clear line and exit 1 from hfc-get and
# hfc-mount, in bounded memory (peak RSS measured), with nothing written, mounted or fetched
# beyond the index. File names from an image reach the terminal escaped too (--ls).
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/hostile.sh"

small_site "$T/site" 2
idx=$T/site/index.idx
bs=$(sed -n 's/^block-size //p' "$idx")
nblocks=$(sed -n 's/^blocks //p' "$idx")
[ "$nblocks" = $(((2 << 20) / bs)) ] || fail "the site has $nblocks blocks of $bs bytes"
blocks_line=$(grep -n '^blocks ' "$idx" | cut -d: -f1)
# The memory a refusal may take: far below what the hostile files would cost (0.6-1.2 GB).
rss_max=$((64 << 10))
mkdir "$T/mnt"

# refused TOOL WHAT PATTERN URL [OPTION...]: TOOL (get or mount) fails with one line matching
# PATTERN, exit 1, within rss_max; nothing is written or mounted.
refused() {
	local tool=$1 what=$2 pat=$3 url=$4
	shift 4
	if [ "$tool" = get ]; then
		peak_rss hfc-get -q "$@" "$url" "$T/out.img"
	else
		peak_rss hfc-mount -f "$@" "$url" "$T/mnt"
	fi
	[ "$PEAK_RC" = 1 ] || { cat "$T/err" >&2; fail "$what: hfc-$tool exited $PEAK_RC, want 1"; }
	one_line_error "^hfc-$tool: .*$pat"
	[ "$PEAK_KIB" -lt "$rss_max" ] || fail "$what: hfc-$tool peaked at $PEAK_KIB KiB (bound $rss_max)"
	[ ! -e "$T/out.img" ] || fail "$what: hfc-get left $T/out.img"
	[ -z "$(ls -A "$T" | grep '^\.out\.img\.tmp' || true)" ] || fail "$what: a temporary file is left"
	! is_mounted "$T/mnt" || fail "$what: something is mounted on $T/mnt"
	note "$what, hfc-$tool: peak RSS $((PEAK_KIB >> 10)) MiB: $(cat "$T/err")"
}

# 1. An endless body: the real header and three block lines, then block lines without end. The
# download stops past what a header of that many blocks allows: the header, each block at the
# longest md5 line for this block size (name, space, the digits of bound(bs), LF), the end line
# and a signature line (FORMAT.md 4.7).
stored_max=$((bs + 5 * (bs / 4096 + 1) + 6 + 64))
hdr_bytes=$(head -n "$blocks_line" "$idx" | wc -c)
bound=$((hdr_bytes + nblocks * (32 + 1 + ${#stored_max} + 1) + 69 + 145)) # 144-byte signature line, LF
head -n $((blocks_line + 3)) "$idx" >"$T/endless.head"
start_hostile E "$T/site" --endless "/index.idx=$T/endless.head"
pat="$HOSTILE_URL_E: index\.idx: longer than the $bound bytes an index of $nblocks blocks can have$"
refused get "endless index.idx" "$pat" "$HOSTILE_URL_E"
refused mount "endless index.idx" "$pat" "$HOSTILE_URL_E"
grep -q ' /blocks/' "$HOSTILE_LOG_E" && fail "blocks were asked for after an endless index"
stop_hostile E

# 2. 200-odd bytes that claim 2^24 blocks of 4 KiB (a 64 GiB image, within the default
# --max-image-size): refused for the three block lines that came, with no memory set aside for
# the blocks it only claims, even with the address space limited to 512 MiB.
mkdir "$T/tiny"
awk -v n=3 -v size=$((16777216 * 4096)) '
	/^image-size / { print "image-size " size; next }
	/^block-size / { print "block-size 4096"; next }
	/^blocks / { print "blocks 16777216"; for (i = 0; i < n; i++) print "-"; exit }
	{ print }' "$idx" >"$T/tiny/index.idx"
note "the tiny index: $(wc -c <"$T/tiny/index.idx") bytes"
start_hostile S "$T/tiny"
pat="index\.idx:$((blocks_line + 3)): expected 16777216 block lines, found 3 \(truncated\)$"
refused get "2^24 blocks claimed" "$pat" "$HOSTILE_URL_S"
refused mount "2^24 blocks claimed" "$pat" "$HOSTILE_URL_S"
expect_error "^hfc-get: .*$pat" bash -c 'ulimit -v $((512 << 10)); exec hfc-get -q "$1" "$2"' \
	- "$HOSTILE_URL_S" "$T/out.img"
stop_hostile S

# 3. A valid index of 2^24 zero blocks of 64 MiB: 1 PiB, nothing to fetch, minutes of zeros to
# write. Refused from its header by --max-image-size (default 64G), before any block is read
# and long before the 32 MiB of its block lines are read.
mkdir "$T/zero"
python3 - "$idx" "$T/zero/index.idx" <<'PY' || fail "could not make the 1 PiB index"
import hashlib, sys
head = []
for line in open(sys.argv[1]):
    if line.startswith("image-size "):
        line = "image-size %d\n" % (1 << 50)
    elif line.startswith("block-size "):
        line = "block-size %d\n" % (64 << 20)
    elif line.startswith("blocks "):
        head.append("blocks %d\n" % (1 << 24))
        break
    head.append(line)
above = "".join(head).encode() + b"-\n" * (1 << 24)
with open(sys.argv[2], "wb") as f:
    f.write(above + b"end " + hashlib.sha256(above).hexdigest().encode() + b"\n")
PY
start_hostile Z "$T/zero"
pat="index\.idx: image-size $((1 << 50)) is more than the $((64 << 30)) bytes this client accepts \(--max-image-size\)$"
start=$(date +%s.%N)
refused get "1 PiB of zero blocks" "$pat" "$HOSTILE_URL_Z"
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
refused mount "1 PiB of zero blocks" "$pat" "$HOSTILE_URL_Z"
note "1 PiB index refused by hfc-get in $secs s"
grep -q ' /blocks/' "$HOSTILE_LOG_Z" && fail "blocks were asked for of a 1 PiB image"
# The limit is the user's: the small site passes the default and fails a lower one.
refused get "--max-image-size 1M" "index\.idx: image-size $((2 << 20)) is more than the $((1 << 20)) bytes" \
	"file://$T/site" --max-image-size 1M
expect_status 0 hfc-get -q --max-image-size 2M "file://$T/site" "$T/ok.img"
cmp "$T/ok.img" "$T/site.img" || fail "the image within --max-image-size differs"
stop_hostile Z

# 4. Escape sequences in an index line: quoted in the message, escaped, never raw.
mkdir "$T/esc"
sed "s/^parent none$/$(printf '\033')[2J$(printf '\033')[31mowned 1/" "$idx" >"$T/esc/index.idx"
grep -q "$(printf '\033')" "$T/esc/index.idx" || fail "no escape sequence in the index"
expect_error '^hfc-get: .*index\.idx:3: unknown key' hfc-get -q "file://$T/esc" "$T/out.img"
grep -q "$(printf '\033')" "$T/err" && fail "an escape sequence reached stderr raw: $(cat -v "$T/err")"
grep -qF "unknown key '\\x1b[2J\\x1b[31mowned'" "$T/err" || fail "not escaped as \\x1b: $(cat -v "$T/err")"
note "escaped: $(cat "$T/err")"

# File names in the image (--ls, --ls -l) are escaped the same way; --cat stays raw.
mkdir -p "$T/tree"
esc_name=$(printf 'evil\033[2Jname')
printf 'data\033[0m\n' >"$T/tree/$esc_name"
printf 'x\n' >"$T/tree/$(printf 'tab\there')"
ln -s "$(printf 'to\033]0;title\007')" "$T/tree/link"
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -b 4096 -d "$T/tree" "$T/names.img" 4M >/dev/null ||
	fail "mke2fs -d"
hfc-mkimage -q "$T/names.img" "$T/names" >/dev/null || fail "hfc-mkimage of the names image"
expect_status 0 hfc-get --ls "$T/names" /
grep -q "$(printf '\033')" "$T/out" && fail "--ls printed an escape sequence raw: $(cat -v "$T/out")"
grep -qxF 'evil\x1b[2Jname' "$T/out" || fail "--ls: $(cat "$T/out")"
grep -qxF 'tab\x09here' "$T/out" || fail "--ls: $(cat "$T/out")"
expect_status 0 hfc-get --ls -l "$T/names" /
grep -q "$(printf '\033')" "$T/out" && fail "--ls -l printed an escape sequence raw: $(cat -v "$T/out")"
grep -qF ' link -> to\x1b]0;title\x07' "$T/out" || fail "--ls -l: $(cat "$T/out")"
expect_status 0 hfc-get --cat "$T/names" "/$esc_name"
cmp "$T/out" "$T/tree/$esc_name" || fail "--cat of a file whose name needs escaping"
