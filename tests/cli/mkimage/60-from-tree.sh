# Tree inputs: a tarball, a directory, an ISO 9660 image (xorriso) and a cloop file
# (create_compressed_fs) round-trip exactly; the same archive gives the same index, whatever
# --jobs; e2fsck is clean and the kernel's ext2 driver sees the input's tree.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/cli/mkimage/tree.inc"
for t in xorriso create_compressed_fs extract_compressed_fs setfacl setfattr; do
	command -v $t >/dev/null || fail "$t missing (scripts/install-deps.sh)"
done
tree=$T/tree
special_tree "$tree"
tar --xattrs --xattrs-include='*' --acls --numeric-owner -C "$tree" -cf "$T/root.tar" .
zstd -q -o "$T/root.tar.zst" "$T/root.tar" 2>/dev/null || gzip -c "$T/root.tar" >"$T/root.tar.zst"

# Tarball: round trip and determinism (same index in two sites, with 1 and 2 jobs).
expect_status 0 hfc-mkimage --json -j 1 --from-archive "$T/root.tar" "$T/s1"
[ "$(json_get "$T/out" version)" = 1 ] || fail "tar: not version 1"
check_image "$T/s1" "$tree"
expect_status 0 hfc-mkimage --json -j 2 --from-archive "$T/root.tar.zst" "$T/s2"
cmp "$T/s1/index.idx" "$T/s2/index.idx" || fail "the same archive (compressed, -j 2) gave another index"
expect_status 0 hfc-mkimage --json --from-archive - "$T/s1" <"$T/root.tar"
[ "$(json_get "$T/out" unchanged)" = true ] || fail "the same archive from stdin is not unchanged"
note "tarball: $(json_get "$T/out" blocks) blocks, same index twice"

# Directory.
expect_status 0 hfc-mkimage --from-dir "$tree" "$T/s3"
check_image "$T/s3" "$tree"
note "directory: round trip"

# ISO 9660 with Rock Ridge (xorriso keeps modes, owners, symlinks, devices and times).
iso_tree=$T/isotree
make_tree "$iso_tree" 4 3
xorriso -as mkisofs -quiet -R -o "$T/root.iso" "$iso_tree" 2>/dev/null || fail "xorriso"
expect_status 0 hfc-mkimage --from-archive "$T/root.iso" "$T/s4"
# The reference is xorriso's own extraction (this kernel may have no iso9660 driver).
xorriso -osirrox on -indev "$T/root.iso" -extract / "$T/isomnt" >/dev/null 2>&1 ||
	fail "xorriso -extract"
hfc-index extract -q "$T/s4" "$T/iso.img"
e2fsck -fn "$T/iso.img" >/dev/null 2>&1 || fail "e2fsck: the ISO's image"
mkdir -p "$T/m4"
mount -t ext2 -o loop,ro "$T/iso.img" "$T/m4" || fail "mount the ISO's image"
at_exit "umount '$T/m4' 2>/dev/null"
diff -r --no-dereference "$T/isomnt" "$T/m4" 2>&1 | grep -v 'Only in .*: lost+found' >"$T/d4" || true
[ ! -s "$T/d4" ] || { head "$T/d4" >&2; fail "the ISO's tree differs in the image"; }
umount "$T/m4"
note "ISO 9660: round trip"

# cloop: the image inside, block by block; compared with extract_compressed_fs.
hfc-index extract -q "$T/s1" "$T/root.img"
create_compressed_fs -q -B 65536 "$T/root.img" "$T/root.cloop" >/dev/null 2>&1 ||
	fail "create_compressed_fs"
extract_compressed_fs "$T/root.cloop" "$T/cloop.raw" >/dev/null 2>&1 || fail "extract_compressed_fs"
expect_status 0 hfc-mkimage --json --from-cloop "$T/root.cloop" "$T/s5"
hfc-index extract -q "$T/s5" "$T/s5.img"
cmp "$T/cloop.raw" "$T/s5.img" || fail "the cloop's image differs from extract_compressed_fs"
note "cloop: $(json_get "$T/out" blocks) blocks, equal to extract_compressed_fs"
