#!/usr/bin/env python3
# page-floor.py V1 V2: the 4 KiB page floor of the change from image V1 to image V2, printed as
# "PAGES BYTES": the distinct non-zero 4 KiB pages of V2 found nowhere in V1, and the sum of
# their sizes each compressed alone with zlib -9. No block store can ship the change in less
# without a better codec or a larger context. Used by bench-delta.sh and bench-inputs.sh.
import hashlib
import sys
import zlib


def pages(path):
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 22)
            if not b:
                return
            for i in range(0, len(b), 4096):
                yield b[i:i + 4096]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: page-floor.py V1 V2")
    zero = bytes(4096)
    old = {hashlib.blake2b(p, digest_size=16).digest() for p in pages(sys.argv[1]) if p != zero}
    seen, n, total = set(), 0, 0
    for p in pages(sys.argv[2]):
        if p == zero:
            continue
        h = hashlib.blake2b(p, digest_size=16).digest()
        if h in old or h in seen:
            continue
        seen.add(h)
        n += 1
        total += len(zlib.compress(p, 9))
    print(n, total)


main()
