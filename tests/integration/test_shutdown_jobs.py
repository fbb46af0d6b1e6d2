#!/usr/bin/env python3
"""SIGTERM with long jobs queued (issue 19, item 7).

Two connections send batches of forks that would take many times
shutdown_timeout to run. SIGTERM ends the daemon within shutdown_timeout:
the requests that did not start are answered with ECANCELED (each batch
gets its whole response: results for what ran, errors for the rest), the
daemon exits 0 and removes its socket and pidfile. With a state directory
every fork that was answered is there again after a restart (the changed
spaces are saved before the exit, even past shutdown_timeout)."""
import atexit
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import (P, W, Conn, Vmad, check, check_sanitizers,  # noqa
                      errno_of, vmad_binary)

NR_VMAS = int(os.environ.get("VMAD_TEST_VMAS", "4000"))
NR_FORKS = 400
TIMEOUT = 3

def run(state=None):
    """SIGTERM with fork batches queued; return the forks answered."""
    piddir = tempfile.mkdtemp(prefix="vmad-pid-")
    atexit.register(shutil.rmtree, piddir, True)
    pidfile = os.path.join(piddir, "vmad.pid")
    extra = ["--state-dir", state] if state else []
    vmad = Vmad(vmad_binary(), "--workers", "2", "--job-threads", "1",
                "--shutdown-timeout", str(TIMEOUT), "--pidfile", pidfile,
                "--max-spaces-per-uid", "2000", "--max-message", "16M",
                *extra)
    setup = Conn(vmad.sock, timeout=60)
    setup.ok("space.create", {"name": "big"})
    batch = [{"jsonrpc": "2.0", "id": i, "method": "mmap", "params": {
        "space": "big", "addr": W + 2 * i * P, "length": P, "prot": "r",
        "flags": ["private", "anonymous", "fixed"]}} for i in range(NR_VMAS)]
    setup.send(json.dumps(batch).encode() + b"\n")
    check(all("result" in x for x in setup.resp()), "fill")
    t = time.time()
    setup.ok("space.fork", {"space": "big"})
    one_fork = time.time() - t
    print(f"one fork of {NR_VMAS} VMAs: {one_fork * 1000:.1f} ms; "
          f"{2 * NR_FORKS} queued would take about "
          f"{2 * NR_FORKS * one_fork:.1f} s")

    results = {}

    def attacker(k):
        c = Conn(vmad.sock, timeout=60)
        b = [{"jsonrpc": "2.0", "id": i, "method": "space.fork",
              "params": {"space": "big"}} for i in range(NR_FORKS)]
        c.send(json.dumps(b).encode() + b"\n")
        line = c.line()
        results[k] = json.loads(line) if line else None
        c.close()

    threads = [threading.Thread(target=attacker, args=(k,))
               for k in range(2)]
    for th in threads:
        th.start()
    time.sleep(0.5)
    t0 = time.time()
    vmad.proc.send_signal(signal.SIGTERM)
    rc = vmad.proc.wait(TIMEOUT + 60)
    took = time.time() - t0
    for th in threads:
        th.join(30)
    err = vmad.stderr()
    check_sanitizers(err)
    print(f"SIGTERM to exit: {took:.2f} s (shutdown_timeout {TIMEOUT} s"
          f"{', saving to a state directory' if state else ''})")
    check(rc == 0, f"exit status {rc}: {err[-2000:]}")
    if not state:
        check(took < TIMEOUT + 0.5, f"shutdown took {took:.2f} s")
    check(not os.path.exists(vmad.sock), "socket left behind")
    check(not os.path.exists(pidfile), "pidfile left behind")
    answered = 1
    for k in range(2):
        r = results.get(k)
        check(isinstance(r, list) and len(r) == NR_FORKS,
              f"batch {k}: {str(r)[:300]}")
        ran = [x for x in r if "result" in x]
        cancelled = [x for x in r if errno_of(x) == "ECANCELED"]
        check(len(ran) + len(cancelled) == NR_FORKS,
              [x for x in r if "result" not in x and
               errno_of(x) != "ECANCELED"][:3])
        check(cancelled, f"batch {k}: nothing was cancelled")
        check([x["id"] for x in r] == list(range(NR_FORKS)), "ids in order")
        print(f"batch {k}: {len(ran)} ran, {len(cancelled)} cancelled")
        answered += len(ran)
    return answered


run()
state = tempfile.mkdtemp(prefix="vmad-state-")
atexit.register(shutil.rmtree, state, True)
answered = run(state)
v = Vmad(vmad_binary(), "--state-dir", state, "--max-spaces-per-uid",
         "2000")
c = Conn(v.sock, timeout=60)
nr = c.ok("stats")["spaces"]
check(nr == answered + 1, f"{answered + 1} spaces answered, {nr} loaded")
c.close()
v.stop()
print(f"after a restart: the {nr} spaces answered")
print("test_shutdown_jobs: ok")
