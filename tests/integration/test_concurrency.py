#!/usr/bin/env python3
"""64 concurrent clients mixing faults and mutations on a shared space and
on spaces of their own, every response checked:

- faults on a region of the shared space that is never unmapped always
  succeed with a VMA covering the address (no temporal gap);
- mutators move VMAs in windows of their own with MAP_FIXED, munmap and
  mprotect; faults there get ok or a SEGV, never an error;
- each client's private space behaves exactly: a mapping it just made is
  found, one it just unmapped is gone.
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import P, W, Conn, Vmad, check, vmad_binary  # noqa

DURATION = float(os.environ.get("VMAD_TEST_SECONDS", "3"))
NR = 64
STABLE = 64  # pages of the shared space that stay mapped

vmad = Vmad(vmad_binary(), "--workers", "2")
setup = Conn(vmad.sock)
setup.ok("space.create", {"name": "shared"})
setup.ok("mmap", {"space": "shared", "addr": W, "length": STABLE * P,
                  "prot": "rw", "flags": ["private", "anonymous", "fixed"]})
errors = []
counts = [0] * NR


def client(i):
    rnd = random.Random(i)
    try:
        c = Conn(vmad.sock)
        mine = f"own{i}"
        c.ok("space.create", {"name": mine})
        win = W + (1 << 30) + i * (1 << 24)  # this client's window
        end = time.time() + DURATION
        n = 0
        while time.time() < end:
            op = rnd.randrange(8)
            if op < 4:
                a = W + rnd.randrange(STABLE) * P + rnd.randrange(P)
                r = c.ok("fault", {"space": "shared", "addr": a,
                                   "access": rnd.choice(["read", "write"])})
                v = r.get("vma") or {}
                if r["status"] != "ok" or not v["start"] <= a < v["end"]:
                    errors.append(f"client {i}: stable fault {a:#x}: {r}")
            elif op == 4:
                pg = rnd.randrange(1, 9)
                r = c.ok("mmap", {"space": "shared", "addr": win, "length":
                                  pg * P, "prot": rnd.choice(["r", "rw"]),
                                  "flags": ["private", "anonymous",
                                            "fixed"]})
                if r != {"addr": win}:
                    errors.append(f"client {i}: mmap {r}")
            elif op == 5:
                r = c.call("mprotect", {"space": "shared", "addr": win,
                                        "length": P, "prot": "r"})
                if "result" not in r and r["error"]["data"]["errno"] != \
                        "ENOMEM":
                    errors.append(f"client {i}: mprotect {r}")
                c.ok("munmap", {"space": "shared", "addr": win,
                                "length": 16 * P})
            elif op == 6:
                a = win + rnd.randrange(8) * P
                r = c.ok("fault", {"space": "shared", "addr": a,
                                   "access": "read"})
                if r["status"] not in ("ok", "segv"):
                    errors.append(f"client {i}: window fault {r}")
            else:
                a = W + rnd.randrange(1024) * P
                c.ok("mmap", {"space": mine, "addr": a, "length": P,
                              "prot": "rw", "flags": ["private", "anonymous",
                                                      "fixed"]})
                v = c.ok("lookup", {"space": mine, "addr": a})["vma"]
                if not v or not v["start"] <= a < v["end"]:
                    errors.append(f"client {i}: lookup after mmap {v}")
                c.ok("munmap", {"space": mine, "addr": a, "length": P})
                v = c.ok("lookup", {"space": mine, "addr": a})["vma"]
                if v is not None:
                    errors.append(f"client {i}: lookup after munmap {v}")
            n += 1
        c.ok("space.destroy", {"space": mine})
        c.close()
        counts[i] = n
    except BaseException as e:  # noqa: B902 - report any failure
        errors.append(f"client {i}: {type(e).__name__}: {e}")


threads = [threading.Thread(target=client, args=(i,)) for i in range(NR)]
for t in threads:
    t.start()
for t in threads:
    t.join(DURATION + 60)
check(not any(t.is_alive() for t in threads), "clients hung")
check(not errors, "\n".join(errors[:20]))
check(all(counts), f"a client did nothing: {counts}")
maps = setup.ok("maps", {"space": "shared"})["vmas"]
check(maps[0]["start"] == W and maps[0]["end"] >= W + STABLE * P, maps[0])
check(setup.ok("space.validate", {"space": "shared"}) == {"valid": True},
      "shared space valid")
st = setup.ok("stats")
check(st["spaces"] == 1, st)
setup.close()
vmad.stop()
print(f"test_concurrency: ok ({sum(counts)} operations)")
