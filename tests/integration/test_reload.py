#!/usr/bin/env python3
"""SIGHUP reloads the configuration: reloadable options change (and the
daemon behaves accordingly), the command line still wins over the file,
options that need a restart are reported and kept, a broken file changes
nothing, and the log moves with log_file. Also: a daemon started with
--daemon and no log_file logs to syslog, and its stderr is the caller's
only until it listens.

usage: test_reload.py VMAD"""
import atexit
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import (Conn, Vmad, check, check_sanitizers, code_of,  # noqa
                      errno_of, vmad_binary)

VMAD = vmad_binary()


def wait_for(path, text, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                body = f.read()
            if text in body:
                return body
        time.sleep(0.02)
    body = open(path).read() if os.path.exists(path) else "(no file)"
    check(False, f"{text!r} not in {path}:\n{body}")


def reload_and_wait(v, log, nth):
    v.proc.send_signal(signal.SIGHUP)
    body = wait_for(log, "reloaded")
    deadline = time.time() + 20
    while body.count("reloaded") + body.count("unchanged") < nth:
        check(time.time() < deadline, f"reload {nth} not logged:\n{body}")
        time.sleep(0.02)
        body = open(log).read()
    return body


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


# The daemon runs with --config F and two command-line overrides.
tmp = tempfile.mkdtemp(prefix="vmad-reload-")
atexit.register(shutil.rmtree, tmp, True)
conf = os.path.join(tmp, "vmad.conf")
log1 = os.path.join(tmp, "one.log")
log2 = os.path.join(tmp, "two.log")
write(conf, f"log_file {log1}\nmax_spaces_per_uid 5\n")
v = Vmad(VMAD, "--config", conf, "--workers", "2", "--max-batch", "5")
c = Conn(v.sock)
for i in range(3):
    c.ok("space.create", {"name": f"s{i}"})

# Change reloadable options, options the command line sets, and options
# that need a restart.
write(conf, f"log_file {log1}\nmax_spaces_per_uid 3\nlog_level debug\n"
      "max_batch 100\nworkers 3\nsocket_mode 0600\ndefault_max_map_count 7\n")
body = reload_and_wait(v, log1, 1)
for line in ("reload: max_spaces_per_uid: 5 -> 3",
             "reload: log_level: info -> debug",
             "reload: default_max_map_count: 65530 -> 7",
             "reload: socket_mode: 0660 -> 0600 needs a restart; keeping 0660",
             "3 options changed, 1 need a restart"):
    check(line in body, f"{line!r} not logged:\n{body}")
check("reload: max_batch" not in body and "reload: workers" not in body,
      f"an option the command line sets was reloaded from the file:\n{body}")
# The new values are in force; the kept ones are not.
r = c.call("space.create", {"name": "s3"})
check(errno_of(r) == "EAGAIN", f"max_spaces_per_uid 3 not applied: {r}")
c.ok("mmap", {"space": "s0", "addr": 0x100000000000, "length": 4096,
              "prot": "rw", "flags": ["private", "anonymous", "fixed"]})
c.ok("space.destroy", {"space": "s2"})
c.ok("space.create", {"name": "small"})
for i in range(100):
    r = c.call("mmap", {"space": "small", "addr": 0x100000000000 + i * 8192,
                        "length": 4096, "prot": "rw",
                        "flags": ["private", "anonymous", "fixed"]})
    if "error" in r:
        break
# Linux refuses a mapping once map_count exceeds max_map_count.
check(errno_of(r) == "ENOMEM" and i == 8,
      f"default_max_map_count 7 not applied: {i} mappings, then {r}")
check(stat.S_IMODE(os.stat(v.sock).st_mode) == 0o660,
      "socket_mode changed without a restart")
batch = "[" + ",".join('{"jsonrpc":"2.0","id":%d,"method":"ping"}' % i
                       for i in range(6)) + "]\n"
c.send(batch.encode())
r = c.resp()
check(isinstance(r, dict) and code_of(r) == -32600,
      f"--max-batch 5 on the command line lost to the file: {r}")
c.close()
c = Conn(v.sock)
c.ok("ping")  # debug level: connections are logged (at verbose)
wait_for(log1, "verbose: conn")

# A broken file changes nothing and says where it is broken.
write(conf, f"log_file {log2}\nmax_spaces_per_uid 100\nmax_spaces_per_ui 1\n")
body = reload_and_wait(v, log1, 2)
check(f'{conf}:3: unknown option "max_spaces_per_ui"; did you mean '
      '"max_spaces_per_uid"?' in body and "unchanged" in body, body)
check(not os.path.exists(log2), "a broken configuration moved the log")
r = c.call("space.create", {"name": "s4"})
check(errno_of(r) == "EAGAIN", f"a broken reload changed a limit: {r}")

# log_file moves the log: the change is logged in the old file, what
# follows in the new one.
write(conf, f"log_file {log2}\nmax_spaces_per_uid 3\n")
v.proc.send_signal(signal.SIGHUP)
body = wait_for(log1, "reload: log_file")
check(f"reload: log_file: \"{log1}\" -> \"{log2}\"" in body, body)
wait_for(log2, "reloaded")
c.ok("ping")
c.close()
err = v.stop()
check("stopped" in open(log2).read(), "the log did not move")

# --daemon without log_file: syslog, and the caller's stderr only until
# the daemon listens.
sock = os.path.join(tmp, "d.sock")
pidf = os.path.join(tmp, "d.pid")
errf = os.path.join(tmp, "d.err")
with open(errf, "w") as ef:
    p = subprocess.run([VMAD, "--daemon", "--socket", sock, "--pidfile", pidf,
                        "--log-level", "debug"], stdout=subprocess.PIPE,
                       stderr=ef, text=True, timeout=120)
check(p.returncode == 0 and "logging to syslog" in p.stdout, p.stdout)
pid = int(open(pidf).read())
c = Conn(sock)
c.ok("ping")
c.send(b"{bad\n")
c.eof()
c.close()
# A second daemon on the same socket fails, and says why on its stderr.
p2 = subprocess.run([VMAD, "--daemon", "--socket", sock],
                    capture_output=True, text=True, timeout=120)
check(p2.returncode != 0 and "already listening" in p2.stderr,
      f"rc {p2.returncode}: {p2.stderr}")
os.kill(pid, signal.SIGTERM)
deadline = time.time() + 20
while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
    time.sleep(0.02)
check(not os.path.exists(f"/proc/{pid}"), "the daemon did not stop")
errtext = open(errf).read()
check_sanitizers(errtext)
for word in ("conn ", "stopped", "verbose:"):
    check(word not in errtext,
          f"the detached daemon logged {word!r} to the caller's stderr:\n"
          f"{errtext}")
print("PASS")
