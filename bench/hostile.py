#!/usr/bin/env python3
"""hostile.py - the hostile- and careless-client scenarios of issue 19,
run against a vmad binary; one JSON line per figure.

usage: bench/hostile.py VMAD SCENARIO... [--vmas N] [--arg NAME=VALUE]...
       bench/hostile.py VMAD soak --seconds S [--vma-bench PATH]

Each scenario starts its own daemon (VMAD, with --vmad-arg options
appended), runs the same client code whatever the daemon, and prints the
daemon's peak resident set (VmHWM) and the scenario's own figures. Run it
against two builds to compare them (the figures are ratios to nothing:
put them side by side). Scenarios, with the issue's sizes by default:

  fds          RLIMIT_NOFILE 1024 (soft and hard) and 1020 connections
               held; then 10 more clients: how long each waited for an
               answer, the daemon's CPU time and log bytes over 5 s
  batch-maps   a batch of 100 maps of a 65,530-VMA space (7 KB request)
  never-read   150 clients send maps of that space and never read (20 s)
  slow-reader  a client reads 4 KB (--slow-bytes) every 20 s with
               responses pending: when it was cut off (or that it was
               not, after 120 s)
  forks        300 forks of the 65,530-VMA space
  fork-destroy two connections send batches of 250 fork+destroy pairs;
               a third client's stats of its own 1-VMA space: worst wait
  slowloris    1,024 connections of uid 65534 send a byte a second for
               30 s; root connects and pings meanwhile: worst wait
  sigterm      SIGTERM with two batches of 400 forks queued: time to exit
  soak         the ASan daemon under vma-bench and abrupt, slow,
               never-reading and slowloris clients, with forks and
               destroys, for --seconds; the request count and whether
               the sanitizers reported anything

The soak of the issue's closing note (an hour; two minutes to try it),
after `make build build-san`:

  bench/hostile.py build-san/daemon/vmad soak --seconds 3600 --vma-bench build/clients/vma-bench

It prints the daemon's request count ("requests"), the hostile clients
run, vma-bench's exit status and last lines, and the sanitizer verdict
("sanitizer_reports": 0 and exit_status 0 when clean); the daemon's log
is left in $TMPDIR/hostile-soak.log.

Needs root for fds (RLIMIT_NOFILE of 1020 connections in this process is
raised first) and slowloris (other uids)."""
import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from vmadtest import P, W, Conn, Vmad, check_sanitizers  # noqa: E402

MiB = 1 << 20
args = None


def emit(scenario, figure, value, unit, **extra):
    line = {"bench": "hostile", "scenario": scenario, "figure": figure,
            "value": value, "unit": unit, "vmad": args.vmad}
    line.update(extra)
    print(json.dumps(line), flush=True)


def start(*extra, preexec=None):
    return Vmad(args.vmad, "--max-message", "64M", *args.vmad_arg, *extra,
                preexec=preexec)


def req(method, params, id=1):
    return (json.dumps({"jsonrpc": "2.0", "id": id, "method": method,
                        "params": params}) + "\n").encode()


def fill(c, name, n, max_map_count=None):
    """A space of n one-page VMAs that do not merge."""
    p = {"name": name}
    if max_map_count:
        p["max_map_count"] = max_map_count
    c.ok("space.create", p)
    for base in range(0, n, 10000):
        b = [{"jsonrpc": "2.0", "id": i, "method": "mmap", "params": {
            "space": name, "addr": W + 2 * i * P, "length": P,
            "prot": "rw" if i % 2 else "r",
            "flags": ["private", "anonymous", "fixed"]}}
            for i in range(base, min(n, base + 10000))]
        c.send(json.dumps(b).encode() + b"\n")
        r = c.resp()
        bad = [x for x in r if "error" in x]
        if bad:
            raise RuntimeError(f"fill: {bad[:2]}")


unclean = []


def finish(v, scenario):
    emit(scenario, "peak_rss", round(v.peak_rss_kib() / 1024, 1), "MiB")
    try:
        v.stop(timeout=120)
    except SystemExit:
        emit(scenario, "clean_exit", False, "bool")
        unclean.append(scenario)


# ---- Scenarios -----------------------------------------------------------

