#!/usr/bin/env python3
"""A burst of 1,000 clients connecting at once is queued by the kernel and
then served: the listening socket's backlog is listen_backlog (1024 by
default), not libevent's default of 128.

The daemon is stopped (SIGSTOP) while the clients connect, so that none is
accepted during the burst and the backlog alone decides: every
non-blocking connect() must succeed. After SIGCONT every client gets an
answer. A daemon started with --listen-backlog 64 refuses part of the same
burst with EAGAIN, which shows that the burst does reach the limit."""
import errno
import os
import resource
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import Vmad, check, vmad_binary  # noqa

BURST = 1000

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
need = BURST + 200  # the clients here; the daemon inherits the limit
if soft < need:
    check(hard == resource.RLIM_INFINITY or hard >= need,
          f"RLIMIT_NOFILE hard limit {hard} is below the {need} this "
          "test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
print(f"RLIMIT_NOFILE {soft} -> {resource.getrlimit(resource.RLIMIT_NOFILE)}")
somaxconn = int(open("/proc/sys/net/core/somaxconn").read())
print(f"net.core.somaxconn {somaxconn}")


def burst(vmad):
    """Connect BURST non-blocking clients while the daemon is stopped;
    return (connected sockets, number refused with EAGAIN)."""
    conns, refused = [], 0
    os.kill(vmad.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(BURST):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            e = s.connect_ex(vmad.sock)
            if e == 0:
                conns.append(s)
            else:
                check(e == errno.EAGAIN, f"connect: {os.strerror(e)}")
                refused += 1
                s.close()
    finally:
        os.kill(vmad.proc.pid, signal.SIGCONT)
    return conns, refused


def all_answered(conns):
    for s in conns:
        s.setblocking(True)
        s.settimeout(30)
        s.sendall(b'{"jsonrpc":"2.0","id":7,"method":"ping"}\n')
    for s in conns:
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(4096)
            check(chunk, "a queued client was closed without an answer")
            buf += chunk
        check(b'"id":7' in buf and b'"result"' in buf, buf[:200])
        s.close()


expect = min(1024, somaxconn)
vmad = Vmad(vmad_binary(), "--max-connections", str(2 * BURST))
conns, refused = burst(vmad)
print(f"default backlog: {len(conns)} connected, {refused} refused")
if expect >= BURST:
    check(refused == 0, f"{refused} of {BURST} connects refused with "
          f"EAGAIN although listen_backlog is 1024")
else:
    check(len(conns) >= expect, f"only {len(conns)} connected; "
          f"somaxconn {somaxconn} allows {expect}")
t0 = time.time()
all_answered(conns)
print(f"all {len(conns)} answered in {time.time() - t0:.1f} s")
vmad.stop()

small = Vmad(vmad_binary(), "--listen-backlog", "64")
conns, refused = burst(small)
print(f"--listen-backlog 64: {len(conns)} connected, {refused} refused")
check(refused > 0 and len(conns) <= 64 + 2,
      f"backlog 64: {len(conns)} connected, {refused} refused")
all_answered(conns)
small.stop()
print("test_connect_burst: ok")
