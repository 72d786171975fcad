# shellcheck shell=bash
# bench/lib.sh — how a benchmark starts, said once: its name in every message, one BUILD_DIR
# argument, the tools it needs built, root when it needs it, the commands it runs.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_start NAME "$@"        usage (exit 2) unless one argument; sets prog, BUILD, TOP
#   bench_built TOOL...          each of BUILD's tools exists and runs; BUILD goes first on PATH
#   bench_root WHY               dies unless root, saying why root is needed
#   bench_cmds CMD...            each command is on PATH (else: install-deps.sh --bench)
#   bench_site IMG SITE STAMP    SITE is hfc-mkimage's site of IMG, rebuilt when STAMP changed
#   bench_harness DIR [GLOB...]  DIR made anew as the end-to-end harness's (tests/lib.sh's
#                                cleanup of mounts, nginx, namespaces, qemu whatever happens,
#                                tests/http.sh, tests/netns.sh); GLOBs in DIR go at the end
#                                unless HFC_BENCH_KEEP is set
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

bench_site() {
	if [ "$(cat "$2.stamp" 2>/dev/null)" != "$(cat "$3")" ] || [ ! -s "$2/index.idx" ]; then
		say "hfc-mkimage $1 $2"
		rm -rf "$2" "$2.stamp"
		hfc-mkimage -q --label "bench boot image" "$1" "$2" || die "hfc-mkimage failed"
		cp "$3" "$2.stamp"
	fi
}

bench_harness() {
	R=$1
	shift
	rm -rf "$R"
	mkdir -p "$R"
	export HFC_TEST_TMP=$R HFC_TOP=$TOP HFC_NETDELAY=$BUILD/netdelay
	# shellcheck source=/dev/null
	. "$TOP/tests/lib.sh"
	. "$TOP/tests/http.sh"
	. "$TOP/tests/netns.sh"
	local g globs=""
	for g in "$@"; do globs+=" '$R'/$g"; done
	if [ -n "$globs" ] && [ -z "${HFC_BENCH_KEEP:-}" ]; then at_exit "rm -rf$globs"; fi
}
