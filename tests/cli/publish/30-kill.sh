# Killed at 20 random moments (SIGKILL to hfc-publish, to one of its rsync processes, or both)
# while pushing versions with hundreds of new blocks to an rsync daemon and a local path: after
# each kill, every block named by each mirror's index.idx is there and is what its name says. A
# final run completes and verifies, deeply.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/publish-lib.sh"

# A real ext2 image; 4 KiB blocks give hundreds of new block files per update quickly.
make_tree "$T/tree" 12
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -d "$T/tree" "$T/img" 64M >/dev/null
site=$T/site
expect_status 0 hfc-mkimage -q -b 4K "$T/img" "$site"

mkdir -p "$T/wwwA/hfc" "$T/wwwB/hfc"
start_rsyncd "$T/wwwA/hfc"
start_nginx_site A "$T/wwwA" /hfc
start_nginx_site B "$T/wwwB" /hfc
cfg=$T/publish.yaml
write_publish_yaml "$cfg" "$site" \
	a "$RSYNCD_PUSH" "$SITE_URL_A" "$RSYNCD_PASSFILE" \
	b "$T/wwwB/hfc" "$SITE_URL_B" -
expect_status 0 hfc-publish -q -c "$cfg"

# new_version N: a file of 1.5 MiB of new bytes in the image, then a new version (~380 blocks).
new_version() {
	head -c $((1536 * 1024)) /dev/urandom >"$T/new.bin"
	debugfs -w -R "write $T/new.bin /update-$1.bin" "$T/img" >/dev/null 2>&1 || fail "debugfs write"
	expect_status 0 hfc-mkimage -q -b 4K "$T/img" "$site"
}

# How long an uninterrupted push of such a version takes: the kills fall within it.
new_version 0
start=$(date +%s%N)
expect_status 0 hfc-publish -q -c "$cfg"
span=$((($(date +%s%N) - start) / 1000000))
note "one push of ~380 new blocks to both mirrors: $span ms"

current() { cmp -s "$T/wwwA/hfc/index.idx" "$site/index.idx" && cmp -s "$T/wwwB/hfc/index.idx" "$site/index.idx"; }

# find_step PID STEP: prints a child rsync of PID that is in STEP (blocks, indexes or current),
# judged by its arguments. Builtins only, to look often: the short steps last milliseconds.
find_step() {
	local c args pat
	case $2 in
	blocks) pat='--include=/blocks/' ;;
	indexes) pat='--include=/indexes/' ;;
	current) pat='--include=/index.idx' ;;
	esac
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		args=$(tr '\0' ' ' 2>/dev/null <"/proc/$c/cmdline") || continue
		[[ $args == rsync* && $args == *"$pat"* ]] && { echo "$c"; return 0; }
	done
	return 1
}

# Each round kills in a chosen step of the push (new block files, then indexes/, then
# index.idx), found by watching hfc-publish's rsync children, and a chosen victim: so every
# kill lands mid-publish, whatever the machine's speed. A round whose step was over before it
# was seen is counted apart; the block and index steps must never be missed.
moved_a=0 moved_b=0 kills_publish=0 kills_rsync=0 landed=0 missed=0
steps=(blocks indexes current)
for round in $(seq 1 20); do
	current && new_version "$round"
	want=${steps[round % 3]}
	hfc-publish -q -c "$cfg" >"$T/run.out" 2>"$T/run.err" &
	pid=$!
	one=
	for ((i = 0; i < 20000; i++)); do # at most about 20 s
		one=$(find_step "$pid" "$want") && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.001
	done
	rsyncs=$(pgrep -P "$pid" -x rsync || true)
	alive=0
	case $((round % 4)) in
	0 | 1) kill -KILL "$pid" 2>/dev/null && alive=1 && kills_publish=$((kills_publish + 1)) ;;
	2) if [ -n "$one" ] && kill -KILL "$one" 2>/dev/null; then
		alive=1 kills_rsync=$((kills_rsync + 1))
	elif kill -KILL "$pid" 2>/dev/null; then # that rsync was done: the publisher then
		alive=1 kills_publish=$((kills_publish + 1))
	fi ;;
	3) # shellcheck disable=SC2086
		kill -KILL "$pid" $rsyncs 2>/dev/null && alive=1 && kills_publish=$((kills_publish + 1)) ;;
	esac
	rc=0
	{ wait "$pid"; } 2>/dev/null || rc=$?
	if [ -n "$one" ] && [ $alive = 1 ] && [ "$rc" -ne 0 ]; then
		landed=$((landed + 1))
	else
		[ "$want" = blocks ] && fail "round $round: the kill did not land in the blocks step (rc $rc)"
		missed=$((missed + 1))
	fi
	# A run that lost an rsync says so: exit 1 and one error line per failed mirror.
	if [ "$rc" = 1 ]; then
		grep -q '^hfc-publish: [ab]: ' "$T/run.err" || fail "round $round: exit 1 without a mirror error: $(cat "$T/run.err")"
	fi
	# The publisher's rsync processes die with it.
	for r in $rsyncs; do
		_wait_gone "$r" 5 || fail "round $round: rsync $r outlived a killed hfc-publish"
	done
	for m in "$T/wwwA/hfc" "$T/wwwB/hfc"; do
		mirror_check "$m" >/dev/null || fail "round $round (kill in the $want step): $m inconsistent"
	done
	cmp -s "$T/wwwA/hfc/index.idx" "$site/index.idx" && moved_a=$((moved_a + 1))
	cmp -s "$T/wwwB/hfc/index.idx" "$site/index.idx" && moved_b=$((moved_b + 1))
done
# Every blocks round landed; of the short steps most must have been caught too.
[ "$landed" -ge 12 ] || fail "only $landed of 20 kills landed mid-publish"
note "20 kills ($kills_publish of hfc-publish, $kills_rsync of an rsync; $landed landed mid-publish, $missed rounds' short step was over before it was seen; the new version had reached a $moved_a times, b $moved_b times): every mirror consistent after each"

# A final run completes the job and verifies, deeply.
expect_status 0 hfc-publish -c "$cfg" --deep
grep -q '^a: version .*verified .* (deep)' "$T/out" && grep -q '^b: version .*verified .* (deep)' "$T/out" ||
	fail "final run: $(cat "$T/out")"
current || fail "after the final run the mirrors' index.idx is not the site's"
for m in "$T/wwwA/hfc" "$T/wwwB/hfc"; do
	mirror_check "$m" >/dev/null
done
expect_status 0 hfc-index verify "$T/wwwB/hfc"
# rsync's leftovers of killed transfers are dot files: never served (the nginx template), and
# --prune removes them.
expect_status 0 hfc-publish -q -c "$cfg" --prune
[ -z "$(find "$T/wwwB/hfc/blocks" -name '.*')" ] || fail "--prune left temporary files: $(find "$T/wwwB/hfc/blocks" -name '.*' | head -3)"
