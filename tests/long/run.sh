#!/usr/bin/env bash
# The long checks (make check-long; not part of make check): the soak of hfc-mount
# (tests/long/soak.sh, about 6 minutes) and the end-to-end tests under valgrind's memcheck
# (tests/long/valgrind.sh, about 13 minutes). Each ends with its "N passed, N failed" line;
# this script ends with one line over both.
# Usage: tests/long/run.sh BUILD_DIR [soak] [valgrind]    (both when none is named)
#
# The soak runs like an end-to-end case: the build that BUILD_DIR names (build, build-san,
# build-tsan) installed into a temporary root whose bin comes first on PATH, $HFC_TEST_TMP for
# the fixtures (kept, with the soak's records, when it fails or HFC_KEEP_TMP is set).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [soak] [valgrind]}
shift
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(soak valgrind)

san=()
case ${build%/} in
*/build-san | build-san) san=(SAN=1) ;;
*/build-tsan | build-tsan) san=(SAN=thread) ;;
esac

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }'; }

part_soak() {
	local tmp rc=0
	tmp=$(mktemp -d /var/tmp/hfc-long.XXXXXX)
	chmod 755 "$tmp"
	if ! make -s -C "$top" "${san[@]}" install DESTDIR="$tmp/root" PREFIX=/usr >"$tmp/install.log" 2>&1; then
		cat "$tmp/install.log" >&2
		echo "soak: 0 passed, 1 failed"
		return 1
	fi
	(
		export HFC_TEST_TMP=$tmp HFC_TOP=$top PATH=$tmp/root/usr/bin:$PATH
		bash "$top/tests/long/soak.sh"
	) || rc=$?
	if [ "$rc" -eq 0 ] && [ -z "${HFC_KEEP_TMP:-}" ]; then
		rm -rf "$tmp"
	else
		echo "(soak records in $tmp)"
	fi
	return "$rc"
}

part_valgrind() {
	bash "$top/tests/long/valgrind.sh" "$build"
}

ok=0 bad=0 summary=()
for p in "${parts[@]}"; do
	case $p in
	soak | valgrind) ;;
	*) echo "run.sh: unknown part '$p' (soak, valgrind)" >&2; exit 2 ;;
	esac
	echo "=== $p"
	start=$(date +%s.%N)
	if "part_$p"; then
		ok=$((ok + 1))
		summary+=("$p passed in $(elapsed "$start") s")
	else
		bad=$((bad + 1))
		summary+=("$p FAILED in $(elapsed "$start") s")
	fi
done
echo "check-long: $(IFS=,; echo "${summary[*]}" | sed 's/,/, /g')"
echo "$ok passed, $bad failed"
[ "$bad" -eq 0 ]
