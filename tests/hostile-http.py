#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A small HTTP server that misbehaves on purpose, for the client's end-to-end tests.

It serves the files of --root on 127.0.0.1 only, on a free port that it writes to --port-file
once it listens, and logs every request ("METHOD PATH auth=USER|-") to --log as it arrives.
Rules change what some paths get (PREFIX matches the start of the path):

  --endless PATH=FILE      PATH is FILE's bytes, then block lines without end (no length)
  --hold PREFIX            requests under PREFIX wait --hold-secs (default 60) before the
                           answer, but those for a --no-hold PATH
  --redirect PREFIX=BASE   requests under PREFIX answer 302 to BASE + their path
  --only-blocks            nothing but block files is served from --root (index.idx: 404)
  --inflight FILE          the most requests under way at once (from arrival to the end of
                           the answer) is written to FILE each time it grows; with --hold
                           PREFIX --hold-secs 0.1 every answer takes a round trip of 100 ms

Every wait ends when the client goes away, and no answer lasts longer than --max-secs
(default 120): the test that starts the server stops it, but nothing here waits forever.
"""
import argparse
import base64
import os
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
started = time.monotonic()
log_lock = threading.Lock()
inflight_lock = threading.Lock()
inflight = [0, 0]  # now, most


def inflight_add(n):
    with inflight_lock:
        inflight[0] += n
        if inflight[0] > inflight[1]:
            inflight[1] = inflight[0]
            tmp = args.inflight + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % inflight[1])
            os.rename(tmp, args.inflight)


def log(line):
    with log_lock, open(args.log, "a") as f:
        f.write(line + "\n")


def client_gone(sock):
    """True when the peer closed its side (readable with nothing to read)."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        return bool(r) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def user(self):
        h = self.headers.get("Authorization", "")
        if h.startswith("Basic "):
            try:
                return base64.b64decode(h[6:]).decode().split(":", 1)[0]
            except ValueError:
                return "?"
        return "-"

    def wait(self, secs):
        """Waits secs, or less when the client goes away; True when it is still there."""
        end = time.monotonic() + min(secs, args.max_secs)
        while time.monotonic() < end:
            if client_gone(self.connection):
                return False
            time.sleep(0.02)
        return True

    def send_file(self, head):
        rel = self.path.split("?", 1)[0].lstrip("/")
        if args.only_blocks and not rel.startswith("blocks/"):
            rel = ""
        p = os.path.realpath(os.path.join(args.root, rel))
        if not rel or not p.startswith(os.path.realpath(args.root) + "/") or not os.path.isfile(p):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(p, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def send_endless(self, first):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        line = b"0123456789abcdef0123456789abcdef 4242\n" * 1024
        end = time.monotonic() + args.max_secs
        try:
            self.wfile.write(first)
            while time.monotonic() < end:
                self.wfile.write(line)
        except OSError:
            pass  # the client stopped reading: what it should do

    def answer(self, head):
        log("%s %s auth=%s" % (self.command, self.path, self.user()))
        for prefix, base in args.redirect:
            if self.path.startswith(prefix):
                self.send_response(302)
                self.send_header("Location", base + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        for path, data in args.endless:
            if self.path == path and not head:
                self.send_endless(data)
                return
        for prefix in args.hold:
            if self.path.startswith(prefix) and self.path not in args.no_hold:
                if not self.wait(args.hold_secs):
                    self.close_connection = True
                    return
        self.send_file(head)

    def do_GET(self):
        if not args.inflight:
            self.answer(False)
            return
        inflight_add(1)
        try:
            self.answer(False)
        finally:
            inflight_add(-1)

    def do_HEAD(self):
        self.answer(True)


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--endless", action="append", default=[])
    ap.add_argument("--hold", action="append", default=[])
    ap.add_argument("--hold-secs", type=float, default=60)
    ap.add_argument("--no-hold", action="append", default=[])
    ap.add_argument("--redirect", action="append", default=[])
    ap.add_argument("--only-blocks", action="store_true")
    ap.add_argument("--max-secs", type=float, default=120)
    ap.add_argument("--inflight")
    args = ap.parse_args()
    args.endless = [(p, open(f, "rb").read()) for p, f in (e.split("=", 1) for e in args.endless)]
    args.redirect = [tuple(r.split("=", 1)) for r in args.redirect]
    # A client may open many connections at once: a backlog of 5 would drop their SYNs.
    ThreadingHTTPServer.request_queue_size = 256
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    open(args.log, "a").close()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
