#!/usr/bin/env bash
# Runs the end-to-end tests against installed-style binaries: `make install` into a temporary
# root, that root's bin first on PATH, then every tests/cli/<tool>/<case>.sh in order.
# Usage: tests/cli/run.sh BUILD_DIR [CASE-PATTERN...]
#
# BUILD_DIR says which build is installed: .../build (plain), .../build-san (make SAN=1) or
# .../build-tsan (make SAN=thread). A case runs when its name (tool/case) contains one of the
# patterns (all cases without one).
#
# Reports of tools that do not show in a case's exit status (a daemon's, a process whose exit
# status the case does not check) still fail it: each case gets an empty directory,
# $HFC_REPORT_DIR, and a case that leaves a report there fails, with the report shown.
#   - build-tsan: TSAN_OPTIONS sends every ThreadSanitizer report of every tool there.
#   - HFC_TEST_WRAP="CMD ARGS": every installed hfc-* runs as `CMD ARGS /path/to/hfc-x ...`
#     through a wrapper directory first on PATH (tests/long/valgrind.sh: valgrind, with its
#     log file in "$HFC_REPORT_DIR"; ARGS may name it, expanded when the tool runs).
#   HFC_REPORT_IGNORE (an extended regex) names report lines that are not reports (such as
#   valgrind's warnings); a report file with nothing else in it does not count.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [PATTERN...]}
shift
patterns=("$@")

san=()
case ${build%/} in
*/build-san | build-san) san=(SAN=1) ;;
*/build-tsan | build-tsan) san=(SAN=thread) ;;
esac

export HFC_TEST_TMP=${HFC_TEST_TMP:-$(mktemp -d /var/tmp/hfc-tests.XXXXXX)}
mkdir -p "$HFC_TEST_TMP"
chmod 755 "$HFC_TEST_TMP"
root=$HFC_TEST_TMP/root
rm -rf "$root"
if ! make -s -C "$top" "${san[@]}" install DESTDIR="$root" PREFIX=/usr >"$HFC_TEST_TMP/install.log" 2>&1; then
	cat "$HFC_TEST_TMP/install.log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
export PATH=$root/usr/bin:$PATH
if [ -n "${HFC_TEST_WRAP:-}" ]; then
	wrap=$HFC_TEST_TMP/wrap
	rm -rf "$wrap"
	mkdir -p "$wrap"
	for b in "$root"/usr/bin/hfc-*; do
		printf '#!/bin/sh\nexec %s %s "$@"\n' "$HFC_TEST_WRAP" "$b" >"$wrap/${b##*/}"
		chmod 755 "$wrap/${b##*/}"
	done
	export PATH=$wrap:$PATH
fi
export HFC_TOP=$top
reports=$HFC_TEST_TMP/reports
rm -rf "$reports"
mkdir -p "$reports"
chmod 755 "$reports"

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# found_reports DIR: prints the report files in DIR that hold more than ignorable lines.
found_reports() {
	local f
	for f in "$1"/*; do
		[ -s "$f" ] || continue
		if [ -n "${HFC_REPORT_IGNORE:-}" ]; then
			grep -vqE -- "$HFC_REPORT_IGNORE" "$f" || continue
		fi
		echo "$f"
	done
}

selected() {
	local p
	[ ${#patterns[@]} -eq 0 ] && return 0
	for p in "${patterns[@]}"; do
		[[ $1 == *$p* ]] && return 0
	done
	return 1
}

pass=0 failed=0 failures=()
for t in "$top"/tests/cli/*/*.sh; do
	name=${t#"$top"/tests/cli/}
	name=${name%.sh}
	selected "$name" || continue
	# Tools may run as nobody (as_nobody): anyone may write a report.
	export HFC_REPORT_DIR=$reports/${name//\//-}
	mkdir -p "$HFC_REPORT_DIR"
	chmod 1777 "$HFC_REPORT_DIR"
	if [ ${#san[@]} -gt 0 ] && [ "${san[0]}" = SAN=thread ]; then
		export TSAN_OPTIONS="log_path=$HFC_REPORT_DIR/tsan second_deadlock_stack=1 history_size=4 ${HFC_TSAN_OPTIONS:-}"
	fi
	start=$(date +%s.%N)
	rc=0
	bash "$t" >"$HFC_TEST_TMP/log" 2>&1 || rc=$?
	found=$(found_reports "$HFC_REPORT_DIR")
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		pass=$((pass + 1))
		printf 'PASS %-40s %6.1fs\n' "$name" "$(elapsed "$start")"
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL %-40s %6.1fs\n' "$name" "$(elapsed "$start")"
		sed 's/^/    | /' "$HFC_TEST_TMP/log" | tail -40
		for f in $found; do
			echo "    | report $f ($(wc -l <"$f") lines):"
			sed 's/^/    | /' "$f" | head -60
		done
	fi
done
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
if [ -n "${HFC_TEST_WRAP:-}" ]; then
	# A wrapper that writes one log per process (valgrind's): how many ran wrapped, and how
	# many of those logs hold a report.
	logs=$(find "$reports" -type f | wc -l)
	bad=0
	for d in "$reports"/*/; do
		bad=$((bad + $(found_reports "${d%/}" | wc -l)))
	done
	echo "wrapped: $logs tool processes logged, $bad with a report"
fi
if [ "$failed" -eq 0 ] && [ -z "${HFC_KEEP_TMP:-}" ]; then
	rm -rf "$HFC_TEST_TMP"
fi
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
