#!/usr/bin/env python3
# readers.py MOUNTED LOCAL OUTDIR READERS SECONDS BLOCKS [SEED]
#
# The readers of the soak test (tests/long/soak.sh): READERS processes read MOUNTED (an image
# through hfc-mount) for SECONDS seconds and compare every read with the same bytes of LOCAL
# (the image the site was built from, the source of truth). MOUNTED is opened with O_DIRECT so
# that every read reaches hfc-mount (the mount lets the kernel cache the image otherwise).
#
# What a reader reads (seeded, so a run can be repeated): mostly random ranges (1 byte to
# 1 MiB, at unaligned offsets), four in five starting in a block that has data (BLOCKS: a file of
# the image's non-zero block numbers, one per line) and the rest anywhere; now and then a
# sequential run of 8 to 32 reads of 128 KiB from the start of a data block (what starts
# hfc-mount's readahead).
#
# OUTDIR/reader.N gets one line per read that did not return the right bytes:
#   eio START END OFFSET LENGTH          the read failed with EIO
#   wrong START END OFFSET LENGTH AT     bytes differ from LOCAL (AT: the first one)
#   short START END OFFSET LENGTH GOT    fewer bytes than the image holds there
#   error START END OFFSET LENGTH ERRNO  any other failure
# and at the end "done READS BYTES MAXSECONDS" (reads that returned the right bytes, their
# bytes, the longest read). START and END are time.time() seconds around the pread.
import errno
import os
import random
import sys
import time

mounted, local, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
readers, seconds = int(sys.argv[4]), float(sys.argv[5])
blocks = [int(x) for x in open(sys.argv[6]).read().split()]
seed = int(sys.argv[7]) if len(sys.argv) > 7 else 1
BS = 262144
size = os.path.getsize(local)
deadline = time.time() + seconds


def reader(n):
    rnd = random.Random(seed * 1000 + n)
    out = open(os.path.join(outdir, "reader.%d" % n), "w", buffering=1)
    m = os.open(mounted, os.O_RDONLY | os.O_DIRECT)
    f = os.open(local, os.O_RDONLY)
    reads = nbytes = 0
    longest = 0.0

    def one(off, ln):
        nonlocal reads, nbytes, longest
        ln = min(ln, size - off)
        t0 = time.time()
        try:
            got = os.pread(m, ln, off)
        except OSError as e:
            t1 = time.time()
            longest = max(longest, t1 - t0)
            kind = "eio" if e.errno == errno.EIO else "error"
            extra = "" if kind == "eio" else " %s" % errno.errorcode.get(e.errno, e.errno)
            out.write("%s %.6f %.6f %d %d%s\n" % (kind, t0, t1, off, ln, extra))
            return
        t1 = time.time()
        longest = max(longest, t1 - t0)
        want = os.pread(f, ln, off)
        if len(got) != len(want):
            out.write("short %.6f %.6f %d %d %d\n" % (t0, t1, off, ln, len(got)))
        elif got != want:
            at = next(i for i in range(len(got)) if got[i] != want[i])
            out.write("wrong %.6f %.6f %d %d %d\n" % (t0, t1, off, ln, off + at))
        else:
            reads += 1
            nbytes += ln

    while time.time() < deadline:
        if rnd.random() < 0.1:
            start = rnd.choice(blocks) * BS
            for k in range(rnd.randint(8, 32)):
                if time.time() >= deadline or start + k * 131072 >= size:
                    break
                one(start + k * 131072, 131072)
            continue
        if rnd.random() < 0.8:
            off = rnd.choice(blocks) * BS + rnd.randrange(BS)
        else:
            off = rnd.randrange(size)
        ln = int(2 ** rnd.uniform(0, 20))
        one(min(off, size - 1), max(1, ln))
    out.write("done %d %d %.3f\n" % (reads, nbytes, longest))
    out.close()
    os._exit(0)


pids = []
for n in range(readers):
    pid = os.fork()
    if pid == 0:
        try:
            reader(n)
        finally:
            os._exit(1)
    pids.append(pid)
bad = 0
for pid in pids:
    _, st = os.waitpid(pid, 0)
    bad += st != 0
sys.exit(1 if bad else 0)
