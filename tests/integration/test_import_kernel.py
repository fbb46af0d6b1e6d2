#!/usr/bin/env python3
"""space.import against the running kernel: a child process (import_child)
mlock()s, mlock2(MLOCK_ONFAULT)s, madvise()s (DONTFORK, WIPEONFORK,
DONTDUMP, HUGEPAGE, NOHUGEPAGE, SEQUENTIAL, RANDOM, MERGEABLE,
GUARD_INSTALL), mseal()s and, where the kernel has CONFIG_ANON_VMA_NAME,
names pieces of its memory; its /proc/PID/smaps is imported and the
daemon's maps, VmFlags and locked_vm of the imported space are compared
with the kernel's. Then the same calls are made on both sides (munlock,
DODUMP, KEEPONFORK, NORMAL, munmap and mprotect of a sealed VMA, ...), and
after each one the results, maps, VmFlags and locked_vm are compared
again: later answers must not depend on whether a VMA was made by the
daemon or imported.

Guard markers: smaps shows only that a VMA had some ("gu"); where they are
is read from the child's /proc/PID/pagemap (PM_GUARD_REGION, bit 58,
Linux 6.14+) and given to space.import as "guards", and vmactl space
import --pid reads them itself. A read on the guard page must then be
SEGV_MAPERR in the daemon and SIGSEGV/SEGV_MAPERR in the child, a read
beside it fine on both, and after MADV_GUARD_REMOVE fine on both again.

What the kernel supports is detected from the child's own calls and
printed; a call the kernel refuses is left out of the comparison of its
flag (the imported text then does not hold it either), never faked. A
kernel whose pagemap does not report guard regions is detected and
printed too: the import then has no markers, and the test checks that
(the daemon answers the guard page as mapped while the child faults), as
docs/semantics.md says."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import Conn, Vmad, check, errno_of  # noqa: E402

if len(sys.argv) != 4:
    sys.exit("usage: test_import_kernel.py VMAD IMPORT_CHILD VMACTL")
VMAD, CHILD, VMACTL = sys.argv[1], sys.argv[2], sys.argv[3]
PM_GUARD_REGION = 1 << 58  # fs/proc/task_mmu.c
NR_PAGES = 40  # import_child.c
P = os.sysconf("SC_PAGESIZE")

# VmFlags codes the import keeps and the daemon prints from the VMA's
# state. Not compared: "mr mw me" (the model's VM_MAY* are those of a file
# opened read-write), "sh ms" (the perms column's 's' says it), and codes
# the model has no state for ("de", "pf", "io", "sd", "um", "uw", ...).
CODES = "rd wr ex gd gu lo sr rr dc lf ac nr wf dd hg nh mg sl".split()


def filt(vmflags):
    return " ".join(c for c in vmflags.split() if c in CODES)


def layout(smaps):
    """[(start, end, perms, offset, name, filtered VmFlags)] of smaps."""
    out = []
    for line in smaps.splitlines():
        f = line.split(None, 5)
        if f and "-" in f[0] and not f[0].endswith(":"):
            s, e = (int(x, 16) for x in f[0].split("-"))
            out.append([s, e, f[1], int(f[2], 16),
                        f[5].strip() if len(f) > 5 else "", ""])
        elif line.startswith("VmFlags:") and out:
            out[-1][5] = filt(line[8:])
    return [tuple(v) for v in out]


def daemon_layout(c, space):
    got = c.ok("maps", {"space": space})
    out = []
    for line, v in zip(got["text"].splitlines(), got["vmas"]):
        f = line.split(None, 5)
        out.append((v["start"], v["end"], f[1], int(f[2], 16),
                    f[5].strip() if len(f) > 5 else "", filt(v["vm_flags"])))
    return out


def read(path):
    with open(path) as f:
        return f.read()


def vmlck_pages(pid):
    for line in read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1]) * 1024 // P
    return None


def memlock_limit(pid):
    """The child's RLIMIT_MEMLOCK as mlock sees it (root: CAP_IPC_LOCK)."""
    if os.geteuid() == 0:
        return 2**64 - 1
    for line in read(f"/proc/{pid}/limits").splitlines():
        if line.startswith("Max locked memory"):
            v = line.split()[3]
            return 2**64 - 1 if v == "unlimited" else int(v)
    return 2**64 - 1


def diff(a, b):
    """The first VMA where the two layouts differ, for messages."""
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            fmt = (lambda v: "none" if v is None else
                   f"{v[0]:x}-{v[1]:x} {v[2]} {v[3]:x} {v[4]!r} [{v[5]}]")
            return f"VMA {i}: kernel {fmt(x)}, daemon {fmt(y)}"
    return "none"


