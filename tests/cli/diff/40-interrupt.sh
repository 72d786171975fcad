# An interrupted apply can simply be run again: hfc-apply killed (SIGKILL) at several moments
# leaves a site whose index.idx is the old or the new version, never a mixture; the next run
# completes it. Also the states an interruption leaves, made by hand: stale temporary files,
# some block files already renamed, and indexes/N.idx installed without index.idx.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/cli/diff/fixture.inc"
diff_fixture
# A bundle with real work in it: the update rebuilt from scratch (every block file is new).
cp -a "$D/site1" "$T/src"
SOURCE_DATE_EPOCH=172800 hfc-mkimage -q "$D/v2r.img" "$T/src"
hfc-diff -q --bundle "$T/r.tar" "$T/src" 1 2 || fail "making the bundle failed"
v1=$(sha256sum <"$D/site1/index.idx")
v2=$(sha256sum <"$T/src/indexes/000002.idx")

check_done() { # MIRROR: version 2 verified and byte-identical
	expect_status 0 hfc-index verify "$1"
	grep -q "ok: 2 versions" "$T/out" || fail "verify: $(cat "$T/out")"
	cmp "$1/index.idx" "$T/src/index.idx" || fail "index.idx differs from the source's"
	hfc-index extract -q "$1" - | cmp - "$D/v2r.img" || fail "v2 does not extract byte-identical"
}

# Killed at three points of the apply, each found by watching the site, not by the clock: once
# the first block file is being written, once half of them are, and once block files are
# under their final names (the publish is near). The process must still run when the kill lands.
total=$(json_get <(hfc-diff --json "$T/src" 1 2) new_blocks)
for when in "tmp 1" "tmp $((total / 2))" "final 1"; do
	read -r kind want <<<"$when"
	rm -rf "$T/m" && cp -a "$D/site1" "$T/m"
	touch "$T/mark" && sleep 0.01
	hfc-apply -q "$T/r.tar" "$T/m" &
	pid=$!
	n=0
	for ((i = 0; i < 6000; i++)); do # at most 60 s
		if [ "$kind" = tmp ]; then
			n=$(find "$T/m/blocks" -name '.*.tmp.*' -newer "$T/mark" | wc -l)
		else
			n=$(find "$T/m/blocks" -type f ! -name '.*' -newer "$T/mark" | wc -l)
		fi
		[ "$n" -ge "$want" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	kill -9 "$pid" 2>/dev/null || fail "hfc-apply ended before $want $kind block files ($n)"
	wait "$pid" 2>/dev/null || true
	now=$(sha256sum <"$T/m/index.idx")
	[ "$now" = "$v1" ] || [ "$now" = "$v2" ] || fail "killed at $n $kind files: index.idx is neither version"
	state=$([ "$now" = "$v1" ] && echo "version 1" || echo "version 2")
	tmps=$(find "$T/m" -name '.*.tmp.*' | wc -l)
	expect_status 0 hfc-apply --json "$T/r.tar" "$T/m"
	note "killed at $n $kind block files of $total: index.idx was $state, $tmps temporary files; re-run wrote $(json_get "$T/out" written), found $(json_get "$T/out" present)"
	[ -z "$(find "$T/m" -name '.*.tmp.*')" ] || fail "temporary files left after the re-run"
	check_done "$T/m"
done

# By hand: temporary files, half the block files renamed already, the index installed but not
# made current (a cut-short publish). The re-run takes the index back and publishes it again.
rm -rf "$T/m" && cp -a "$D/site1" "$T/m"
expect_status 1 hfc-diff --list "$T/src" 1 2
awk 'NR % 2' "$T/out" | while read -r p; do
	mkdir -p "$T/m/$(dirname "$p")" && cp "$T/src/$p" "$T/m/$p"
done
blk=$(sed -n 2p "$T/out")
mkdir -p "$T/m/$(dirname "$blk")"
cp "$T/src/$blk" "$T/m/$(dirname "$blk")/.$(basename "$blk").tmp.4242"
cp "$T/src/indexes/000002.idx" "$T/m/indexes/.000002.idx.tmp.4242.1"
cp "$T/src/indexes/000002.idx" "$T/m/indexes/000002.idx"
expect_status 0 hfc-apply --json "$T/r.tar" "$T/m"
cp "$T/out" "$T/rerun.json"
[ "$(json_get "$T/rerun.json" present)" -gt 0 ] || fail "the re-run did not use the block files already there"
[ -z "$(find "$T/m" -name '.*.tmp.*')" ] || fail "temporary files left"
check_done "$T/m"
note "by hand: $(json_get "$T/rerun.json" present) block files were there, $(json_get "$T/rerun.json" written) written"
