# The soak of hfc-mount (make check-long): 16 readers for 5 minutes through one mount of two
# mirrors, while mirror A (nginx) is killed (SIGKILL, master and workers) and restarted every few
# seconds and mirror B (tests/long/corrupt-server.py) serves damaged block files now and then.
# Run by tests/long/run.sh (the installed tools first on PATH, like tests/cli/run.sh).
#
# What must hold, each a check counted in the closing "N passed, N failed":
#   - every read returns the bytes of the image the site was built from (cmp of every read,
#     tests/long/readers.py), or EIO: never wrong or short bytes, never another error;
#   - an EIO only when no mirror could serve the block. hfc-mount asks the mirrors in turn
#     and drops one that served damaged bytes for the rest of that block's load, so an EIO
#     must meet both: it returned while A was down (a recorded down window: from just before
#     the kill to the moment the restarted server answered), and B had served a damaged copy of
#     a block of the read at most LOAD seconds before (B logs each damaged answer). LOAD is the
#     longest a load can last: (retries + 1) x (the 30 s longest rest of a failed mirror +
#     --timeout), 175 s here;
#   - the faults really happened: A was killed and came back, B damaged blocks, and hfc-mount
#     noticed (.stats: errors, bad_blocks);
#   - hfc-mount's RSS (VmRSS, sampled every 2 s) stays flat after the warm-up (the first fifth
#     of the run, at least 30 s), by which time the memory cache is full (--mem-cache) and every
#     FUSE thread, readahead worker and connection has been used. The bounds come from what the
#     warm-up measured, its peak W: after the warm-up the peak may exceed W by half of W (the
#     loads in flight vary, and pile up while the mirrors stall: 5-minute runs here went to
#     1.16 and 1.19 W, then back down), and the level at the end (the lowest sample of the
#     last fifth) by a fifth of W (runs here ended at 0.92 and 1.10 W) — a leak raises that
#     floor for good;
#   - the readers end in time, and fusermount3 -u ends hfc-mount with status 0 within 15 s.
#
# Environment: SOAK_SECONDS (or HFC_SOAK_SECONDS; default 300), HFC_SOAK_READERS (16),
# HFC_SOAK_MEM_CACHE_MIB (32), HFC_SOAK_SEED (1). The records (events, reads that failed, RSS samples, .stats) are in
# the case's scratch directory, kept when a check fails.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"

secs=${SOAK_SECONDS:-${HFC_SOAK_SECONDS:-300}}
readers=${HFC_SOAK_READERS:-16}
mem_mib=${HFC_SOAK_MEM_CACHE_MIB:-32}
seed=${HFC_SOAK_SEED:-1}
warm=$((secs / 5 > 30 ? secs / 5 : 30))
timeout_ms=5000 retries=4
load=$(((retries + 1) * (30 + timeout_ms / 1000)))
here=$HFC_TOP/tests/long
now() { date +%s.%N; }

passed=0 failed=0
# check DESCRIPTION CMD...: one counted check; CMD's output (if any) explains a failure.
check() {
	local what=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "  ok    $what${out:+: $out}"
	else
		failed=$((failed + 1))
		echo "  FAIL  $what${out:+: $out}"
	fi
}

img=$(fixture_image)
site=$(fixture_site)
size=$(stat -c %s "$img")
site_blocks "$site" | awk '{ print $1 }' >"$T/data-blocks"
note "image $((size >> 20)) MiB, $(wc -l <"$T/data-blocks") blocks with data; $readers readers for $secs s, --mem-cache ${mem_mib}M, warm-up $warm s"

# Mirror A: nginx. Mirror B: the lying server, bad phases every 20-40 s for 3-6 s.
start_nginx "$site" A
events=$T/events
: >"$events"
python3 "$here/corrupt-server.py" --seed "$seed" --every 20:40 --for 3:6 \
	"$site" "$T/b.port" "$events" >"$T/b.log" 2>&1 &
bpid=$!
at_exit "kill $bpid 2>/dev/null || true"
wait_for "the corrupt server's port" 10 test -s "$T/b.port"
url_b=http://127.0.0.1:$(cat "$T/b.port")

mnt=$T/mnt
mount_hfc "$mnt" --mem-cache "${mem_mib}M" --timeout "$timeout_ms" --retries "$retries" "$NGINX_URL_A,$url_b"
hpid=$HFC_MOUNT_PID

# RSS samples: "SECONDS-SINCE-MOUNT KIB".
t_mount=$(now)
(
	while [ ! -e "$T/stop-rss" ] && [ -r "/proc/$hpid/status" ]; do
		r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$hpid/status" 2>/dev/null) || true
		[ -n "$r" ] && echo "$(awk -v a="$t_mount" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') $r"
		sleep 2
	done
) >"$T/rss" &
rss_pid=$!
at_exit "touch $T/stop-rss; kill $rss_pid 2>/dev/null || true"

