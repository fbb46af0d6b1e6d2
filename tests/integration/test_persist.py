#!/usr/bin/env python3
"""Snapshots and durable spaces, end to end.

- space.export / space.import: fork a space, export the child and import
  the copy, then run the same random sequence on both and compare every
  result and the final maps; a damaged, truncated or foreign snapshot is
  refused with -32602 saying what is wrong, and nothing is created.
- state_dir: spaces saved at SIGTERM come back with their ids, names,
  owners and every property; new ids never reuse old ones.
- appendonly: after kill -9, every acknowledged change is there.
- Damaged files at start (truncated, bit flips, another version, a damaged
  journal record, a journal without its snapshot) are each named in the
  log with what is wrong and set aside as .corrupt; every other space
  loads; a torn last journal record is cut off.
- One daemon per state directory."""
import base64
import os
import random
import signal
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from randops import maps_state, outcome, random_request  # noqa
from vmadtest import (P, W, Conn, Vmad, check, code_of, errno_of,  # noqa
                      fail, vmad_binary)

VMAD = vmad_binary()
SEEDS = int(os.environ.get("VMAD_TEST_SEEDS", "6"))


def build(c, name, rng, n):
    c.ok("space.create", {"name": name, "stack": True})
    for _ in range(n):
        m, p = random_request(rng, name)
        c.call(m, p)


def same_state(ca, a, cb, b, what):
    sa, sb = maps_state(ca, a), maps_state(cb, b)
    check(sa == sb, f"{what}: states differ:\n{sa[0]}\n---\n{sb[0]}")


def test_export_import_equivalence():
    v = Vmad(VMAD)
    c = Conn(v.sock)
    for seed in range(SEEDS):
        rng = random.Random(seed)
        p, ch, cp = f"p{seed}", f"child{seed}", f"copy{seed}"
        build(c, p, rng, 300)
        c.ok("space.fork", {"space": p, "name": ch})
        for _ in range(50):
            m, prm = random_request(rng, ch)
            c.call(m, prm)
        snap = c.ok("space.export", {"space": ch})
        check(snap["name"] == ch and snap["format"] == "vmad-space"
              and snap["bytes"] == len(base64.b64decode(snap["snapshot"])),
              {k: snap[k] for k in snap if k != "snapshot"})
        r = c.ok("space.import", {"name": cp, "snapshot": snap["snapshot"]})
        check(r["name"] == cp, r)
        same_state(c, ch, c, cp, f"seed {seed} right after import")
        for i in range(400):
            st = rng.getstate()
            m, prm = random_request(rng, ch)
            ra = c.call(m, prm)
            rng.setstate(st)
            m, prm = random_request(rng, cp)
            rb = c.call(m, prm)
            check(outcome(ra) == outcome(rb),
                  f"seed {seed} step {i} {m} {prm}: {ra} vs {rb}")
        same_state(c, ch, c, cp, f"seed {seed} at the end")
        # The copies' snapshots are equal but for the header.
        sa = base64.b64decode(c.ok("space.export", {"space": ch})
                              ["snapshot"])
        sb = base64.b64decode(c.ok("space.export", {"space": cp})
                              ["snapshot"])
        check(strip_header(sa) == strip_header(sb),
              f"seed {seed}: snapshots differ")
    v.stop()


def strip_header(b):
    """The libvma snapshot inside a space file (spacefile.c)."""
    hdr = struct.unpack_from("<I", b, 12)[0]
    n = struct.unpack_from("<Q", b, 16 + hdr)[0]
    return b[16 + hdr + 8:16 + hdr + 8 + n]


def fix_crc(b):
    b = bytearray(b)
    struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def test_import_refusals():
    v = Vmad(VMAD, "--max-map-count-limit", "100000")
    c = Conn(v.sock)
    c.ok("space.create", {"name": "src", "stack": True})
    c.ok("mmap", {"space": "src", "length": 3 * P, "prot": "rw",
                  "flags": ["private", "anonymous"]})
    good = base64.b64decode(c.ok("space.export", {"space": "src"})
                            ["snapshot"])
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    version = bytearray(good)
    version[8] = 9
    inner = bytearray(good)  # a libvma snapshot of another version
    inner[16 + struct.unpack_from("<I", good, 12)[0] + 8 + 8] = 7
    big = c.ok("space.create", {"name": "bigmax", "max_map_count": 90000})
    bigsnap = c.ok("space.export", {"space": "bigmax"})["snapshot"]
    cases = [
        ("not base64", "not base64!", "not base64"),
        ("truncated", base64.b64encode(good[:-10]).decode(), "truncated"),
        ("bit flip", base64.b64encode(bytes(flipped)).decode(),
         "checksum mismatch"),
        ("version", base64.b64encode(bytes(version)).decode(),
         "format version 9"),
        ("inner version", base64.b64encode(fix_crc(inner)).decode(),
         "snapshot format version 7"),
        ("empty", "", "truncated"),
    ]
    before = len(c.ok("space.list")["spaces"])
    for what, snap, want in cases:
        r = c.call("space.import", {"name": "x", "snapshot": snap})
        check(code_of(r) == -32602 and want in r["error"]["message"],
              f"{what}: {r}")
    r = c.call("space.import", {"name": "src",
                                "snapshot": base64.b64encode(good).decode()})
    check(errno_of(r) == "EEXIST", r)
    r = c.call("space.import", {"name": "x"})
    check(code_of(r) == -32602 and "snapshot" in r["error"]["message"], r)
    check(len(c.ok("space.list")["spaces"]) == before, "something created")
    # The name inside the snapshot is used when none is given.
    c.ok("space.destroy", {"space": "src"})
    r = c.ok("space.import", {"snapshot": base64.b64encode(good).decode()})
    check(r["name"] == "src", r)
    c.close()
    v.stop()
    # A daemon with a lower limit refuses a space above it.
    v = Vmad(VMAD, "--max-map-count-limit", "70000")
    c = Conn(v.sock)
    r = c.call("space.import", {"name": "y", "snapshot": bigsnap})
    check(code_of(r) == -32602 and "max_map_count" in r["error"]["message"],
          r)
    check(big["space"], big)
    v.stop()


