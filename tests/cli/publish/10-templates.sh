# The site templates: nginx and lighttpd serve a site from their rendered templates with the
# right headers (immutable block files and versions, a short max-age and an ETag for index.idx,
# application/octet-stream, ranges, no listing, no dot files); apache2 -t accepts its template
# and Apache serves the same way; rsync --daemon starts from its template.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/publish-lib.sh"

# A small real site, under a URL prefix, with everything a site must not serve next to it.
make_tree "$T/tree" 3
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -d "$T/tree" "$T/img" 8M >/dev/null
prefix=/hfc/knoppix
site=$T/www$prefix
expect_status 0 hfc-mkimage -q -b 16K "$T/img" "$site"
: >"$site/.hfc-build-cache"
: >"$site/.index.idx.tmp.4711.1"
read -r _ block stored < <(site_blocks "$site" | head -1)
: >"$site/blocks/${block:0:2}/.$block.tmp.4711"
[ -e "$site/.lock" ] || : >"$site/.lock"

# check_headers URL [lighttpd]: the headers and answers every template must give. lighttpd can
# only set caching headers on successful answers with mod_expire, which writes max-age alone.
check_headers() {
	local url=$1 h=$T/h immutable='^cache-control: public, max-age=31536000, immutable'
	[ "${2:-}" = lighttpd ] && immutable='^cache-control: max-age=31536000'
	curl -s -D "$h" -o "$T/body" "$url/blocks/${block:0:2}/$block" || fail "GET block: curl failed"
	head -1 "$h" | grep -q ' 200' || fail "$url: block: $(head -1 "$h")"
	grep -qi "$immutable" "$h" ||
		fail "$url: block: no immutable Cache-Control: $(tr '\r\n' '  ' <"$h")"
	grep -qi '^content-type: application/octet-stream' "$h" || fail "$url: block: Content-Type: $(grep -i content-type "$h")"
	[ "$(stat -c %s "$T/body")" = "$stored" ] || fail "$url: block: wrong length"
	cmp -s "$T/body" "$(block_file "$site" "$block")" || fail "$url: block: wrong bytes"

	# A version's signature line may be renewed: revalidated within the hour, never immutable.
	curl -s -D "$h" -o /dev/null "$url/indexes/000001.idx"
	head -1 "$h" | grep -q ' 200' || fail "$url: indexes/000001.idx: $(head -1 "$h")"
	local vcc vmax
	vcc=$(grep -i '^cache-control:' "$h" | tr -d '\r') || fail "$url: indexes/000001.idx: no Cache-Control"
	vmax=$(echo "$vcc" | sed -n 's/.*max-age=\([0-9]*\).*/\1/p')
	[ -n "$vmax" ] && [ "$vmax" -le 3600 ] || fail "$url: indexes/000001.idx: max-age too long: $vcc"
	echo "$vcc" | grep -qv immutable || fail "$url: indexes/000001.idx must not be immutable: $vcc"
	grep -qi '^content-type: application/octet-stream' "$h" || fail "$url: index: wrong Content-Type"

	curl -s -D "$h" -o "$T/body" "$url/index.idx"
	head -1 "$h" | grep -q ' 200' || fail "$url: index.idx: $(head -1 "$h")"
	cmp -s "$T/body" "$site/index.idx" || fail "$url: index.idx: wrong bytes"
	local cc etag maxage
	cc=$(grep -i '^cache-control:' "$h" | tr -d '\r') || fail "$url: index.idx: no Cache-Control"
	maxage=$(echo "$cc" | sed -n 's/.*max-age=\([0-9]*\).*/\1/p')
	[ -n "$maxage" ] && [ "$maxage" -le 300 ] || fail "$url: index.idx: max-age not short: $cc"
	echo "$cc" | grep -qv immutable || fail "$url: index.idx must not be immutable: $cc"
	grep -qi '^content-type: application/octet-stream' "$h" || fail "$url: index.idx: wrong Content-Type"
	etag=$(grep -i '^etag:' "$h" | sed 's/^[^:]*: //' | tr -d '\r')
	[ -n "$etag" ] || fail "$url: index.idx: no ETag"
	# Proxies revalidate with the ETag: unchanged is a 304 without a body.
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$url/index.idx")" = 304 ] ||
		fail "$url: index.idx: If-None-Match did not give 304"

	# Ranges.
	[ "$(curl -s -o "$T/body" -w '%{http_code}' -r 2-11 "$url/blocks/${block:0:2}/$block")" = 206 ] ||
		fail "$url: a range request is not 206"
	cmp -s "$T/body" <(tail -c +3 "$(block_file "$site" "$block")" | head -c 10) || fail "$url: wrong range bytes"

	# Never served: dot files, directories, anything that is not a site name; and a missing block
	# is not cached for a year.
	local p code
	for p in .lock .hfc-build-cache .index.idx.tmp.4711.1 "blocks/${block:0:2}/.$block.tmp.4711" \
		"" blocks/ "blocks/${block:0:2}/" indexes/ profiles/ nothing.html; do
		code=$(curl -s -o "$T/body" -w '%{http_code}' "$url/$p")
		case $code in 403 | 404) ;; *) fail "$url/$p: HTTP $code, expected 403 or 404" ;; esac
		! grep -q "$block" "$T/body" || fail "$url/$p: the answer lists block names"
	done
	curl -s -D "$h" -o /dev/null "$url/blocks/00/00000000000000000000000000000000"
	head -1 "$h" | grep -q ' 404' || fail "$url: a missing block is not 404"
	! grep -qiE 'immutable|max-age' "$h" || fail "$url: a 404 may be cached: $(grep -i cache-control "$h")"
}

