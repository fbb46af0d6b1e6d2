#!/usr/bin/env python3
"""Ids and names (issue 19 item 8, issue 17): ids are never reused across
daemon lives (each life starts at a fresh, logged base), so an old
client's `space.destroy 1` cannot destroy a new session's space; names
that look like ids are refused, so that `vmactl space create 1` followed by
`vmactl space destroy 1` cannot destroy another space. (Per-owner names,
"no such space" for others' spaces and per-caller stats are checked across
uids in test_service.py.)

Usage: test_names.py VMAD VMACTL
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import Conn, Vmad, check, code_of, errno_of  # noqa

VMAD, VMACTL = sys.argv[1], sys.argv[2]

# Life 1.
v = Vmad(VMAD, "--log-level", "info")
c = Conn(v.sock)
a = c.ok("space.create", {"name": "a"})["space"]
b = c.ok("space.create")["space"]
check(b > a > 10**15, f"ids {a}, {b}: not from a fresh base")
c.close()
err = v.stop()
check(f"space ids start at {a} " in err, err[-2000:])

# Life 2, on the same socket: new ids are above every old one, and the
# old ones name nothing.
v = Vmad(VMAD, sock=v.sock)
c = Conn(v.sock)
n = c.ok("space.create", {"name": "a"})["space"]
check(n > b, f"id {n} of the second life is not above {b}")
for old in (a, b, 1):
    r = c.call("space.destroy", {"space": old})
    check(errno_of(r) == "ENOENT", r)
check([s["space"] for s in c.ok("space.list")["spaces"]] == [n],
      "an old id destroyed a new space")

# Names that read as ids are refused; others with digits are fine.
for name in ("1", "007", "0x1f", "0XAB"):
    r = c.call("space.create", {"name": name})
    check(code_of(r) == -32602 and "look like an id" in
          r["error"]["message"], r)
    r = c.call("space.fork", {"space": "a", "name": name})
    check(code_of(r) == -32602, r)
for name in ("1a", "0x", "v2", "0xg"):
    c.ok("space.create", {"name": name})


def vmactl(*args):
    return subprocess.run([VMACTL, "--socket", v.sock, *args],
                          capture_output=True, text=True, timeout=60)


r = vmactl("space", "create", "1")
check(r.returncode == 2 and "look like an id" in r.stderr, r)
r = vmactl("space", "destroy", "1")
check(r.returncode == 1 and ("no such space" in r.stderr or
                            "ENOENT" in r.stderr), r)
check(len(c.ok("space.list")["spaces"]) == 5, "vmactl destroyed a space")
c.close()
v.stop()
print("test_names: ok")
