#!/usr/bin/env bash
# Signed indexes: what signing and checking cost, for the index of a 1 GiB image and for the
# largest index the format allows, and what --pubkey adds to a client's time to first byte over
# nginx (hfc-get --cat of a small file, with and without the key, interleaved, medians).
# Usage: bench/bench-sign.sh BUILD_DIR. Figures also go to $HFC_BENCH_DIR/sign-results.json.
set -euo pipefail
build=${1:?usage: bench-sign.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
work=${HFC_BENCH_DIR:-/var/tmp/hfc-bench}/sign
rm -rf "$work" && mkdir -p "$work"
export PATH=$build:$PATH

echo "== signatures: cost of signing and checking an index"
small=$("$build/bench-sign-cost" 4096 md5 7)
small256=$("$build/bench-sign-cost" 4096 sha256 7)
# The largest index: 2^24 blocks of 64 MiB (2^50 bytes), sha256 names, the longest stored sizes.
large=$("$build/bench-sign-cost" 16777216 sha256 1 67108864)
row() { python3 -c 'import json,sys; d=json.loads(sys.argv[2]); print("%-44s %12d %10.3f %10.3f %10.3f" % (sys.argv[1], d["index_bytes"], d["sign_ms"], d["verify_ms"], d["parse_ms"]))' "$1" "$2"; }
printf '%-44s %12s %10s %10s %10s\n' index bytes "sign ms" "verify ms" "parse ms"
row "1 GiB image, 256 KiB blocks, md5 (4096)" "$small"
row "1 GiB image, 256 KiB blocks, sha256 (4096)" "$small256"
row "largest allowed (2^24 blocks, sha256)" "$large"

# Time to first byte through a real client: a 1 GiB (sparse) image, signed, served by nginx.

python3 "$top/tests/make-tree.py" "$work/tree" 16 >/dev/null
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -d "$work/tree" "$work/img" 1G >/dev/null
hfc-index keygen -q -o "$work/key"
mkdir -p "$work/www"
hfc-mkimage -q --sign-key "$work/key" "$work/img" "$work/www/site"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
daemon off; worker_processes 1; error_log $work/nginx/error.log; pid $work/nginx/pid;
events { worker_connections 64; }
http { access_log off; server { listen 127.0.0.1:$port; root $work/www; } }
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
ngx=$!
trap 'kill $ngx 2>/dev/null || true' EXIT
for ((i = 0; i < 100; i++)); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
file=$(cd "$work/tree" && find . -type f -size -8k -size +1k | sort | head -1 | cut -c2-)
url=http://127.0.0.1:$port/site
t_plain=() t_key=()
for ((i = 0; i < 21; i++)); do
	for mode in plain key; do
		args=(--state "$work/state-$mode")
		[ $mode = key ] && args+=(--pubkey "$work/key.pub")
		s=$(date +%s%N)
		hfc-get --cat "${args[@]}" "$url" "$file" >/dev/null
		e=$(( $(date +%s%N) - s ))
		if [ $mode = plain ]; then t_plain+=("$e"); else t_key+=("$e"); fi
	done
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mp=$(median "${t_plain[@]}") mk=$(median "${t_key[@]}")
verify=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["verify_ms"])' "$small")
printf '\n%-44s %10.2f ms\n' "hfc-get --cat, first byte, no key (median)" "$(echo "$mp / 1000000" | bc -l)"
printf '%-44s %10.2f ms\n' "hfc-get --cat, first byte, --pubkey (median)" "$(echo "$mk / 1000000" | bc -l)"
printf '%-44s %10.3f ms   target < 1 ms: %s\n' "check of a 1 GiB image's index (in process)" "$verify" \
	"$(python3 -c 'import sys; print("PASS" if float(sys.argv[1]) < 1 else "MISS")' "$verify")"
python3 - "$work/../sign-results.json" "$small" "$small256" "$large" "$mp" "$mk" <<'PY'
import json, sys
out, small, small256, large, mp, mk = sys.argv[1:]
json.dump({"index_1gib_md5": json.loads(small), "index_1gib_sha256": json.loads(small256),
           "index_largest": json.loads(large), "ttfb_ms_plain": int(mp) / 1e6,
           "ttfb_ms_pubkey": int(mk) / 1e6}, open(out, "w"), indent=1)
PY
