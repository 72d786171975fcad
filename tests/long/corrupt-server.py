#!/usr/bin/env python3
# corrupt-server.py DIR PORTFILE EVENTS [--seed N] [--every A:B] [--for A:B] [--share X]
#
# A mirror that lies now and then, for the soak test (tests/long/soak.sh): serves the site in
# DIR over HTTP/1.1 (GET and HEAD, keep-alive) on 127.0.0.1 only, on a free port it writes to
# PORTFILE once it listens. Most of the time it serves every file as it is. Now and then — a
# "bad phase" starting every A..B seconds (uniform) and lasting A..B seconds — it flips bytes in
# block files (blocks/..): each block response of the phase is damaged with probability X
# (default 1), 1 to 8 bytes XORed at random places, the length unchanged (so only the zlib check
# or the block's name can tell). Index files are never damaged: the soak is about blocks.
#
# EVENTS gets one line per damaged answer, "damaged TIME PATH", one per finished phase,
# "bad START END" (time.time() seconds; written when the phase ends, or when the server stops
# during one), and at exit a line "served REQUESTS BLOCKS DAMAGED". The schedule is random with a fixed seed; the times depend
# on when the server starts. Stops on SIGTERM or SIGINT.
import argparse
import http.server
import os
import random
import signal
import socketserver
import sys
import threading
import time


def span(s):
    a, _, b = s.partition(":")
    return float(a), float(b or a)


ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("portfile")
ap.add_argument("events")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--every", type=span, default=(20.0, 40.0))
ap.add_argument("--for", dest="dur", type=span, default=(3.0, 6.0))
ap.add_argument("--share", type=float, default=1.0)
args = ap.parse_args()

root = os.path.realpath(args.dir)
lock = threading.Lock()
state = {"bad": False, "since": 0.0, "requests": 0, "blocks": 0, "damaged": 0}
rnd = random.Random(args.seed)
events = open(args.events, "a", buffering=1)


def schedule():
    """Flips the phase on the seeded schedule; records each bad phase when it ends."""
    sr = random.Random(args.seed * 7919 + 1)
    while True:
        time.sleep(sr.uniform(*args.every))
        with lock:
            state["bad"], state["since"] = True, time.time()
        time.sleep(sr.uniform(*args.dur))
        with lock:
            state["bad"] = False
            events.write("bad %.6f %.6f\n" % (state["since"], time.time()))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "corrupt-server"

    def log_message(self, *a):
        pass

    def _file(self):
        path = self.path.split("?", 1)[0]
        full = os.path.realpath(os.path.join(root, path.lstrip("/")))
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            return None, path
        return full, path

    def _send(self, head):
        full, path = self._file()
        with lock:
            state["requests"] += 1
        if full is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(full, "rb").read()
        if path.startswith("/blocks/") and not head:
            with lock:
                state["blocks"] += 1
                bad = state["bad"] and rnd.random() < args.share
                if bad:
                    state["damaged"] += 1
                    n = rnd.randint(1, 8)
                    pos = [rnd.randrange(len(data)) for _ in range(n)] if data else []
            if bad and data:
                d = bytearray(data)
                for p in pos:
                    d[p] ^= 0xFF
                data = bytes(d)
                with lock:
                    events.write("damaged %.6f %s\n" % (time.time(), path))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def do_GET(self):
        self._send(False)

    def do_HEAD(self):
        self._send(True)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128


srv = Server(("127.0.0.1", 0), Handler)
tmp = args.portfile + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(tmp, args.portfile)


def stop(*_):
    threading.Thread(target=srv.shutdown, daemon=True).start()


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
threading.Thread(target=schedule, daemon=True).start()
srv.serve_forever(poll_interval=0.2)
with lock:
    if state["bad"]:
        events.write("bad %.6f %.6f\n" % (state["since"], time.time()))
    events.write("served %d %d %d\n" % (state["requests"], state["blocks"], state["damaged"]))
events.close()
sys.exit(0)
