# Helpers for the end-to-end tests; sourced by every tests/cli/<tool>/<case>.sh.
# The runner (tests/cli/run.sh) exports HFC_TEST_TMP (shared fixtures) and puts the installed
# binaries first on PATH. Each case gets its own scratch directory $T, removed on success.
set -euo pipefail
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0} TZ=UTC LC_ALL=C

: "${HFC_TEST_TMP:?run through tests/cli/run.sh}"
T=$(mktemp -d "$HFC_TEST_TMP/case.XXXXXX")
# Each case keeps its clients' version floors apart from every other case and from the machine's.
export HFC_STATE_DIR=$T/state
_cleanups=()
_on_exit() {
	local rc=$?
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
	if [ $rc -eq 0 ]; then rm -rf "$T"; else echo "(scratch kept in $T)" >&2; fi
	exit $rc
}
trap _on_exit EXIT
# Runs a command when the case ends (last registered runs first).
at_exit() { _cleanups+=("$1"); }

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "  - $*"; }

# wait_for WHAT SECONDS CMD...: runs CMD every 50 ms until it succeeds; fails the case naming
# WHAT when SECONDS pass first. Every wait of a test is bounded.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 20; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "timed out after ${secs}s waiting for $what"
}

# expect_status N CMD...: runs CMD, stores stdout/stderr in $T/out and $T/err, checks the exit code.
expect_status() {
	local want=$1
	shift
	local rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "--- stdout:" >&2; head -c 2000 "$T/out" >&2
		echo "--- stderr:" >&2; head -c 2000 "$T/err" >&2
		fail "'$*' exited $rc, expected $want"
	fi
}

# expect_error TOOL-PATTERN CMD...: exit 1 and exactly one stderr line matching the pattern.
expect_error() {
	local pat=$1
	shift
	expect_status 1 "$@"
	local n
	n=$(wc -l <"$T/err")
	[ "$n" -eq 1 ] || { cat "$T/err" >&2; fail "'$*': expected one error line, got $n"; }
	grep -qE -- "$pat" "$T/err" || { cat "$T/err" >&2; fail "'$*': error does not match /$pat/"; }
}

# make_tree DIR MIB [SEED]: a deterministic tree of about MIB MiB (tests/make-tree.py): text,
# compressed and binary files, links, a sparse file; the same bytes on every machine.
make_tree() {
	python3 "$HFC_TOP/tests/make-tree.py" "$@" || fail "make-tree.py $*"
}

# A real ext2 image made by mke2fs -d from a generated tree (make_tree: 200 MiB of files in a
# 512 MiB image), shared by the cases (built once). Prints its path; the tree it was made from
# is $HFC_TEST_TMP/tree. Its size and content are the same on every machine.
fixture_image() {
	local img=$HFC_TEST_TMP/fixture.img tree=$HFC_TEST_TMP/tree
	(
		flock 9
		if [ ! -s "$img" ]; then
			rm -rf "$tree"
			make_tree "$tree" 200
			E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -b 4096 -E root_owner=0:0 \
				-U 6b1f2a2e-0000-4000-8000-000000000001 -d "$tree" "$img.tmp" 512M >/dev/null
			mv "$img.tmp" "$img"
		fi
	) 9>"$HFC_TEST_TMP/fixture.lock"
	echo "$img"
}

# count_changed_blocks A B BS: number of BS-sized blocks that differ (brute force).
count_changed_blocks() {
	python3 - "$1" "$2" "$3" <<'PY'
import sys
a, b, bs = open(sys.argv[1], 'rb'), open(sys.argv[2], 'rb'), int(sys.argv[3])
n = 0
while True:
    x, y = a.read(bs), b.read(bs)
    if not x and not y:
        break
    if x != y:
        n += 1
print(n)
PY
}

# distinct_new_blocks A B BS: distinct non-zero blocks of B that occur nowhere in A (brute force).
distinct_new_blocks() {
	python3 - "$1" "$2" "$3" <<'PY'
import sys, hashlib
bs = int(sys.argv[3])
def blocks(p):
    with open(p, 'rb') as f:
        while True:
            x = f.read(bs)
            if not x:
                return
            yield x
old = {hashlib.md5(x).digest() for x in blocks(sys.argv[1]) if x.count(0) != len(x)}
new = {hashlib.md5(x).digest() for x in blocks(sys.argv[2]) if x.count(0) != len(x)}
print(len(new - old))
PY
}

# json_get FILE KEY: prints a top-level key of a JSON object.
json_get() {
	python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"
}

# as_nobody CMD...: runs a command without root's powers (permission tests need that).
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

# warm_page_cache PATH...: written data to disk, then every file under each PATH read once, so
# that each row of a benchmark starts from the same page-cache state.
warm_page_cache() {
	sync
	find "$@" -type f -print0 | xargs -0 cat >/dev/null
}
