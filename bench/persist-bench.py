#!/usr/bin/env python3
"""persist-bench - what durable spaces cost, measured end to end.

Prints one JSON line per figure (ARCHITECTURE.md "Performance": bench,
figure, impl, value, unit, parameters):

  mutations_rps   vma-bench mutation throughput (--mix mmap=1,munmap=1,
                  mprotect=1; CONNS connections, PIPELINE in flight each)
                  against vmad without persistence ("none"), with a
                  state_dir only ("snapshots"), and with appendonly and
                  appendfsync no, everysec and always; configurations
                  alternate within each of ROUNDS rounds, and the "ratio"
                  lines give each one's median ratio to "none" of the
                  same round. Run twice: pipelined (PIPELINE) and one
                  request in flight per connection.
  faults_rps      the same for --mix fault=1 (faults journal only when
                  they change the space: here, not after the first touch).
  load_100        start of a vmad whose state_dir holds SPACES spaces of
                  VMAS VMAs (default 100 x 65,530): time from exec to
                  listening, the bytes of the directory, the time the
                  SIGTERM save of all of them took, and as comparators
                  the time to build one such space with mmap requests and
                  to import one with space.import (per space).
  memory          the daemon's RSS per VMA with those spaces loaded.

The state directory is on the file system of TMPDIR (a real disk, not a
tmpfs: fsync must cost what it costs). A benchmark, not a test.

Usage: bench/persist-bench.py [VMAD [VMA_BENCH]]
Environment: DURATION (s, default 3), ROUNDS (default 3), CONNS (4),
PIPELINE (16), SPACES (100), VMAS (65530), SKIP_LOAD=1, SKIP_RPS=1."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from vmadtest import Conn, Vmad  # noqa

VMAD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "VMAD", os.path.join(HERE, "..", "build", "daemon", "vmad"))
VMA_BENCH = sys.argv[2] if len(sys.argv) > 2 else os.environ.get(
    "VMA_BENCH", os.path.join(os.path.dirname(os.path.dirname(VMAD)),
                              "clients", "vma-bench"))
DURATION = os.environ.get("DURATION", "3")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CONNS = os.environ.get("CONNS", "4")
PIPELINE = os.environ.get("PIPELINE", "16")
SPACES = int(os.environ.get("SPACES", "100"))
VMAS = int(os.environ.get("VMAS", "65530"))
P = 4096
W = 0x100000000000

CONFIGS = {
    "none": [],
    "snapshots": ["--save-interval", "60"],
    "appendonly_no": ["--appendonly", "yes", "--appendfsync", "no"],
    "appendonly_everysec": ["--appendonly", "yes", "--appendfsync",
                            "everysec"],
    "appendonly_always": ["--appendonly", "yes", "--appendfsync", "always"],
}


def emit(**kw):
    line = {"bench": "persist-bench"}
    line.update(kw)
    print(json.dumps(line), flush=True)


def daemon(args, state=None):
    """A vmad (vmadtest.Vmad) with a state directory @state, if given;
    .ready is the time it took to listen."""
    argv = ["--max-message", "64M", "--max-map-count-limit", "4194304"]
    if state:
        argv += ["--state-dir", state] + args
    t0 = time.perf_counter()
    v = Vmad(VMAD, *argv)
    v.ready = time.perf_counter() - t0
    return v


def stop(v):
    t = time.perf_counter()
    v.stop()
    return time.perf_counter() - t


def vma_bench(sock, mix, pipeline):
    out = subprocess.run([VMA_BENCH, "-s", sock, "-c", CONNS, "-p",
                          pipeline, "-d", DURATION, "-w", "1", "--mix", mix,
                          "--json"], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"persist-bench: vma-bench failed: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])["requests_per_s"]


def rps(figure, mix, pipeline):
    got = {c: [] for c in CONFIGS}
    for _ in range(ROUNDS):
        for name, args in CONFIGS.items():
            tmp = tempfile.mkdtemp(prefix="persist-bench-")
            d = daemon(args, os.path.join(tmp, "state")
                       if name != "none" else None)
            got[name].append(vma_bench(d.sock, mix, pipeline))
            stop(d)
            shutil.rmtree(tmp)
    for name in CONFIGS:
        emit(figure=figure, impl=name, value=round(statistics.median(
            got[name])), unit="requests/s", mix=mix, connections=int(CONNS),
             pipeline=int(pipeline), rounds=ROUNDS)
    for name in CONFIGS:
        if name == "none":
            continue
        ratios = [a / b for a, b in zip(got[name], got["none"])]
        emit(figure=figure, impl="ratio", of=f"{name}/none",
             value=round(statistics.median(ratios), 3), unit="x",
             min=round(min(ratios), 3), max=round(max(ratios), 3),
             pipeline=int(pipeline))


def build_space(c, name):
    c.ok("space.create", {"name": name, "max_map_count": VMAS + 16})
    for base in range(0, VMAS, 10000):
        batch = [{"jsonrpc": "2.0", "id": i, "method": "mmap",
                  "params": {"space": name, "addr": W + 2 * i * P,
                             "length": P, "prot": "rw" if i % 2 else "r",
                             "flags": ["private", "anonymous", "fixed"]}}
                 for i in range(base, min(VMAS, base + 10000))]
        c.send(json.dumps(batch).encode() + b"\n")
        r = c.resp()
        if not all("result" in x for x in r):
            sys.exit("persist-bench: mmap failed")
    faults = list(range(0, VMAS, 3))
    for k in range(0, len(faults), 1000):
        for i in faults[k:k + 1000]:
            c.send_req("fault", {"space": name, "addr": W + 2 * i * P,
                                 "access": "write" if i % 2 else "read"})
        for i in faults[k:k + 1000]:
            c.line()


def load():
    tmp = tempfile.mkdtemp(prefix="persist-bench-")
    state = os.path.join(tmp, "state")
    d = daemon(["--save-interval", "0"], state)
    c = Conn(d.sock, timeout=600)
    t = time.perf_counter()
    build_space(c, "s0")
    build_s = time.perf_counter() - t
    snap = c.ok("space.export", {"space": "s0"})["snapshot"]
    t = time.perf_counter()
    for k in range(1, SPACES):
        c.ok("space.import", {"name": f"s{k}", "snapshot": snap})
    import_s = (time.perf_counter() - t) / max(SPACES - 1, 1)
    c.close()
    save_s = stop(d)
    size = sum(os.path.getsize(os.path.join(state, f))
               for f in os.listdir(state))
    d = daemon([], state)
    start_s = d.ready
    rss = d.rss_kib()
    c = Conn(d.sock, timeout=600)
    nr = len(c.ok("space.list")["spaces"])
    c.close()
    stop(d)
    empty = daemon([])
    base_rss = empty.rss_kib()
    stop(empty)
    emit(figure="load_100", impl="vmad", value=round(start_s * 1000),
         unit="ms", spaces=nr, vmas=VMAS, state_bytes=size,
         bytes_per_vma=round(size / (nr * VMAS), 1),
         per_space_ms=round(start_s * 1000 / nr, 1),
         save_all_ms=round(save_s * 1000),
         build_one_by_requests_ms=round(build_s * 1000),
         import_one_ms=round(import_s * 1000, 1))
    emit(figure="load_100", impl="ratio", of="load_per_space/build_one",
         value=round(start_s / nr / build_s, 3), unit="x")
    emit(figure="memory", impl="vmad", value=round((rss - base_rss) * 1024
                                                   / (nr * VMAS), 1),
         unit="bytes/VMA", rss_kib=rss, spaces=nr, vmas=VMAS)
    shutil.rmtree(tmp)


def main():
    for b in (VMAD, VMA_BENCH):
        if not os.access(b, os.X_OK):
            sys.exit(f"persist-bench: {b} not found (build it first)")
    if os.environ.get("SKIP_RPS") != "1":
        rps("mutations_rps", "mmap=1,munmap=1,mprotect=1", PIPELINE)
        rps("mutations_rps", "mmap=1,munmap=1,mprotect=1", "1")
        rps("faults_rps", "fault=1", PIPELINE)
    if os.environ.get("SKIP_LOAD") != "1":
        load()


if __name__ == "__main__":
    main()
