#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the cmocka unit test binaries, shows their output and adds up their counts.
# Usage: tests/run-unit.sh BIN...
# The last line is "N passed, N failed". Exits 1 when a test failed or a binary crashed or
# exited non-zero (a sanitizer or leak report after the last test counts as one failure).
# A ThreadSanitizer report (make SAN=thread: build-tsan/) fails its binary too: the runtime is
# told to exit non-zero when it reported anything, and any report in the output counts.
set -uo pipefail

if [ $# -eq 0 ]; then
	echo "usage: run-unit.sh BIN..." >&2
	exit 2
fi

export SOURCE_DATE_EPOCH=0 TZ=UTC LC_ALL=C
# cmocka's plain text output is what we parse, whatever the caller's environment asks for.
export CMOCKA_MESSAGE_OUTPUT=stdout
unset CMOCKA_XML_FILE
# TSan: report everything, then exit 66 (its default) when there was a report; reports on stderr.
export TSAN_OPTIONS="exitcode=66 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"

log=$(mktemp "${TMPDIR:-/tmp}/hfc-unit.XXXXXX")
trap 'rm -f "$log"' EXIT

timeout_cmd=()
command -v timeout >/dev/null && timeout_cmd=(timeout --signal=KILL 300)

passed=0 failed=0 broken=()
for bin in "$@"; do
	name=$(basename "$bin")
	echo "=== $name"
	"${timeout_cmd[@]}" "$bin" >"$log" 2>&1
	rc=$?
	cat "$log"

	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s).*/\1/p' "$log" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*/\1/p' "$log" | tail -n 1)
	if [ -z "$p" ] && [ -z "$f" ]; then
		# No summary: the binary died part-way. Count what it reported before that.
		p=$(grep -c '^\[       OK \]' "$log")
		f=$(grep -c '^\[  FAILED  \] [^0-9]' "$log")
	fi
	p=${p:-0} f=${f:-0}
	reports=$(grep -cE '^WARNING: ThreadSanitizer|^ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$log")
	if [ "$reports" -gt 0 ]; then
		echo "$name: $reports sanitizer report(s)"
		[ "$f" -eq 0 ] && f=1
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		if [ "$rc" -ge 128 ]; then
			echo "$name: killed by signal $((rc - 128))"
		else
			echo "$name: exited with status $rc"
		fi
		f=1
	fi
	[ "$f" -gt 0 ] && broken+=("$name")
	passed=$((passed + p))
	failed=$((failed + f))
done

[ ${#broken[@]} -gt 0 ] && echo "failing binaries: ${broken[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
