# Bad publish.yaml files, bad targets, bad sites and bad command lines: one clear error line each
# (file:line:column for the settings), exit 1 (2 for usage), and nothing is sent anywhere. A
# mirror that is down fails alone: the other one is published and verified.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
. "$HFC_TOP/tests/publish-lib.sh"

make_tree "$T/tree" 1
E2FSPROGS_FAKE_TIME=1 mke2fs -q -F -t ext2 -d "$T/tree" "$T/img" 4M >/dev/null
site=$T/site
expect_status 0 hfc-mkimage -q -b 4K "$T/img" "$site"
cd "$T" || exit 1

# bad NAME LINE:COL PATTERN: the file y/NAME.yaml gets exactly one error naming its position.
bad() {
	expect_error "^hfc-publish: y/$1\.yaml:$2: $3" hfc-publish -c "y/$1.yaml"
	[ ! -e "$T/y/never" ] || fail "$1: something was sent"
}
mkdir y
good_mirror='mirrors:
  - name: a
    target: never
    url: http://127.0.0.1:9/'

printf 'site: site\n%s\nbogus: 1\n' "$good_mirror" >y/unknown.yaml
bad unknown 6:1 "unknown key 'bogus' in the file \(known: site, mirrors, parallel, rsync, verify, require-signature, pubkey, expiry-warning\)"

printf 'site: site\nmirrors:\n  - name: a\n    url: http://x/\n' >y/notarget.yaml
bad notarget 3:5 "mirror 'a': missing key 'target'"

printf 'site: site\n%s\nrsync:\n  - timeout: 5\n' "$good_mirror" >y/listformap.yaml
bad listformap 7:3 "rsync: expected a mapping \(key: value\), got a list"

printf 'site: site\nmirrors:\n  name: a\n  target: never\n  url: http://x/\n' >y/mapforlist.yaml
bad mapforlist 3:3 "mirrors: expected a list, got a mapping"

printf 'site: site\n%s\n  - name: b\n    target: "/srv/caf\xe9"\n    url: http://x/\n' "$good_mirror" >y/latin1.yaml
bad latin1 '7:[0-9]+' "not valid UTF-8 text"

: >y/empty.yaml
bad empty 1:1 "empty: expected a mapping of settings"
printf '# only a comment\n\n' >y/comment.yaml
bad comment 1:1 "empty: expected a mapping of settings"

printf 'site: site\nsite: other\n%s\n' "$good_mirror" >y/dup.yaml
bad dup 2:1 "duplicate key 'site' \(first at line 1\)"
printf 'site: site\nparallel: two\n%s\n' "$good_mirror" >y/type.yaml
bad type 2:11 "parallel: 'two' is not a whole number"
printf 'site: site\nparallel: 0\n%s\n' "$good_mirror" >y/range.yaml
bad range 2:11 "parallel: 0 is out of range \(1 to 64\)"
printf 'site: site\nmirrors: []\n' >y/nomirror.yaml
bad nomirror 2:10 "mirrors: the list is empty"
printf 'site: &s site\n%s\n' "$good_mirror" >y/anchor.yaml
bad anchor 1:7 "anchors \(&s\) are not allowed"
printf 'site: site\nmirrors:\n\t- name: a\n' >y/tab.yaml
bad tab '3:[0-9]+' "found character that cannot start any token"
printf 'site: site\n%s\n  - name: a\n    target: other\n    url: http://x/\n' "$good_mirror" >y/twice.yaml
bad twice 6:11 "name: a second mirror called 'a'"

# Targets never reach rsync's option parser or a remote shell as anything but a path.
# shellcheck disable=SC2016 # the shell syntax is the point: it must never run
for t in '--rsh=sh' '-e' 'host:path;touch${IFS}x' 'host:$(touch x)' 'user name@host:path' \
	'host::module' 'ftp://host/x' 'rsync://host' 'rsync://-oProxy/x' "relative/*"; do
	printf 'site: site\nmirrors:\n  - name: a\n    target: "%s"\n    url: http://x/\n' "$t" >y/target.yaml
	expect_error "^hfc-publish: y/target\.yaml:4:13: target: " hfc-publish -c y/target.yaml