def sc_fds():
    want = 1030
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))

    def low():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    v = start(preexec=low)
    held = []
    for _ in range(1020):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(v.sock)
        held.append(s)
    time.sleep(1)
    log0 = len(v.stderr())
    cpu0 = v.cpu_s()
    waits = []
    for _ in range(want - 1020):
        t = time.perf_counter()
        try:
            c = Conn(v.sock, timeout=5)
            c.send(req("ping", {}))
            line = c.line()
            c.close()
            ok = None if line is None else "result" in json.loads(line)
        except OSError:
            ok = None
        waits.append((time.perf_counter() - t, ok))
    time.sleep(max(0.0, 5 - sum(w for w, _ in waits)))
    emit("fds", "cpu_over_5s", round(v.cpu_s() - cpu0, 2), "s")
    emit("fds", "log_bytes_over_5s", len(v.stderr()) - log0, "bytes")
    emit("fds", "new_client_worst_wait",
         round(max(w for w, _ in waits), 3), "s",
         answered=sum(1 for _, ok in waits if ok is not None),
         of=len(waits))
    for s in held:
        s.close()
    finish(v, "fds")


def sc_batch_maps():
    v = start()
    c = Conn(v.sock, timeout=600)
    fill(c, "big", args.vmas)
    b = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "maps",
                     "params": {"space": "big"}} for i in range(100)])
    rss0 = v.peak_rss_kib()
    t = time.time()
    c.send(b.encode() + b"\n")
    first = c.s.recv(1)
    t_first = time.time() - t
    c.buf = first
    n = len(c.line())
    t_last = time.time() - t
    emit("batch-maps", "request_bytes", len(b), "bytes")
    emit("batch-maps", "response_bytes", n, "bytes")
    emit("batch-maps", "first_byte", round(t_first, 2), "s")
    emit("batch-maps", "last_byte", round(t_last, 2), "s")
    emit("batch-maps", "peak_rss_growth",
         round((v.peak_rss_kib() - rss0) / 1024, 1), "MiB")
    c.close()
    finish(v, "batch-maps")


def sc_never_read():
    v = start()
    c = Conn(v.sock, timeout=600)
    fill(c, "big", args.vmas)
    rss0 = v.peak_rss_kib()
    lazy = []
    for _ in range(150):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(v.sock)
        s.setblocking(False)
        lazy.append(s)
    one = req("maps", {"space": "big"})
    t_end = time.time() + 20
    while time.time() < t_end:
        for s in lazy:
            try:
                s.send(one * 4)
            except (BlockingIOError, OSError):
                pass
        time.sleep(0.2)
    st = c.ok("stats")
    emit("never-read", "peak_rss_growth",
         round((v.peak_rss_kib() - rss0) / 1024, 1), "MiB")
    emit("never-read", "closed_by_daemon",
         st.get("connections_closed_output", 0), "connections")
    for s in lazy:
        s.close()
    c.close()
    finish(v, "never-read")


def sc_slow_reader():
    v = start()
    c = Conn(v.sock, timeout=600)
    fill(c, "big", args.vmas)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(v.sock)
    s.send(req("maps", {"space": "big"}) * 4)
    t0 = time.time()
    cut = None
    while time.time() - t0 < args.slow_for:
        time.sleep(args.slow_interval)
        try:
            s.send(b" ")
            s.settimeout(1)
            if not s.recv(args.slow_bytes):
                cut = time.time() - t0
                break
        except socket.timeout:
            continue  # nothing to read this time: not a cut
        except OSError:
            cut = time.time() - t0
            break
    emit("slow-reader", "cut_off_after",
         round(cut, 1) if cut is not None else None, "s",
         read_bytes=args.slow_bytes, read_every=args.slow_interval,
         watched=args.slow_for)
    s.close()
    c.close()
    finish(v, "slow-reader")


def sc_forks():
    v = start()
    c = Conn(v.sock, timeout=600)
    fill(c, "big", args.vmas)
    ok = refused = 0
    t = time.time()
    for i in range(300):
        r = c.call("space.fork", {"space": "big"})
        if "result" in r:
            ok += 1
        else:
            refused += 1
    emit("forks", "forks", ok, "spaces", refused=refused,
         seconds=round(time.time() - t, 1))
    st = c.ok("stats")
    if "used_memory" in st:
        emit("forks", "used_memory", round(st["used_memory"] / MiB, 1),
             "MiB", max_memory=round(st["max_memory"] / MiB))
    c.close()
    finish(v, "forks")


