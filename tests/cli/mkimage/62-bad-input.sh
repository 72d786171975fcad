# Bad tree input: a truncated or corrupt archive, '..' or absolute names, a name over 255
# bytes, a file larger than the image, an unsupported entry type, a base of another block
# size, a full image: one clear line, exit 1, and the site exactly as it was.
. "$HFC_TOP/tests/lib.sh"
site=$T/site
mkdir -p "$T/tree/etc"
seq 1 20000 >"$T/tree/etc/numbers"
tar -C "$T/tree" -cf "$T/good.tar" .
expect_status 0 hfc-mkimage -q --size 8M --from-archive "$T/good.tar" "$site"
state() { (cd "$site" && find . -printf '%p %s %T@\n' | sort && cat index.idx) | sha256sum; }
before=$(state)
unchanged() { [ "$(state)" = "$before" ] || fail "$1: the site changed"; }

# bad_tar NAME PY: a tar made by Python's tarfile with what the statements in PY add.
bad_tar() {
	python3 - "$T/$1" "$2" <<'PY'
import io, sys, tarfile
out, body = sys.argv[1], sys.argv[2]
def add(t, name, data=b"x", **kw):
    i = tarfile.TarInfo(name); i.size = len(data)
    for k, v in kw.items(): setattr(i, k, v)
    t.addfile(i, io.BytesIO(data))
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    exec(body)
PY
}

head -c 20000 "$T/good.tar" >"$T/trunc.tar"
expect_error '^hfc-mkimage: .*trunc\.tar: .*[Tt]runcated' \
	hfc-mkimage --from-archive "$T/trunc.tar" "$site"
unchanged truncated
head -c 100000 /dev/urandom >"$T/garbage"
expect_error '^hfc-mkimage: .*garbage: .*' hfc-mkimage --from-archive "$T/garbage" "$site"
unchanged corrupt

bad_tar dotdot.tar 'add(t, "etc/../../escape")'
expect_error "^hfc-mkimage: .*dotdot\.tar: etc/\.\./\.\./escape: a name with '\.\.'$" \
	hfc-mkimage --from-archive "$T/dotdot.tar" "$site"
unchanged dotdot
bad_tar abs.tar 'add(t, "/etc/passwd")'
expect_error '^hfc-mkimage: .*abs\.tar: /etc/passwd: an absolute name$' \
	hfc-mkimage --from-archive "$T/abs.tar" "$site"
unchanged absolute
bad_tar long.tar 'add(t, "dir/" + "n" * 300)'
expect_error '^hfc-mkimage: .*long\.tar: n{40}\.\.\.: a name of 300 bytes \(at most 255\)$' \
	hfc-mkimage --from-archive "$T/long.tar" "$site"
unchanged long-name

bad_tar big.tar 'add(t, "big", b"\1" * (12 << 20))'
expect_error '^hfc-mkimage: .*big\.tar: the input needs about [0-9]+ MiB, the image has 8 MiB: [0-9]+ MiB missing' \
	hfc-mkimage --size 8M --from-archive "$T/big.tar" "$site"
unchanged too-large
expect_error '^hfc-mkimage: .*big\.tar: the base image has [0-9]+ MiB free, the update needs about 12 MiB: [0-9]+ MiB missing; build a new layout without --base' \
	hfc-mkimage --base --from-archive "$T/big.tar" "$site"
unchanged full

# An entry type no file system has (a newc cpio whose mode says type 015).
python3 - "$T/odd.cpio" <<'PY'
import sys
def entry(name, mode, data=b""):
    n = name.encode() + b"\0"
    h = "070701" + "".join("%08X" % v for v in
        (1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(n), 0))
    b = h.encode() + n
    b += b"\0" * (-len(b) % 4) + data + b"\0" * (-len(data) % 4)
    return b
out = entry("odd", 0o150644) + entry("TRAILER!!!", 0)
open(sys.argv[1], "wb").write(out + b"\0" * (-len(out) % 512))
PY
expect_error '^hfc-mkimage: .*odd\.cpio: odd: an unsupported entry type \(mode 150644\)$' \
	hfc-mkimage --from-archive "$T/odd.cpio" "$site"
unchanged odd-type

# A base of another file system block size.
mke2fs -q -F -t ext2 -b 1024 -d "$T/tree" "$T/1k.img" 8M >/dev/null
expect_status 0 hfc-mkimage -q "$T/1k.img" "$T/site1k"
site=$T/site1k before=$(state)
expect_error '^hfc-mkimage: base: the file system has 1024-byte blocks; --base updates file systems of 4096-byte blocks only' \
	hfc-mkimage --base --from-archive "$T/good.tar" "$T/site1k"
unchanged block-size

# Usage: --base needs a tree input, and a site to update.
expect_status 2 hfc-mkimage --base "$T/1k.img" "$T/site1k"
expect_error '^hfc-mkimage: .*new-site: --base: the site has no version to update$' \
	hfc-mkimage --base --from-archive "$T/good.tar" "$T/new-site"
[ ! -e "$T/new-site" ] || fail "a failed first build left a site behind"
expect_error '^hfc-mkimage: .*dotdot\.tar: .*: a name with' \
	hfc-mkimage --from-archive "$T/dotdot.tar" "$T/new-site2"
[ ! -e "$T/new-site2" ] || fail "a failed first build left a site behind"
note "every bad input: one line, exit 1, the site unchanged"
