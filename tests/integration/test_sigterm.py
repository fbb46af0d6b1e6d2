#!/usr/bin/env python3
"""SIGTERM during load ends cleanly: clients pipeline requests while the
daemon is told to stop; every response that arrives is the correct one for
its request, in order; the daemon exits 0 and removes its socket."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import P, W, Conn, Vmad, check, vmad_binary  # noqa

NR = 16
vmad = Vmad(vmad_binary(), "--workers", "2")
setup = Conn(vmad.sock)
setup.ok("space.create", {"name": "s"})
setup.ok("mmap", {"space": "s", "addr": W, "length": 64 * P, "prot": "r",
                  "flags": ["private", "anonymous", "fixed"]})
errors = []
stats = [None] * NR


def client(i):
    c = Conn(vmad.sock)
    acked = 0   # requests whose bytes were fully sent
    answered = 0
    pending = {}
    try:
        while True:
            batch = b""
            for _ in range(8):
                acked_id = acked + 1
                a = W + (acked_id % 64) * P
                kind = acked_id % 3
                if kind == 0:
                    m = {"method": "fault", "params": {
                        "space": "s", "addr": a, "access": "read"}}
                elif kind == 1:
                    m = {"method": "lookup", "params": {"space": "s",
                                                        "addr": a}}
                else:
                    m = {"method": "mprotect", "params": {
                        "space": "s", "addr": W + 128 * P, "length": P,
                        "prot": "r"}}
                m.update(jsonrpc="2.0", id=acked_id)
                pending[acked_id] = (kind, a)
                batch += json.dumps(m).encode() + b"\n"
                acked += 1
            c.send(batch)
            for _ in range(8):
                line = c.line()
                if line is None:
                    raise EOFError
                r = json.loads(line)
                answered += 1
                if r.get("id") != answered:
                    errors.append(f"client {i}: out of order {r}")
                    return
                kind, a = pending.pop(answered)
                res = r.get("result")
                if kind == 0 and not (res and res["status"] == "ok" and
                                      res["vma"]["start"] <= a):
                    errors.append(f"client {i}: bad fault {r}")
                if kind == 1 and not (res and res["vma"]["start"] <= a):
                    errors.append(f"client {i}: bad lookup {r}")
                if kind == 2 and (res is not None or r["error"]["data"][
                        "errno"] != "ENOMEM"):
                    errors.append(f"client {i}: bad mprotect {r}")
    except (EOFError, OSError, ConnectionError):
        pass
    stats[i] = (acked, answered)


threads = [threading.Thread(target=client, args=(i,)) for i in range(NR)]
for t in threads:
    t.start()
time.sleep(1.0)
t0 = time.time()
vmad.stop()
took = time.time() - t0
for t in threads:
    t.join(30)
check(not any(t.is_alive() for t in threads), "clients hung after SIGTERM")
check(not errors, "\n".join(errors[:20]))
check(all(s and s[1] > 0 for s in stats), f"no traffic: {stats}")
check(took < 10, f"shutdown took {took:.1f}s")
print(f"test_sigterm: ok ({sum(s[1] for s in stats)} answered, "
      f"shutdown {took:.2f}s)")
