# Helpers for the hfc-publish cases: servers started from site-templates/ and checks of a mirror
# directory. Source after tests/lib.sh and tests/http.sh:
#
#   . "$HFC_TOP/tests/lib.sh"
#   . "$HFC_TOP/tests/http.sh"
#   . "$HFC_TOP/tests/publish-lib.sh"
#
#   render_template SRC DST KEY=VALUE...   replaces every @KEY@ of SRC; fails if one is left
#   start_nginx_site NAME DOCROOT PREFIX   nginx with site-templates/nginx.conf as its only server,
#                                          on 127.0.0.1:<free port>; sets SITE_URL_<NAME> (the
#                                          site's base URL) and stops with the case (tests/http.sh)
#   start_lighttpd_site NAME DOCROOT PREFIX  the same with site-templates/lighttpd.conf
#   start_rsyncd SITE_DIR                  rsync --daemon from site-templates/rsyncd.conf on
#                                          127.0.0.1:<free port>; sets RSYNCD_PORT,
#                                          RSYNCD_PUSH (rsync:// URL of the push module),
#                                          RSYNCD_PULL (of the read-only one), RSYNCD_PASSFILE
#   stop_rsyncd                            stops the last one started (each one also stops
#                                          when the case ends)
#   mirror_check DIR                       every block named by DIR/index.idx is there and is
#                                          what its name says; prints "version N blocks M"
#   write_publish_yaml FILE SITE NAME TARGET URL [PASSFILE] [NAME TARGET URL [PASSFILE]]...
#                                          (PASSFILE "-" for none)

TEMPLATES=$HFC_TOP/site-templates

render_template() {
	local src=$1 dst=$2
	shift 2
	python3 - "$src" "$dst" "$@" <<'PY' || fail "render_template $src failed"
import re, sys
src, dst, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(src).read()
for p in pairs:
    k, v = p.split("=", 1)
    text = text.replace("@%s@" % k, v)
# Placeholders are @UPPER_CASE@ words outside comments.
left = sorted({m for line in text.splitlines() if not line.lstrip().startswith("#")
               for m in re.findall(r"@[A-Z_]+@", line)})
if left:
    sys.exit("%s: placeholders left: %s" % (src, " ".join(left)))
open(dst, "w").write(text)
PY
}

start_nginx_site() {
	local name=$1 docroot=$2 prefix=$3 d port try
	d=$_HTTP/nginx-$name
	mkdir -p "$d/tmp" "$docroot$prefix"
	_world_readable "$docroot$prefix"
	realpath "$docroot" >"$d/root"
	for ((try = 0; try < 10; try++)); do
		port=$(_free_port)
		render_template "$TEMPLATES/nginx.conf" "$d/server.conf" "LISTEN=127.0.0.1:$port" \
			SERVER_NAME=localhost "DOCROOT=$(realpath "$docroot")" "PREFIX=$prefix"
		_nginx_conf_with "$d" "	include $d/server.conf;"
		_nginx_spawn "$name" "$port" && break
		port=
	done
	[ -n "$port" ] || fail "start_nginx_site: no free port after 10 tries"
	printf -v "SITE_URL_$name" %s "http://127.0.0.1:$port$prefix"
	export "SITE_URL_$name"
}

start_lighttpd_site() {
	local name=$1 docroot=$2 prefix=$3 d port pid n
	d=$T/lighttpd-$name
	mkdir -p "$d" "$docroot$prefix"
	_world_readable "$docroot$prefix"
	port=$(_free_port)
	render_template "$TEMPLATES/lighttpd.conf" "$d/site.conf" "SOCKET=127.0.0.1:$port" \
		"DOCROOT=$(realpath "$docroot")" "PREFIX=$prefix"
	cat >"$d/lighttpd.conf" <<EOF
server.modules = ( )
server.bind = "127.0.0.1"
server.port = $port
server.document-root = "$d/empty"
server.errorlog = "$d/error.log"
server.pid-file = "$d/lighttpd.pid"
include "$d/site.conf"
EOF
	mkdir -p "$d/empty"
	lighttpd -tt -f "$d/lighttpd.conf" >"$d/check.log" 2>&1 ||
		{ cat "$d/check.log" >&2; fail "lighttpd -tt refuses the rendered template"; }
	lighttpd -D -f "$d/lighttpd.conf" >"$d/out" 2>&1 &
	pid=$!
	echo "$pid" >"$d/pid"
	at_exit "_stop_pid $pid"
	for ((n = 0; n < 100; n++)); do
		_port_open "$port" && break
		_alive "$pid" || { cat "$d/out" "$d/error.log" >&2 2>/dev/null; fail "lighttpd exited"; }
		sleep 0.05
	done
	_port_open "$port" || fail "lighttpd does not answer on port $port"
	printf -v "SITE_URL_$name" %s "http://127.0.0.1:$port$prefix"
	export "SITE_URL_$name"
}

