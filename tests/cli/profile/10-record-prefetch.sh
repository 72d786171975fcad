# DLAHEAD end to end: a traced mount through nginx, record, install, then a mount with
# --prefetch=auto whose reads are served by the prefetched blocks; bad profiles are refused;
# carry to a new version reports the changed blocks.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/http.sh"
site=$(fixture_site)
cp -a "$site" "$T/site"
site=$T/site
start_nginx "$site" >/dev/null
url=$NGINX_URL
mkdir -p "$T/mnt" "$T/lo"

# 1. A "boot": read a few directories through the loop mount, with a trace.
mount_hfc "$T/mnt" --trace "$T/boot.trace" "$url"
loop_mount "$T/mnt/image" "$T/lo"
tar cf - -C "$T/lo" doc/bash doc/apt man/man1 >"$T/boot1.tar"
loop_umount "$T/lo"
umount_hfc "$T/mnt"
head -1 "$T/boot.trace" | grep -q '^# hfc-trace 1 version 1 ' || fail "trace header: $(head -1 "$T/boot.trace")"
[ "$(wc -l <"$T/boot.trace")" -gt 20 ] || fail "the trace is too short"

# 2. record (from the trace and a second, partial run), show, install.
grep -v '^#' "$T/boot.trace" | awk 'NR % 3 {print}' >"$T/part.body"
{ head -1 "$T/boot.trace"; cat "$T/part.body"; } >"$T/boot2.trace"
expect_status 0 hfc-profile record --json -o "$T/p.prof" --site "$url" "$T/boot.trace" "$T/boot2.trace"
blocks=$(json_get "$T/out" blocks)
[ "$blocks" -gt 5 ] || fail "profile has $blocks blocks"
note "profile: $blocks blocks, $(json_get "$T/out" bytes) bytes"
expect_status 0 hfc-profile show --json "$T/p.prof" --site "$site" --trace "$T/boot.trace"
[ "$(json_get "$T/out" coverage)" = 1.0 ] || fail "coverage of its own trace: $(cat "$T/out")"
[ "$(json_get "$T/out" changed)" = 0 ] || fail "fresh profile has changed blocks"
expect_status 0 hfc-profile install "$T/p.prof" "$site"
[ -s "$site/profiles/000001.prof" ] || fail "install wrote nothing"

# 3. The same boot with --prefetch=auto: blocks come ahead and are read from memory.
mount_hfc "$T/mnt" --prefetch --readahead 0 "$url"
for i in $(seq 1 50); do
	[ "$(hfc_stat "$T/mnt" prefetch_done)" = "$(hfc_stat "$T/mnt" prefetch_total)" ] && break
	sleep 0.1
done
[ "$(hfc_stat "$T/mnt" prefetch_total)" = "$blocks" ] || fail "prefetch_total $(hfc_stat "$T/mnt" prefetch_total) != $blocks"
loop_mount "$T/mnt/image" "$T/lo"
tar cf - -C "$T/lo" doc/bash doc/apt man/man1 >"$T/boot2.tar"
cmp "$T/boot1.tar" "$T/boot2.tar" || fail "prefetched reads differ"
hits=$(hfc_stat "$T/mnt" prefetch_hits)
misses=$(hfc_stat "$T/mnt" misses)
note "prefetch: $hits hits, $misses demand misses, $(hfc_stat "$T/mnt" prefetch_wasted_bytes) bytes never read"
[ "$hits" -ge $((blocks * 8 / 10)) ] || fail "only $hits of $blocks prefetched blocks were hits"
[ "$misses" -le 2 ] || fail "$misses demand misses with a full profile"
loop_umount "$T/lo"
umount_hfc "$T/mnt"

# 4. Refusals: a malformed profile, a profile of another site, no profile for the version.
head -c 100 "$T/p.prof" >"$T/bad.prof"
expect_error '^hfc-mount: .*bad\.prof:[0-9]+: ' hfc-mount -f --prefetch="$T/bad.prof" "$url" "$T/mnt"
mkdir -p "$T/other"
head -c 3000000 /dev/urandom >"$T/other/r"
mke2fs -q -F -t ext2 -d "$T/other" "$T/other.img" 512M >/dev/null
expect_status 0 hfc-mkimage -q "$T/other.img" "$T/osite"
expect_status 0 hfc-profile record -q -o "$T/o.prof" --site "$T/osite" --format sectors <(printf '0 8\n2048 8\n8192 64\n')
expect_error 'profile does not match version 1 of this site' hfc-mount -f --prefetch="$T/o.prof" "$url" "$T/mnt"
expect_error 'blocks differ at version 1' hfc-profile install "$T/o.prof" "$site"
rm "$site/profiles/000001.prof"
expect_error 'the site has no profile for version 1' hfc-mount -f --prefetch "$url" "$T/mnt"
is_mounted "$T/mnt" && fail "a refused mount is mounted"

# 5. carry: version 2 changes some of the profile's blocks.
cp --sparse=always "$(fixture_image)" "$T/v2.img"
for f in doc/bash/README man/man1/ls.1.gz; do
	debugfs -w -R "rm /$f" "$T/v2.img" >/dev/null 2>&1
	head -c 200000 /dev/urandom >"$T/new"
	debugfs -w -R "write $T/new /$f" "$T/v2.img" >/dev/null 2>&1
done
expect_status 0 hfc-mkimage -q "$T/v2.img" "$site"
expect_status 0 hfc-profile carry --json "$T/p.prof" "$site" --to 2 -o "$T/p2.prof"
changed=$(json_get "$T/out" changed)
want=$(python3 - "$T/p.prof" "$site/indexes/000002.idx" <<'PY'
import sys
prof = [l.split() for l in open(sys.argv[1]) if l[0].isdigit()]
idx = open(sys.argv[2]).read().split('\n')
start = next(i for i, l in enumerate(idx) if l.startswith('blocks ')) + 1
print(sum(1 for b, name in prof if idx[start + int(b)].split()[0] not in (name,)))
PY
)
[ "$changed" = "$want" ] || fail "carry says $changed changed, recount says $want"
note "carry to version 2: $changed of $blocks blocks changed"
expect_status 0 hfc-profile install "$T/p2.prof" "$site"
expect_error 'differ at version 2' hfc-profile install "$T/p.prof" "$site" -v 2
