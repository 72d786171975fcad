# Killed at 20 random moments (SIGKILL to hfc-publish, to one of its rsync processes, or both)
# while pushing versions with hundreds of new blocks to an rsync daemon and a local path: after
# each kill, every block named by each mirror's index.idx is there and is what its name says. A
# final run completes and verifies, deeply.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/publish-lib.sh"

# A real ext2 image; 4 KiB blocks give hundreds of new block files per update quickly.
mkdir -p "$T/tree"
cp -a /usr/share/doc/bash /usr/share/doc/coreutils /usr/share/doc/util-linux "$T/tree/" 2>/dev/null || true
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

moved_a=0 moved_b=0 kills_publish=0 kills_rsync=0 interrupted=0
for round in $(seq 1 20); do
	current && new_version "$round"
	hfc-publish -q -c "$cfg" >"$T/run.out" 2>"$T/run.err" &
	pid=$!
	# A random moment in the push, in ms, and a random victim.
	delay=$((RANDOM % (span + span / 4 + 1)))
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
	victim=$((RANDOM % 3))
	rsyncs=$(pgrep -P "$pid" -x rsync || true)
	one=$(echo "$rsyncs" | shuf -n 1 2>/dev/null || true)
	case $victim in
	0) kill -KILL "$pid" 2>/dev/null && kills_publish=$((kills_publish + 1)) ;;
	1) if [ -n "$one" ]; then kill -KILL "$one" 2>/dev/null && kills_rsync=$((kills_rsync + 1)); else
		kill -KILL "$pid" 2>/dev/null && kills_publish=$((kills_publish + 1)); fi ;;
	2) # shellcheck disable=SC2086
		kill -KILL "$pid" $rsyncs 2>/dev/null && kills_publish=$((kills_publish + 1)) ;;
	esac
	rc=0
	{ wait "$pid"; } 2>/dev/null || rc=$?
	[ "$rc" -ne 0 ] && interrupted=$((interrupted + 1))
	# A run that lost an rsync says so: exit 1 and one error line per failed mirror.
	if [ "$rc" = 1 ]; then
		grep -q '^hfc-publish: [ab]: ' "$T/run.err" || fail "round $round: exit 1 without a mirror error: $(cat "$T/run.err")"
	fi
	# The publisher's rsync processes die with it.
	sleep 0.05
	for r in $rsyncs; do
		_wait_gone "$r" 5 || fail "round $round: rsync $r outlived a killed hfc-publish"
	done
	for m in "$T/wwwA/hfc" "$T/wwwB/hfc"; do
		mirror_check "$m" >/dev/null || fail "round $round (kill after ${delay} ms): $m inconsistent"
	done
	cmp -s "$T/wwwA/hfc/index.idx" "$site/index.idx" && moved_a=$((moved_a + 1))
	cmp -s "$T/wwwB/hfc/index.idx" "$site/index.idx" && moved_b=$((moved_b + 1))
done
note "20 kills ($kills_publish of hfc-publish, $kills_rsync of an rsync; $interrupted runs interrupted; the new version had reached a $moved_a times, b $moved_b times): every mirror consistent after each"

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
