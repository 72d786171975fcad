#!/usr/bin/env python3
# make-tree.py DIR MIB [SEED]: writes a deterministic file tree of about MIB MiB of file data
# into DIR (which must not exist), the same bytes on every machine: the fixtures of the
# end-to-end tests are made from it, never from the files the machine happens to have.
#
# It looks like a root file system's /usr: hundreds of directories; text (man-page and
# changelog-like prose), gzip-compressed text, executables-like binaries (random bytes with
# repeated runs), files made of a page repeated, empty files, symlinks (relative, absolute,
# dangling), hard links, a sparse file, and names with spaces and UTF-8. File times and modes
# are fixed; `mke2fs -d` makes the same image from it wherever it runs.
import gzip
import io
import os
import random
import sys

WORDS = ("the of and to in is that for it as with was on be by this are from at or an have "
         "block image mirror index version update kernel file system boot network read write "
         "page cache server client debian package library module driver option value error "
         "return signal thread memory buffer stream archive compress decompress verify").split()


CORPUS = b""


def corpus(r):
    """4 MiB of text lines, made once: prose is cut from it at random offsets (fast)."""
    global CORPUS
    if not CORPUS:
        out = []
        for _ in range(60000):
            out.append(" ".join(r.choice(WORDS) for _ in range(r.randint(4, 14))).capitalize())
        CORPUS = (".\n".join(out) + ".\n").encode()
    return CORPUS


def prose(r, n):
    """About n bytes of text lines: a slice of the corpus, with a line of its own first."""
    c = corpus(r)
    head = f"{r.choice(WORDS)} {r.randrange(1 << 30)} {r.choice(WORDS)}\n".encode()
    out = bytearray(head)
    while len(out) < n:
        at = r.randrange(len(c) - 4096)
        out += c[at:at + min(n - len(out), len(c) - at)]
    return bytes(out[:n])


def binary(r, n):
    """Like an executable: random stretches, zero runs, and repeated runs (compresses ~2x)."""
    b = bytearray()
    while len(b) < n:
        k = r.choice((0, 1, 2, 2))
        m = r.randint(256, 16384)
        if k == 0:
            b += bytes(m)
        elif k == 1:
            chunk = r.randbytes(r.randint(16, 128))
            b += (chunk * (m // len(chunk) + 1))[:m]
        else:
            b += r.randbytes(m)
    return bytes(b[:n])


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as f:
        f.write(data)
    return buf.getvalue()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: make-tree.py DIR MIB [SEED]")
    top, mib = sys.argv[1], float(sys.argv[2])
    r = random.Random(int(sys.argv[3]) if len(sys.argv) == 4 else 20261204)
    budget = int(mib * 1024 * 1024)
    os.makedirs(top)
    files = []
    written = 0
    nd = 0
    T = 1700000000
    while written < budget:
        nd += 1
        d = os.path.join(top, r.choice(("bin", "lib", "share", "share/doc", "share/man/man1",
                                         "lib/modules", "include")), f"pkg{nd:04d}")
        os.makedirs(d, exist_ok=True)
        for i in range(r.randint(2, 12)):
            kind = r.choices(("text", "gz", "bin", "pages", "empty"), (30, 20, 35, 10, 5))[0]
            n = int(r.paretovariate(1.2) * 3000)
            n = min(n, 6 * 1024 * 1024, budget - written + 1)
            if kind == "text":
                data, name = prose(r, n), f"README-{i}.txt"
            elif kind == "gz":
                data, name = gz(prose(r, n * 3)), f"changelog-{i}.gz"
            elif kind == "bin":
                data, name = binary(r, n), f"prog{i}"
            elif kind == "pages":
                page = r.randbytes(4096)
                data, name = page * max(1, n // 4096), f"table{i}.dat"
            else:
                data, name = b"", f"empty{i}"
            p = os.path.join(d, name)
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, 0o755 if kind == "bin" else 0o644)
            files.append(p)
            written += len(data)
            if written >= budget:
                break
    # Well-known paths the tests name: doc/bash, doc/apt, man/man1, perl5.
    known = {
        "doc/bash": [("copyright", "text", 18000), ("README", "text", 6000),
                     ("CHANGES.gz", "gz", 120000), ("bashref.html", "text", 400000),
                     ("NEWS.gz", "gz", 60000)],
        "doc/apt": [("copyright", "text", 9000), ("changelog.gz", "gz", 200000),
                    ("examples.txt", "text", 40000)],
        "perl5/Text": [("Wrap.pm", "text", 9000), ("Tabs.pm", "text", 3000)],
    }
    known["man/man1"] = [(f"{c}.1.gz", "gz", r.randint(2000, 60000)) for c in
                         ("ls", "cp", "mv", "cat", "tar", "gzip", "grep", "sed", "awk", "find",
                          "ssh", "rsync", "curl", "bash", "dpkg", "apt", "man", "less")]
    for d, entries in known.items():
        os.makedirs(os.path.join(top, d), exist_ok=True)
        for name, kind, n in entries:
            data = prose(r, n) if kind == "text" else gz(prose(r, n * 3))
            with open(os.path.join(top, d, name), "wb") as f:
                f.write(data)
            files.append(os.path.join(top, d, name))
    # The odd ones: links of every kind, a sparse file, names that need care.
    odd = os.path.join(top, "odd")
    os.makedirs(odd)
    os.symlink("../" + os.path.relpath(files[0], top), os.path.join(odd, "rel-link"))
    os.symlink("/usr/bin/env", os.path.join(odd, "abs-link"))
    os.symlink("no-such-file", os.path.join(odd, "dangling"))
    os.link(files[1], os.path.join(odd, "hard-link"))
    with open(os.path.join(odd, "sparse"), "wb") as f:
        f.seek(3 * 1024 * 1024)
        f.write(b"end of a sparse file\n")
    for name in ("with space", "caf\u00e9", "dash-", ".hidden"):
        with open(os.path.join(odd, name), "wb") as f:
            f.write(prose(r, 200))
    # Fixed times, deepest first, so directory times stay too.
    for root, dirs, names in os.walk(top, topdown=False):
        for n in names + dirs:
            os.utime(os.path.join(root, n), (T, T), follow_symlinks=False)
    os.utime(top, (T, T))


if __name__ == "__main__":
    main()
