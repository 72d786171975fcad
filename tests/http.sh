# Helpers for the end-to-end tests that need a web server, a FUSE mount or a loop mount.
# Source after tests/lib.sh:
#
#   . "$HFC_TOP/tests/lib.sh"
#   . "$HFC_TOP/tests/http.sh"
#
# Every server and mount is recorded under $T/.http and torn down when the case ends, in a safe
# order (loop mounts, then FUSE mounts and their hfc-mount processes, then nginx), whether the
# case passed or failed, and even when the helper ran in a subshell. A case that leaves anything
# of $T mounted at the end fails.
#
#   start_nginx DIR [NAME]         serve DIR on 127.0.0.1:<free port>; sets NGINX_URL_<NAME>,
#                                  NGINX_PORT_<NAME> and NGINX_URL (NAME defaults to "default");
#                                  $NGINX_EXTRA is added to the http block (e.g. "limit_rate 1m;")
#   nginx_url NAME                 prints the base URL of a started server
#   nginx_log NAME                 prints the path of its access log
#   stop_nginx NAME [SIGNAL]       QUIT (graceful, default) or TERM/KILL; waits for the port to close
#   restart_nginx NAME             starts it again on the same port and directory
#   mount_hfc MP ARGS...           hfc-mount -f ARGS... MP in the background, waits for MP/image;
#                                  sets HFC_MOUNT_PID and HFC_MOUNT_LOG
#   mount_hfc_daemon MP ARGS...    hfc-mount ARGS... MP (daemonizes); sets HFC_MOUNT_PID
#   umount_hfc MP                  fusermount3 -u, waits for hfc-mount; fails unless it exits 0
#   signal_hfc MP SIGNAL           sends SIGNAL to hfc-mount; fails unless it exits 0 and unmounts
#   hfc_stat MP KEY                prints one value of MP/.stats
#   loop_mount IMAGE DIR           mount -o loop,ro IMAGE DIR
#   loop_umount DIR                umounts it and frees the loop device
#   fixture_site                   a site built once per run from fixture_image; prints its path
#   site_blocks SITE [INDEX]       prints "i name stored" for every named block of an index
#   block_file SITE NAME           prints the path of a block file
#   forge_block FILE LEN           replaces a block file by a valid zlib stream of the same size
#                                  that decodes to LEN wrong bytes (only the name can tell)
#   is_mounted DIR                 true when DIR is a mount point (reads mountinfo, no stat)
#
# Daemons (nginx, hfc-mount without -f) are started under a small subreaper (_spawn_reaped), so
# they do not end as zombies and a daemon's exit status is known.

_HTTP=$T/.http
mkdir -p "$_HTTP"
: >"$_HTTP/loops"
: >"$_HTTP/fuse"
NGINX_URL=
# Extra http-level directives for the next start_nginx (e.g. "limit_rate 1m;").
NGINX_EXTRA=

# The process is running (a zombie is not: pid 1 here may not reap daemons' leftovers).
_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# _wait_gone PID SECONDS: polls until the process is gone (or a zombie); true when it is.
_wait_gone() {
	local pid=$1 n=$(($2 * 10))
	while _alive "$pid" && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	! _alive "$pid"
}

is_mounted() {
	local d
	d=$(realpath -m -- "$1" 2>/dev/null) || d=$1
	awk -v m="$d" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Workers run as nobody: DIR and every directory above it must let others in.
_world_readable() {
	local d
	d=$(realpath "$1")
	while :; do
		case $(stat -c %A "$d") in
		???????r?x | ???????r?t) ;;
		*) chmod o+rx "$d" ;;
		esac
		[ "$d" = / ] && break
		d=$(dirname "$d")
	done
}