def sc_fork_destroy():
    v = start()
    c = Conn(v.sock, timeout=600)
    fill(c, "big", args.vmas)
    c.ok("space.create", {"name": "victim"})
    c.ok("mmap", {"space": "victim", "addr": W, "length": P, "prot": "r",
                  "flags": ["private", "anonymous", "fixed"]})
    done = []

    def attack(k):
        a = Conn(v.sock, timeout=3600)
        b = []
        for i in range(args.pairs):
            b.append({"jsonrpc": "2.0", "id": 2 * i, "method": "space.fork",
                      "params": {"space": "big", "name": f"a{k}-{i}"}})
            b.append({"jsonrpc": "2.0", "id": 2 * i + 1,
                      "method": "space.destroy",
                      "params": {"space": f"a{k}-{i}"}})
        t = time.time()
        a.send(json.dumps(b).encode() + b"\n")
        a.line()
        done.append(time.time() - t)
        a.close()

    ths = [threading.Thread(target=attack, args=(k,)) for k in range(2)]
    for th in ths:
        th.start()
    time.sleep(0.2)
    worst = 0.0
    while len(done) < 2:
        t = time.perf_counter()
        c.ok("stats", {"space": "victim"})
        worst = max(worst, time.perf_counter() - t)
        time.sleep(0.01)
    for th in ths:
        th.join()
    emit("fork-destroy", "victim_worst_wait", round(worst, 3), "s",
         batches_took=round(max(done), 1))
    c.close()
    finish(v, "fork-destroy")


def sc_slowloris():
    v = start("--socket-mode", "0666")
    os.chmod(v.dir, 0o755)
    pid = os.fork()
    if pid == 0:
        os.setgid(65534)
        os.setuid(65534)
        conns = []
        for _ in range(1024):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(v.sock)
                s.setblocking(False)
                conns.append(s)
            except OSError:
                pass
        text = b'{"jsonrpc":"2.0","id":1,"method":"ping"' + b" " * 100
        for i in range(30):
            for s in conns:
                try:
                    s.send(text[i:i + 1])
                except OSError:
                    pass
            time.sleep(1)
        os._exit(0)
    time.sleep(2)
    worst, refused, n = 0.0, 0, 0
    t_end = time.time() + 28
    while time.time() < t_end:
        t = time.perf_counter()
        try:
            c = Conn(v.sock, timeout=10)
            c.send_req("ping")
            line = c.line()
            c.close()
            if line is None or "result" not in json.loads(line):
                refused += 1
        except OSError:
            refused += 1
        worst = max(worst, time.perf_counter() - t)
        n += 1
        time.sleep(0.2)
    os.waitpid(pid, 0)
    emit("slowloris", "root_worst_wait", round(worst, 3), "s",
         refused=refused, of=n)
    finish(v, "slowloris")


def sc_sigterm():
    v = start("--job-threads", "1")
    c = Conn(v.sock, timeout=600)
    fill(c, "big", args.vmas)

    def attack():
        a = Conn(v.sock, timeout=600)
        b = [{"jsonrpc": "2.0", "id": i, "method": "space.fork",
              "params": {"space": "big"}} for i in range(400)]
        a.send(json.dumps(b).encode() + b"\n")
        a.line()
        a.close()

    ths = [threading.Thread(target=attack) for _ in range(2)]
    for th in ths:
        th.start()
    time.sleep(1)
    peak = v.peak_rss_kib()
    t = time.time()
    v.proc.send_signal(signal.SIGTERM)
    v.proc.wait(600)
    emit("sigterm", "exit_after", round(time.time() - t, 2), "s")
    emit("sigterm", "peak_rss", round(peak / 1024, 1), "MiB")
    for th in ths:
        th.join(60)


# ---- Soak ------------------------------------------------------------------

