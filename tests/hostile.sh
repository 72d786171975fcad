# Helpers for the client's cases against hostile servers and hostile local files. Source after
# tests/lib.sh (and tests/http.sh when the case mounts):
#
#   start_hostile NAME ROOT [OPTION...]  runs tests/hostile-http.py serving ROOT on 127.0.0.1 and a
#                                        free port, with its OPTIONs (--endless, --hold, ...);
#                                        sets HOSTILE_URL_<NAME>, HOSTILE_LOG_<NAME> (its request
#                                        log) and HOSTILE_PID_<NAME>; stopped when the case ends
#   stop_hostile NAME                    stops it (TERM, then KILL), waits until it is gone
#   wait_log NAME SECONDS PATTERN        waits until a request matching PATTERN (grep -E) came
#   peak_rss CMD...                      runs CMD (at most 120 s) with stdout and stderr in $T/out
#                                        and $T/err; sets PEAK_KIB (its peak RSS in KiB, from
#                                        wait4) and PEAK_RC (its exit status)
#   small_site DIR MIB [SEED]            a site of a MIB MiB image of pseudo-random bytes (every
#                                        block non-zero); its image is DIR.img
#   one_line_error PATTERN               $T/err is exactly one line and matches PATTERN

_HOSTILE=$T/.hostile
mkdir -p "$_HOSTILE"

start_hostile() {
	local name=$1 root=$2 d pid n
	shift 2
	[[ $name =~ ^[A-Za-z0-9_]+$ ]] || fail "start_hostile: bad name '$name'"
	d=$_HOSTILE/$name
	mkdir -p "$d"
	rm -f "$d/port"
	python3 "$HFC_TOP/tests/hostile-http.py" --root "$root" --port-file "$d/port" \
		--log "$d/log" "$@" >"$d/out" 2>&1 &
	pid=$!
	echo "$pid" >"$d/pid"
	at_exit "stop_hostile $name"
	for ((n = 0; n < 200; n++)); do
		[ -s "$d/port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	[ -s "$d/port" ] || { cat "$d/out" >&2; fail "hostile server $name did not start"; }
	printf -v "HOSTILE_URL_$name" %s "http://127.0.0.1:$(cat "$d/port")"
	printf -v "HOSTILE_LOG_$name" %s "$d/log"
	printf -v "HOSTILE_PID_$name" %s "$pid"
}

stop_hostile() {
	local d=$_HOSTILE/$1 pid n
	[ -s "$d/pid" ] || return 0
	pid=$(cat "$d/pid")
	kill -TERM "$pid" 2>/dev/null || true
	for ((n = 0; n < 50; n++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	: >"$d/pid"
}

wait_log() {
	local log=$_HOSTILE/$1/log secs=$2 pat=$3
	wait_for "a request matching '$pat' on $1" "$secs" grep -qE -- "$pat" "$log"
}

peak_rss() {
	local res
	res=$(python3 - "$T/out" "$T/err" "$@" <<'PY'
import os, subprocess, sys, time
out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(out, "wb"), stderr=open(err, "wb"))
end = time.monotonic() + 120
while True:
    pid, st, ru = os.wait4(p.pid, os.WNOHANG)
    if pid:
        break
    if time.monotonic() > end:
        p.kill()
        pid, st, ru = os.wait4(p.pid, 0)
        break
    time.sleep(0.02)
print(ru.ru_maxrss, os.waitstatus_to_exitcode(st))
PY
	) || fail "peak_rss: could not run $*"
	read -r PEAK_KIB PEAK_RC <<<"$res"
}

small_site() {
	local dir=$1 mib=$2 seed=${3:-1}
	python3 - "$dir.img" "$mib" "$seed" <<'PY' || fail "small_site: no image"
import random, sys
r = random.Random(int(sys.argv[3]))
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2]) * 16):
        f.write(r.randbytes(65536))
PY
	hfc-mkimage -q "$dir.img" "$dir" >/dev/null || fail "small_site: hfc-mkimage failed"
}

one_line_error() {
	local n
	n=$(wc -l <"$T/err")
	[ "$n" -eq 1 ] || { cat "$T/err" >&2; fail "expected one error line, got $n"; }
	grep -qE -- "$1" "$T/err" || { cat "$T/err" >&2; fail "error does not match /$1/"; }
}