# _stop_pid PID: TERM, then KILL; reaps it (it is a child of the case's shell).
_stop_pid() {
	local pid=$1
	_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	_wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null; _wait_gone "$pid" 5; } || true
	wait "$pid" 2>/dev/null || true
}

RSYNCD_PID=
_rsyncd_n=0
start_rsyncd() {
	local site=$1 d n
	_rsyncd_n=$((_rsyncd_n + 1))
	d=$T/rsyncd.$_rsyncd_n
	mkdir -p "$d" "$site"
	_world_readable "$site"
	RSYNCD_PORT=$(_free_port)
	render_template "$TEMPLATES/rsyncd.conf" "$d/rsyncd.conf" ADDRESS=127.0.0.1 \
		"PORT=$RSYNCD_PORT" "RUN_DIR=$d" "LOG_FILE=$d/rsyncd.log" USE_CHROOT=no \
		"SITE_DIR=$(realpath "$site")" OWNER=root GROUP=root MASTER_HOSTS=127.0.0.1 \
		PUSH_USER=hfcpush "SECRETS_FILE=$d/secrets"
	(umask 077 && echo "hfcpush:s3cret-$$" >"$d/secrets" && echo "s3cret-$$" >"$d/password")
	RSYNCD_PASSFILE=$d/password
	rsync --daemon --no-detach --config="$d/rsyncd.conf" >"$d/out" 2>&1 &
	RSYNCD_PID=$!
	at_exit "_stop_pid $RSYNCD_PID"
	for ((n = 0; n < 100; n++)); do
		_port_open "$RSYNCD_PORT" && break
		_alive "$RSYNCD_PID" || { cat "$d/out" "$d/rsyncd.log" >&2 2>/dev/null; fail "rsyncd exited"; }
		sleep 0.05
	done
	_port_open "$RSYNCD_PORT" || fail "rsyncd does not answer on port $RSYNCD_PORT"
	RSYNCD_PUSH=rsync://hfcpush@127.0.0.1:$RSYNCD_PORT/hfc-push
	RSYNCD_PULL=rsync://127.0.0.1:$RSYNCD_PORT/hfc
	export RSYNCD_PORT RSYNCD_PUSH RSYNCD_PULL RSYNCD_PASSFILE
}

stop_rsyncd() {
	[ -n "$RSYNCD_PID" ] && _stop_pid "$RSYNCD_PID"
	RSYNCD_PID=
}

mirror_check() {
	python3 - "$1" <<'PY' || fail "mirror $1 is not consistent"
import hashlib, os, sys, zlib
d = sys.argv[1]
p = os.path.join(d, "index.idx")
if not os.path.exists(p):
    print("version 0 blocks 0")
    sys.exit(0)
data = open(p, "rb").read()
lines = data.split(b"\n")
assert lines[-1] == b"", "index.idx does not end with a newline"
end = [i for i, l in enumerate(lines) if l.startswith(b"end ")]
assert end, "index.idx has no end line"
body = b"\n".join(lines[: end[0]]) + b"\n"
assert hashlib.sha256(body).hexdigest() == lines[end[0]][4:].decode(), "index.idx: bad end checksum"
hdr = {}
i = 1
while not lines[i].startswith(b"blocks "):
    k, v = lines[i].decode().split(" ", 1)
    hdr[k] = v
    i += 1
n = int(lines[i].split()[1])
bs, size, algo = int(hdr["block-size"]), int(hdr["image-size"]), hdr["hash"]
seen, bad = set(), []
for k in range(n):
    l = lines[i + 1 + k].decode()
    if l == "-" or l.split()[0] in seen:
        continue
    name, stored = l.split()
    seen.add(name)
    f = os.path.join(d, "blocks", name[:2], name)
    try:
        raw = open(f, "rb").read()
    except FileNotFoundError:
        bad.append(name + ": missing")
        continue
    if len(raw) != int(stored):
        bad.append(name + ": %d bytes, index says %s" % (len(raw), stored))
        continue
    out = zlib.decompress(raw)
    if len(out) != min(bs, size - k * bs) or hashlib.new(algo, out).hexdigest() != name:
        bad.append(name + ": wrong content")
if bad:
    sys.exit("version %s: %d bad blocks: %s" % (hdr["version"], len(bad), "; ".join(bad[:5])))
print("version %s blocks %d" % (hdr["version"], len(seen)))
PY
}

write_publish_yaml() {
	local f=$1 site=$2
	shift 2
	{
		echo "site: $site"
		echo "parallel: 2"
		echo "rsync:"
		echo "  timeout: 60"
		echo "verify:"
		echo "  connections: 4"
		echo "  timeout: 10"
		echo "  retries: 1"
		echo "mirrors:"
		while [ $# -ge 4 ]; do
			echo "  - name: $1"
			echo "    target: $2"
			echo "    url: $3"
			[ "$4" != - ] && echo "    password_file: $4"
			shift 4
		done
	} >"$f"
}
