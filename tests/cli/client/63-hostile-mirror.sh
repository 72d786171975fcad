# Mirrors that lead elsewhere or carry secrets: a redirect to another host is refused before any
# request goes there (unless --allow-redirect-host), as is one to another scheme; a redirect on
# the same host is followed. Credentials in a mirror URL reach the server but never .stats
# (readable by every user under --allow-other) or a message. 64 mirrors work; 65 are refused.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/hostile.sh"

small_site "$T/site" 2
mkdir "$T/empty"

# G serves the site; the redirecting mirrors serve nothing themselves.
start_hostile G "$T/site"
port=${HOSTILE_URL_G##*:}
start_hostile X "$T/empty" --redirect "/=http://localhost:$port"
start_hostile S "$T/empty" --redirect "/=http://127.0.0.1:$port"
start_hostile F "$T/empty" --redirect "/=file://"

# To another host (localhost is another name than 127.0.0.1): one line, exit 1, and nothing was
# asked of the other host.
expect_error "^hfc-get: $HOSTILE_URL_X: index\.idx: redirect to http://localhost:$port/index\.idx refused: to another host$" \
	hfc-get -q "$HOSTILE_URL_X" "$T/out.img"
[ ! -e "$T/out.img" ] || fail "a refused redirect left $T/out.img"
[ ! -s "$HOSTILE_LOG_G" ] || fail "the other host was asked: $(cat "$HOSTILE_LOG_G")"
note "$(cat "$T/err")"
mkdir "$T/mnt"
expect_error "^hfc-mount: .*redirect to http://localhost:$port/index\.idx refused: to another host$" \
	timeout 60 hfc-mount -f "$HOSTILE_URL_X" "$T/mnt"
! is_mounted "$T/mnt" || fail "mounted through a refused redirect"
[ ! -s "$HOSTILE_LOG_G" ] || fail "the other host was asked: $(cat "$HOSTILE_LOG_G")"
# ... unless allowed: then every request goes there, and the image is exact.
expect_status 0 hfc-get -q --allow-redirect-host "$HOSTILE_URL_X" "$T/out.img"
cmp "$T/out.img" "$T/site.img" || fail "the image through an allowed redirect differs"
rm -f "$T/out.img"
nblocks=$(sed -n 's/^blocks //p' "$T/site/index.idx")
[ "$(grep -c ' /blocks/' "$HOSTILE_LOG_G")" = "$nblocks" ] ||
	fail "the other host served $(grep -c ' /blocks/' "$HOSTILE_LOG_G") blocks, want $nblocks"
# A redirect on the same host is followed without asking.
expect_status 0 hfc-get -q "$HOSTILE_URL_S" "$T/out.img"
cmp "$T/out.img" "$T/site.img" || fail "the image through a same-host redirect differs"
rm -f "$T/out.img"
# To file:// (a local file of the client's machine): refused, allowed or not.
expect_error "^hfc-get: .*redirect to file:///index\.idx refused: to a scheme other than http:// and https://$" \
	hfc-get -q --allow-redirect-host "$HOSTILE_URL_F" "$T/out.img"

# Credentials: sent to the server, shown nowhere, not even to another user through .stats.
secret="s3cr3t-$RANDOM"
curl_url="http://hfcuser:$secret@127.0.0.1:$port"
: >"$HOSTILE_LOG_G"
chmod 0755 "$T"
mount_hfc "$T/mnt" --allow-other "$curl_url"
cmp "$T/mnt/image" "$T/site.img" || fail "the image from a mirror with credentials differs"
grep -q 'GET /index.idx auth=hfcuser$' "$HOSTILE_LOG_G" || fail "the credentials did not reach the server"
as_nobody cat "$T/mnt/.stats" >"$T/stats" || fail "another user cannot read .stats under --allow-other"
grep -q "$secret" "$T/stats" && fail ".stats shows the password: $(grep "$secret" "$T/stats")"
grep -qx "mirror: http://\*\*\*@127.0.0.1:$port" "$T/stats" || fail ".stats mirror: $(grep '^mirror' "$T/stats")"
grep -q "^mirror.0: http://\*\*\*@127.0.0.1:$port " "$T/stats" || fail ".stats: $(grep '^mirror' "$T/stats")"
umount_hfc "$T/mnt"
note "$(grep '^mirror.0' "$T/stats")"
# ... nor in a message.
dead=$(_free_port)
expect_error "^hfc-get: http://\*\*\*@127\.0\.0\.1:$dead: " \
	hfc-get -q --retries 0 --timeout 2000 "http://hfcuser:$secret@127.0.0.1:$dead" "$T/out.img"
grep -q "$secret" "$T/err" && fail "a message shows the password: $(cat "$T/err")"
expect_error "^hfc-get: ftp://\*\*\*@example: not an http://, https:// or file:// URL" \
	hfc-get -q "ftp://hfcuser:$secret@example" "$T/out.img"

# 64 mirrors (all of them the same site): the most there may be, every one usable.
urls=$(for ((i = 0; i < 64; i++)); do printf '%s,' "$HOSTILE_URL_G"; done)
: >"$HOSTILE_LOG_G"
expect_status 0 hfc-get -q "${urls%,}" "$T/out.img"
cmp "$T/out.img" "$T/site.img" || fail "the image from 64 mirrors differs"
rm -f "$T/out.img"
expect_status 2 hfc-get -q "$urls$HOSTILE_URL_G" "$T/out.img"
grep -q 'at most 64 mirrors' "$T/err" || fail "65 mirrors: $(cat "$T/err")"
