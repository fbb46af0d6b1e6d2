#!/usr/bin/env python3
"""Every method of the protocol over a real socket, with a client that uses
only the Python standard library (socket, json): results, errors, batches,
notifications, framing without newlines, hex numbers."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import (P, W, Conn, Vmad, check, code_of, errno_of,  # noqa
                      vmad_binary)

vmad = Vmad(vmad_binary(), "--workers", "2")
c = Conn(vmad.sock)

# ping, space.create, space.list
check(c.ok("ping").get("version"), "ping has a version")
r = c.ok("space.create", {"name": "m1", "stack_guard_gap": 0})
sid = r["space"]
check(isinstance(sid, int) and sid >= 1 and r["name"] == "m1", r)
r = c.ok("space.create")
anon = r["space"]
check(r["name"] is None and anon != sid, r)
r = c.call("space.create", {"name": "m1"})
check(code_of(r) == -32000 and errno_of(r) == "EEXIST", r)
spaces = c.ok("space.list")["spaces"]
ids = [s["space"] for s in spaces]
check(sid in ids and anon in ids and ids == sorted(ids), spaces)
check(any(s["name"] == "m1" and s["owner"] == os.getuid() for s in spaces),
      spaces)
# Each entry carries the space's layout, as space.create names it.
m1 = [s for s in spaces if s["name"] == "m1"][0]
other = [s for s in spaces if s["space"] == anon][0]
check(m1["stack_guard_gap"] == 0 and other["stack_guard_gap"] == 256 and
      other["task_size"] == 0x7ffffffff000 and
      other["mmap_base"] == 0x7ffff7fff000 and
      other["max_map_count"] == 65530 and
      other["stack_rlimit"] == 8 << 20, spaces)

# mmap: fixed, by id and name, hex strings, placement
r = c.ok("mmap", {"space": "m1", "addr": W, "length": 8 * P, "prot": "rw",
                  "flags": ["private", "anonymous", "fixed"]})
check(r == {"addr": W}, r)
r = c.ok("mmap", {"space": sid, "addr": hex(W + 16 * P), "length": "0x4000",
                  "prot": "r", "flags": ["shared", "fixed"], "file": "/data/f",
                  "offset": "0x2000"})
check(r == {"addr": W + 16 * P}, r)
r = c.ok("mmap", {"space": "m1", "length": P, "prot": "r",
                  "flags": ["private", "anonymous"]})
placed = r["addr"]
check(0 < placed < 0x7ffffffff000 and placed % P == 0, r)
r = c.call("mmap", {"space": "m1", "addr": W, "length": P, "prot": "r",
                    "flags": ["private", "anonymous", "fixed_noreplace"]})
check(errno_of(r) == "EEXIST" and code_of(r) == -32000, r)
check(isinstance(r["error"].get("message"), str), r)

# lookup
v = c.ok("lookup", {"space": "m1", "addr": W + P})["vma"]
check(v["start"] == W and v["end"] == W + 8 * P and v["perms"] == "rw-p"
      and v["file"] is None and v["name"] is None and v["offset"] == 0
      and "private" in v["flags"] and "anonymous" in v["flags"]
      and v["rss_pages"] == 0, v)
v = c.ok("lookup", {"space": "m1", "addr": W + 17 * P})["vma"]
check(v["start"] == W + 16 * P and v["perms"] == "r--s" and v["file"] ==
      "/data/f" and v["offset"] == 0x2000 and "shared" in v["flags"], v)
check(c.ok("lookup", {"space": "m1", "addr": W + 100 * P}) == {"vma": None},
      "lookup miss")

# mprotect splits; munmap of the middle; unaligned munmap is the model's
r = c.ok("mprotect", {"space": "m1", "addr": W + 2 * P, "length": 2 * P,
                      "prot": "r"})
check(r == {}, r)
v = c.ok("lookup", {"space": "m1", "addr": W + 2 * P})["vma"]
check((v["start"], v["end"], v["perms"]) == (W + 2 * P, W + 4 * P, "r--p"),
      v)
check(c.ok("munmap", {"space": "m1", "addr": W + 5 * P, "length": P}) == {},
      "munmap")
check(c.ok("lookup", {"space": "m1", "addr": W + 5 * P})["vma"] is None,
      "hole after munmap")
r = c.call("munmap", {"space": "m1", "addr": W + 1, "length": P})
check(code_of(r) == -32000 and errno_of(r) == "EINVAL", r)
r = c.call("mprotect", {"space": "m1", "addr": W + 200 * P, "length": P,
                        "prot": "r"})
check(errno_of(r) == "ENOMEM", r)

# fault
r = c.ok("fault", {"space": "m1", "addr": W, "access": "write"})
check(r["status"] == "ok" and r["populated"] is True and r["expanded"] is
      False and r["vma"]["start"] == W, r)
r = c.ok("fault", {"space": "m1", "addr": W, "access": "read"})
check(r["status"] == "ok" and r["populated"] is False, r)
r = c.ok("fault", {"space": "m1", "addr": W + 2 * P, "access": "write"})
check(r == {"status": "segv", "code": "SEGV_ACCERR"}, r)
r = c.ok("fault", {"space": "m1", "addr": W + 5 * P, "access": "read"})
check(r == {"status": "segv", "code": "SEGV_MAPERR"}, r)
r = c.ok("fault", {"space": "m1", "addr": W, "access": "exec"})
check(r["status"] == "segv" and r["code"] == "SEGV_ACCERR", r)

# a stack: growsdown mapping grows on a fault below it
c.ok("mmap", {"space": "m1", "addr": W + 1024 * P, "length": 4 * P,
              "prot": "rw", "flags": ["private", "anonymous", "fixed",
                                      "growsdown"]})
r = c.ok("fault", {"space": "m1", "addr": W + 1022 * P, "access": "write"})
check(r["status"] == "ok" and r["expanded"] is True and
      r["vma"]["start"] <= W + 1022 * P, r)

# mremap: shrink in place, grow with maymove
r = c.ok("mremap", {"space": "m1", "old_addr": W + 16 * P, "old_length":
                    4 * P, "new_length": 2 * P})
check(r == {"addr": W + 16 * P}, r)
r = c.ok("mremap", {"space": "m1", "old_addr": W + 6 * P, "old_length": P,
                    "new_length": 64 * P, "flags": ["maymove"]})
check(isinstance(r["addr"], int) and r["addr"] % P == 0, r)
r = c.call("mremap", {"space": "m1", "old_addr": W + 6 * P, "old_length": P,
                      "new_length": 2 * P, "flags": ["fixed"]})
check(errno_of(r) == "EINVAL", r)

# brk
b0 = c.ok("brk", {"space": "m1"})["brk"]
check(isinstance(b0, int) and b0 > 0, b0)
b1 = c.ok("brk", {"space": "m1", "addr": b0 + 8 * P})["brk"]
check(b1 == b0 + 8 * P, (b0, b1))
v = c.ok("lookup", {"space": "m1", "addr": b0})["vma"]
check(v is not None and v["name"] == "[heap]", v)

# maps
m = c.ok("maps", {"space": "m1"})
vmas, text = m["vmas"], m["text"]
check(len(vmas) >= 5 and all(a["end"] <= b["start"]
                             for a, b in zip(vmas, vmas[1:])), vmas)
keys = {"start", "end", "perms", "offset", "file", "name", "flags",
        "rss_pages", "dev", "inode", "anon_name", "vm_flags"}
check(all(set(x) == keys for x in vmas), vmas[0])
lines = text.splitlines()
check(len(lines) == len(vmas), (len(lines), len(vmas)))
check(lines[0].startswith("%x-%x " % (vmas[0]["start"], vmas[0]["end"])),
      lines[0])
check(any(x["start"] == W and x["rss_pages"] == 1 for x in vmas), vmas)

# fork: a copy of every VMA; destroy
r = c.ok("space.fork", {"space": "m1", "name": "m2"})
child = r["space"]
check(r["name"] == "m2" and child not in (sid, anon), r)
m2 = c.ok("maps", {"space": child})["vmas"]
check([(x["start"], x["end"], x["perms"]) for x in m2] ==
      [(x["start"], x["end"], x["perms"]) for x in vmas], "fork copies")
c.ok("munmap", {"space": "m2", "addr": W, "length": P})
check(c.ok("lookup", {"space": "m1", "addr": W})["vma"] is not None,
      "the parent does not see the child's munmap")

# stats, validate
st = c.ok("stats")
check(st["spaces"] == 3 and st["requests"] > 20 and st["faults"] >= 5
      and st["workers"] == 2 and st["connections"] >= 1, st)
st = c.ok("stats", {"space": "m1"})
check(st["space"] == sid and st["nr_vmas"] == len(vmas) and
      st["faults"] >= 5 and "tree" in st, st)
# The layout the picture draws: the break moved, its floor did not.
check(st["start_brk"] == b0 and st["brk"] == b1, (b0, b1, st))
# Every maps listing is counted once: under RCU alone or with the lock.
listed = st["maps_rcu"] + st["maps_locked"]
c.ok("maps", {"space": "m1"})
st2 = c.ok("stats", {"space": "m1"})
check(st2["maps_rcu"] + st2["maps_locked"] == listed + 1, (st, st2))
check(c.ok("space.validate", {"space": "m1"}) == {"valid": True},
      "validate")

# destroy
check(c.ok("space.destroy", {"space": "m2"}) == {}, "destroy")
r = c.call("maps", {"space": "m2"})
check(code_of(r) == -32000 and errno_of(r) == "ENOENT", r)
r = c.call("space.destroy", {"space": child})
check(errno_of(r) == "ENOENT", r)
check(c.ok("space.destroy", {"space": anon}) == {}, "destroy by id")

# errors
r = c.call("no.such.method")
check(code_of(r) == -32601, r)
r = c.call("munmap", {"space": "m1", "addr": "x", "length": P})
check(code_of(r) == -32602 and "'addr'" in r["error"]["message"], r)
r = c.call("munmap", {"space": "m1", "addr": 0, "length": P, "x": 1})
check(code_of(r) == -32602 and "'x'" in r["error"]["message"], r)
r = c.call("munmap", {"space": "m1", "addr": 0})
check(code_of(r) == -32602 and "'length'" in r["error"]["message"], r)
r = c.call("lookup", {"space": "m1", "addr": 2**64})
check(code_of(r) == -32602 and "'addr'" in r["error"]["message"], r)
r = c.ok("lookup", {"space": "m1", "addr": 2**64 - 1})
check(r == {"vma": None}, r)
r = c.ok("lookup", {"space": "m1", "addr": 2**63})
check(r == {"vma": None}, r)

# batch: in order, notifications omitted
batch = [
    {"jsonrpc": "2.0", "id": "a", "method": "lookup",
     "params": {"space": "m1", "addr": W}},
    {"jsonrpc": "2.0", "method": "fault",
     "params": {"space": "m1", "addr": W + P, "access": "write"}},
    {"jsonrpc": "2.0", "id": "b", "method": "nope"},
    {"jsonrpc": "2.0", "id": "c", "method": "maps",
     "params": {"space": sid}},
    5,
]
c.send(json.dumps(batch).encode() + b"\n")
r = c.resp()
check(isinstance(r, list) and [x.get("id") for x in r] ==
      ["a", "b", "c", None], r)
check(r[0]["result"]["vma"]["start"] == W and code_of(r[1]) == -32601
      and "vmas" in r[3 - 1]["result"] and code_of(r[3]) == -32600, r)
v = c.ok("lookup", {"space": "m1", "addr": W + P})["vma"]
check(v["rss_pages"] >= 2, "the notification in the batch ran")
# An all-notification batch and a notification get no response.
c.send(b'[{"jsonrpc":"2.0","method":"ping"}]\n'
       b'{"jsonrpc":"2.0","method":"ping"}\n'
       b'{"jsonrpc":"2.0","method":"nope"}\n')
check(c.call("ping")["id"] == c.n, "no response to notifications")

# values back to back, without newlines, and split across writes
reqs = b"".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "lookup",
                            "params": {"space": "m1", "addr": W}}).encode()
                for i in range(100, 110))
for i in range(0, len(reqs), 7):
    c.send(reqs[i:i + 7])
for i in range(100, 110):
    r = c.resp()
    check(r["id"] == i and r["result"]["vma"]["start"] == W, r)

# a second connection sees the same spaces
d = Conn(vmad.sock)
check(d.ok("lookup", {"space": "m1", "addr": W})["vma"]["start"] == W,
      "second connection")
d.close()
c.close()
vmad.stop()
print("test_methods: ok")
