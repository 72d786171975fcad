#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reads and rewrites hfcloop bundles for the tests: an implementation of docs/FORMAT.md's
bundle section independent of lib/delta.c, used to decode bundles and to make bad ones.

  bundle.py stats BUNDLE                      ops and sizes, as JSON
  bundle.py corrupt-literal IN OUT            flip a byte of the first literal page (re-framed)
  bundle.py missing-base IN OUT               point the first base at a block no site holds
  bundle.py add IN OUT NAME TYPE [first|last] add an entry: file, symlink, hardlink, dir, device
  bundle.py claim IN OUT ENTRY SIZE           the ENTRY's header claims SIZE bytes (data as was)
  bundle.py manifest-claim IN OUT KEY VALUE   change a manifest value (and fix its end line)
  bundle.py flip IN OUT ENTRY OFFSET          flip one byte of an entry's data as stored
  bundle.py drop-raw IN OUT [NAME]            leave out plain block file NAME (default: the last;
                                              manifest fixed)
  bundle.py set-version IN OUT V              the carried index says version V (its end line and
                                              the manifest made right again; no signature line)
"""
import hashlib, io, json, struct, sys, tarfile, zlib

W = 16384  # the REPEAT window, in literal pages


def read(path):
    with tarfile.open(path, "r:") as t:
        out = []
        for m in t.getmembers():
            data = t.extractfile(m).read() if m.isfile() else b""
            out.append((m, data))
        return out


def write(path, entries, raw_tail=b""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:", format=tarfile.PAX_FORMAT) as t:
        for m, data in entries:
            if m.isfile():
                m.size = len(data)
                t.addfile(m, io.BytesIO(data))
            else:
                t.addfile(m)
    open(path, "wb").write(buf.getvalue() + raw_tail)


def manifest(entries):
    text = entries[0][1].decode()
    return dict(l.split(" ", 1) for l in text.splitlines()[1:])


def set_manifest(entries, changes):
    lines = entries[0][1].decode().splitlines()
    body = [lines[0]]
    for l in lines[1:-1]:
        k, v = l.split(" ", 1)
        body.append(f"{k} {changes.get(k, v)}")
    text = "".join(l + "\n" for l in body)
    text += "end " + hashlib.sha256(text.encode()).hexdigest() + "\n"
    entries[0] = (entries[0][0], text.encode())


def entry(entries, name):
    return next(i for i, (m, _) in enumerate(entries) if m.name == name)


def frames(data):
    out, pos = [], 0
    while pos < len(data):
        clen, ulen = struct.unpack_from("<II", data, pos)
        raw = zlib.decompress(data[pos + 8:pos + 8 + clen])
        assert len(raw) == ulen
        out.append(raw)
        pos += 8 + clen
    return b"".join(out)


def reframe(stream):
    out = b""
    for i in range(0, len(stream), 1 << 20):
        c = zlib.compress(stream[i:i + (1 << 20)], 9)
        out += struct.pack("<II", len(c), len(stream[i:i + (1 << 20)])) + c
    return out


def parse(stream, man):
    """Yields (record offset, op, op offset, page length) for every op of every recipe."""
    hl = 16 if man["hash"] == "md5" else 32
    pos = 0
    for _ in range(int(man["recipes"])):
        rec = pos
        length = struct.unpack_from("<I", stream, pos + hl)[0]
        pos += hl + 4 + 4 + 1 + 32
        for p in range((length + 4095) // 4096):
            n = min(4096, length - p * 4096)
            op = stream[pos]
            yield rec, op, pos, n
            pos += {0: 1, 1: 7, 2: 1, 3: 1 + n, 4: 3}[op]
    assert pos == len(stream), "data after the last recipe"


def main(argv):
    cmd = argv[1]
    ents = read(argv[2])
    man = manifest(ents)
    if cmd == "stats":
        ops = {0: 0, 1: 0, 2: 0, 3: 0, 4: 0}
        if man["kind"] == "delta" and int(man["recipes"]):
            for _, op, _, _ in parse(frames(ents[entry(ents, "delta")][1]), man):
                ops[op] += 1
        print(json.dumps({"entries": [m.name for m, _ in ents], "zero": ops[0],
                          "copy": ops[1] + ops[2], "literal": ops[3], "repeat": ops[4],
                          "manifest": man}))
        return
    out = argv[3]
    if cmd == "corrupt-literal":
        i = entry(ents, "delta")
        stream = bytearray(frames(ents[i][1]))
        pos = next(p for _, op, p, _ in parse(bytes(stream), man) if op == 3)
        stream[pos + 1 + 100] ^= 0x01
        data = reframe(bytes(stream))
        ents[i] = (ents[i][0], data)
        set_manifest(ents, {"delta-bytes": str(len(data))})
        write(out, ents)
    elif cmd == "missing-base":
        i = entry(ents, "bases")
        b = bytearray(ents[i][1])
        b[0:16] = hashlib.md5(b"no site holds this block").digest()
        ents[i] = (ents[i][0], bytes(b))
        write(out, ents)
    elif cmd == "add":
        name, kind = argv[4], argv[5]
        where = argv[6] if len(argv) > 6 else "last"
        m = tarfile.TarInfo(name)
        m.mode = 0o644
        data = b""
        if kind == "file":
            data = b"hello\n"
        elif kind == "symlink":
            m.type, m.linkname = tarfile.SYMTYPE, "/etc/passwd"
        elif kind == "hardlink":
            m.type, m.linkname = tarfile.LNKTYPE, "hfc-bundle"
        elif kind == "dir":
            m.type = tarfile.DIRTYPE
        elif kind == "device":
            m.type, m.devmajor, m.devminor = tarfile.CHRTYPE, 1, 3
        ents.insert(1 if where == "first" else len(ents), (m, data))
        write(out, ents)
    elif cmd == "claim":
        # Headers and data written by hand: the forged header must follow the others directly.
        name, size = argv[4], int(argv[5])
        i = entry(ents, name)
        pad = lambda b: b + b"\0" * (-len(b) % 512)
        raw = b""
        for m, data in ents[:i]:
            m.size = len(data)
            raw += m.tobuf(tarfile.PAX_FORMAT) + pad(data)
        m = ents[i][0]
        m.size = size
        raw += m.tobuf(tarfile.PAX_FORMAT) + pad(ents[i][1])
        open(out, "wb").write(raw + b"\0" * 1024)
    elif cmd == "manifest-claim":
        set_manifest(ents, {argv[4]: argv[5]})
        write(out, ents)
    elif cmd == "flip":
        i = entry(ents, argv[4])
        b = bytearray(ents[i][1])
        b[int(argv[5])] ^= 0xff
        ents[i] = (ents[i][0], bytes(b))
        write(out, ents)
    elif cmd == "drop-raw":
        if len(argv) > 4:
            i = next(j for j, (m, _) in enumerate(ents) if m.name == argv[4])
        else:
            i = max(j for j, (m, _) in enumerate(ents) if m.name.startswith("blocks/"))
        del ents[i]
        set_manifest(ents, {"raw-blocks": str(int(man["raw-blocks"]) - 1)})
        write(out, ents)
    elif cmd == "set-version":
        i = entry(ents, "index.idx")
        lines = ents[i][1].decode().split("\n")
        lines = [l for l in lines if not l.startswith("signature ")]
        lines[1] = f"version {argv[4]}"
        end = next(k for k, l in enumerate(lines) if l.startswith("end "))
        above = "".join(l + "\n" for l in lines[:end])
        sha = hashlib.sha256(above.encode()).hexdigest()
        text = above + f"end {sha}\n"
        ents[i] = (ents[i][0], text.encode())
        set_manifest(ents, {"target": f"{argv[4]} {sha}", "index-bytes": str(len(text))})
        write(out, ents)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