def pagemap_guards(pid, start, npages):
    """The [start, end) runs of pages of [start, start + npages pages)
    that the pagemap of @pid shows as guard pages (one read)."""
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // P * 8)
        data = f.read(npages * 8)
    runs = []
    for i in range(len(data) // 8):
        e = int.from_bytes(data[8 * i:8 * i + 8], "little")
        a = start + i * P
        if not e & PM_GUARD_REGION:
            continue
        if runs and runs[-1][1] == a:
            runs[-1][1] = a + P
        else:
            runs.append([a, a + P])
    return runs


def daemon_touch(space, addr):
    r = c.ok("fault", {"space": space, "addr": addr, "access": "read"})
    return "0" if r["status"] == "ok" else r["code"]


def child_cmd(line):
    child.stdin.write(line + "\n")
    child.stdin.flush()
    return child.stdout.readline().strip()


def check_guards(gpage):
    """Import the child's guard markers as its pagemap shows them (and
    with vmactl --pid); compare reads on and beside the guard page."""
    pid = child.pid
    guards = pagemap_guards(pid, base, NR_PAGES)
    reports = bool(guards)
    print(f"guard page {gpage:x}: this kernel's pagemap "
          + (f"reports PM_GUARD_REGION: {[[hex(a), hex(b)] for a, b in guards]}"
             if reports else "does not report PM_GUARD_REGION (before 6.14)"))
    if reports:
        check(guards == [[gpage, gpage + P]],
              f"pagemap guard runs {guards}, one page at {gpage:x} installed")
    check(child_cmd(f"touch {gpage:x} 1") == "SEGV_MAPERR",
          "the child's own guard page does not fault")
    smaps = read(f"/proc/{pid}/smaps")
    c.ok("space.import", {"name": "kern-g", "maps": smaps, "guards": guards,
                          "memlock_rlimit": memlock_limit(pid)})
    check(c.ok("space.validate", {"space": "kern-g"})["valid"], "valid")
    k = layout(smaps)
    d = daemon_layout(c, "kern-g")
    check(k == d, f"with guards: maps or VmFlags differ; {diff(k, d)}")

    # vmactl reads the same from /proc/PID/pagemap itself.
    p = subprocess.run([VMACTL, "--socket", vmad.sock, "space", "import",
                        "kern-v", "--pid", str(pid)],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"vmactl space import --pid: {p.stderr}")
    said = "does not report guard regions" in p.stderr
    check(said != reports, f"vmactl on stderr: {p.stderr!r}")
    for addr in (gpage - P, gpage, gpage + P):
        check(daemon_touch("kern-v", addr) == daemon_touch("kern-g", addr),
              f"{addr:x}: vmactl --pid import differs from the pagemap one")

    def compare_reads(what):
        out = []
        for addr in (gpage - P, gpage, gpage + P):
            kres = child_cmd(f"touch {addr:x} 1")
            dres = daemon_touch("kern-g", addr)
            if reports or addr != gpage or what != "imported":
                check(kres == dres, f"{what}: read at {addr:x}: kernel "
                      f"{kres}, daemon {dres}")
            else:
                # Nothing to import from: the documented gap, checked.
                check(kres == "SEGV_MAPERR" and dres == "0",
                      f"{what}: read at {addr:x}: kernel {kres}, daemon "
                      f"{dres} (no markers imported)")
            out.append(kres)
        return out

    r1 = compare_reads("imported")
    kres = child_cmd(f"madvise {gpage:x} {P:x} 103")  # MADV_GUARD_REMOVE
    r = c.call("madvise", {"space": "kern-g", "addr": gpage, "length": P,
                           "advice": "guard_remove"})
    check(kres == ("0" if "result" in r else errno_of(r)),
          f"guard_remove: kernel {kres}, daemon {r}")
    r2 = compare_reads("after MADV_GUARD_REMOVE")
    check(r2 == ["0", "0", "0"], f"after MADV_GUARD_REMOVE: {r2}")
    print(f"guard markers {'imported' if reports else 'not reported'}: "
          f"reads beside/on/beside the guard page {' '.join(r1)}, after "
          f"MADV_GUARD_REMOVE {' '.join(r2)}: kernel and daemon agree"
          + ("" if reports else " (but on the guard page, as documented)"))


child = subprocess.Popen([CHILD], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, bufsize=1)
vmad = Vmad(VMAD, "--workers", "2")
c = Conn(vmad.sock)
try:
    words = child.stdout.readline().split()
    res = dict(zip(words[0::2], words[1::2]))
    base, shared = int(res.pop("base"), 16), int(res.pop("shared"), 16)
    pid = child.pid
    smaps = read(f"/proc/{pid}/smaps")
    kernel = layout(smaps)

    # ---- what this kernel supports --------------------------------------
    names = res["name"] == "0"
    print(f"kernel {os.uname().release}: " +
          ", ".join(f"{k} {v}" for k, v in res.items()))
    print("anonymous VMA names (CONFIG_ANON_VMA_NAME): " +
          ("supported" if names else f"not supported ({res['name']})"))

    def page_flags(i):
        a = base + i * P
        return next(v for v in kernel if v[0] <= a < v[1])

    # Each call that succeeded shows its code on its page's VMA (the test
    # is not empty: these are the flags the import must keep).
    want = {"mlock": "lo", "mlock2": "lf", "dontfork": "dc",
            "wipeonfork": "wf", "dontdump": "dd", "hugepage": "hg",
            "nohugepage": "nh", "sequential": "sr", "random": "rr",
            "mergeable": "mg", "mseal": "sl", "guard": "gu"}
    order = list(want) + ["name"]
    shown = []
    for what, code in want.items():
        v = page_flags(2 * order.index(what) + 1)
        if res[what] != "0":
            print(f"  {what}: refused by this kernel ({res[what]}), "
                  f"not compared")
        elif code in v[5].split():
            shown.append(code)
        elif what == "guard":
            print("  guard: installed, but this kernel has no "
                  "VM_MAYBE_GUARD ('gu' not shown)")
        else:
            check(False, f"{what} succeeded but its VMA shows no "
                  f"'{code}': {v}")
    if names:
        check(page_flags(2 * order.index("name") + 1)[4] == "[anon:myarena]",
              "the named page")
    print(f"flags shown by the kernel on the child's VMAs: {' '.join(shown)}")
    check(res["mlock"] != "0" or "lo" in shown, "mlock")
    check(len(shown) >= 6, f"too few flags to compare: {shown}")

    # ---- the import -----------------------------------------------------
    limit = memlock_limit(pid)
    c.ok("space.import", {"name": "kern", "maps": smaps,
                          "memlock_rlimit": limit})
    check(c.ok("space.validate", {"space": "kern"})["valid"], "valid")

    def compare(what):
        k = layout(read(f"/proc/{pid}/smaps"))
        d = daemon_layout(c, "kern")
        check(k == d, f"{what}: maps or VmFlags differ; {diff(k, d)}")
        lck = vmlck_pages(pid)
        st = c.ok("stats", {"space": "kern"})
        check(st["locked_vm"] == lck,
              f"{what}: locked_vm {st['locked_vm']}, kernel VmLck {lck} "
              f"pages")
        return len(k)

    n = compare("imported")
    print(f"imported {n} VMAs: maps, VmFlags and locked_vm equal")

    # ---- later calls on both sides -------------------------------------
    def both(line, method, params):
        child.stdin.write(line + "\n")
        child.stdin.flush()
        kres = child.stdout.readline().strip()
        r = c.call(method, dict(params, space="kern"))
        dres = "0" if "result" in r else errno_of(r)
        check(kres == dres, f"{line}: kernel {kres}, daemon {dres} ({r})")
        compare(line)
        return kres

    def pg(i):
        return base + i * P

    steps = [
        (f"munlock {pg(1):x} {P:x}", "munlock",
         {"addr": pg(1), "length": P}),
        (f"munlock {pg(3):x} {P:x}", "munlock",
         {"addr": pg(3), "length": P}),
        (f"madvise {pg(5):x} {P:x} 11", "madvise",
         {"addr": pg(5), "length": P, "advice": 11}),      # DOFORK
        (f"madvise {pg(7):x} {P:x} 19", "madvise",
         {"addr": pg(7), "length": P, "advice": 19}),      # KEEPONFORK
        (f"madvise {pg(9):x} {P:x} 17", "madvise",
         {"addr": pg(9), "length": P, "advice": 17}),      # DODUMP
        (f"madvise {pg(15):x} {3 * P:x} 0", "madvise",
         {"addr": pg(15), "length": 3 * P, "advice": 0}),  # NORMAL
        (f"madvise {pg(19):x} {P:x} 13", "madvise",
         {"addr": pg(19), "length": P, "advice": 13}),     # UNMERGEABLE
        (f"munmap {pg(21):x} {P:x}", "munmap",
         {"addr": pg(21), "length": P}),                   # sealed
        (f"mprotect {pg(21):x} {P:x} 1", "mprotect",
         {"addr": pg(21), "length": P, "prot": "r"}),      # sealed
        (f"mlock {pg(26):x} {4 * P:x}", "mlock",
         {"addr": pg(26), "length": 4 * P}),
        (f"munlock {shared:x} {4 * P:x}", "munlock",
         {"addr": shared, "length": 4 * P}),
        (f"munmap {pg(34):x} {2 * P:x}", "munmap",
         {"addr": pg(34), "length": 2 * P}),
        (f"mseal {pg(36):x} {P:x}", "mseal",
         {"addr": pg(36), "length": P}),
        (f"munmap {pg(36):x} {P:x}", "munmap",
         {"addr": pg(36), "length": P}),
    ]
    if names:
        steps.append((f"name {pg(25):x} {P:x} -", "set_vma_anon_name",
                      {"addr": pg(25), "length": P, "name": None}))
    results = [both(*s) for s in steps]
    print(f"{len(steps)} later calls: results, maps, VmFlags and locked_vm "
          f"equal ({' '.join(results)})")
    check(c.ok("space.validate", {"space": "kern"})["valid"], "valid after")

    # ---- guard markers, from the child's pagemap ------------------------
    gpage = pg(2 * order.index("guard") + 1)
    if res["guard"] != "0":
        print(f"guard markers: MADV_GUARD_INSTALL refused by this kernel "
              f"({res['guard']}), not compared")
    else:
        check_guards(gpage)
finally:
    child.stdin.close()
    child.wait()
    c.close()
    vmad.stop()
print("ok")
