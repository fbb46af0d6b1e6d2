#!/usr/bin/env python3
"""The methods of issue 16 over a real socket: madvise, mlock, mlock2,
munlock, mlockall, munlockall, mseal, set_vma_anon_name, the new mmap flags
and thp_align; the VMA's new flags, anon_name and vm_flags; their errors
and their bad input (-32602 naming the parameter), with nothing changed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import (P, W, Conn, Vmad, check, code_of, errno_of,  # noqa
                      vmad_binary)

vmad = Vmad(vmad_binary(), "--workers", "2")
c = Conn(vmad.sock)
ANON = ["private", "anonymous", "fixed"]

r = c.ok("space.create", {"name": "f", "memlock_rlimit": 8 * P})
sid = r["space"]
sp = [s for s in c.ok("space.list")["spaces"] if s["space"] == sid][0]
check(sp["memlock_rlimit"] == 8 * P, sp)


def vmas():
    return c.ok("maps", {"space": "f"})["vmas"]


def vma_at(addr):
    return c.ok("lookup", {"space": "f", "addr": addr})["vma"]


c.ok("mmap", {"space": "f", "addr": W, "length": 8 * P, "prot": "rw",
              "flags": ANON})

# madvise by name and by number; the flags and vm_flags follow.
check(c.ok("madvise", {"space": "f", "addr": W + 2 * P, "length": 2 * P,
                       "advice": "dontfork"}) == {}, "madvise")
v = vma_at(W + 2 * P)
check(v["start"] == W + 2 * P and v["end"] == W + 4 * P and
      "dontfork" in v["flags"] and v["vm_flags"] == "rd wr mr mw me dc ac",
      v)
c.ok("madvise", {"space": "f", "addr": W, "length": 8 * P, "advice": 11})
check(len(vmas()) == 1, "DOFORK (11) merges back")
r = c.call("madvise", {"space": "f", "addr": W, "length": P, "advice": 7})
check(errno_of(r) == "EINVAL", r)
r = c.call("madvise", {"space": "f", "addr": W + 1, "length": P,
                       "advice": "dontneed"})
check(errno_of(r) == "EINVAL", r)
r = c.call("madvise", {"space": "f", "addr": W + 64 * P, "length": P,
                       "advice": "dontdump"})
check(errno_of(r) == "ENOMEM", r)
# dontneed drops pages; free keeps them.
c.ok("fault", {"space": "f", "addr": W, "access": "write"})
c.ok("fault", {"space": "f", "addr": W + P, "access": "write"})
c.ok("madvise", {"space": "f", "addr": W, "length": 8 * P, "advice": "free"})
check(vma_at(W)["rss_pages"] == 2, "free keeps the pages")
c.ok("madvise", {"space": "f", "addr": W, "length": P,
                 "advice": "dontneed"})
check(vma_at(W)["rss_pages"] == 1, "dontneed drops one")
# Guard pages: a fault there is SEGV_MAPERR; VM_MAYBE_GUARD shows.
c.ok("madvise", {"space": "f", "addr": W + 4 * P, "length": P,
                 "advice": "guard_install"})
r = c.ok("fault", {"space": "f", "addr": W + 4 * P, "access": "read"})
check(r == {"status": "segv", "code": "SEGV_MAPERR"}, r)
v = vma_at(W)
check("maybe_guard" in v["flags"] and " gu " in " " + v["vm_flags"] + " ",
      v)
c.ok("madvise", {"space": "f", "addr": W + 4 * P, "length": P,
                 "advice": "guard_remove"})
r = c.ok("fault", {"space": "f", "addr": W + 4 * P, "access": "read"})
check(r["status"] == "ok", r)

# populate_write (by name) and populate_read (by number 22): pages as
# write and read faults; a hole is ENOMEM after the pages before it.
c.ok("mmap", {"space": "f", "addr": W + 32 * P, "length": 4 * P,
              "prot": "rw", "flags": ANON})
c.ok("madvise", {"space": "f", "addr": W + 32 * P, "length": 2 * P,
                 "advice": "populate_write"})
v = vma_at(W + 32 * P)
check(v["rss_pages"] == 2 and "anon_vma" in v["flags"], v)
r = c.call("madvise", {"space": "f", "addr": W + 32 * P, "length": 8 * P,
                       "advice": 23})
check(errno_of(r) == "ENOMEM" and vma_at(W + 32 * P)["rss_pages"] == 4, r)
c.ok("mprotect", {"space": "f", "addr": W + 32 * P, "length": 4 * P,
                  "prot": "r"})
r = c.call("madvise", {"space": "f", "addr": W + 32 * P, "length": P,
                       "advice": "populate_write"})
check(errno_of(r) == "EINVAL", r)
c.ok("madvise", {"space": "f", "addr": W + 32 * P, "length": P,
                 "advice": 22})
c.ok("munmap", {"space": "f", "addr": W + 32 * P, "length": 4 * P})

# mlock, mlock2 onfault, munlock; RLIMIT_MEMLOCK; stats locked_vm.
c.ok("mlock", {"space": "f", "addr": W + 2 * P, "length": 2 * P})
v = vma_at(W + 2 * P)
check("locked" in v["flags"] and v["rss_pages"] == 2 and
      v["vm_flags"] == "rd wr mr mw me gu lo ac", v)
st = c.ok("stats", {"space": "f"})
check(st["locked_vm"] == 2, st)
c.ok("mlock2", {"space": "f", "addr": W + 6 * P, "length": 2 * P,
                "flags": ["onfault"]})
v = vma_at(W + 6 * P)
check("lockonfault" in v["flags"] and v["rss_pages"] == 0, v)
r = c.call("mlock", {"space": "f", "addr": W, "length": 16 * P})
check(errno_of(r) == "ENOMEM", r)
c.ok("munlock", {"space": "f", "addr": W, "length": 8 * P})
check(c.ok("stats", {"space": "f"})["locked_vm"] == 0, "munlock")

# mlockall future: a later mmap is locked; munlockall ends it.
r = c.call("mlockall", {"space": "f", "flags": ["onfault"]})
check(errno_of(r) == "EINVAL", r)
r = c.call("mlockall", {"space": "f", "flags": []})
check(errno_of(r) == "EINVAL", r)
c.ok("mlockall", {"space": "f", "flags": ["future"]})
c.ok("mmap", {"space": "f", "addr": W + 32 * P, "length": P, "prot": "rw",
              "flags": ANON})
check("locked" in vma_at(W + 32 * P)["flags"], "MCL_FUTURE")
c.ok("munlockall", {"space": "f"})
c.ok("mmap", {"space": "f", "addr": W + 40 * P, "length": P, "prot": "rw",
              "flags": ANON})
check("locked" not in vma_at(W + 40 * P)["flags"], "munlockall")

# mseal: later munmap, mprotect, mremap are EPERM.
c.ok("mseal", {"space": "f", "addr": W + 40 * P, "length": P})
check("sealed" in vma_at(W + 40 * P)["flags"], "sealed")
for m, p in [("munmap", {"addr": W + 40 * P, "length": P}),
             ("mprotect", {"addr": W + 40 * P, "length": P, "prot": "r"}),
             ("mremap", {"old_addr": W + 40 * P, "old_length": P,
                         "new_length": 2 * P})]:
    p["space"] = "f"
    r = c.call(m, p)
    check(errno_of(r) == "EPERM", (m, r))
r = c.call("mseal", {"space": "f", "addr": W + 40 * P, "length": P,
                     "flags": 1})
check(errno_of(r) == "EINVAL", r)
r = c.call("mseal", {"space": "f", "addr": W + 41 * P, "length": P})
check(errno_of(r) == "ENOMEM", r)

# Anonymous names: [anon:NAME] in maps, name and anon_name in the VMA.
c.ok("set_vma_anon_name", {"space": "f", "addr": W, "length": 2 * P,
                           "name": "arena 1"})
v = vma_at(W)
check(v["anon_name"] == "arena 1" and v["name"] == "[anon:arena 1]", v)
text = c.ok("maps", {"space": "f"})["text"]
check(" [anon:arena 1]\n" in text, text)
for bad in ["a$b", "x" * 80, "tab\there"]:
    r = c.call("set_vma_anon_name", {"space": "f", "addr": W,
                                     "length": P, "name": bad})
    check(errno_of(r) == "EINVAL", (bad, r))
c.ok("set_vma_anon_name", {"space": "f", "addr": W, "length": 2 * P,
                           "name": None})
check(vma_at(W)["anon_name"] is None, "cleared")
c.ok("mmap", {"space": "f", "addr": W + 48 * P, "length": P, "prot": "r",
              "flags": ["private", "fixed"], "file": "/lib/x"})
r = c.call("set_vma_anon_name", {"space": "f", "addr": W + 48 * P,
                                 "length": P, "name": "x"})
check(errno_of(r) == "EBADF", r)

# mmap: MAP_STACK (VM_NOHUGEPAGE), ignored flags, SHARED_VALIDATE,
# 2 MiB file placement and thp_align.
c.ok("mmap", {"space": "f", "addr": W + 64 * P, "length": 2 * P,
              "prot": "rw", "flags": ANON})
c.ok("mmap", {"space": "f", "addr": W + 66 * P, "length": 2 * P,
              "prot": "rw", "flags": ANON + ["stack", "denywrite",
                                              "executable"]})
v = vma_at(W + 66 * P)
check(v["start"] == W + 66 * P and "nohugepage" in v["flags"], v)
r = c.call("mmap", {"space": "f", "length": P, "prot": "r",
                    "flags": ["shared", "private", "anonymous"]})
check(errno_of(r) == "EINVAL", r)
r = c.call("mmap", {"space": "f", "addr": W + 80 * P, "length": P,
                    "prot": "r", "flags": ["shared", "private",
                                           "fixed_noreplace"],
                    "file": "/lib/x"})
check(errno_of(r) == "EOPNOTSUPP", r)
c.ok("space.create", {"name": "cc1"})
r = c.ok("mmap", {"space": "cc1", "length": 0x209f18, "prot": "r",
                  "flags": ["private", "denywrite"], "file": "/usr/lib/cc1"})
check(r["addr"] == 0x7ffff7c00000, r)
r = c.ok("mmap", {"space": "cc1", "length": 0x209f18, "prot": "r",
                  "flags": ["private"], "file": "/tmp/tmpfs-file",
                  "thp_align": False})
check(r["addr"] % (2 << 20) != 0, r)

# Bad input: -32602 naming the parameter, nothing changed.
before = c.ok("maps", {"space": "f"})
for method, params, name in [
        ("madvise", {"addr": W, "length": P, "advice": "pageout"}, "advice"),
        ("madvise", {"addr": W, "length": P, "advice": 21}, "advice"),
        ("madvise", {"addr": W, "length": P, "advice": "collapse"},
         "advice"),
        ("madvise", {"addr": W, "length": P, "advice": 25}, "advice"),
        ("madvise", {"addr": W, "length": P, "advice": "nosuch"}, "advice"),
        ("madvise", {"addr": W, "length": P, "advice": 1.5}, "advice"),
        ("madvise", {"addr": W, "length": P, "advice": 1 << 40}, "advice"),
        ("madvise", {"addr": W, "length": P}, "advice"),
        ("mlock", {"addr": W, "length": P, "flags": ["nosuch"]}, "flags"),
        ("mlock2", {"addr": W, "length": P, "flags": "onfault"}, "flags"),
        ("mlockall", {}, "flags"),
        ("mlockall", {"flags": ["current", "never"]}, "flags"),
        ("mseal", {"addr": W, "length": P, "flags": -1}, "flags"),
        ("mseal", {"addr": W}, "length"),
        ("munlock", {"addr": W, "length": P, "flags": []}, "flags"),
        ("set_vma_anon_name", {"addr": W, "length": P}, "name"),
        ("set_vma_anon_name", {"addr": W, "length": P, "name": 5}, "name"),
        ("mmap", {"length": P, "prot": "r", "flags": ["private"],
                  "file": "/x", "thp_align": "no"}, "thp_align"),
        ("mmap", {"length": P, "prot": "r", "flags": ["hugetlb"]}, "flags"),
        ("space.create", {"memlock_rlimit": "lots"}, "memlock_rlimit")]:
    if method != "space.create":
        params["space"] = "f"
    r = c.call(method, params)
    check(code_of(r) == -32602 and name in r["error"]["message"],
          (method, params, r))
after = c.ok("maps", {"space": "f"})
check(before == after, "bad input changed nothing")
# An unknown space is an error, not a crash.
r = c.call("mseal", {"space": "nosuch", "addr": W, "length": P})
check(code_of(r) != 0 and "error" in r, r)
c.close()
vmad.stop()
print("test_vmflags: ok")
