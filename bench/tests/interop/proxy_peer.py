"""Linux-side peers of the proxy tests (bench/tests/load_proxy_xdp.rs). One JSON line each.

  bulk HOST PORT N            send N random bytes, half-close, read to EOF; compare digests
  bulk-many HOST PORT N C     the same on C connections at once (N bytes each); "same" only if
                              every one came back whole
  halfclose-server PORT       accept one; send b"greeting", SHUT_WR; read to EOF; print it
  halfclose-client HOST PORT  read to EOF (the greeting), then send a reply and SHUT_WR
  down HOST PORT              connect, send, and say how the proxy ended it (reset/closed)
"""
import hashlib, json, os, socket, sys, threading, time

def out(**kv):
    print(json.dumps(kv), flush=True)

def read_all(s):
    got = bytearray()
    while True:
        b = s.recv(1 << 16)
        if not b:
            return bytes(got)
        got += b

def bulk(host, port, n):
    """Sends n random bytes while reading the echo; (bytes received, whether they match)."""
    data = os.urandom(n)
    s = socket.create_connection((host, port), timeout=60)
    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send)
    t.start()
    got = read_all(s)
    t.join()
    s.close()
    return len(got), hashlib.sha256(got).digest() == hashlib.sha256(data).digest()

mode = sys.argv[1]
if mode == "bulk":
    t0 = time.time()
    received, same = bulk(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    out(received=received, same=same, secs=time.time() - t0)
elif mode == "bulk-many":
    host, port, n, c = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    results = [None] * c
    def one(i):
        results[i] = bulk(host, port, n)
    t0 = time.time()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [r for r in results if r is not None]
    out(received=sum(r[0] for r in done), same=len(done) == c and all(r[1] for r in done),
        conns=len(done), secs=time.time() - t0)
elif mode == "halfclose-server":
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", int(sys.argv[2])))
    ls.listen(4)
    out(listening=True)
    ls.settimeout(30)
    c, _ = ls.accept()
    c.settimeout(30)
    c.sendall(b"greeting")
    c.shutdown(socket.SHUT_WR)
    got = read_all(c)
    out(got=got.decode(errors="replace"))
elif mode == "halfclose-client":
    s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=30)
    first = read_all(s)
    # Our write side is still open after the proxy passed the backend's FIN on.
    s.sendall(b"reply after your fin")
    s.shutdown(socket.SHUT_WR)
    rest = read_all(s)
    out(first=first.decode(errors="replace"), rest=len(rest))
elif mode == "down":
    t0 = time.time()
    try:
        s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10)
        s.settimeout(10)
        s.sendall(b"hello")
        b = s.recv(100)
        how = "closed" if not b else "data"
    except (ConnectionResetError, BrokenPipeError):
        how = "reset"
    except socket.timeout:
        how = "hang"
    except ConnectionRefusedError:
        how = "refused"
    out(how=how, secs=time.time() - t0)