def sc_soak():
    v = start("--request-timeout", "5", "--output-timeout", "10")
    stop = threading.Event()
    counts = {"abrupt": 0, "slow": 0, "never_read": 0, "slowloris": 0,
              "fork_destroy": 0, "errors": 0}
    setup = Conn(v.sock, timeout=600)
    fill(setup, "soak", 5000)

    def loop(name, fn):
        while not stop.is_set():
            try:
                fn()
                counts[name] += 1
            except (OSError, SystemExit, ValueError):
                counts["errors"] += 1
                time.sleep(0.1)

    def abrupt():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(v.sock)
        r = req("maps", {"space": "soak"}) + req("stats", {})
        s.send(r[:int(time.time() * 1000) % len(r)])
        s.close()
        time.sleep(0.01)  # about a hundred a second

    def slow():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(v.sock)
        s.send(req("maps", {"space": "soak"}) * 8)
        s.settimeout(2)
        for _ in range(15):
            if stop.is_set():
                break
            time.sleep(1)
            if not s.recv(4096):
                break
        s.close()

    def never_read():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(v.sock)
        s.setblocking(False)
        for _ in range(20):
            try:
                s.send(req("maps", {"space": "soak"}) * 4)
            except (BlockingIOError, OSError):
                pass
            time.sleep(0.5)
        s.close()

    def slowloris():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(v.sock)
        for ch in b'{"jsonrpc":"2.0","id":1,"method":"ping"':
            if stop.is_set():
                break
            try:
                s.send(bytes([ch]))
            except OSError:
                break
            time.sleep(1)
        s.close()

    def fork_destroy():
        c = Conn(v.sock, timeout=600)
        b = []
        for i in range(20):
            b.append({"jsonrpc": "2.0", "id": 2 * i, "method": "space.fork",
                      "params": {"space": "soak", "name": f"fd{i}"}})
            b.append({"jsonrpc": "2.0", "id": 2 * i + 1,
                      "method": "space.destroy",
                      "params": {"space": f"fd{i}"}})
        c.send(json.dumps(b).encode() + b"\n")
        c.line()
        c.close()

    # vma-bench first, so that its connections are up before the flood.
    bench = subprocess.Popen(
        [args.vma_bench, "-s", v.sock, "-c", "4", "-p", "8", "-t", "2",
         "--spaces", "2", "--vmas", "256", "-d", str(args.seconds),
         "-w", "1", "--mix",
         "fault=60,lookup=20,mmap=8,munmap=8,mprotect=2,fixed=2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(3)
    ths = [threading.Thread(target=loop, args=(n, f)) for n, f in
           (("abrupt", abrupt), ("slow", slow), ("never_read", never_read),
            ("slowloris", slowloris), ("slowloris", slowloris),
            ("fork_destroy", fork_destroy))]
    for th in ths:
        th.start()
    bench_out, _ = bench.communicate()
    stop.set()
    for th in ths:
        th.join(120)
    st = setup.ok("stats")
    setup.close()
    emit("soak", "seconds", args.seconds, "s")
    emit("soak", "requests", st["requests"], "requests",
         errors=st["errors"],
         connections_total=st["connections_total"],
         closed_output=st.get("connections_closed_output"),
         closed_timeout=st.get("connections_closed_timeout"),
         peak_rss_mib=round(v.peak_rss_kib() / 1024, 1),
         used_memory_mib=round(st.get("used_memory", 0) / MiB, 1))
    emit("soak", "hostile_clients", sum(counts.values()), "clients",
         **counts)
    emit("soak", "vma_bench_exit", bench.returncode, "status",
         tail=bench_out.strip().splitlines()[-12:])
    v.proc.send_signal(signal.SIGTERM)
    rc = v.proc.wait(120)
    err = v.stderr()
    bad = [p for p in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:") if p in err]
    emit("soak", "sanitizer_reports", len(bad), "kinds", found=bad,
         exit_status=rc)
    with open(os.path.join(tempfile.gettempdir(), "hostile-soak.log"),
              "w") as f:
        f.write(err)


SCENARIOS = {"fds": sc_fds, "batch-maps": sc_batch_maps,
             "never-read": sc_never_read, "slow-reader": sc_slow_reader,
             "forks": sc_forks, "fork-destroy": sc_fork_destroy,
             "slowloris": sc_slowloris, "sigterm": sc_sigterm,
             "soak": sc_soak}


def main():
    global args
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="\n".join(__doc__.split("\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("vmad")
    ap.add_argument("scenario", nargs="+", choices=sorted(SCENARIOS))
    ap.add_argument("--vmas", type=int, default=65530)
    ap.add_argument("--pairs", type=int, default=250)
    ap.add_argument("--slow-interval", type=float, default=20)
    ap.add_argument("--slow-bytes", type=int, default=4096)
    ap.add_argument("--slow-for", type=float, default=120)
    ap.add_argument("--seconds", type=int, default=3600,
                    help="how long the soak runs (default: an hour)")
    ap.add_argument("--vma-bench", default=os.path.join(
        HERE, "..", "build", "clients", "vma-bench"))
    ap.add_argument("--vmad-arg", action="append", default=[],
                    help="an option for the daemon (repeat; use =)")
    args = ap.parse_args()
    for sc in args.scenario:
        SCENARIOS[sc]()
    # A daemon that did not exit cleanly (status, socket, sanitizers).
    sys.exit(1 if unclean else 0)


if __name__ == "__main__":
    main()
