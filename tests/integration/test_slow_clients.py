#!/usr/bin/env python3
"""Slow, idle and never-reading clients (issue 19, items 3 and 5).

Slowloris: other uids open every connection they may and send one byte
at a time. Each uid gets at most max_connections_per_uid, all of them
together leave superuser_reserved_connections free, every such
connection is closed once request_timeout passes without a complete
request, and root keeps connecting and being served meanwhile (its worst
latency is printed). An idle connection is closed after `timeout`.

Output: a client that reads a little at a time, slowly, is closed after
output_timeout (the timeout does not restart on every partial write);
a client over the hard output limit is closed at once, and one over the
soft limit after its seconds.

Needs root (the slowloris clients run as other uids)."""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import (P, W, Conn, Vmad, as_uid, check, collect,  # noqa
                      vmad_binary)

VMAD = vmad_binary()


def slowloris(sock, n, seconds):
    """Open n connections, send one byte of a request to each every
    0.2 s; report how many were refused and when the others closed."""
    t0 = time.time()
    conns, refused = [], 0
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.setblocking(False)
        conns.append([s, b"", None])
    time.sleep(0.3)
    text = b'{"jsonrpc":"2.0","id":1,"method":"ping"' + b" " * 1000
    i = 0
    while time.time() - t0 < seconds:
        for c in conns:
            if c[2] is not None:
                continue
            try:
                while True:
                    d = c[0].recv(4096)
                    if not d:
                        c[2] = time.time() - t0
                        break
                    c[1] += d
            except BlockingIOError:
                pass
            except OSError:
                c[2] = time.time() - t0
            if c[2] is None:
                try:
                    c[0].send(text[i:i + 1])
                except OSError:
                    c[2] = time.time() - t0
        i += 1
        time.sleep(0.2)
    out = {"refused": 0, "timed_out": [], "open": 0}
    for s, data, closed in conns:
        if b"too many connections" in data:
            out["refused"] += 1
        elif closed is not None:
            check(b"not completed within" in data, data)
            out["timed_out"].append(closed)
        else:
            out["open"] += 1
        s.close()
    return out


# ---- Slowloris ----------------------------------------------------------
if os.getuid() != 0:
    print("test_slow_clients: not root; the slowloris part needs other "
          "uids")
else:
    v = Vmad(VMAD, "--workers", "2", "--max-connections", "40",
             "--superuser-reserved-connections", "4",
             "--max-connections-per-uid", "14", "--request-timeout", "2",
             "--timeout", "3", "--socket-mode", "0666")
    os.chmod(v.dir, 0o755)
    kids = [as_uid(uid, lambda: slowloris(v.sock, 20, 3.5))
            for uid in (65534, 65533, 65532)]
    time.sleep(0.5)
    # Root connects and is served throughout.
    worst = 0.0
    t_end = time.time() + 3.0
    while time.time() < t_end:
        t = time.perf_counter()
        c = Conn(v.sock, timeout=10)
        r = c.call("ping")
        d = time.perf_counter() - t
        c.close()
        check("result" in r, f"root was refused: {r}")
        worst = max(worst, d)
        time.sleep(0.05)
    outs = [collect(k) for k in kids]
    print(f"slowloris: {outs}; root's worst connect+ping "
          f"{worst * 1000:.1f} ms")
    admitted = [20 - o["refused"] for o in outs]
    check(all(a <= 14 for a in admitted), f"per-uid limit: {admitted}")
    check(sum(admitted) == 36, f"reserved slots taken or unused: {admitted}")
    check(all(o["open"] == 0 for o in outs),
          f"slow connections still open after 3.5 s: {outs}")
    for o in outs:
        check(all(1.9 < t < 3.5 for t in o["timed_out"]),
              f"request_timeout 2 s, closed at {o['timed_out']}")
    check(worst < 1.0, f"root waited {worst:.2f}s")
    # An idle connection is closed after `timeout` (3 s), a busy one not.
    idle = Conn(v.sock)
    busy = Conn(v.sock)
    idle.ok("ping")
    t0 = time.time()
    while time.time() - t0 < 4.5:
        busy.ok("ping")
        time.sleep(0.5)
    check(idle.eof(1), "an idle connection was not closed after 3 s")
    busy.ok("ping")
    busy.close()
    idle.close()
    v.stop()

