#!/usr/bin/env bash
# The end-to-end tests under valgrind's memcheck (make check-long): every installed hfc-* runs as
#   valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite ...
# through a wrapper directory first on PATH (tests/cli/run.sh, HFC_TEST_WRAP), each process
# logging to its own file in the case's report directory; a case fails on any error valgrind
# reports (invalid reads and writes, uses of uninitialised values, bad frees, definite leaks),
# whatever the tool's exit status, and on a failing check of its own.
# Usage: tests/long/valgrind.sh BUILD_DIR [CASE-PATTERN...]
#
# The cases (VALGRIND_CASES; all of tests/cli would take hours under valgrind) cover every tool:
# hfc-mkimage and hfc-index (mkimage/30, 40), hfc-diff and hfc-apply (diff/10, 30, 50), hfc-index
# prune (diff/60), hfc-get (client/31, 33), hfc-mount (client/33, profile/10), hfc-profile
# (profile/10), hfc-publish (publish/40, 50). Cases that measure the tools' time or memory
# (mkimage/20, latency/10) mean nothing under valgrind and are not among them.
# The shared fixtures (tests/lib.sh fixture_image and fixture_site: a 512 MiB image of 200 MiB
# of files, tests/cli/diff/fixture.inc) are built first by the same tools without valgrind: at
# valgrind's speed they alone would take most of the time, and the cases run hfc-mkimage under
# valgrind on images of their own.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: valgrind.sh BUILD_DIR [PATTERN...]}
shift
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=(mkimage/30-bad-input mkimage/40-options diff/10-diff
	diff/30-bad-bundle diff/50-rollback diff/60-prune client/31-faults-missing-block
	client/33-faults-bad-index profile/10-record-prefetch publish/40-errors publish/50-prune)

if ! command -v valgrind >/dev/null; then
	echo "valgrind.sh: valgrind is not installed (scripts/install-deps.sh installs it)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

export HFC_TEST_TMP=${HFC_TEST_TMP:-$(mktemp -d /var/tmp/hfc-valgrind.XXXXXX)}
mkdir -p "$HFC_TEST_TMP"
chmod 755 "$HFC_TEST_TMP"

# The fixtures, with the tools as built (the case run installs the same build again).
san=()
case ${build%/} in
*/build-san | build-san) san=(SAN=1) ;;
*/build-tsan | build-tsan) san=(SAN=thread) ;;
esac
pre=$HFC_TEST_TMP/fixture-tools
if ! make -s -C "$top" "${san[@]}" install DESTDIR="$pre" PREFIX=/usr >"$HFC_TEST_TMP/fixture-install.log" 2>&1 ||
	! PATH=$pre/usr/bin:$PATH HFC_TOP=$top bash -c '
		. "$HFC_TOP/tests/lib.sh"
		. "$HFC_TOP/tests/http.sh"
		. "$HFC_TOP/tests/cli/diff/fixture.inc"
		fixture_site >/dev/null
		diff_fixture' >"$HFC_TEST_TMP/fixture.log" 2>&1; then
	cat "$HFC_TEST_TMP/fixture-install.log" "$HFC_TEST_TMP/fixture.log" >&2
	echo "valgrind.sh: could not build the fixtures"
	echo "0 passed, 1 failed"
	exit 1
fi
rm -rf "$pre"

# $HFC_REPORT_DIR is the case's report directory: expanded when the wrapper runs.
export HFC_TEST_WRAP='valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=30 --log-file="$HFC_REPORT_DIR/valgrind.%p"'
# With -q valgrind writes only errors, and warnings about itself (an unknown ioctl, a large
# allocation): those, their indented details and empty lines are not reports.
export HFC_REPORT_IGNORE='^==[0-9]+== ( |Warning: |$)'
exec bash "$top/tests/cli/run.sh" "$build" "${cases[@]}"
