#!/usr/bin/env python3
"""space.import from /proc/PID/maps and smaps text over a real socket: a
live process's layout is imported exactly (every VMA, range, permissions,
offset and name as the kernel shows them), special mappings refuse to be
split, and malformed text is refused with the line named and nothing
created."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import Conn, Vmad, check, code_of, errno_of, vmad_binary  # noqa


def columns(text):
    """(start, end, perms, offset, name) of each maps or smaps VMA line."""
    out = []
    for line in text.splitlines():
        f = line.split(None, 5)
        if len(f) < 5 or "-" not in f[0] or f[0].endswith(":"):
            continue
        s, e = f[0].split("-")
        name = f[5] if len(f) > 5 else ""
        off = int(f[2], 16)
        # The kernel prints no offset for anonymous and special VMAs, and
        # the offset of shmem in pages; vmad the same.
        out.append((int(s, 16), int(e, 16), f[1], off, name))
    return out


vmad = Vmad(vmad_binary(), "--workers", "2")
c = Conn(vmad.sock)

# A live process of this machine: a sleeping child (its layout is stable).
child = subprocess.Popen(["sleep", "30"])
try:
    # Wait until it sleeps (its libraries are loaded): the same maps twice.
    prev = None
    for _ in range(200):
        with open(f"/proc/{child.pid}/maps") as f:
            maps = f.read()
        if maps == prev and "libc" in maps:
            break
        prev = maps
        time.sleep(0.02)
    with open(f"/proc/{child.pid}/smaps") as f:
        smaps = f.read()
    with open(f"/proc/{child.pid}/maps") as f:
        maps = f.read()
finally:
    child.kill()
    child.wait()

for kind, text in (("smaps", smaps), ("maps", maps)):
    name = "imp-" + kind
    r = c.ok("space.import", {"name": name, "maps": text})
    check(r["name"] == name, r)
    got = c.ok("maps", {"space": name})
    want = columns(text)
    have = columns(got["text"])
    check(have == want, f"{kind}: imported maps differ:\n{got['text']}\n"
          f"--- kernel ---\n{maps}")
    check(c.ok("space.validate", {"space": name})["valid"], name)
    vdso = [v for v in got["vmas"] if v["name"] == "[vdso]"]
    check(len(vdso) == 1 and "special" in vdso[0]["flags"], got["vmas"])
    v = vdso[0]
    if v["end"] - v["start"] > 4096:
        r = c.call("munmap", {"space": name, "addr": v["start"],
                              "length": 4096})
        check(errno_of(r) == "EINVAL", f"partial munmap of [vdso]: {r}")
    r = c.call("mremap", {"space": name, "old_addr": v["start"],
                          "old_length": v["end"] - v["start"],
                          "new_length": v["end"] - v["start"] + 4096})
    check(errno_of(r) == "EFAULT", f"growing [vdso]: {r}")
    # The heap: brk grows it in place from the imported break.
    heap = [v for v in got["vmas"] if v["name"] == "[heap]"]
    if heap:
        r = c.ok("brk", {"space": name})
        check(r["brk"] == heap[0]["end"], r)

# smaps: VmFlags decide VM_ACCOUNT, Anonymous decides the anon_vma.
text = ("10000000-10002000 rw-p 00000000 00:00 0 \n"
        "Anonymous:             0 kB\n"
        "VmFlags: rd wr mr mw me nr \n"
        "10002000-10004000 rw-p 00000000 00:00 0 \n"
        "Anonymous:             8 kB\n"
        "VmFlags: rd wr mr mw me ac \n")
c.ok("space.import", {"name": "flags", "maps": text})
vmas = c.ok("maps", {"space": "flags"})["vmas"]
check("noreserve" in vmas[0]["flags"] and "account" not in vmas[0]["flags"]
      and "anon_vma" not in vmas[0]["flags"], vmas)
check("account" in vmas[1]["flags"] and "anon_vma" in vmas[1]["flags"], vmas)

# Anonymous names and the VmFlags of madvise, mlock and mseal (issue 16):
# kept, printed back as given, counted, and later answers follow them.
PAD = " " * 33
named = ("10000000-10002000 rw-p 00000000 00:00 0 " + PAD + "[anon:myarena]\n"
         "VmFlags: rd wr mr mw me ac \n"
         "10002000-10004000 rw-p 00000000 00:00 0 " + PAD + "[anon:other]\n"
         "VmFlags: rd wr mr mw me ac \n"
         "10004000-10006000 rw-p 00000000 00:00 0 \n"
         "Anonymous:             8 kB\n"
         "VmFlags: rd wr mr mw me lo ac \n"
         "10006000-10007000 rw-p 00000000 00:00 0 \n"
         "VmFlags: rd wr mr mw me dc ac wf dd \n"
         "10007000-10008000 rw-p 00000000 00:00 0 \n"
         "VmFlags: rd wr mr mw me sr ac hg mg \n"
         "10008000-10009000 rw-p 00000000 00:00 0 \n"
         "VmFlags: rd wr mr mw me gu ac sl \n"
         "10009000-1000b000 rw-s 00000000 00:01 4 " + PAD +
         "[anon_shmem:shm]\n"
         "VmFlags: rd wr sh mr mw me ms lo lf \n")
c.ok("space.import", {"name": "named", "maps": named})
got = c.ok("maps", {"space": "named"})
back = "".join(v_line + "VmFlags: " + v["vm_flags"] + " \n"
               for v_line, v in zip(got["text"].splitlines(True), got["vmas"]))
given = "".join(ln for ln in named.splitlines(True)
                if not ln.startswith("Anonymous:"))
check(back == given, f"named: imported and printed back:\n{back}\n"
      f"--- given ---\n{given}")
check([v["anon_name"] for v in got["vmas"]] ==
      ["myarena", "other", None, None, None, None, "shm"], got["vmas"])
check("locked" in got["vmas"][2]["flags"] and
      "sealed" in got["vmas"][5]["flags"] and
      "maybe_guard" in got["vmas"][5]["flags"], got["vmas"])
st = c.ok("stats", {"space": "named"})
check(st["locked_vm"] == 2 + 2, f"locked_vm counts the locked VMAs: {st}")
check(c.ok("space.validate", {"space": "named"})["valid"], "named valid")
r = c.call("munmap", {"space": "named", "addr": 0x10008000, "length": 4096})
check(errno_of(r) == "EPERM", f"munmap of an imported sealed VMA: {r}")
# Naming the second VMA as the first merges them; the old names kept them
# apart.
c.ok("set_vma_anon_name", {"space": "named", "addr": 0x10002000,
                           "length": 0x2000, "name": "myarena"})
vm = c.ok("maps", {"space": "named"})["vmas"]
check(vm[0]["end"] == 0x10004000 and vm[0]["anon_name"] == "myarena", vm)
c.ok("munlock", {"space": "named", "addr": 0x10004000, "length": 0x2000})
check(c.ok("stats", {"space": "named"})["locked_vm"] == 2, "after munlock")
# fork leaves the VM_DONTCOPY VMA behind.
c.ok("space.fork", {"space": "named", "name": "named-child"})
kid = c.ok("maps", {"space": "named-child"})["vmas"]
check(0x10006000 not in [v["start"] for v in kid], kid)

# Names prctl(PR_SET_VMA_ANON_NAME) refuses, and flags no call sequence
# makes: refused naming the line, nothing created.
before = c.ok("space.list")["spaces"]
for bad, line, what in (
        ("10000000-10001000 rw-p 00000000 00:00 0\n"
         "10001000-10002000 rw-p 00000000 00:00 0 [anon:a$b]\n", 2,
         "anonymous VMA name"),
        ("10000000-10001000 rw-p 00000000 00:00 0 [anon:" + "x" * 80 + "]\n",
         1, "anonymous VMA name"),
        ("10000000-10001000 rw-p 00000000 00:00 0 [anon:open\n", 1, "']'"),
        ("10000000-10001000 rw-p 00000000 00:00 0\n"
         "VmFlags: rd wr mr mw me lf ac\n", 1, "flags"),
        ("10000000-10001000 rw-p 00000000 00:00 0\n"
         "VmFlags: rd wr mr mw me hg nh\n", 1, "flags"),
        ("10000000-10001000 rw-p 00000000 fe:01 3 /lib/x\n"
         "VmFlags: rd wr mr mw me wf\n", 1, "flags"),
        ("10000000-10001000 rw-p 00000000 00:00 0 [anon_shmem:x]\n", 1,
         "flags")):
    r = c.call("space.import", {"name": "bad", "maps": bad})
    check(code_of(r) == -32602 and f"line {line}:" in r["error"]["message"]
          and what in r["error"]["message"], f"{bad!r}: {r}")
check(c.ok("space.list")["spaces"] == before, "a failed import made a space")

# Malformed text: -32602 naming the line, and no space is created.
before = c.ok("space.list")["spaces"]
for bad, line in (
        ("10000000-10001000 rw-p 00000000 00:00 0\nxyz\n", 2),
        ("10000000-10001000 rwzp 00000000 00:00 0\n", 1),
        ("10001000-10000000 rw-p 00000000 00:00 0\n", 1),
        ("10000000-10001800 rw-p 00000000 00:00 0\n", 1),
        ("10000000-10002000 rw-p 00000000 00:00 0\n"
         "10001000-10003000 rw-p 00000000 00:00 0\n", 2),
        ("\n10000000-10001000 r--p 00000000 08:01 12\n"
         "Anonymous: lots\n", 3),
        ("10000000-10001000 r--p 00000000 08:01 12 /a\n"
         "20000000-20001000 r--p 00000000 08:01 12 /a\n"
         "800000000000-800000001000 r--p 00000000 08:01 12 /a\n", 3)):
    r = c.call("space.import", {"name": "bad", "maps": bad})
    check(code_of(r) == -32602 and f"line {line}" in r["error"]["message"],
          f"{bad!r}: {r}")
r = c.call("space.import", {"name": "bad"})
check(code_of(r) == -32602 and "'maps'" in r["error"]["message"], r)
r = c.call("space.import", {"name": "bad", "maps": 42})
check(code_of(r) == -32602, r)
r = c.call("space.import", {"name": "flags", "maps": text})
check(errno_of(r) == "EEXIST", r)
check(c.ok("space.list")["spaces"] == before, "a failed import made a space")

# Guard markers given with the layout ("guards"): faults on them are
# SEGV_MAPERR, the VMAs they touch carry VM_MAYBE_GUARD, and a snapshot
# keeps them.
GMAPS = ("10000000-10004000 rw-p 00000000 00:00 0\n"
         "10004000-10006000 r--p 00000000 fe:01 7 /lib/g\n"
         "10006000-10008000 rw-p 00000000 00:00 0\n"
         "VmFlags: rd wr mr mw me lo ac\n"
         "7ffff7fc8000-7ffff7fca000 r-xp 00000000 00:00 0 [vdso]\n")


def fault(space, addr):
    r = c.ok("fault", {"space": space, "addr": addr, "access": "read"})
    return r.get("code", r["status"])


c.ok("space.import", {"name": "guards", "maps": GMAPS,
                      "guards": [[0x10001000, 0x10002000],
                                 ["0x10003000", "0x10005000"]]})
for addr, want in ((0x10000000, "ok"), (0x10001000, "SEGV_MAPERR"),
                   (0x10002000, "ok"), (0x10003000, "SEGV_MAPERR"),
                   (0x10004000, "SEGV_MAPERR"), (0x10005000, "ok")):
    check(fault("guards", addr) == want, f"{addr:#x}: {fault('guards', addr)}")
vm = c.ok("maps", {"space": "guards"})["vmas"]
check("maybe_guard" in vm[0]["flags"] and "anon_vma" in vm[0]["flags"]
      and "maybe_guard" in vm[1]["flags"]
      and "maybe_guard" not in vm[2]["flags"], vm)
snap = c.ok("space.export", {"space": "guards"})["snapshot"]
c.ok("space.import", {"name": "guards-copy", "snapshot": snap})
check(fault("guards-copy", 0x10001000) == "SEGV_MAPERR"
      and fault("guards-copy", 0x10002000) == "ok", "snapshot lost guards")
check(c.ok("space.export", {"space": "guards-copy"})["snapshot"] != "",
      "export of the copy")
c.ok("madvise", {"space": "guards", "addr": 0x10001000, "length": 0x1000,
                 "advice": "guard_remove"})
check(fault("guards", 0x10001000) == "ok", "guard_remove")

# Guard ranges Linux could not hold, or malformed: -32602 naming the
# range, and nothing is created.
before = c.ok("space.list")["spaces"]
for guards, what in (
        ([[0x10001000, 0x10001800]], "guards[0]"),
        ([[0x10001000, 0x10003000], [0x10002000, 0x10004000]], "guards[1]"),
        ([[0x10002000, 0x10003000], [0x10001000, 0x10002000]], "guards[1]"),
        ([[0x10002000, 0x10002000]], "guards[0]"),
        ([[0x0f000000, 0x0f001000]], "guards[0]"),
        ([[0x10005000, 0x10009000]], "guards[0]"),
        ([[0x10000000, 0x10001000], [0x10006000, 0x10007000]], "guards[1]"),
        ([[0x7ffff7fc8000, 0x7ffff7fc9000]], "guards[0]"),
        ([[0x10001000]], "guards[0]"),
        ({"a": 1}, "guards")):
    r = c.call("space.import", {"name": "bad", "maps": GMAPS,
                                "guards": guards})
    check(code_of(r) == -32602 and f"'{what}'" in r["error"]["message"],
          f"{guards}: {r}")
r = c.call("space.import", {"name": "bad", "snapshot": snap, "guards": []})
check(code_of(r) == -32602 and "guard" in r["error"]["message"], r)
check(c.ok("space.list")["spaces"] == before, "a failed import made a space")

c.close()
vmad.stop()
print("ok")