def test_imported_layout():
    """A space imported from a real /proc/PID/maps ([vdso], [vvar], the
    [vsyscall] gate, files, shared memory) moves with every property."""
    v = Vmad(VMAD)
    c = Conn(v.sock)
    with open("/proc/self/maps") as f:
        text = f.read()
    c.ok("space.import", {"name": "real", "maps": text})
    snap = c.ok("space.export", {"space": "real"})["snapshot"]
    c.ok("space.import", {"name": "moved", "snapshot": snap})
    a, b = maps_state(c, "real"), maps_state(c, "moved")
    check(a == b, f"imported layout differs after the move:\n{a[0]}\n---\n"
          f"{b[0]}")
    rng = random.Random(5)
    for i in range(200):
        st = rng.getstate()
        m, prm = random_request(rng, "real")
        ra = c.call(m, prm)
        rng.setstate(st)
        m, prm = random_request(rng, "moved")
        rb = c.call(m, prm)
        check(outcome(ra) == outcome(rb), f"step {i} {m}: {ra} vs {rb}")
    check(maps_state(c, "real") == maps_state(c, "moved"), "states differ")
    r = c.call("space.import", {"name": "x", "maps": text, "snapshot": snap})
    check(code_of(r) == -32602 and "exactly one" in r["error"]["message"], r)
    r = c.call("space.import", {"name": "x", "snapshot": snap,
                                "start_brk": 0x1000000})
    check(code_of(r) == -32602 and "go with 'maps'" in r["error"]["message"],
          r)
    c.close()
    v.stop()


def populate(c, rng):
    """A few spaces with a history, forks among them; their states."""
    for k in range(4):
        build(c, f"s{k}", rng, 150)
    c.ok("space.fork", {"space": "s1", "name": "s1child"})
    c.ok("space.create", {})  # unnamed
    c.ok("space.destroy", {"space": "s3"})
    # A stack growth that RLIMIT_STACK refuses still gives the stack its
    # anon_vma (expand_downwards()): a change a journal must record.
    c.ok("space.create", {"name": "refused", "stack_rlimit": 4 * P,
                          "stack_guard_gap": 0})
    c.ok("mmap", {"space": "refused", "addr": W, "length": 4 * P,
                  "prot": "rw", "flags": ["private", "anonymous", "fixed",
                                          "growsdown"]})
    f = c.ok("fault", {"space": "refused", "addr": W - P, "access": "read"})
    check(f.get("code") == "SEGV_MAPERR", f"refused growth: {f}")
    vma = c.ok("maps", {"space": "refused"})["vmas"][0]
    check("anon_vma" in vma["flags"], f"refused growth: {vma}")
    names = [s["space"] for s in c.ok("space.list")["spaces"]]
    return {s: maps_state(c, s) for s in names}, c.ok("space.list")


def test_sigterm_restart(state):
    v = Vmad(VMAD, "--state-dir", state, "--save-interval", "0")
    c = Conn(v.sock)
    states, listing = populate(c, random.Random(7))
    c.close()
    err = v.stop()
    check("saves, 0 failed" in err, err[-2000:])
    v = Vmad(VMAD, "--state-dir", state)
    c = Conn(v.sock)
    check(c.ok("space.list") == listing,
          f"{c.ok('space.list')} != {listing}")
    for s, st in states.items():
        check(maps_state(c, s) == st, f"space {s} differs after restart")
    ids = [s["space"] for s in listing["spaces"]]
    new = c.ok("space.create", {"name": "new"})["space"]
    check(new > max(ids) and new not in ids, f"id {new} after {ids}")
    check(not any(f.endswith(".corrupt") for f in os.listdir(state)),
          os.listdir(state))
    c.close()
    v.stop()
    # The destroyed space's files are gone; the new one's are there.
    files = os.listdir(state)
    check(f"space-{new}.snap" in files, files)


