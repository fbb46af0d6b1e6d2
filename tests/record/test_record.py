#!/usr/bin/env python3
"""Record real programs with vma-record, replay them with vma-replay
--report against a private vmad, and check that vmad gives the kernel's
answer to every request and ends with the kernel's maps.

What the platform decides is detected first and printed: address-space
randomization (the recorder turns it off; one run keeps it on), whether
[vsyscall] exists, whether this machine's filesystems place large file
mappings 2 MiB-aligned, whether ptrace works here. What the daemon under
test models is probed too: a request it answers "method not found" or
"unknown flag" is skipped by the replay, named in its report, and from
there on the model may have diverged; such a trace must still match
exactly up to its first skipped request, and the reasons are printed.
Everything else must match exactly."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from vmadtest import Conn, Vmad, check, fail  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--record", required=True)
ap.add_argument("--replay", required=True)
ap.add_argument("--vmad", required=True)
ap.add_argument("--threads", required=True)
args = ap.parse_args()

tmp = tempfile.mkdtemp(prefix="vma-record-test-")


def python3():
    """The system's python3 (not a wrapper script that execs others)."""
    for p in ("/usr/bin/python3", shutil.which("python3") or ""):
        if p and os.path.exists(p):
            return os.path.realpath(p)
    return os.path.realpath(sys.executable)


# ---- the platform -------------------------------------------------------
with open("/proc/sys/kernel/randomize_va_space") as f:
    aslr = f.read().strip()
with open("/proc/self/maps") as f:
    vsyscall = "[vsyscall]" in f.read()
print(f"platform: kernel {os.uname().release}; randomize_va_space {aslr}; "
      f"[vsyscall] {'present' if vsyscall else 'absent'}")

# ---- what the daemon models ---------------------------------------------
vmad = Vmad(args.vmad)
c = Conn(vmad.sock)
c.ok("space.create", {"name": "probe"})
r = c.call("mmap", {"space": "probe", "length": 8192, "prot": "rw",
                    "flags": ["private", "anonymous", "stack"]})
has_map_stack = "result" in r
r = c.call("madvise", {"space": "probe", "addr": 0x10000, "length": 4096,
                       "advice": "dontneed"})
has_madvise = (r.get("error") or {}).get("code") != -32601
r = c.call("mmap", {"space": "probe", "length": 4 << 20, "prot": "r",
                    "flags": ["private"], "file": "/probe"})
thp_files = "result" in r and r["result"]["addr"] % (2 << 20) == 0
c.close()
vmad.stop()
print(f"daemon: MAP_STACK {'modelled' if has_map_stack else 'not modelled'};"
      f" madvise {'modelled' if has_madvise else 'not modelled'}; 2 MiB "
      f"alignment of file mappings {'modelled' if thp_files else 'not modelled'}")


def record(name, argv, *extra):
    out = os.path.join(tmp, name + ".jsonl")
    p = subprocess.run([args.record, "-o", out, *extra, "--", *argv],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=120)
    err = p.stderr.decode()
    if "ptrace" in err and p.returncode == 125:
        fail(f"ptrace is not allowed on this machine: {err}")
    check(p.returncode == 0, f"{name}: vma-record exited {p.returncode}: "
          f"{err}")
    with open(out) as f:
        text = f.read()
    header = text.splitlines()[0]
    print(f"{name}: {err.strip()}")
    return out, text, header