done
printf 'site: site\nmirrors:\n  - name: a\n    target: never\n    url: ftp://x/\n' >y/url.yaml
bad url 5:10 "url: 'ftp://x/' is not an http://, https:// or file:// URL"
printf 'site: site\nmirrors:\n  - name: a\n    target: host:path\n    url: http://x/\n    password_file: p\n' >y/pw.yaml
bad pw 6:20 "password_file: only for rsync:// targets"
[ ! -e x ] || fail "a target ran a command"

# Files and sites.
expect_error "^hfc-publish: y/none\.yaml: No such file or directory$" hfc-publish -c y/none.yaml
printf 'site: nosite\n%s\n' "$good_mirror" >y/nosite.yaml
# Relative paths in the file are relative to the file's directory.
expect_error "^hfc-publish: $T/y/nosite: no such site$" hfc-publish -c y/nosite.yaml
mkdir empty-site
printf 'site: ../empty-site\n%s\n' "$good_mirror" >y/emptysite.yaml
expect_error "index.idx: nothing to publish$" hfc-publish -c y/emptysite.yaml
printf 'site: ../site\n%s\n' "$good_mirror" >y/ok.yaml
# A writer holds the site's lock: publishing now would copy a site in the making.
exec 8>"$site/.lock"
flock -x 8
expect_error "site is busy: another hfc process holds its lock$" hfc-publish -c y/ok.yaml
exec 8>&-

# Usage errors: exit 2.
expect_status 2 hfc-publish -c y/ok.yaml --mirror nope
grep -q "^hfc-publish: --mirror: no mirror called 'nope' in y/ok.yaml$" "$T/err" || fail "--mirror nope: $(cat "$T/err")"
expect_status 2 hfc-publish --status --deep
expect_status 2 hfc-publish --verify --dry-run
expect_status 2 hfc-publish --repair --dry-run
expect_status 2 hfc-publish extra-argument
expect_status 2 hfc-publish --parallel 0
expect_status 2 hfc-publish --no-such-option
expect_status 0 hfc-publish --help
grep -q '^Usage: hfc-publish' "$T/out" || fail "--help does not print the usage on stdout"
[ ! -s "$T/err" ] || fail "--help wrote to stderr"

# A mirror that is down fails on its own; the other one is published and verified.
start_nginx_site B "$T/wwwB" /hfc
dead=$(_free_port)
write_publish_yaml y/down.yaml "$site" \
	a "rsync://127.0.0.1:$dead/hfc-push" "http://127.0.0.1:$dead/hfc" - \
	b "$T/wwwB/hfc" "$SITE_URL_B" -
expect_status 1 hfc-publish -c y/down.yaml
[ "$(wc -l <"$T/err")" = 1 ] || fail "down mirror: $(cat "$T/err")"
grep -q "^hfc-publish: a: blocks: rsync exited 10 (error in socket I/O): rsync: \[Receiver\] failed to connect to 127.0.0.1" "$T/err" ||
	grep -q "^hfc-publish: a: blocks: rsync exited [0-9]* (.*): .*127.0.0.1" "$T/err" || fail "down mirror: $(cat "$T/err")"
grep -q "^a: version unknown; FAILED at blocks: " "$T/out" || fail "down mirror report: $(cat "$T/out")"
grep -q "^b: version 1 (was none): sent .*; verified" "$T/out" || fail "the good mirror: $(cat "$T/out")"
mirror_check "$T/wwwB/hfc" >/dev/null
expect_status 1 hfc-publish -c y/down.yaml --status
grep -q "^hfc-publish: a: http://127.0.0.1:$dead/hfc/index.idx: " "$T/err" || fail "status of a down mirror: $(cat "$T/err")"
grep -qE '^b +1 +0 ' "$T/out" || fail "status: $(cat "$T/out")"

# The commented example in docs/ is a valid file (only its site is missing here).
expect_error "^hfc-publish: /srv/hfc/knoppix: no such site$" hfc-publish -c "$HFC_TOP/docs/publish.example.yaml" --status
