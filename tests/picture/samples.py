"""Sample address spaces for the pictures of `vmactl show`.

Three spaces, each built over the socket with public methods only, the same
every time (vmad does no randomisation):

- tiny: the space of docs/tour.md: a stack with a neighbour inside its
  guard gap, an anonymous mapping, a three-segment file mapping;
- process: a real process's /proc/PID/maps (data/python3-threads.maps: a
  Python interpreter with four threads, 191 VMAs) mapped at the same
  addresses, with its heap moved by brk and its stack as the space's
  initial [stack]; the kernel's special mappings ([vvar], [vdso],
  [vsyscall]) are left out, as a simulated space has none;
- huge: the process above plus anonymous arenas of small mappings with
  alternating permissions, up to max_map_count: 65,530 VMAs.

Run as a program to build one in a running daemon:

    python3 tests/picture/samples.py --socket SOCK tiny|process|huge NAME
"""
import argparse
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import vmadtest  # noqa: E402

P = 4096
MAPS = os.path.join(HERE, "data", "python3-threads.maps")
MAX_MAP_COUNT = 65530


def ok(c, method, params):
    r = c.call(method, params)
    if "result" not in r:
        raise RuntimeError("%s %s failed: %s" % (method, params, r))
    return r["result"]


def pipeline(c, reqs, window=512):
    """Send (method, params) requests @window at a time; every one must
    succeed."""
    for i in range(0, len(reqs), window):
        ids = [c.send_req(m, p) for m, p in reqs[i:i + window]]
        for id in ids:
            r = c.resp()
            if r.get("id") != id or "result" not in r:
                raise RuntimeError("request %d failed: %s" % (id, r))


def mmap(space, addr, length, prot, flags, file=None, offset=0):
    p = {"space": space, "addr": addr, "length": length, "prot": prot,
         "flags": flags + ["fixed"]}
    if file is not None:
        p["file"] = file
        p["offset"] = offset
    return ("mmap", p)


def tiny(c, name):
    """The tour's space (docs/tour.md, sections 2 and 5)."""
    ok(c, "space.create", {"name": name, "stack": True})
    anon = ["private", "anonymous"]
    pipeline(c, [
        mmap(name, 0x7ffff7ffd000, 8192, "rw", anon),
        mmap(name, 0x7ffff7fed000, 64 * 1024, "r", ["private"],
             "libdemo.so", 0),
        ("mprotect", {"space": name, "addr": 0x7ffff7fef000,
                      "length": P, "prot": "rx"}),
        ("fault", {"space": name, "addr": 0x7ffff7ffe000,
                   "access": "write"}),
        ("fault", {"space": name, "addr": 0x7ffffffdd000,
                   "access": "read"}),
        mmap(name, 0x7ffffffd0000, P, "rw", anon),
    ])


def parse_maps(path):
    """(start, end, perms, offset, path) of every line of a maps file."""
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) < 5:
                continue
            s, e = (int(x, 16) for x in parts[0].split("-"))
            out.append((s, e, parts[1], int(parts[2], 16),
                        parts[5].strip() if len(parts) > 5 else ""))
    return out


def process(c, name, maps=MAPS):
    """A real process's layout at its own addresses."""
    vmas = parse_maps(maps)
    stack = [v for v in vmas if v[4] == "[stack]"][0]
    heap = [v for v in vmas if v[4] == "[heap]"]
    keep = [v for v in vmas if not v[4].startswith("[")]
    top = max(v[1] for v in keep if v[1] <= stack[0])
    params = {"name": name, "stack": True, "task_size": stack[1],
              "mmap_base": top}
    if heap:
        params["brk_base"] = heap[0][0]
    ok(c, "space.create", params)
    reqs = []
    if heap:
        reqs.append(("brk", {"space": name, "addr": heap[0][1]}))
    # The initial stack is 132K below task_size; a fault grows it to the
    # size the process had.
    reqs.append(("fault", {"space": name, "addr": stack[0],
                           "access": "write"}))
    for s, e, perms, off, path in keep:
        prot = "".join(ch for ch in perms[:3] if ch != "-") or "none"
        flags = ["shared" if perms[3] == "s" else "private"]
        if path:
            reqs.append(mmap(name, s, e - s, prot, flags, path, off))
        else:
            reqs.append(mmap(name, s, e - s, prot, flags + ["anonymous"]))
    pipeline(c, reqs)


def huge(c, name):
    """The process, then arenas of small anonymous mappings until the
    space holds max_map_count VMAs."""
    process(c, name)
    have = ok(c, "stats", {"space": name})["nr_vmas"]
    rnd = random.Random(17)
    reqs = []
    # Eight arenas at different distances, from 1 TiB up to the libraries.
    bases = [0x10000000000 << k for k in range(6)] + [0x7e0000000000,
                                                      0x7f0000000000]
    left = MAX_MAP_COUNT - have
    per = left // len(bases)
    for i, base in enumerate(bases):
        n = per if i < len(bases) - 1 else left - per * (len(bases) - 1)
        addr = base
        for k in range(n):
            # Alternating permissions keep neighbours from merging; one
            # mapping in four is followed by a hole.
            pages = rnd.choice((1, 1, 2, 4, 16))
            prot = "rw" if k % 2 else "r"
            reqs.append(mmap(name, addr, pages * P, prot,
                             ["private", "anonymous"]))
            addr += pages * P
            if k % 4 == 3:
                addr += rnd.choice((1, 8, 256)) * P
    pipeline(c, reqs)
    nr = ok(c, "stats", {"space": name})["nr_vmas"]
    if nr != MAX_MAP_COUNT:
        raise RuntimeError("huge sample has %d VMAs" % nr)


BUILDERS = {"tiny": tiny, "process": process, "huge": huge}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("kind", choices=sorted(BUILDERS))
    ap.add_argument("name")
    a = ap.parse_args()
    c = vmadtest.Conn(a.socket, timeout=120)
    BUILDERS[a.kind](c, a.name)
    c.close()


if __name__ == "__main__":
    main()