# The killer: A up for 4-10 s, then SIGKILL, down for 0.5-2.5 s and the time its restart takes;
# each window recorded from just before the kill to the moment the restarted server answers.
RANDOM=$seed
(
	while [ ! -e "$T/stop-killer" ]; do
		sleep "$((4 + RANDOM % 6)).$((RANDOM % 10))"
		[ -e "$T/stop-killer" ] && break
		t0=$(now)
		stop_nginx A KILL
		sleep "$((RANDOM % 2)).$((5 + RANDOM % 10))"
		restart_nginx A
		echo "down $t0 $(now)" >>"$events"
	done
) >"$T/killer.log" 2>&1 &
killer=$!
at_exit "touch $T/stop-killer"

# The readers, bounded: SECONDS plus twice LOAD for the reads in flight.
mkdir -p "$T/readers"
python3 "$here/readers.py" "$mnt/image" "$img" "$T/readers" "$readers" "$secs" "$T/data-blocks" "$seed" \
	>"$T/readers.log" 2>&1 &
rpid=$!
at_exit "kill $rpid 2>/dev/null || true"
start=$(now)
for ((n = 0; n < (secs + 2 * load) * 10; n++)); do
	_alive "$rpid" || break
	sleep 0.1
done
readers_rc=0
if _alive "$rpid"; then
	readers_rc=hung
	pkill -KILL -P "$rpid" 2>/dev/null || true
	kill -KILL "$rpid" 2>/dev/null || true
fi
wait "$rpid" 2>/dev/null || { [ "$readers_rc" = hung ] || readers_rc=$?; }
note "readers ran $(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"

# Stop the faults (the killer finishes its round: A is up at the end), keep the counters.
touch "$T/stop-killer"
for ((n = 0; n < 300; n++)); do
	_alive "$killer" || break
	sleep 0.1
done
killer_alive=$(_alive "$killer" && echo yes || echo no)
cp "$mnt/.stats" "$T/stats"
touch "$T/stop-rss"
wait "$rss_pid" 2>/dev/null || true
kill -TERM "$bpid" 2>/dev/null || true
for ((n = 0; n < 100; n++)); do
	_alive "$bpid" || break
	sleep 0.1
done

# The clean unmount: fusermount3 -u, hfc-mount gone within 15 s with status 0.
unmount_result() {
	local t0 rc=0
	t0=$(now)
	fusermount3 -u "$mnt" || { echo "fusermount3 -u failed"; return 1; }
	_wait_gone "$hpid" 15 || { echo "hfc-mount still runs 15 s after fusermount3 -u"; return 1; }
	wait "$hpid" || rc=$?
	_forget "$_HTTP/fuse" "$(realpath -m "$mnt")"
	echo "exit status $rc after $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s"
	[ "$rc" = 0 ] && ! is_mounted "$mnt"
}

echo "checks:"
check "readers finished within $((secs + 2 * load)) s and exited 0" test "$readers_rc" = 0
check "the killer loop stopped, without an error" sh -c "test $killer_alive = no && ! grep FAIL '$T/killer.log'"
# Every read and every window, judged in one place.
site_blocks "$site" >"$T/names"
python3 - "$T/readers" "$events" "$T/names" "$load" >"$T/judge" 2>&1 <<'PY'
import glob, os, sys
rdir, events, names, load = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
BS = 262144
TOL = 0.5  # seconds: the clocks of the records are one clock, read by different processes
path = {}  # block number -> the path of its block file on a mirror
for line in open(names):
    i, name, _ = line.split()
    path[int(i)] = "/blocks/%s/%s" % (name[:2], name)
down, bad, damaged, served = [], [], {}, None
for line in open(events):
    w = line.split()
    if w[0] == "down":
        down.append((float(w[1]), float(w[2])))
    elif w[0] == "bad":
        bad.append((float(w[1]), float(w[2])))
    elif w[0] == "damaged":
        damaged.setdefault(w[2], []).append(float(w[1]))
    elif w[0] == "served":
        served = [int(x) for x in w[1:]]
reads = nbytes = done = 0
longest = 0.0
eio, wrong, short, other = [], [], [], []
for f in glob.glob(os.path.join(rdir, "reader.*")):
    for line in open(f):
        w = line.split()
        if w[0] == "done":
            done += 1
            reads += int(w[1]); nbytes += int(w[2]); longest = max(longest, float(w[3]))
        elif w[0] == "eio":
            eio.append((float(w[1]), float(w[2]), int(w[3]), int(w[4])))
        elif w[0] == "wrong":
            wrong.append(line.strip())
        elif w[0] == "short":
            short.append(line.strip())
        else:
            other.append(line.strip())

def a_down(t):
    return any(s - TOL <= t <= e + TOL for s, e in down)