# _nginx_conf_with DIR BODY: the main nginx.conf of a test server in DIR (pid, logs, temp paths
# inside DIR), with BODY (server blocks or an include) in its http block.
_nginx_conf_with() {
	local d=$1 body=$2 user=
	[ "$(id -u)" = 0 ] && user="user nobody nogroup;"
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
daemon on;
master_process on;
worker_processes 2;
$user
pid $d/nginx.pid;
error_log $d/error.log warn;
events {
	worker_connections 512;
}
http {
	access_log $d/access.log;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 65s;
	keepalive_requests 100000;
	server_tokens off;
	${NGINX_EXTRA:-}
$body
}
EOF
}

_nginx_conf() {
	local d=$1 root=$2 port=$3
	_nginx_conf_with "$d" "	types {
		application/octet-stream idx;
	}
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$port;
		server_name localhost;
		root $root;
		autoindex off;
		location / {
		}
	}"
}

# _spawn_reaped DIR CMD...: runs CMD (a program that daemonizes) under a small subreaper that
# stays until every descendant has exited, so that daemons do not end as zombies (pid 1 here
# does not reap). Returns CMD's own exit status; CMD's output goes to DIR/out, and the exit
# status of each daemon it leaves, as "pid status", to DIR/reaped.
_spawn_reaped() {
	local d=$1 n rc
	shift
	rm -f "$d/rc" "$d/reaped"
	python3 -c '
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
d = sys.argv[1]
rc = subprocess.call(sys.argv[2:], stdin=subprocess.DEVNULL)
with open(d + "/rc.tmp", "w") as f:
    f.write("%d\n" % (rc if rc >= 0 else 128 - rc))
os.rename(d + "/rc.tmp", d + "/rc")
while True:
    try:
        pid, st = os.wait()
    except ChildProcessError:
        break
    with open(d + "/reaped", "a") as f:
        f.write("%d %d\n" % (pid, os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st)))
' "$d" "$@" >"$d/out" 2>&1 </dev/null &
	echo $! >"$d/reaper"
	for ((n = 0; n < 600; n++)); do
		[ -s "$d/rc" ] && break
		sleep 0.05
	done
	[ -s "$d/rc" ] || fail "$1 did not return within 30 s"
	rc=$(cat "$d/rc")
	return "$rc"
}

# _reaped_status DIR PID: the exit status of a daemon reaped by DIR's subreaper (empty if none).
_reaped_status() {
	[ -s "$1/reaped" ] && awk -v p="$2" '$1 == p { print $2 }' "$1/reaped"
	return 0
}

# _nginx_launch NAME PORT: starts the server of NAME on PORT; returns 1 when it could not bind.
_nginx_launch() {
	local name=$1 port=$2 d=$_HTTP/nginx-$1
	_nginx_conf "$d" "$(cat "$d/root")" "$port"
	_nginx_spawn "$name" "$port"
}