def replay(path, *extra):
    p = subprocess.run([args.replay, "--spawn", "--vmad", args.vmad,
                        "--json", "-q", "--report", *extra, path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    try:
        rep = json.loads(p.stdout)
    except ValueError:
        fail(f"{path}: no JSON report (exit {p.returncode}): "
             f"{p.stderr.decode()[-2000:]}")
    f = rep["files"][0]
    check(f["complete"] and not f.get("broken"),
          f"{path}: replay incomplete: {p.stderr.decode()[-2000:]}")
    return f, p.stderr.decode()


def judge(name, rep, err):
    """Exact agreement, or agreement up to the first skipped request with
    every skip explained by what the daemon lacks."""
    skipped = rep["skipped_by_name"]
    um = rep["unmodelled_by_name"]
    print(f"{name}: {rep['requests']} requests, {rep['matched']} matched, "
          f"{rep['mismatched']} mismatched, skipped {skipped or 'none'}, "
          f"recorded as unmodelled {um or 'none'}, final maps "
          f"{rep['final_maps']}")
    check(not um, f"{name}: the recorder found calls vmad cannot model: "
          f"{um}")
    # 2 MiB alignment of large file mappings (thp_get_unmapped_area(), a
    # property of the file's filesystem) on a daemon that does not model
    # it: out of reach from the first mmap it misplaces.
    thp_line = 0
    if not thp_files:
        for x in rep["mismatches"]:
            req, exp = x["request"], x["expected"]
            addr = (exp.get("result") or {}).get("addr", "0x1")
            p = req.get("params", {})
            if (x["method"] == "mmap" and p.get("file") and
                    int(addr, 16) % (2 << 20) == 0 and
                    int(p.get("length", "0"), 16) >= 2 << 20):
                thp_line = x["line"]
                break
    if thp_line:
        early = [x for x in rep["mismatches"] if x["line"] < thp_line]
        check(not early, f"{name}: mismatches before the first 2 MiB-"
              f"aligned file mapping: {early}")
        print(f"{name}: out of reach of this daemon from line {thp_line} "
              f"on (2 MiB alignment of file mappings not modelled)")
        return False
    if not skipped:
        check(rep["mismatched"] == 0,
              f"{name}: {rep['mismatched']} results differ from the "
              f"kernel's:\n{err[-6000:]}")
        check(rep["final_maps"] and rep["final_maps"]["matched"],
              f"{name}: final maps differ: {rep['final_maps']}")
        return True
    # Skipped requests: each must be something the daemon lacks.
    for m in skipped:
        check((m == "mmap" and not has_map_stack) or
              (m in ("madvise", "mlock", "mlock2", "munlock", "mlockall",
                     "munlockall", "mseal", "set_vma_anon_name") and
               not has_madvise),
              f"{name}: '{m}' skipped although the daemon models it")
    before = [x for x in rep["mismatches"] if not x["after_skip"]]
    check(not before, f"{name}: mismatches before the first skipped "
          f"request: {before}")
    print(f"{name}: out of reach of this daemon from line "
          f"{rep['first_skip_line']} on ({', '.join(skipped)} not "
          f"modelled; docs/semantics.md, 'Replaying recorded programs')")
    return False


# ---- the programs -------------------------------------------------------
progs = [
    ("true", ["/bin/true"]),
    ("ls", ["ls", "-l", "/usr/lib"]),
    ("python3", [python3(), "-c", "import json, sqlite3"]),
    ("threads", [args.threads]),
]
for name, argv in progs:
    path, text, header = record(name, argv)
    check("randomization off" in header, header)
    rep, err = replay(path)
    exact = judge(name, rep, err)
    if name == "threads":
        # What the program does must be in the trace.
        check('"space.fork"' in text, "threads: no space.fork")
        check('"expanded":true' in text, "threads: no stack growth fault")
        check(f'{args.threads}#2"' in text and f'{args.threads}#3"' in text,
              "threads: two open()s of one file not told apart")
        check(text.count('"method":"space.import"') == 1, "one import")
        check(text.count('"method":"maps"') == 2,
              "threads: final maps of parent and child")
    if exact:
        # The same trace pipelined gives the same verdict.
        rep2, err2 = replay(path, "--pipeline")
        check(rep2["matched"] == rep["matched"] and
              rep2["mismatched"] == 0, f"{name}: pipelined: {err2}")

# Randomization kept on: the layout differs, the replay still agrees.
path, text, header = record("ls-aslr", ["ls", "/usr"], "--aslr")
check("randomization on" in header, header)
judge("ls-aslr", *replay(path))

# --no-fork leaves the child out.
path, text, header = record("threads-nofork", [args.threads], "--no-fork")
check('"space.fork"' not in text and text.count('"method":"maps"') == 1,
      "--no-fork recorded the child")

# vmactl space import --pid: a live process, exactly.
vmactl = os.path.join(os.path.dirname(args.replay), "vmactl")
vmad = Vmad(args.vmad)
child = subprocess.Popen([args.threads, "--sleep"])
try:
    prev = None
    for _ in range(200):
        with open(f"/proc/{child.pid}/maps") as f:
            maps = f.read()
        if maps == prev:
            break
        prev = maps
        subprocess.run(["sleep", "0.02"])
    p = subprocess.run([vmactl, "--socket", vmad.sock, "space", "import",
                        "live", "--pid", str(child.pid)],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"vmactl space import --pid: {p.stderr}")
    p = subprocess.run([vmactl, "--socket", vmad.sock, "maps", "live"],
                       capture_output=True, text=True)
    with open(f"/proc/{child.pid}/maps") as f:
        maps = f.read()
finally:
    child.kill()
    child.wait()


def cols(text):
    return [(f[0], f[1], f[2], f[5] if len(f) > 5 else "")
            for f in (line.split(None, 5) for line in text.splitlines())]


check(cols(p.stdout) == cols(maps),
      f"vmactl space import --pid:\n{p.stdout}\n--- kernel ---\n{maps}")
vmad.stop()

shutil.rmtree(tmp, ignore_errors=True)
print("ok")
