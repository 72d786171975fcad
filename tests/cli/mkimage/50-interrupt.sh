# An interrupted build (SIGKILL at several moments) leaves the site as it was; re-running it
# completes the job; the lock keeps two writers apart.
. "$HFC_TOP/tests/lib.sh"
img=$(fixture_image)
site=$T/site
mkdir -p "$T/small" && seq 1 50000 >"$T/small/n"
mke2fs -q -F -t ext2 -d "$T/small" "$T/small.img" 8M >/dev/null
expect_status 0 hfc-mkimage -q "$T/small.img" "$site"
# kill_when N: starts a build and kills it once N new block files are on their way (temporary
# names) or in place, so that the kill lands mid-build whatever the machine's speed; fails when
# the build ends first. Prints how many there were.
kill_when() {
	local want=$1 pid n=0 i
	touch "$T/mark" && sleep 0.01
	hfc-mkimage -q -j 2 "$img" "$site" &
	pid=$!
	for ((i = 0; i < 3000; i++)); do # at most 30 s
		n=$(find "$site/blocks" -type f -newer "$T/mark" | wc -l)
		[ "$n" -ge "$want" ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.01
	done
	kill -KILL $pid 2>/dev/null || fail "the build ended before $want block files were written ($n)"
	wait $pid 2>/dev/null || true
	echo "$n"
}
for want in 1 20 200; do
	n=$(kill_when $want)
	# Killed mid-build: no new version, index.idx as it was, and the site verifies.
	cmp "$site/index.idx" "$site/indexes/000001.idx" || fail "index.idx changed after a kill at $n files"
	[ ! -e "$site/indexes/000002.idx" ] || fail "a version appeared after a kill at $n files"
	expect_status 0 hfc-index verify "$site"
	note "killed with $n new block files written: site unchanged"
done
expect_status 0 hfc-mkimage --json "$img" "$site"
expect_status 0 hfc-index verify "$site"
grep -q ", 0 faults" "$T/out" || fail "verify after re-run: $(cat "$T/out")"
[ -z "$(find "$site" -name '.*.tmp.*')" ] || fail "temporary files remain after the re-run"
expect_status 0 hfc-index extract "$site" "$T/x.img"
cmp "$img" "$T/x.img" || fail "re-run result differs"

# Another process holding the lock: a clear refusal, not a wait or a mixed site.
flock "$site/.lock" sh -c "touch '$T/locked'; exec sleep 60" &
holder=$!
wait_for "the lock holder" 10 test -e "$T/locked"
expect_error 'site is busy: another hfc process holds its lock$' hfc-mkimage "$T/small.img" "$site"
kill $holder 2>/dev/null || true
wait $holder 2>/dev/null || true