# ---- Output limits and the output timeout -------------------------------


def fill(c, nr):
    """A space of nr VMAs whose maps response is about nr * 200 bytes."""
    c.ok("space.create", {"name": "s"})
    batch = [{"jsonrpc": "2.0", "id": i, "method": "mmap", "params": {
        "space": "s", "addr": W + 2 * i * P, "length": P, "prot": "r",
        "flags": ["private", "anonymous", "fixed"]}} for i in range(nr)]
    c.send(json.dumps(batch).encode() + b"\n")
    check(all("result" in x for x in c.resp()), "fill")


def closed_after(c, seconds, read=0):
    """Seconds until the daemon closes c (reading @read bytes every
    0.5 s), or None if it stays open for @seconds. A send on a
    connection the daemon closed fails at once, however much it left
    unread in our receive queue."""
    t0 = time.time()
    c.s.settimeout(0.05)
    last_read = 0.0
    while time.time() - t0 < seconds:
        try:
            c.s.send(b" ")
        except (socket.timeout, BlockingIOError):
            pass  # the daemon does not read: the probe waits
        except OSError:
            return time.time() - t0
        if read and time.time() - last_read >= 0.5:
            last_read = time.time()
            try:
                if not c.s.recv(read):
                    return time.time() - t0
            except socket.timeout:
                pass
            except OSError:
                return time.time() - t0
        time.sleep(0.05)
    return None


maps = (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "maps",
                    "params": {"space": "s"}}) + "\n").encode()

# A slow reader: 128 KiB every half second, with 2.4 MiB pending. Every
# read lets the daemon write a little: the output timeout must not
# restart on each of those writes.
v = Vmad(VMAD, "--output-timeout", "2", "--output-high-water", "1M",
         "--output-low-water", "256K", "--client-output-buffer-limit-hard",
         "0", "--client-output-buffer-limit-soft", "0")
setup = Conn(v.sock)
fill(setup, 2000)
slow = Conn(v.sock)
slow.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
slow.send(maps * 6)
t = closed_after(slow, 8, read=131072)
print(f"slow reader closed after {t}")
check(t is not None and 1.5 < t < 4.5,
      f"a client reading 128 KiB every 0.5 s was not closed in time: {t}")
slow.close()
check(setup.ok("ping")["version"], "others are served")
setup.close()
v.stop()

# Hard limit: closed as soon as its output passes 512 KiB.
v = Vmad(VMAD, "--output-timeout", "30", "--output-high-water", "1M",
         "--output-low-water", "256K", "--client-output-buffer-limit-hard",
         "512K", "--client-output-buffer-limit-soft", "0")
setup = Conn(v.sock)
fill(setup, 2000)
lazy = Conn(v.sock)
lazy.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
lazy.send(maps * 6)
t = closed_after(lazy, 5)
print(f"over the hard limit: closed after {t}")
check(t is not None and t < 2, f"hard limit: {t}")
lazy.close()
setup.close()
v.stop()

# Soft limit: 256 KiB for 2 s.
v = Vmad(VMAD, "--output-timeout", "30", "--output-high-water", "1M",
         "--output-low-water", "64K", "--client-output-buffer-limit-hard",
         "0", "--client-output-buffer-limit-soft", "256K",
         "--client-output-buffer-limit-soft-seconds", "2")
setup = Conn(v.sock)
fill(setup, 2000)
lazy = Conn(v.sock)
lazy.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
lazy.send(maps * 6)
t = closed_after(lazy, 6)
print(f"over the soft limit: closed after {t}")
check(t is not None and 1.5 < t < 4, f"soft limit: {t}")
lazy.close()
st = setup.ok("stats")
check(st["connections_closed_output"] >= 1, st)
setup.close()
v.stop()
print("test_slow_clients: ok")
