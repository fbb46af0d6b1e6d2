#!/usr/bin/env python3
"""A full disk: vmad's state directory on a small tmpfs.

- A save that does not fit fails loudly (a log line naming the file and
  the error), leaves the previous snapshot as it was and no temporary
  file, and the daemon goes on serving; the space saves again once there
  is room.
- With appendonly, a change the journal cannot take is refused with EIO
  (it was not acknowledged, and it is not there after a restart); reads
  go on; once there is room again and a save succeeded, changes are
  accepted and survive kill -9.

Mounting a tmpfs needs privileges: as root the test mounts one (in a
private mount namespace when unshare(1) allows it); otherwise it runs
itself again inside a new user and mount namespace (unshare -Urm). If
neither is possible it says so and does not run."""
import os
import shutil
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from randops import maps_state  # noqa
from vmadtest import P, W, Conn, Vmad, check, errno_of, vmad_binary  # noqa

VMAD = vmad_binary()
SIZE = 256 * 1024


def in_namespace():
    """Run this test again where a tmpfs can be mounted, or say why not."""
    if os.environ.get("VMAD_TEST_NS") == "1":
        return False
    env = dict(os.environ, VMAD_TEST_NS="1")
    for argv in (["unshare", "-m", "--propagation", "private"],
                 ["unshare", "-Urm"]):
        if argv[1] == "-m" and os.geteuid() != 0:
            continue
        probe = subprocess.run(argv + ["sh", "-c",
                                       "mount -t tmpfs tmpfs /mnt"],
                               capture_output=True)
        if probe.returncode == 0:
            r = subprocess.run(argv + [sys.executable] + sys.argv, env=env)
            sys.exit(r.returncode)
    if os.geteuid() == 0:
        return False  # mount directly (and unmount at the end)
    print("full-disk test NOT RUN: this machine does not let the test "
          "mount a tmpfs (not root, and unshare -Urm failed)", flush=True)
    sys.exit(0)


def mount(d):
    os.makedirs(d)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}",
                        "tmpfs", d], capture_output=True, text=True)
    check(r.returncode == 0, f"mount tmpfs: {r.stderr}")


def umount(d):
    subprocess.run(["umount", d], capture_output=True)


def valid_space_file(path):
    b = open(path, "rb").read()
    return (len(b) > 20 and b[:8] == b"VMADSPC\0"
            and int.from_bytes(b[-4:], "little") == zlib.crc32(b[:-4]))


def wait_for(cond, what, timeout=10):
    t = time.time() + timeout
    while time.time() < t:
        if cond():
            return
        time.sleep(0.02)
    check(False, f"timed out waiting for {what}")


def mmaps(c, space, first, n):
    for base in range(first, first + n, 5000):
        batch = [{"jsonrpc": "2.0", "id": i, "method": "mmap",
                  "params": {"space": space, "addr": W + 2 * i * P,
                             "length": P, "prot": "rw",
                             "flags": ["private", "anonymous", "fixed"]}}
                 for i in range(base, min(first + n, base + 5000))]
        c.send((__import__("json").dumps(batch) + "\n").encode())
        r = c.resp()
        check(all("result" in x for x in r), [x for x in r if "error" in x])