# _nginx_spawn NAME PORT: starts nginx with $_HTTP/nginx-NAME/nginx.conf (already written for
# PORT) under the subreaper and waits until it answers; returns 1 when it could not bind.
_nginx_spawn() {
	local name=$1 port=$2 d=$_HTTP/nginx-$1 pid n
	rm -f "$d/nginx.pid"
	if ! _spawn_reaped "$d" nginx -p "$d/" -e "$d/error.log" -c "$d/nginx.conf"; then
		grep -q "Address already in use" "$d/out" "$d/error.log" && return 1
		cat "$d/out" "$d/error.log" >&2
		fail "nginx $name did not start"
	fi
	# The daemon writes its pid file after forking.
	for ((n = 0; n < 100; n++)); do
		[ -s "$d/nginx.pid" ] && break
		sleep 0.05
	done
	[ -s "$d/nginx.pid" ] || fail "nginx $name wrote no pid file"
	pid=$(cat "$d/nginx.pid")
	echo "$pid" >"$d/master"
	echo "$port" >"$d/port"
	for ((n = 0; n < 200; n++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null)" != 000 ] &&
			return 0
		_alive "$pid" || break
		sleep 0.05
	done
	cat "$d/error.log" >&2
	fail "nginx $name does not answer on port $port"
}

start_nginx() {
	local dir=$1 name=${2:-default} d port try
	[[ $name =~ ^[A-Za-z0-9_]+$ ]] || fail "start_nginx: bad name '$name'"
	[ -d "$dir" ] || fail "start_nginx: no directory $dir"
	d=$_HTTP/nginx-$name
	if [ -s "$d/master" ] && _alive "$(cat "$d/master")"; then
		fail "start_nginx: $name is already running"
	fi
	mkdir -p "$d"
	_world_readable "$dir"
	realpath "$dir" >"$d/root"
	for ((try = 0; try < 10; try++)); do
		port=$(_free_port)
		_nginx_launch "$name" "$port" && break
		port=
	done
	[ -n "$port" ] || fail "start_nginx: no free port after 10 tries"
	printf -v "NGINX_PORT_$name" %s "$port"
	printf -v "NGINX_URL_$name" %s "http://127.0.0.1:$port"
	NGINX_URL=http://127.0.0.1:$port
	export "NGINX_PORT_$name" "NGINX_URL_$name" NGINX_URL
}

nginx_url() {
	[ -s "$_HTTP/nginx-$1/port" ] || fail "nginx_url: no server $1"
	echo "http://127.0.0.1:$(cat "$_HTTP/nginx-$1/port")"
}

nginx_log() {
	echo "$_HTTP/nginx-$1/access.log"
}

# stop_nginx NAME [SIGNAL]: QUIT lets requests in flight finish; TERM and KILL do not.
stop_nginx() {
	local name=$1 sig=${2:-QUIT} d=$_HTTP/nginx-$1 pid port workers
	[ -s "$d/master" ] || fail "stop_nginx: no server $name"
	pid=$(cat "$d/master")
	port=$(cat "$d/port")
	workers=$(pgrep -P "$pid" 2>/dev/null || true)
	if _alive "$pid"; then
		if [ "$sig" = KILL ]; then
			# Like a crash: the workers go at the same moment as the master.
			# shellcheck disable=SC2086
			kill -KILL "$pid" $workers 2>/dev/null || true
		else
			kill -"$sig" "$pid" 2>/dev/null || true
		fi
	fi
	if ! _wait_gone "$pid" 15; then
		# shellcheck disable=SC2086
		kill -KILL "$pid" $workers 2>/dev/null || true
		_wait_gone "$pid" 5 || true
	fi
	local w
	for w in $workers; do
		if _alive "$w"; then kill -KILL "$w" 2>/dev/null || true; fi
		_wait_gone "$w" 5 || true
	done
	local n
	for ((n = 0; n < 100; n++)); do
		_port_open "$port" || break
		sleep 0.1
	done
	! _port_open "$port" || fail "stop_nginx: port $port of $name is still open"
	: >"$d/master"
	# Its subreaper ends once the master is reaped.
	if [ -s "$d/reaper" ]; then
		_wait_gone "$(cat "$d/reaper")" 5 || true
		wait "$(cat "$d/reaper")" 2>/dev/null || true
	fi
}

restart_nginx() {
	local name=$1 d=$_HTTP/nginx-$1 port n
	[ -s "$d/port" ] || fail "restart_nginx: no server $name"
	port=$(cat "$d/port")
	if [ -s "$d/master" ] && _alive "$(cat "$d/master")"; then
		stop_nginx "$name"
	fi
	for ((n = 0; n < 50; n++)); do
		_nginx_launch "$name" "$port" && return 0
		sleep 0.2
	done
	fail "restart_nginx: port $port of $name stays busy"
}

# mount_hfc MP ARGS...: ARGS are hfc-mount's options and URL(s); MP comes last on its command line.
mount_hfc() {
	local mp=$1 n log pid
	shift
	mkdir -p "$mp"
	mp=$(realpath "$mp")
	log=$(mktemp "$_HTTP/hfc-mount.XXXXXX.log")
	# A shell without job control starts background commands with SIGINT ignored, and a harness
	# run under nohup (or a CI runner) passes SIGHUP on ignored; hfc-mount, like libfuse, keeps
	# a signal that it was started with ignored ignored. A user's foreground hfc-mount -f gets
	# ^C and hangups, so give it the default handling of every signal that ends it back.
	env --default-signal=HUP,INT,QUIT,TERM hfc-mount -f "$@" "$mp" >"$log" 2>&1 &
	pid=$!
	echo "$pid $mp" >>"$_HTTP/fuse"
	export HFC_MOUNT_PID=$pid HFC_MOUNT_LOG=$log
	for ((n = 0; n < 200; n++)); do
		if ! _alive "$pid"; then
			local rc=0
			wait "$pid" || rc=$?
			cat "$log" >&2
			fail "hfc-mount $* exited $rc before the mount was ready"
		fi
		is_mounted "$mp" && [ -e "$mp/image" ] && return 0
		sleep 0.1
	done
	cat "$log" >&2
	fail "hfc-mount $*: $mp/image did not appear within 20 s"
}

# mount_hfc_daemon MP ARGS...: without -f hfc-mount returns once the mount is ready.
mount_hfc_daemon() {
	local mp=$1 rc=0 pid n d
	shift
	mkdir -p "$mp"
	mp=$(realpath "$mp")
	d=$(mktemp -d "$_HTTP/daemon.XXXXXX")
	HFC_MOUNT_LOG=$d/out
	_spawn_reaped "$d" hfc-mount "$@" "$mp" || rc=$?
	# The daemon was reparented to the subreaper.
	pid=$(pgrep -P "$(cat "$d/reaper")" | head -1 || true)
	echo "${pid:-0} $mp $d" >>"$_HTTP/fuse"
	export HFC_MOUNT_PID=${pid:-0} HFC_MOUNT_LOG
	if [ "$rc" -ne 0 ]; then
		cat "$HFC_MOUNT_LOG" >&2
		fail "hfc-mount $* (daemon) exited $rc"
	fi
	is_mounted "$mp" || fail "hfc-mount $* returned 0 but $mp is not mounted"
	[ -n "$pid" ] || fail "hfc-mount $* returned 0 but no hfc-mount process serves $mp"
}

# umount_hfc MP: unmounts, waits for hfc-mount to exit, fails unless it exited 0.
umount_hfc() {
	local mp pid d rc n
	mp=$(realpath -m -- "$1" 2>/dev/null) || mp=$1
	read -r pid d < <(awk -v m="$mp" '$2 == m { p = $1; d = $3 } END { print p, d }' "$_HTTP/fuse")
	[ -n "$pid" ] || fail "umount_hfc: $mp was not mounted by mount_hfc"
	fusermount3 -u "$mp" || fail "umount_hfc: fusermount3 -u $mp failed"
	_wait_gone "$pid" 15 || fail "hfc-mount ($pid) still runs 15 s after fusermount3 -u $mp"
	if [ -n "$d" ]; then
		# A daemon: its subreaper records the status.
		for ((n = 0; n < 50; n++)); do
			rc=$(_reaped_status "$d" "$pid")
			[ -n "$rc" ] && break
			sleep 0.1
		done
	else
		rc=0
		wait "$pid" || rc=$?
	fi
	[ "$rc" = 0 ] || {
		cat "$HFC_MOUNT_LOG" >&2 || true
		fail "hfc-mount exited ${rc:-with an unknown status} after fusermount3 -u $mp"
	}
	! is_mounted "$mp" || fail "$mp is still mounted after umount_hfc"
	_forget "$_HTTP/fuse" "$mp"
}

# signal_hfc MP SIGNAL: a clean exit on SIGNAL means status 0 and the mount gone.
signal_hfc() {
	local mp pid rc=0
	mp=$(realpath -m -- "$1" 2>/dev/null) || mp=$1
	pid=$(awk -v m="$mp" '$2 == m && $3 == "" { p = $1 } END { print p }' "$_HTTP/fuse")
	[ -n "$pid" ] || fail "signal_hfc: $mp was not mounted by mount_hfc"
	kill -"$2" "$pid" || fail "signal_hfc: kill -$2 $pid"
	_wait_gone "$pid" 15 || fail "hfc-mount ($pid) still runs 15 s after SIG$2"
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || { cat "$HFC_MOUNT_LOG" >&2; fail "hfc-mount exited $rc on SIG$2"; }
	! is_mounted "$mp" || fail "$mp is still mounted after hfc-mount exited on SIG$2"
	_forget "$_HTTP/fuse" "$mp"
}

# hfc_stat MP KEY: the value of "KEY: value" in MP/.stats.
hfc_stat() {
	local v
	v=$(awk -v k="$2" 'index($0, k ": ") == 1 { print substr($0, length(k) + 3); f = 1; exit } END { exit !f }' "$1/.stats") ||
		fail "$1/.stats has no key '$2': $(tr '\n' ';' <"$1/.stats")"
	echo "$v"
}

# _forget LIST MP: drops MP's line (second field) from a record list.
_forget() {
	awk -v m="$2" '$2 != m' "$1" >"$1.new" && mv "$1.new" "$1"
}

loop_mount() {
	local img=$1 dir=$2 dev
	mkdir -p "$dir"
	dir=$(realpath "$dir")
	img=$(realpath "$img")
	mount -o loop,ro "$img" "$dir" 2>"$_HTTP/mount.err" || {
		cat "$_HTTP/mount.err" >&2
		fail "mount -o loop,ro $img $dir failed"
	}
	# mountinfo: ... mountpoint options [optional fields] - fstype source superoptions
	dev=$(awk -v m="$dir" '$5 == m { for (i = 7; i < NF; i++) if ($i == "-") { d = $(i + 2); break } }
		END { print d }' /proc/self/mountinfo)
	case $dev in /dev/loop*) ;; *) fail "loop_mount: $dir is mounted from '$dev', not a loop device" ;; esac
	echo "$dev $dir $img" >>"$_HTTP/loops"
}

