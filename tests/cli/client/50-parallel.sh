# Many readers at once on one mount with a small memory cache: 16 parallel readers of random files
# through the loop mount, and 16 parallel readers of random ranges of the raw image (all starting
# cold, several on the same blocks at the same moment); every byte is compared.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
img=$(fixture_image)
site=$(fixture_site)
tree=$HFC_TEST_TMP/tree
readers=16

start_nginx "$site" A
url=$NGINX_URL_A
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# Files: random ones (fixed seed), plus the 16 biggest, one per reader.
(cd "$tree" && find . -type f | cut -c3- | LC_ALL=C sort) >"$T/all"
shuf -n $((readers * 40)) --random-source=<(yes hfcloop) "$T/all" >"$T/pick"
(cd "$tree" && find . -type f -printf '%s %P\n' | sort -n | tail -n "$readers" | cut -d' ' -f2-) >"$T/big"
for ((r = 0; r < readers; r++)); do
	{
		sed -n "$((r + 1))p" "$T/big"
		awk -v r="$r" -v n="$readers" 'NR % n == r' "$T/pick"
	} >"$T/list.$r"
done

mount_hfc "$T/mnt" --mem-cache 8M --connections 4 "$url"
loop_mount "$T/mnt/image" "$T/loop"
start=$(date +%s.%N)
pids=()
for ((r = 0; r < readers; r++)); do
	(
		while IFS= read -r f; do
			cmp -s "$tree/$f" "$T/loop/$f" || echo "$f" >>"$T/bad.$r"
		done <"$T/list.$r"
	) &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a reader failed"; done
if cat "$T"/bad.* >"$T/bad" 2>/dev/null; then
	fail "$(wc -l <"$T/bad") files differ through the loop mount, e.g. $(head -3 "$T/bad" | tr '\n' ' ')"
fi
files=$(cat "$T"/list.* | wc -l)
mib=$(cat "$T"/list.* | (cd "$tree" && tr '\n' '\0' | xargs -0 stat -c %s | awk '{ s += $1 } END { print s }'))
note "$readers readers, $files files ($((mib >> 20)) MiB) through loop + FUSE in $(since "$start") s; misses $(hfc_stat "$T/mnt" misses), hits $(hfc_stat "$T/mnt" hits)"
[ "$(hfc_stat "$T/mnt" errors)" = 0 ] || fail "errors: $(hfc_stat "$T/mnt" errors)"
loop_umount "$T/loop"
umount_hfc "$T/mnt"

# The raw image, cold: every reader starts with the same 8 ranges (many readers on one block at
# once), then 40 random ranges of its own, at unaligned offsets and lengths up to 1 MiB.
mount_hfc "$T/mnt" --mem-cache 8M --connections 4 "$url"
start=$(date +%s.%N)
python3 - "$T/mnt/image" "$img" "$readers" <<'PY' || fail "parallel reads of the raw image"
import os, random, sys
from concurrent.futures import ProcessPoolExecutor

mnt, img, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(img)
# Data is dense in the first third of the fixture; aim there mostly.
shared = [(b * 262144 + 1000, 300000) for b in (3, 40, 41, 120, 250, 251, 400, 600)]

def reader(seed):
    rnd = random.Random(seed)
    work = list(shared) + [(rnd.randrange(0, size // 3 if rnd.random() < 0.8 else size - 1),
                            rnd.randrange(1, 1 << 20)) for _ in range(40)]
    a = os.open(mnt, os.O_RDONLY)
    b = os.open(img, os.O_RDONLY)
    bad = []
    for off, ln in work:
        ln = min(ln, size - off)
        x, y = os.pread(a, ln, off), os.pread(b, ln, off)
        if x != y:
            bad.append("%d+%d (got %d bytes)" % (off, ln, len(x)))
    return bad

with ProcessPoolExecutor(n) as ex:
    bad = [e for r in ex.map(reader, range(n)) for e in r]
if bad:
    print("%d ranges differ: %s" % (len(bad), ", ".join(bad[:5])), file=sys.stderr)
    sys.exit(1)
PY
note "$readers raw readers x 48 ranges in $(since "$start") s; requests $(hfc_stat "$T/mnt" requests 2>/dev/null || echo ?), misses $(hfc_stat "$T/mnt" misses)"
[ "$(hfc_stat "$T/mnt" errors)" = 0 ] || fail "errors: $(hfc_stat "$T/mnt" errors)"
umount_hfc "$T/mnt"
