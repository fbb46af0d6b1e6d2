#!/usr/bin/env python3
"""Descriptors run out (issue 19, item 1).

With a low RLIMIT_NOFILE the daemon lowers max_connections to fit it and
says so; connections over the limit get an error instead of a timeout.
When descriptors run out anyway (the limit is lowered under the running
daemon), the listener pauses instead of spinning: the daemon's CPU time
stays low and the log holds a handful of lines, not a flood; once
connections close, the waiting clients are served."""
import os
import re
import resource
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import Conn, Vmad, check, code_of, vmad_binary  # noqa

LIMIT = 64


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


vmad = Vmad(vmad_binary(), "--workers", "2", "--max-connections", "1024",
            preexec=low_nofile)
m = re.search(r"max_connections lowered from 1024 to (\d+)", vmad.stderr())
check(m, f"no line about fitting max_connections: {vmad.stderr()}")
fit = int(m.group(1))
check(4 <= fit < LIMIT, f"max_connections fitted to {fit}")
# A reload (SIGHUP) reads the configuration again: what start-up fitted
# stays (max_connections, and max_memory 0, which meant half the RAM).
vmad.proc.send_signal(signal.SIGHUP)
for _ in range(100):
    if "reloaded" in vmad.stderr():
        break
    time.sleep(0.05)
check("0 options changed, 0 need a restart" in vmad.stderr(),
      f"a reload changed what start-up settled:\n{vmad.stderr()}")

# More connections than fit: every one over the limit is answered with an
# error at once; the daemon does not spin.
conns = [Conn(vmad.sock, timeout=10) for _ in range(fit)]
for c in conns:
    c.ok("ping")
cpu0 = vmad.cpu_s()
extra = []
for _ in range(20):
    x = Conn(vmad.sock, timeout=10)
    r = x.resp()
    check(r["id"] is None and "too many connections" in r["error"]["message"],
          r)
    check(x.eof(5), "a refused connection was not closed")
    extra.append(x)
time.sleep(1.0)
spent = vmad.cpu_s() - cpu0
check(spent < 0.5, f"the daemon used {spent:.2f}s of CPU refusing 20 "
      "connections")
for c in conns + extra:
    c.close()
time.sleep(0.3)

# Descriptors run out under the daemon: lower its limit to a few above
# what it holds, and connect more clients than that.
base = vmad.nr_fds()
resource.prlimit(vmad.proc.pid, resource.RLIMIT_NOFILE, (base + 6, LIMIT))
log0 = len(vmad.stderr())
cpu0 = vmad.cpu_s()
held = []
for _ in range(5):
    c = Conn(vmad.sock, timeout=10)
    c.ok("ping")
    held.append(c)
waiting = [Conn(vmad.sock, timeout=20) for _ in range(10)]
for c in waiting:
    c.send_req("ping")
time.sleep(1.5)
spent = vmad.cpu_s() - cpu0
log = vmad.stderr()[log0:]
accept_lines = [ln for ln in log.splitlines() if "accept" in ln]
print(f"out of descriptors: {spent:.2f}s CPU in 1.5s, "
      f"{len(accept_lines)} log lines about accept, {len(log)} bytes of log")
check(spent < 0.5, f"the listener spun: {spent:.2f}s of CPU in 1.5s")
check(1 <= len(accept_lines) <= 12 and len(log) < 4096,
      f"log flood: {len(accept_lines)} lines\n{log[:2000]}")
check("not accepting until a connection closes" in log, log[:2000])
# A connection closes: the listener resumes and serves the waiting ones
# as descriptors allow; with the limit restored, all of them.
held[0].close()
served = 0
for c in waiting[:1]:
    r = c.resp()
    check(r.get("result", {}).get("version"), r)
    served += 1
resource.prlimit(vmad.proc.pid, resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
for c in held[1:]:
    c.close()
for c in waiting[1:]:
    r = c.resp()
    check(r.get("result", {}).get("version") or
          "too many connections" in r["error"]["message"], r)
    served += 1
check(served == len(waiting), f"{served} of {len(waiting)} served")
for c in waiting:
    c.close()
c = Conn(vmad.sock)
check(c.ok("ping")["version"], "the daemon serves new clients")
c.close()
vmad.stop()
print("test_fd_limit: ok")