def test_saves(state):
    v = Vmad(VMAD, "--state-dir", state, "--save-interval", "50ms",
             "--max-message", "16M")
    c = Conn(v.sock)
    keep = c.ok("space.create", {"name": "keep", "stack": True})["space"]
    big = c.ok("space.create", {"name": "big",
                                "max_map_count": 100000})["space"]
    mmaps(c, "big", 0, 2000)
    kf = os.path.join(state, f"space-{keep}.snap")
    bf = os.path.join(state, f"space-{big}.snap")
    wait_for(lambda: os.path.exists(kf) and os.path.exists(bf), "saves")
    # Grow big past what the disk holds (its states after each batch are
    # the ones a save may have kept): its saves fail, loudly.
    sizes = [c.ok("stats", {"space": "big"})["nr_vmas"]]
    for k in range(8):
        mmaps(c, "big", 2000 + 5000 * k, 5000)
        sizes.append(c.ok("stats", {"space": "big"})["nr_vmas"])
    wait_for(lambda: "save failed" in v.stderr(), "a failed save")
    err = v.stderr()
    check(any(os.path.basename(bf) in ln and "No space left" in ln and
              "previous snapshot" in ln for ln in err.splitlines()), err)
    old_big = open(bf, "rb").read()
    check(valid_space_file(bf), "the previous snapshot is damaged")
    n = err.count("save failed")
    wait_for(lambda: v.stderr().count("save failed") > n, "another failure")
    check(open(bf, "rb").read() == old_big, "a failed save changed the file")
    # The daemon serves; the small space still saves.
    c.ok("ping")
    c.ok("mmap", {"space": "keep", "addr": W, "length": P, "prot": "r",
                  "flags": ["private", "anonymous", "fixed"]})
    keep_state = maps_state(c, "keep")
    before = os.path.getmtime(kf)
    wait_for(lambda: os.path.getmtime(kf) != before, "keep saved")
    check(not [f for f in os.listdir(state) if f.endswith(".tmp")],
          os.listdir(state))
    c.close()
    v.proc.kill()
    v.proc.wait()
    # The acknowledged saves are what a restart finds.
    v = Vmad(VMAD, "--state-dir", state)
    c = Conn(v.sock)
    got = c.ok("stats", {"space": "big"})["nr_vmas"]
    # A save may fall between two requests of a batch.
    check(sizes[0] <= got < sizes[-1],
          f"big has {got} VMAs, not between {sizes[0]} and {sizes[-1]}")
    check(maps_state(c, "keep") == keep_state, "keep differs")
    c.ok("space.destroy", {"space": "big"})
    c.close()
    v.stop()


def test_journal(state):
    args = ["--state-dir", state, "--appendonly", "yes", "--appendfsync",
            "always", "--save-interval", "50ms"]
    v = Vmad(VMAD, *args)
    c = Conn(v.sock)
    c.ok("mmap", {"space": "keep", "addr": W + 8 * P, "length": P,
                  "prot": "rw", "flags": ["private", "anonymous", "fixed"]})
    # Fill the disk.
    filler = os.path.join(state, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\1" * 4096)
    except OSError:
        pass
    os.close(fd)
    refused = None
    for i in range(2000):
        acked = maps_state(c, "keep") if i % 50 == 0 else None
        r = c.call("mmap", {"space": "keep", "addr": W + (16 + 2 * i) * P,
                            "length": P, "prot": "rw",
                            "flags": ["private", "anonymous", "fixed"]})
        if "error" in r:
            refused = r
            break
    check(refused and errno_of(refused) == "ENOSPC" and
          "no room for the journal" in refused["error"]["message"],
          refused)
    # Refused up front: the change was not made; reads go on.
    acked = maps_state(c, "keep")
    check(not any(v["start"] == W + (16 + 2 * i) * P for v in acked[1]),
          "a refused mmap was made")
    r = c.call("munmap", {"space": "keep", "addr": W + 8 * P, "length": P})
    check(errno_of(r) == "ENOSPC", r)
    check(maps_state(c, "keep") == acked, "a refused munmap was made")
    c.ok("ping")
    check("its changes are refused" in v.stderr(), v.stderr())
    # Room again: changes are accepted.
    os.unlink(filler)
    wait_for(lambda: "error" not in c.call(
        "mprotect", {"space": "keep", "addr": W + 8 * P, "length": P,
                     "prot": "r"}), "changes accepted again")
    final = maps_state(c, "keep")
    c.close()
    v.proc.kill()
    v.proc.wait()
    v = Vmad(VMAD, *args)
    c = Conn(v.sock)
    check(maps_state(c, "keep") == final, "an acknowledged change was lost")
    c.close()
    v.stop()


def main():
    direct = not in_namespace()
    base = Vmad(VMAD)  # a temporary directory that is removed at the end
    state = os.path.join(base.dir, "state")
    mount(state)
    try:
        test_saves(state)
        test_journal(state)
    finally:
        base.stop()
        if direct:
            umount(state)
        shutil.rmtree(state, ignore_errors=True)
    print("ok", flush=True)


if __name__ == "__main__":
    main()
