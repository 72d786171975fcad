# An interrupted build (SIGKILL at several moments) leaves the site as it was; re-running it
# completes the job; the lock keeps two writers apart.
. "$HFC_TOP/tests/lib.sh"
img=$(fixture_image)
site=$T/site
mkdir -p "$T/small" && seq 1 50000 >"$T/small/n"
mke2fs -q -F -t ext2 -d "$T/small" "$T/small.img" 8M >/dev/null
expect_status 0 hfc-mkimage -q "$T/small.img" "$site"
for delay in 0.05 0.2 0.4 0.8; do
	hfc-mkimage -q -j 2 "$img" "$site" &
	pid=$!
	sleep "$delay"
	kill -KILL $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	cmp "$site/index.idx" "$site/indexes/000001.idx" || fail "index.idx changed after a kill at ${delay}s"
	[ ! -e "$site/indexes/000002.idx" ] || {
		# The kill came after publishing: then the version must be whole.
		expect_status 0 hfc-index verify "$site"
		break
	}
	expect_status 0 hfc-index verify "$site"
done
expect_status 0 hfc-mkimage --json "$img" "$site"
expect_status 0 hfc-index verify "$site"
grep -q ", 0 faults" "$T/out" || fail "verify after re-run: $(cat "$T/out")"
[ -z "$(find "$site" -name '.*.tmp.*')" ] || fail "temporary files remain after the re-run"
expect_status 0 hfc-index extract "$site" "$T/x.img"
cmp "$img" "$T/x.img" || fail "re-run result differs"

# Another process holding the lock: a clear refusal, not a wait or a mixed site.
flock "$site/.lock" sleep 5 &
holder=$!
sleep 0.3
expect_error 'site is busy: another hfc process holds its lock$' hfc-mkimage "$T/small.img" "$site"
kill $holder 2>/dev/null || true
wait $holder 2>/dev/null || true