def test_appendonly_kill(state, fsync):
    v = Vmad(VMAD, "--state-dir", state, "--appendonly", "yes",
             "--appendfsync", fsync, "--save-interval", "0")
    c = Conn(v.sock)
    states, listing = populate(c, random.Random(11))
    c.close()
    v.proc.kill()
    v.proc.wait()
    v = Vmad(VMAD, "--state-dir", state, "--appendonly", "yes",
             "--appendfsync", fsync)
    c = Conn(v.sock)
    check(c.ok("space.list") == listing,
          f"{fsync}: {c.ok('space.list')} != {listing}")
    for s, st in states.items():
        check(maps_state(c, s) == st,
              f"{fsync}: space {s} differs after kill -9")
    c.close()
    v.stop()


def damage(path, how):
    b = bytearray(open(path, "rb").read())
    if how == "truncated":
        b = b[:len(b) * 2 // 3]
    elif how == "bit flips":
        for i in (40, len(b) // 2, len(b) - 9):
            b[i] ^= 0x21
    elif how == "version":
        b[8] = 2
    open(path, "wb").write(bytes(b))


def test_damaged_files(state):
    v = Vmad(VMAD, "--state-dir", state, "--appendonly", "yes",
             "--save-interval", "0")
    c = Conn(v.sock)
    ids = {}
    for k in range(7):
        ids[k] = c.ok("space.create", {"name": f"d{k}", "stack": True}
                      )["space"]
        for i in range(6):
            c.ok("mmap", {"space": ids[k], "addr": W + (k * 64 + 2 * i) * P,
                          "length": P, "prot": "rw",
                          "flags": ["private", "anonymous", "fixed"]})
    good = {k: maps_state(c, ids[k]) for k in ids}
    c.close()
    v.proc.kill()
    v.proc.wait()
    snap = {k: os.path.join(state, f"space-{ids[k]}.snap") for k in ids}
    jnl = {k: os.path.join(state, f"space-{ids[k]}.1.journal") for k in ids}
    damage(snap[0], "truncated")
    damage(snap[1], "bit flips")
    damage(snap[2], "version")
    # A record in the middle of a journal: damaged, not torn.
    b = bytearray(open(jnl[3], "rb").read())
    b[32 + 8 + 3] ^= 0xff
    open(jnl[3], "wb").write(bytes(b))
    # A torn last record: cut off, the space loads without that change.
    b = open(jnl[4], "rb").read()
    last = b.rfind(b'{"jsonrpc"')
    open(jnl[4], "wb").write(b[:last + 20])
    os.rename(snap[5], snap[5] + ".gone")  # journal without a snapshot
    v = Vmad(VMAD, "--state-dir", state, "--appendonly", "yes")
    c = Conn(v.sock)
    names = {s["name"] for s in c.ok("space.list")["spaces"]}
    check(names == {"d4", "d6"}, names)
    check(maps_state(c, ids[6]) == good[6], "d6 differs")
    n4 = len(maps_state(c, ids[4])[1])
    check(n4 == len(good[4][1]) - 1,
          f"d4 has {n4} VMAs")
    # Still works: changes are journaled and survive another kill.
    c.ok("munmap", {"space": ids[6], "addr": W + 6 * 64 * P, "length": P})
    after6 = maps_state(c, ids[6])
    c.close()
    v.proc.kill()
    v.proc.wait()
    err = v.stderr()
    for k, want in ((0, "truncated"), (1, "checksum mismatch"),
                    (2, "format version 2")):
        name = os.path.basename(snap[k])
        check(any(name in ln and want in ln and ".corrupt" in ln
                  for ln in err.splitlines()),
              f"no log line for {name} ({want}):\n{err}")
        check(os.path.exists(snap[k] + ".corrupt"), f"{snap[k]}.corrupt")
    check(any(os.path.basename(jnl[3]) in ln and "damaged record" in ln
              for ln in err.splitlines()), err)
    check(os.path.exists(jnl[3] + ".corrupt") and
          os.path.exists(snap[3] + ".corrupt"), os.listdir(state))
    check(any(os.path.basename(jnl[4]) in ln and "incomplete record" in ln
              for ln in err.splitlines()), err)
    check(any(os.path.basename(jnl[5]) in ln and "without its snapshot" in ln
              for ln in err.splitlines()), err)
    v = Vmad(VMAD, "--state-dir", state, "--appendonly", "yes")
    c = Conn(v.sock)
    check(maps_state(c, ids[6]) == after6, "d6 lost its last change")
    # A second daemon on the same directory is refused.
    w = Vmad(VMAD, "--state-dir", state, "--socket",
             os.path.join(state, "other.sock"), wait=False)
    check(w.proc.wait(10) != 0, "a second daemon started on the directory")
    check("another vmad uses this directory" in w.stderr(), w.stderr())
    c.close()
    v.stop()


def main():
    test_export_import_equivalence()
    test_import_refusals()
    test_imported_layout()
    base = Vmad(VMAD)  # only for a temporary directory that is cleaned up
    try:
        test_sigterm_restart(os.path.join(base.dir, "a"))
        for fs in ("always", "everysec", "no"):
            test_appendonly_kill(os.path.join(base.dir, "k" + fs), fs)
        test_damaged_files(os.path.join(base.dir, "d"))
    finally:
        base.stop()
    print("ok")


if __name__ == "__main__":
    main()