# _loop_release DEV DIR IMG: unmounts DIR (lazily when busy) and detaches DEV if it still backs IMG.
_loop_release() {
	local dev=$1 dir=$2 img=$3 n
	if is_mounted "$dir"; then
		umount "$dir" 2>/dev/null || umount -l "$dir" || true
	fi
	# mount -o loop sets autoclear: the device goes when the last user does. It lets go of IMG
	# only once its last writes and the close went through (through hfc-mount, for an image in
	# a mount: seconds under a sanitizer); until then IMG's file system is busy. Bounded: 10 s,
	# then a detach and 5 s more.
	for ((n = 0; n < 150; n++)); do
		[ "$(losetup -n -O BACK-FILE "$dev" 2>/dev/null | sed 's/ *$//')" = "$img" ] || return 0
		[ "$n" = 100 ] && { losetup -d "$dev" 2>/dev/null || true; }
		sleep 0.1
	done
}

loop_umount() {
	local dir line
	dir=$(realpath -m -- "$1" 2>/dev/null) || dir=$1
	line=$(awk -v m="$dir" '$2 == m' "$_HTTP/loops" | tail -1)
	[ -n "$line" ] || fail "loop_umount: $dir was not mounted by loop_mount"
	umount "$dir" || fail "umount $dir failed"
	# shellcheck disable=SC2086
	_loop_release $line
	_forget "$_HTTP/loops" "$dir"
}