def b_damaged(off, n, end):
    for b in range(off // BS, (off + n - 1) // BS + 1):
        if any(end - load <= t <= end + TOL for t in damaged.get(path.get(b), ())):
            return True
    return False

unjust = []
for s, e, off, n in eio:
    why = []
    if not a_down(e):
        why.append("A was up")
    if not b_damaged(off, n, e):
        why.append("B damaged no block of it in the %.0f s before" % load)
    if why:
        unjust.append("%.3f-%.3f %d+%d (%s)" % (s, e, off, n, ", ".join(why)))
print("reads %d %d" % (reads, nbytes))
print("longest %.1f" % longest)
print("done %d" % done)
print("wrong %d %s" % (len(wrong), " | ".join(wrong[:3])))
print("short %d %s" % (len(short), " | ".join(short[:3])))
print("other %d %s" % (len(other), " | ".join(other[:3])))
print("eio %d %.1f" % (len(eio), max([e - s for s, e, _, _ in eio] or [0])))
print("unjust %d %s" % (len(unjust), " | ".join(unjust[:3])))
print("down %d %.1f" % (len(down), sum(e - s for s, e in down)))
print("bad %d %.1f" % (len(bad), sum(e - s for s, e in bad)))
both = sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in down for s2, e2 in bad)
print("both %.1f" % both)
print("served %s" % (" ".join(map(str, served)) if served else "none"))
PY
j() { awk -v k="$1" -v f="${2:-2}" '$1 == k { print $f }' "$T/judge"; }
note "$(j reads) good reads ($(($(j reads 3) >> 20)) MiB compared), longest read $(j longest) s; $(j eio) EIO (the longest after $(j eio 3) s)"
note "A down $(j down) times ($(j down 3) s), B bad $(j bad) times ($(j bad 3) s), both $(j both) s; B served $(j served 2) requests, $(j served 3) blocks, $(j served 4) damaged"
check "every reader reported" test "$(j done)" = "$readers"
check "reads were made and compared" test "$(j reads)" -gt $((readers * 10))
check "no wrong bytes in any read" sh -c "grep '^wrong' '$T/judge'; test '$(j wrong)' = 0"
check "no short read" sh -c "grep '^short' '$T/judge'; test '$(j short)' = 0"
check "no error but EIO" sh -c "grep '^other' '$T/judge'; test '$(j other)' = 0"
check "every EIO while A was down and B had damaged its block" sh -c "grep '^unjust' '$T/judge'; test '$(j unjust)' = 0"
check "mirror A was killed and restarted, at least once every 30 s" test "$(j down)" -ge $((secs / 30))
check "mirror B had bad phases and damaged blocks" test "$(j bad)" -ge 1 -a "$(j served 4)" -ge 1
hs() { awk -v k="$1" 'index($0, k ": ") == 1 { print substr($0, length(k) + 3) }' "$T/stats"; }
check "hfc-mount saw the failures (.stats errors $(hs errors), bad_blocks $(hs bad_blocks))" \
	test "$(hs errors)" -gt 0 -a "$(hs bad_blocks)" -gt 0
check ".stats: reads = hits + misses + read_errors" \
	test "$(hs reads)" = "$(($(hs hits) + $(hs misses) + $(hs read_errors)))"

# RSS: the warm-up's maximum; after it, the maximum and the floor of the last fifth.
read -r n_warm warm_max n_after after_max floor < <(awk -v w="$warm" -v tail="$((secs - secs / 5))" -v end="$secs" '
	$1 <= w { nw++; if ($2 > wm) wm = $2 }
	$1 > w { na++; if ($2 > am) am = $2 }
	$1 > tail && $1 <= end && (fl == "" || $2 < fl) { fl = $2 }
	END { print nw + 0, wm + 0, na + 0, am + 0, fl + 0 }' "$T/rss")
bound=$((warm_max / 2)) floor_bound=$((warm_max / 5))
note "RSS by 30 s (lowest-highest MiB): $(awk '{ i = int($1 / 30); if (!(i in lo) || $2 < lo[i]) lo[i] = $2
	if ($2 > hi[i]) hi[i] = $2; if (i > n) n = i }
	END { for (i = 0; i <= n; i++) if (i in lo) printf "%s%d-%d", (i ? " " : ""), lo[i] / 1024, hi[i] / 1024 }' "$T/rss")"
note "RSS: warm-up max $((warm_max / 1024)) MiB ($n_warm samples); after it max $((after_max / 1024)) MiB ($n_after samples), floor of the last fifth $((floor / 1024)) MiB"
check "RSS sampled through the run" test "$n_warm" -ge 5 -a "$n_after" -ge $(((secs - warm) / 4)) -a "$floor" -gt 0
check "RSS max after warm-up $after_max KiB <= $warm_max + $bound KiB (warm-up max / 2)" test "$after_max" -le $((warm_max + bound))
check "RSS at the end $floor KiB <= $warm_max + $floor_bound KiB (warm-up max / 5)" test "$floor" -le $((warm_max + floor_bound))
# In this shell, not in check's subshell: hfc-mount is this shell's child (wait needs that).
urc=0
unmount_result >"$T/umount" 2>&1 || urc=$?
check "clean unmount ($(tr '\n' ' ' <"$T/umount"))" test "$urc" = 0

echo "soak: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
