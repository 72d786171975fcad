# shellcheck shell=bash
# bench/lib.sh — how a benchmark starts, said once: its name in every message, one BUILD_DIR
# argument, the tools it needs built, root when it needs it, the commands it runs.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_start NAME "$@"        usage (exit 2) unless one argument; sets prog, BUILD, TOP
#   bench_built TOOL...          each of BUILD's tools exists and runs; BUILD goes first on PATH
#   bench_root WHY               dies unless root, saying why root is needed
#   bench_cmds CMD...            each command is on PATH (else: install-deps.sh --bench)
#   die MSG / say MSG            "NAME: MSG" on stderr; die exits 1

die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

bench_start() {
	prog=$1
	shift
	[ $# -eq 1 ] || { echo "usage: bash bench/$prog.sh BUILD_DIR" >&2; exit 2; }
	BUILD=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
	TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	PATH=$PATH:/usr/sbin:/sbin
}

bench_built() {
	local t
	for t in "$@"; do
		[ -x "$BUILD/$t" ] || die "$BUILD/$t: not found (build it first: make)"
	done
	PATH=$BUILD:$PATH
}

bench_root() {
	[ "$(id -u)" = 0 ] || die "needs root ($1)"
}

bench_cmds() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || die "$t is missing (bash scripts/install-deps.sh --bench)"
	done
}
