# Bad bundles are refused with one clear line, exit 1, and the site is left exactly as it was
# (a checksum of the whole tree before and after): corrupt pages and frames, a base the site
# lacks, a wrong base, truncation, unsafe or non-regular entries, sizes claimed out of bounds.
. "$HFC_TOP/tests/lib.sh"
. "$HFC_TOP/tests/cli/diff/fixture.inc"
diff_fixture
site=$D/site
mirror=$T/mirror
cp -a "$D/site1" "$mirror"
B="python3 $HFC_TOP/tests/cli/diff/bundle.py"
hfc-diff -q --bundle "$T/b12.tar" "$site" 1 2 || fail "making the bundle failed"
hfc-diff -q --bundle "$T/b23.tar" "$site" 2 3 || fail "making the bundle failed"
hfc-diff -q --bundle "$T/full.tar" --full "$site" 3 || fail "making the full bundle failed"
sum0=$(tree_sum "$mirror")

# refused PATTERN BUNDLE [OPTIONS]: hfc-apply fails with one line matching PATTERN, SITE unchanged.
refused() {
	local pat=$1 b=$2
	shift 2
	expect_error "^hfc-apply: .*$pat" hfc-apply "$@" "$b" "$mirror"
	[ "$(tree_sum "$mirror")" = "$sum0" ] || fail "$(basename "$b"): refused, but SITE changed"
	note "$(basename "$b"): $(cut -c1-150 "$T/err")"
}

$B corrupt-literal "$T/b12.tar" "$T/lit.tar"
refused "rebuilt from its recipe does not match its name \(corrupt bundle\)$" "$T/lit.tar"
$B missing-base "$T/b12.tar" "$T/base.tar"
refused "copy pages from blocks/[0-9a-f]{2}/[0-9a-f]{32}, which .* lacks; refused$" "$T/base.tar"
refused "made for version 2, but .*/mirror is at version 1; refused \(--force to apply anyway\)$" "$T/b23.tar"
refused "which .*mirror lacks; refused$" "$T/b23.tar" --force
size=$(stat -c %s "$T/b12.tar")
for cut in 700 3000 $((size / 2)) $((size - 3000)); do
	head -c "$cut" "$T/b12.tar" >"$T/cut$cut.tar"
	refused "([Tt]runcated|ends early|ends in the middle)" "$T/cut$cut.tar"
done
$B flip "$T/b12.tar" "$T/frame.tar" delta 5000
refused "delta: corrupt frame" "$T/frame.tar"
$B flip "$T/b12.tar" "$T/man.tar" hfc-bundle 40
refused "hfc-bundle:[0-9]+: " "$T/man.tar"
$B flip "$T/b12.tar" "$T/idx.tar" index.idx 300
refused "index.idx:[0-9]+: " "$T/idx.tar"
for where in first last; do
	for name in ../x /etc/x doc/../../x; do
		$B add "$T/b12.tar" "$T/path.tar" "$name" file "$where"
		refused "entry '$name': unsafe path \(absolute or with '\.\.'\); refused$" "$T/path.tar"
	done
	$B add "$T/b12.tar" "$T/sym.tar" blocks/00/link symlink "$where"
	refused "entry 'blocks/00/link' is a symbolic link; a bundle holds regular files only$" "$T/sym.tar"
	$B add "$T/b12.tar" "$T/hard.tar" index.idx hardlink "$where"
	refused "entry 'index.idx' is a hard link; a bundle holds regular files only$" "$T/hard.tar"
	$B add "$T/b12.tar" "$T/dev.tar" null device "$where"
	refused "entry 'null' is a device; " "$T/dev.tar"
	$B add "$T/b12.tar" "$T/dir.tar" blocks dir "$where"
	refused "entry 'blocks/?' is a directory; " "$T/dir.tar"
	$B add "$T/b12.tar" "$T/junk.tar" junk file "$where"
	refused "unexpected entry 'junk'" "$T/junk.tar"
done
# Sizes: an entry claiming 10 GiB, a manifest claiming it, a block file claiming it.
$B claim "$T/b12.tar" "$T/claim.tar" delta $((10 << 30))
refused "entry 'delta' claims 10737418240 bytes, the manifest says [0-9]+; refused$" "$T/claim.tar"
$B manifest-claim "$T/b12.tar" "$T/mclaim.tar" delta-bytes $((10 << 30))
refused "delta-bytes 10737418240 is more than [0-9]+ recipes can need$" "$T/mclaim.tar"
$B manifest-claim "$T/b12.tar" "$T/iclaim.tar" index-bytes $((10 << 30))
refused "bad value for 'index-bytes'$" "$T/iclaim.tar"
blk=$(tar tf "$T/full.tar" | grep '^blocks/' | sed -n 1p)
$B claim "$T/full.tar" "$T/bclaim.tar" "$blk" $((10 << 30))
refused "entry '$blk' claims 10737418240 bytes, version 3 says [0-9]+; refused$" "$T/bclaim.tar" --force
# A plain block file that is not what its name says; a full bundle missing a block file.
$B flip "$T/full.tar" "$T/raw.tar" "$blk" 100
refused "\(block file\) does not match its name \(corrupt bundle\)$" "$T/raw.tar" --force
# (one the mirror lacks: new in version 3)
lacked=$(hfc-diff --list "$site" 1 3 | sed -n 1p || true) # exit 1: they differ
[ -n "$lacked" ] || fail "version 3 has no block file version 1 lacks"
$B drop-raw "$T/full.tar" "$T/drop.tar" "$lacked"
refused "does not carry blocks/.*, which version 3 names and .* lacks; refused$" "$T/drop.tar" --force
expect_error "does not carry blocks/" hfc-apply "$T/drop.tar" "$T/newsite"
[ ! -e "$T/newsite" ] || fail "a refused full bundle left the new site behind"
# Not a bundle at all.
head -c 100000 /dev/urandom >"$T/random.tar"
refused "" "$T/random.tar"
: >"$T/empty.tar"
refused "" "$T/empty.tar"
refused "is a directory, not a bundle$" "$T"
# A full bundle of a later version needs --force on a site that is not its parent.
refused "version 3 follows version 2, but .*/mirror's newest version is 1; refused" "$T/full.tar"
# The site lock: a busy site is refused at once.
(exec 9<>"$mirror/.lock" && flock -x 9 && exec sleep 30) &
locker=$!
at_exit "kill $locker 2>/dev/null"
sleep 0.3
refused "site is busy" "$T/b12.tar"
kill "$locker"
wait "$locker" 2>/dev/null || true

# A site where a publish of version 2 was cut short (indexes/000002.idx without index.idx):
# a bad bundle leaves even that file alone; the good one then completes the publish.
cp "$site/indexes/000002.idx" "$mirror/indexes/000002.idx"
sum0=$(tree_sum "$mirror")
refused "rebuilt from its recipe does not match its name \(corrupt bundle\)$" "$T/lit.tar"

# After all that, the good bundle still applies.
expect_status 0 hfc-apply "$T/b12.tar" "$mirror"
expect_status 0 hfc-index verify "$mirror"
