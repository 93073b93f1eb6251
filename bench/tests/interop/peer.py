#!/usr/bin/env python3
"""Linux-side peers of the xdptcp interop tests (bench/tests/interop_xdp.rs).

Each mode prints one JSON line on success and exits 0; any failure raises (exit 1).

  bulk HOST PORT NBYTES           send NBYTES of random data to an echo server while reading
                                  the echo; report SHA-256 of both directions and the time
  seq HOST PORT N                 N sequential connections, each echoing a 100-byte message
  concurrent HOST PORT N          open N connections, hold them, echo one message on each,
                                  then close them all
  echo-server PORT                accept one connection, echo everything, report SHA-256 of
                                  what came in (for our stack as the client)
  pattern-sha NBYTES              SHA-256 of the first NBYTES of xdptcp's xfer pattern
"""
import hashlib
import json
import os
import resource
import selectors
import socket
import sys
import threading
import time

TIMEOUT = 60.0


def pattern_block():
    return bytes((j * j * 31 + j * 7) % 251 for j in range(65521))


def bulk(host, port, nbytes):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    block = os.urandom(1 << 20)
    sent_hash = hashlib.sha256()
    err = []

    def sender():
        try:
            left = nbytes
            i = 0
            while left > 0:
                # Vary the data per MiB so a misplaced block would be caught.
                chunk = block[i % 997:] + block[: i % 997]
                chunk = chunk[: min(left, len(chunk))]
                sent_hash.update(chunk)
                s.sendall(chunk)
                left -= len(chunk)
                i += 1
            s.shutdown(socket.SHUT_WR)
        except Exception as e:  # reported by the main thread
            err.append(repr(e))

    t0 = time.monotonic()
    t = threading.Thread(target=sender)
    t.start()
    recv_hash = hashlib.sha256()
    got = 0
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        recv_hash.update(d)
        got += len(d)
    secs = time.monotonic() - t0
    t.join()
    s.close()
    if err:
        raise RuntimeError("sender: " + err[0])
    print(json.dumps({"sent": nbytes, "received": got, "sent_sha": sent_hash.hexdigest(),
                      "recv_sha": recv_hash.hexdigest(), "secs": secs}))


def seq(host, port, n):
    t0 = time.monotonic()
    for i in range(n):
        msg = (b"%08d" % i) * 12 + b"!!!!"
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(msg)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
        s.close()
        if got != msg:
            raise RuntimeError("connection %d: echo %r != %r" % (i, got, msg))
    print(json.dumps({"connections": n, "secs": time.monotonic() - t0}))


def concurrent(host, port, n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    t0 = time.monotonic()
    socks = []
    sel = selectors.DefaultSelector()
    pending = set()
    # Non-blocking connects, at most 512 in flight.
    i = 0
    deadline = time.monotonic() + TIMEOUT * 2
    while len(socks) < n:
        while i < n and len(pending) < 512:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, port))
            sel.register(s, selectors.EVENT_WRITE, i)
            pending.add(s)
            i += 1
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if e != 0:
                raise RuntimeError("connect %d failed: %s" % (key.data, os.strerror(e)))
            sel.unregister(s)
            pending.discard(s)
            socks.append(s)
        if time.monotonic() > deadline:
            raise RuntimeError("only %d of %d connected" % (len(socks), n))
    t_conn = time.monotonic() - t0
    # Every connection is alive: one echo each.
    for s in socks:
        s.setblocking(True)
        s.settimeout(TIMEOUT)
    for k, s in enumerate(socks):
        s.sendall(b"%06d" % k)
    for k, s in enumerate(socks):
        got = b""
        while len(got) < 6:
            d = s.recv(6 - len(got))
            if not d:
                raise RuntimeError("connection %d closed early" % k)
            got += d
        if got != b"%06d" % k:
            raise RuntimeError("connection %d: bad echo %r" % (k, got))
    for s in socks:
        s.close()
    print(json.dumps({"connections": n, "connect_secs": t_conn,
                      "secs": time.monotonic() - t0}))


def echo_server(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(16)
    print(json.dumps({"listening": port}), flush=True)
    ls.settimeout(TIMEOUT)
    c, peer = ls.accept()
    c.settimeout(TIMEOUT)
    h = hashlib.sha256()
    got = 0
    t0 = time.monotonic()
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        got += len(d)
        c.sendall(d)
    c.shutdown(socket.SHUT_WR)
    # Wait for the client's close.
    while c.recv(65536):
        pass
    c.close()
    print(json.dumps({"received": got, "recv_sha": h.hexdigest(), "peer": peer[0],
                      "secs": time.monotonic() - t0}))


def pattern_sha(nbytes):
    block = pattern_block()
    h = hashlib.sha256()
    left = nbytes
    while left > 0:
        k = min(left, len(block))
        h.update(block[:k])
        left -= k
    print(json.dumps({"bytes": nbytes, "sha": h.hexdigest()}))


def main():
    mode = sys.argv[1]
    if mode == "bulk":
        bulk(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "seq":
        seq(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "concurrent":
        concurrent(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "echo-server":
        echo_server(int(sys.argv[2]))
    elif mode == "pattern-sha":
        pattern_sha(int(sys.argv[2]))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
