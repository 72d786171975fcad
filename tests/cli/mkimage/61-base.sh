# --base: an unchanged tree writes no block and publishes nothing; a one-file change writes
# exactly the site blocks that hold that file's new data and the metadata it touched, counted
# here independently from the images (debugfs, dumpe2fs); adds and removes stay e2fsck-clean.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/cli/mkimage/tree.inc"
tree=$T/tree
special_tree "$tree"
head -c 300000 /dev/urandom >"$tree/srv/blob" # 74 blocks: direct and indirect
touch -d @1500000000 "$tree/srv/blob" "$tree/srv"
tar --xattrs --xattrs-include='*' --acls -C "$tree" -cf "$T/v1.tar" .
expect_status 0 hfc-mkimage --json --size 64M --from-archive "$T/v1.tar" "$T/site"
check_image "$T/site" "$tree"

# No change: no block, no version.
expect_status 0 hfc-mkimage --json --base --from-archive "$T/v1.tar" "$T/site"
[ "$(json_get "$T/out" new)" = 0 ] || fail "an unchanged tree stored $(json_get "$T/out" new) blocks"
[ "$(json_get "$T/out" published)" = false ] || fail "an unchanged tree published a version"
[ "$(json_get "$T/out" files_written)" = 0 ] || fail "an unchanged tree rewrote files"
note "no change: nothing written"

# One file's content changes (same size, same times): its data goes to fresh space.
head -c 300000 /dev/urandom | dd of="$tree/srv/blob" conv=notrunc status=none
touch -d @1500000000 "$tree/srv/blob" "$tree/srv"
tar --xattrs --xattrs-include='*' --acls -C "$tree" -cf "$T/v2.tar" .
expect_status 0 hfc-mkimage --json --base --from-archive "$T/v2.tar" "$T/site"
[ "$(json_get "$T/out" version)" = 2 ] || fail "the update is not version 2"
[ "$(json_get "$T/out" files_written)" = 1 ] || fail "files written: $(json_get "$T/out" files_written), expected 1"
new=$(json_get "$T/out" new)
hfc-index extract -q -v 1 "$T/site" "$T/v1.img"
hfc-index extract -q -v 2 "$T/site" "$T/v2.img"
e2fsck -fn "$T/v2.img" >"$T/fsck" 2>&1 || { cat "$T/fsck" >&2; fail "e2fsck: version 2"; }
changed=$(count_changed_blocks "$T/v1.img" "$T/v2.img" 262144)
# Independently: the site blocks of the file's blocks (data and indirect) in v2, of its inode,
# of the block bitmaps of the groups its old and new blocks are in, and of the superblock and
# group descriptors when the groups' free counts changed.
for v in 1 2; do
	debugfs -R "stat /srv/blob" "$T/v$v.img" >"$T/stat$v" 2>/dev/null
	debugfs -R "imap /srv/blob" "$T/v$v.img" >"$T/imap$v" 2>/dev/null
	dumpe2fs "$T/v$v.img" >"$T/dump$v" 2>/dev/null
done
want=$(python3 - "$T" <<'PY'
import re, sys
t = sys.argv[1]
def blocks(v):
    s = open(f"{t}/stat{v}").read().split("BLOCKS:")[1]
    out = set()
    for a, b in re.findall(r":(\d+)(?:-(\d+))?", s):
        out.update(range(int(a), int(b or a) + 1))
    return out
old, new = blocks(1), blocks(2)
dump = open(f"{t}/dump2").read()
per = int(re.search(r"Blocks per group:\s+(\d+)", dump).group(1))
bitmaps = [int(x) for x in re.findall(r"Block bitmap at (\d+)", dump)]
ino_blk = int(re.search(r"located at block (\d+)", open(f"{t}/imap2").read()).group(1))
site = lambda b: b * 4096 // 262144
want = {site(b) for b in new} | {site(ino_blk)}
groups = {b // per for b in old ^ new}
want |= {site(bitmaps[g]) for g in groups}
if {b // per for b in old} != {b // per for b in new}:
    want.add(0)  # the groups' free counts: the descriptors (and the superblock's total)
print(len(want))
PY
)
[ "$changed" = "$want" ] || fail "the update changed $changed site blocks; the file and its metadata occupy $want"
[ "$new" = "$changed" ] || fail "the build stored $new blocks for $changed changed ones"
note "one file of 300000 bytes: $changed site blocks written (counted: $want)"

# Adds, removes, a changed symlink and owner: still clean and equal to the tree.
rm -rf "$tree/doc" "$tree/usr/bin/ping6"
head -c 1000000 /dev/urandom >"$tree/srv/new-file"
ln -sfn elsewhere "$tree/usr/bin/longlink"
chown 7:7 "$tree/usr/bin/ping"
mkdir -p "$tree/opt/new/dir"
tar --xattrs --xattrs-include='*' --acls -C "$tree" -cf "$T/v3.tar" .
expect_status 0 hfc-mkimage --json --base --from-archive "$T/v3.tar" "$T/site"
[ "$(json_get "$T/out" version)" = 3 ] || fail "the third build is not version 3"
check_image "$T/site" "$tree"
note "adds and removes: version 3 equals the tree, $(json_get "$T/out" new) new blocks"

# Encoding ahead (blocks the writer is done with, hashed and compressed on a spare core while
# it works) changes no byte: the same update with --jobs 1 (none ahead) and --jobs 2 gives the
# same index; with --jobs 2, the complete new site blocks of a 4 MiB file went ahead.
head -c 4194304 /dev/urandom >"$tree/srv/big"
tar --xattrs --xattrs-include='*' --acls -C "$tree" -cf "$T/v4.tar" .
cp -a "$T/site" "$T/site-j1"
expect_status 0 hfc-mkimage --json -j 1 --base --from-archive "$T/v4.tar" "$T/site-j1"
[ "$(json_get "$T/out" blocks_ahead)" = 0 ] || fail "--jobs 1 encoded blocks ahead"
expect_status 0 hfc-mkimage --json -j 2 --base --from-archive "$T/v4.tar" "$T/site"
ahead=$(json_get "$T/out" blocks_ahead)
[ "$ahead" -gt 0 ] || fail "no block of a 4 MiB new file was encoded ahead"
cmp "$T/site/index.idx" "$T/site-j1/index.idx" || fail "encoding ahead changed the index"
check_image "$T/site" "$tree"
note "a 4 MiB file: $ahead of $(json_get "$T/out" blocks_written) blocks encoded ahead, same index as --jobs 1"