# nginx from its template.
start_nginx_site tmpl "$T/www" "$prefix"
check_headers "$SITE_URL_tmpl"
note "nginx: headers right at $SITE_URL_tmpl"

# lighttpd from its template (lighttpd -tt runs in start_lighttpd_site).
start_lighttpd_site tmpl "$T/www" "$prefix"
check_headers "$SITE_URL_tmpl" lighttpd
note "lighttpd: headers right at $SITE_URL_tmpl"

# Apache: the template passes apache2 -t, and the server answers the same way.
mods=/usr/lib/apache2/modules
ad=$T/apache
mkdir -p "$ad"
aport=$(_free_port)
render_template "$TEMPLATES/apache.conf" "$ad/vhost.conf" "PORT=$aport" SERVER_NAME=localhost \
	"DOCROOT=$(realpath "$T/www")" "PREFIX=$prefix"
cat >"$ad/httpd.conf" <<EOF
ServerRoot $ad
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule headers_module $mods/mod_headers.so
LoadModule alias_module $mods/mod_alias.so
LoadModule env_module $mods/mod_env.so
ServerName localhost
Listen 127.0.0.1:$aport
PidFile $ad/httpd.pid
ErrorLog $ad/error.log
DefaultRuntimeDir $ad
User nobody
Group nogroup
DocumentRoot $ad
Include $ad/vhost.conf
EOF
apache2 -t -f "$ad/httpd.conf" >"$ad/t.log" 2>&1 || { cat "$ad/t.log" >&2; fail "apache2 -t refuses the rendered template"; }
grep -q "Syntax OK" "$ad/t.log" || fail "apache2 -t: $(cat "$ad/t.log")"
apache2 -X -f "$ad/httpd.conf" >"$ad/out" 2>&1 &
apid=$!
at_exit "_stop_pid $apid"
for ((n = 0; n < 100; n++)); do
	_port_open "$aport" && break
	_alive "$apid" || { cat "$ad/out" "$ad/error.log" >&2; fail "apache2 exited"; }
	sleep 0.05
done
check_headers "http://127.0.0.1:$aport$prefix"
note "apache: apache2 -t accepts the template; headers right"

# The rsyncd template starts a daemon that lists its read-only module.
start_rsyncd "$site"
rsync "rsync://127.0.0.1:$RSYNCD_PORT/" >"$T/modules" 2>&1 || fail "rsync module list: $(cat "$T/modules")"
grep -q '^hfc ' "$T/modules" || fail "the read-only module is not listed: $(cat "$T/modules")"
! grep -q 'hfc-push' "$T/modules" || fail "the push module is listed"
rsync "$RSYNCD_PULL/" >"$T/list" 2>&1 || fail "rsync list of the site: $(cat "$T/list")"
! grep -qE '\.lock|\.hfc-build-cache|\.tmp\.' "$T/list" || fail "rsyncd offers local-only files: $(cat "$T/list")"
note "rsyncd: modules from the template"
