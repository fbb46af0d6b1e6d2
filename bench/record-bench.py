#!/usr/bin/env python3
"""record-bench: the speed figures of recording and replaying real programs.

  python3 bench/record-bench.py [--build build] [--runs 7]

Prints JSON lines (bench, figure, impl, value, unit, ...):

  slowdown       wall time of a program under vma-record over its wall time
                 alone (medians of --runs alternated runs), per program
  replay         vma-replay --pipeline requests/s through a private vmad
                 for the largest trace (impl "vmad"), and trace-native's
                 ops/s for the same calls executed by the kernel in one
                 process (impl "kernel"), with the ratio vmad/kernel
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--runs", type=int, default=7)
a = ap.parse_args()
b = os.path.abspath(a.build)
rec = f"{b}/clients/vma-record"
replay = f"{b}/clients/vma-replay"
vmad = f"{b}/daemon/vmad"
native = f"{b}/bench/trace-native"
py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
tmp = tempfile.mkdtemp(prefix="record-bench-")

MMAP_LOOP = ("import mmap\n"
             "for i in range(20000):\n"
             "    m = mmap.mmap(-1, 1 << 20); m.close()\n")
programs = [
    ("true", ["/bin/true"]),
    ("ls", ["ls", "-l", "/usr/lib"]),
    ("python3-import", [py, "-c", "import json, sqlite3"]),
    ("python3-mmap-loop", [py, "-c", MMAP_LOOP]),
    ("threads", [f"{b}/tests/record/rec_threads"]),
]


def wall(argv):
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t


largest = None
for name, argv in programs:
    if not os.path.exists(argv[0]) and "/" in argv[0]:
        continue
    out = os.path.join(tmp, name + ".jsonl")
    alone, recorded = [], []
    for _ in range(a.runs):
        alone.append(wall(argv))
        recorded.append(wall([rec, "-q", "-o", out, "--", *argv]))
    n = sum(1 for line in open(out) if line.startswith("{"))
    if not largest or n > largest[1]:
        largest = (out, n)
    ma, mr = statistics.median(alone), statistics.median(recorded)
    print(json.dumps({"bench": "record-bench", "figure": "slowdown",
                      "impl": "vma-record", "program": name,
                      "requests": n, "alone_ms": round(ma * 1e3, 2),
                      "recorded_ms": round(mr * 1e3, 2),
                      "value": round(mr / ma, 2), "unit": "x"}), flush=True)

trace, n = largest
rates, kernel = [], []
for _ in range(a.runs):
    p = subprocess.run([replay, "--spawn", "--vmad", vmad, "--pipeline",
                        "--json", "-q", trace], capture_output=True,
                       check=False)
    f = json.loads(p.stdout)["files"][0]
    rates.append(f["requests_per_s"])
    k = json.loads(subprocess.run([native, trace], capture_output=True,
                                  check=True).stdout)
    kernel.append(k["value"])
rv, kv = statistics.median(rates), statistics.median(kernel)
print(json.dumps({"bench": "record-bench", "figure": "replay",
                  "impl": "vmad", "trace": os.path.basename(trace),
                  "requests": n, "mismatched": f["mismatched"],
                  "pipeline": True, "value": round(rv), "unit":
                  "requests/s"}))
print(json.dumps({"bench": "record-bench", "figure": "replay",
                  "impl": "kernel", "trace": os.path.basename(trace),
                  "executed": k["executed"], "value": round(kv),
                  "unit": "ops/s"}))
print(json.dumps({"bench": "record-bench", "figure": "replay_ratio",
                  "impl": "vmad/kernel", "value": round(rv / kv, 2),
                  "unit": "x"}))