# Tears everything down; registered first so that it runs after the case's own cleanups.
_http_cleanup() {
	local line pid mp dev dir img name d leaked
	if [ -s "$_HTTP/loops" ]; then
		tac "$_HTTP/loops" | while read -r dev dir img; do
			_loop_release "$dev" "$dir" "$img"
		done
	fi
	if [ -s "$_HTTP/fuse" ]; then
		tac "$_HTTP/fuse" | while read -r pid mp _; do
			if is_mounted "$mp"; then
				fusermount3 -u "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null || true
			fi
			[ "$pid" -gt 0 ] || continue
			_wait_gone "$pid" 5 || { kill -TERM "$pid" 2>/dev/null; _wait_gone "$pid" 3; } ||
				{ kill -KILL "$pid" 2>/dev/null; _wait_gone "$pid" 3; } || true
			wait "$pid" 2>/dev/null || true
		done
	fi
	for d in "$_HTTP"/nginx-*; do
		[ -s "$d/master" ] || continue
		name=${d##*/nginx-}
		_alive "$(cat "$d/master")" && (stop_nginx "$name" QUIT) 2>/dev/null || true
	done
	# Anything of $T still mounted or attached is a leak: clean it, and fail the case.
	leaked=$(mount | grep -F "$T" || true)
	leaked+=$(losetup -a | grep -F "$T" || true)
	if [ -n "$leaked" ]; then
		echo "FAIL: left behind at exit:" >&2
		echo "$leaked" >&2
		awk -v t="$T" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
			while read -r mp; do umount -l "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null || true; done
		losetup -a | grep -F "$T" | cut -d: -f1 | while read -r dev; do losetup -d "$dev" || true; done
		echo "(scratch kept in $T)" >&2
		exit 1
	fi
}
at_exit _http_cleanup

# A site built from fixture_image once per run, shared read-only by the cases (copy it to change it).
fixture_site() {
	local site=$HFC_TEST_TMP/site img
	img=$(fixture_image)
	(
		flock 9
		if [ ! -s "$site/index.idx" ]; then
			rm -rf "$site.tmp"
			hfc-mkimage -q --label fixture "$img" "$site.tmp" >/dev/null 2>"$HFC_TEST_TMP/site.err" ||
				{ cat "$HFC_TEST_TMP/site.err" >&2; exit 1; }
			rm -f "$site.tmp/.lock"
			mv "$site.tmp" "$site"
		fi
	) 9>"$HFC_TEST_TMP/site.lock" || fail "could not build the fixture site"
	echo "$site"
}

# site_blocks SITE [INDEX]: "i name stored" for each named (non-zero) block, in image order.
site_blocks() {
	awk '/^blocks / { on = 1; i = 0; next } /^end / { on = 0 } on { if ($1 != "-") print i, $1, $2; i++ }' \
		"${2:-$1/index.idx}"
}

block_file() {
	echo "$1/blocks/${2:0:2}/$2"
}

# forge_block FILE LEN: replaces a block file by a valid zlib stream of the same stored size that
# decodes to LEN bytes other than the original ones: only the block's name can tell it is wrong.
forge_block() {
	python3 - "$1" "$2" <<'PY' || fail "forge_block: cannot forge $1"
import os, sys, zlib
path, n = sys.argv[1], int(sys.argv[2])
orig = open(path, "rb").read()
size = len(orig)
old = zlib.decompress(orig)
tail = os.urandom(n)

def stream(k):
    # A run of 'x' (compressed), then k random bytes in stored blocks, then adler32.
    data = b"x" * (n - k) + tail[:k]
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = bytearray(b"\x78\xda") + c.compress(data[: n - k]) + c.flush(zlib.Z_SYNC_FLUSH)
    rest = data[n - k :]
    if not rest:
        out += b"\x03\x00"  # an empty final fixed block
    while rest:
        chunk, rest = rest[:65535], rest[65535:]
        out += bytes([0 if rest else 1]) + len(chunk).to_bytes(2, "little") + (len(chunk) ^ 0xFFFF).to_bytes(2, "little") + chunk
    out += zlib.adler32(data).to_bytes(4, "big")
    return bytes(out), data

lo, hi = 0, n
# Stream size grows with k (about one byte per byte); look for an exact fit, then scan around it.
while lo < hi:
    mid = (lo + hi) // 2
    if len(stream(mid)[0]) < size:
        lo = mid + 1
    else:
        hi = mid
for k in list(range(max(0, lo - 64), min(n, lo + 64) + 1)):
    s, data = stream(k)
    if len(s) == size and data != old:
        assert zlib.decompress(s) == data
        tmp = path + ".forge"
        open(tmp, "wb").write(s)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
        sys.exit(0)
sys.exit("no forged stream of %d bytes" % size)
PY
}
