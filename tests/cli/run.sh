#!/usr/bin/env bash
# Runs the end-to-end tests against installed-style binaries: `make install` into a temporary
# root, that root's bin first on PATH, then every tests/cli/<tool>/<case>.sh in order.
# Usage: tests/cli/run.sh BUILD_DIR [CASE-PATTERN]
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [PATTERN]}
pattern=${2:-}

export HFC_TEST_TMP=${HFC_TEST_TMP:-$(mktemp -d /var/tmp/hfc-tests.XXXXXX)}
mkdir -p "$HFC_TEST_TMP"
chmod 755 "$HFC_TEST_TMP"
root=$HFC_TEST_TMP/root
rm -rf "$root"
if ! make -s -C "$top" install DESTDIR="$root" PREFIX=/usr >"$HFC_TEST_TMP/install.log" 2>&1; then
	cat "$HFC_TEST_TMP/install.log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
export PATH=$root/usr/bin:$PATH
export HFC_TOP=$top

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

pass=0 failed=0 failures=()
for t in "$top"/tests/cli/*/*.sh; do
	name=${t#"$top"/tests/cli/}
	name=${name%.sh}
	[ -n "$pattern" ] && [[ $name != *$pattern* ]] && continue
	start=$(date +%s.%N)
	if bash "$t" >"$HFC_TEST_TMP/log" 2>&1; then
		pass=$((pass + 1))
		printf 'PASS %-40s %6.1fs\n' "$name" "$(elapsed "$start")"
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL %-40s %6.1fs\n' "$name" "$(elapsed "$start")"
		sed 's/^/    | /' "$HFC_TEST_TMP/log" | tail -40
	fi
done
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
if [ "$failed" -eq 0 ] && [ -z "${HFC_KEEP_TMP:-}" ]; then
	rm -rf "$HFC_TEST_TMP"
fi
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
