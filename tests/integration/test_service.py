#!/usr/bin/env python3
"""vmad as a service: command line, configuration file and its errors,
socket path order, stale and live sockets, socket mode, --daemon with a
pidfile, SIGHUP log reopening, connection and space limits, and access
control between uids.

usage: test_service.py VMAD ETC_VMAD_CONF"""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import (P, W, Conn, Vmad, check, check_sanitizers,  # noqa
                      code_of, errno_of, vmad_binary)

VMAD = vmad_binary()
CONF = sys.argv[2]
tmp = tempfile.mkdtemp(prefix="vmad-svc-")
atexit.register(shutil.rmtree, tmp, True)
env = {k: v for k, v in os.environ.items() if k != "VMAD_SOCKET"}


def run(*args, extra_env=None, timeout=120):
    e = dict(env)
    e.update(extra_env or {})
    p = subprocess.run([VMAD, *args], capture_output=True, text=True,
                       env=e, timeout=timeout)
    check_sanitizers(p.stderr)
    return p


# --help, --version
p = run("--help")
check(p.returncode == 0 and "--socket" in p.stdout and "--daemon" in
      p.stdout and "--max-connections" in p.stdout, p.stdout)
p = run("--version")
check(p.returncode == 0 and p.stdout.startswith("vmad "), p.stdout)

# --dump-config: every option is documented in etc/vmad.conf, whose values
# are the defaults.
dump = run("--dump-config")
check(dump.returncode == 0, dump.stderr)
names = [ln.split()[0] for ln in dump.stdout.splitlines()
         if ln and not ln.startswith("#")]
check(len(names) >= 15, names)
conf_text = open(CONF).read()
conf_names = [ln.split()[0] for ln in conf_text.splitlines()
              if ln.strip() and not ln.lstrip().startswith("#")]
check(sorted(names) == sorted(conf_names),
      f"etc/vmad.conf options {conf_names} != {names}")
p = run("--config", CONF, "--dump-config")
check(p.returncode == 0 and p.stdout == dump.stdout,
      "etc/vmad.conf does not hold the defaults")
p = run("--workers", "3", "--log-level=debug", "--dump-config")
check("workers 3\n" in p.stdout and "log_level debug\n" in p.stdout,
      p.stdout)

# Configuration errors: file, line and reason; exit 78.
bad = os.path.join(tmp, "bad.conf")
for text, line, why in (("workers 2\nbogus 1\n", 2, 'unknown option "bogus"\n'),
                        ("workers 2\napendonly yes\n", 2,
                         'unknown option "apendonly"; did you mean '
                         '"appendonly"?'),
                        ("Log_Levl debug\n", 1, 'unknown option "Log_Levl"; '
                         'did you mean "log_level"?'),
                        ("# c\n\nworkers many\n", 3, "workers"),
                        ("max_connections 0\n", 1, "out of range"),
                        ("log_level loud\n", 1, "log_level"),
                        ("socket_mode 0999\n", 1, "socket_mode"),
                        ("workers\n", 1, "missing value"),
                        ('log_file "/tmp/x\n', "1:10", "unterminated"),
                        ('log_file "/tmp/x" y\n', "1:19", "after the closing"),
                        ('log_file "a\\qb"\n', "1:12", "unknown escape")):
    with open(bad, "w") as f:
        f.write(text)
    p = run("--config", bad)
    check(p.returncode == 78 and f"{bad}:{line}:" in p.stderr and why in
          p.stderr, f"{text!r}: rc {p.returncode}: {p.stderr}")
# A quoted value keeps '#' and spaces, and --dump-config quotes what it
# prints so that the file reads back the same.
odd = os.path.join(tmp, "odd.conf")
with open(odd, "w") as f:
    f.write('log_file "/tmp/a dir/#x \\"q\\" \\\\ z"  # comment\n')
p = run("--config", odd, "--dump-config")
check(p.returncode == 0 and
      'log_file "/tmp/a dir/#x \\"q\\" \\\\ z"\n' in p.stdout,
      p.stdout + p.stderr)
again = os.path.join(tmp, "again.conf")
with open(again, "w") as f:
    f.write(p.stdout)
p2 = run("--config", again, "--dump-config")
check(p2.returncode == 0 and p2.stdout == p.stdout, p2.stdout + p2.stderr)
p = run("--config", os.path.join(tmp, "missing.conf"))
check(p.returncode == 78, p.stderr)
p = run("--workers", "lots")
check(p.returncode == 64 and "workers" in p.stderr, p.stderr)
p = run("--no-such-option", "1")
check(p.returncode == 64, p.stderr)
p = run("--bogus")
check(p.returncode == 64 and "unknown option '--bogus'\n" in p.stderr,
      p.stderr)
# A mistyped option names the one meant (a row of the table or a flag).
for args, typed, meant in ((["--apendonly", "yes"], "--apendonly",
                            "--appendonly"),
                           (["--log-levl=debug"], "--log-levl", "--log-level"),
                           (["--max_spaces_per_ui", "3"], "--max_spaces_per_ui",
                            "--max-spaces-per-uid"),
                           (["--dump-confg"], "--dump-confg", "--dump-config"),
                           (["--foregruond"], "--foregruond", "--foreground")):
    p = run(*args)
    check(p.returncode == 64 and
          f"vmad: unknown option '{typed}'; did you mean '{meant}'?\n"
          in p.stderr, f"{args}: rc {p.returncode}: {p.stderr}")

# Socket path order: --socket, $VMAD_SOCKET, config file, default.
cfg = os.path.join(tmp, "sock.conf")
with open(cfg, "w") as f:
    f.write(f"socket {tmp}/from-file.sock\n")


def sock_of(*args, extra_env=None):
    p = run(*args, "--dump-config", extra_env=extra_env)
    return [ln.split()[1] for ln in p.stdout.splitlines()
            if ln.startswith("socket ")][0].strip('"')


check(sock_of("--config", cfg) == f"{tmp}/from-file.sock", "config file")
check(sock_of("--config", cfg, extra_env={"VMAD_SOCKET": "/e.sock"}) ==
      "/e.sock", "env beats config file")
check(sock_of("--config", cfg, "--socket", "/o.sock", extra_env={
    "VMAD_SOCKET": "/e.sock"}) == "/o.sock", "--socket beats env")
check(sock_of(extra_env={"XDG_RUNTIME_DIR": tmp}) == f"{tmp}/vmad.sock",
      "XDG_RUNTIME_DIR default")
e = dict(env)
e.pop("XDG_RUNTIME_DIR", None)
p = subprocess.run([VMAD, "--dump-config"], capture_output=True, text=True,
                   env=e)
check(f'socket "/tmp/vmad-{os.getuid()}/vmad.sock"' in p.stdout, p.stdout)

# No arguments: foreground, embedded defaults, prints the socket path.
xdg = tempfile.mkdtemp(prefix="vmad-xdg-")
atexit.register(shutil.rmtree, xdg, True)
e = dict(env, XDG_RUNTIME_DIR=xdg)
proc = subprocess.Popen([VMAD], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, env=e)
line = proc.stdout.readline().decode()
check(line == f"vmad listening on {xdg}/vmad.sock\n", line)
check(oct(os.stat(f"{xdg}/vmad.sock").st_mode & 0o777) == "0o660",
      "default socket mode 0660")
c = Conn(f"{xdg}/vmad.sock")
check(c.ok("ping")["version"], "ping")
c.close()
# A second vmad on a live socket refuses to start.
p = run("--socket", f"{xdg}/vmad.sock")
check(p.returncode != 0 and "already listening" in p.stderr, p.stderr)
check(os.path.exists(f"{xdg}/vmad.sock"), "the live socket was removed")
proc.send_signal(signal.SIGINT)
check(proc.wait(20) == 0, "SIGINT exit status")
check_sanitizers(proc.stderr.read().decode())
check(not os.path.exists(f"{xdg}/vmad.sock"), "socket left after SIGINT")

# A stale socket file is replaced; a regular file is not.
stale = os.path.join(tmp, "stale.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(stale)
s.close()
v = Vmad(VMAD, "--socket-mode", "0600", sock=stale)
check(oct(os.stat(stale).st_mode & 0o777) == "0o600", "socket mode 0600")
v.stop()
reg = os.path.join(tmp, "regular")
open(reg, "w").close()
p = run("--socket", reg)
check(p.returncode != 0 and "not a socket" in p.stderr and
      os.path.exists(reg), p.stderr)

# One daemon per socket and per pidfile (SOCKET.lock and the pidfile are
# held with flock): a refused second daemon leaves both alone.
one = os.path.join(tmp, "one.sock")
pidf1 = os.path.join(tmp, "one.pid")
a = Vmad(VMAD, "--pidfile", pidf1, sock=one)
check(open(pidf1).read() == f"{a.proc.pid}\n", "pidfile written")
p = run("--socket", one, "--pidfile", pidf1)
check(p.returncode != 0 and "already listening" in p.stderr, p.stderr)
check(open(pidf1).read() == f"{a.proc.pid}\n",
      "a refused daemon rewrote or removed the pidfile")
two = os.path.join(tmp, "two.sock")
p = run("--socket", two, "--pidfile", pidf1)
check(p.returncode != 0 and "pidfile" in p.stderr, p.stderr)
check(open(pidf1).read() == f"{a.proc.pid}\n",
      "a second daemon overwrote a held pidfile")
check(not os.path.exists(two), "the refused daemon left its socket")
# The socket path no longer names our socket: it is left alone at exit.
os.rename(one, one + ".moved")
imp = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
imp.bind(one)
a.proc.send_signal(signal.SIGTERM)
check(a.proc.wait(20) == 0, "SIGTERM exit status")
check_sanitizers(a.stderr())
check(os.path.exists(one), "a daemon removed a socket it did not bind")
check(not os.path.exists(pidf1), "pidfile left behind")
imp.close()
os.unlink(one)
os.unlink(one + ".moved")
# A pidfile removed and written again by someone else is left alone.
a = Vmad(VMAD, "--pidfile", pidf1, sock=one)
os.unlink(pidf1)
with open(pidf1, "w") as f:
    f.write("12345\n")
a.stop()
check(open(pidf1).read() == "12345\n",
      "a daemon removed a pidfile it did not write")
os.unlink(pidf1)
# Two daemons started together on a stale socket: exactly one listens.
race = os.path.join(tmp, "race.sock")
for trial in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(race)
    s.close()
    procs = [subprocess.Popen([VMAD, "--socket", race],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env) for _ in range(2)]
    lines = [p.stdout.readline().decode() for p in procs]
    up = [p for p, ln in zip(procs, lines) if ln.startswith("vmad listening")]
    check(len(up) == 1, f"trial {trial}: {len(up)} daemons listening")
    down = [p for p in procs if p is not up[0]][0]
    check(down.wait(20) != 0, f"trial {trial}: the second daemon exit code")
    c = Conn(race)
    check(c.ok("ping")["version"], "the winner answers")
    c.close()
    up[0].send_signal(signal.SIGTERM)
    check(up[0].wait(20) == 0, f"trial {trial}: SIGTERM exit status")
    for p in procs:
        check_sanitizers(p.stderr.read().decode())
        p.stdout.close()
        p.stderr.close()
    check(not os.path.exists(race), f"trial {trial}: socket left behind")

# --daemon with a pidfile; SIGHUP reopens the log file.
dsock = os.path.join(tmp, "d.sock")
pidf = os.path.join(tmp, "vmad.pid")
logf = os.path.join(tmp, "vmad.log")
p = run("--daemon", "--socket", dsock, "--pidfile", pidf, "--log-file",
        logf)
check(p.returncode == 0 and dsock in p.stdout, (p.stdout, p.stderr))
pid = int(open(pidf).read())
check(f"pid {pid}" in p.stdout, p.stdout)
c = Conn(dsock)
check(c.ok("ping")["version"], "daemon answers")
c.close()
os.rename(logf, logf + ".1")
os.kill(pid, signal.SIGHUP)
for _ in range(100):
    if os.path.exists(logf) and "reopened" in open(logf).read():
        break
    time.sleep(0.05)
check(os.path.exists(logf) and "reopened" in open(logf).read(),
      "SIGHUP did not reopen the log file")
os.kill(pid, signal.SIGTERM)
for _ in range(200):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    time.sleep(0.05)
else:
    check(False, "the daemon did not exit on SIGTERM")
check(not os.path.exists(dsock) and not os.path.exists(pidf),
      "socket or pidfile left behind")
check_sanitizers(open(logf).read() + open(logf + ".1").read())

# Limits: connections, spaces per uid, max_map_count.
v = Vmad(VMAD, "--max-connections", "2", "--max-spaces-per-uid", "2",
         "--max-map-count-limit", "100000")
a, b = Conn(v.sock), Conn(v.sock)
a.ok("ping")
b.ok("ping")
x = Conn(v.sock)
r = x.resp()
check(r["id"] is None and code_of(r) == -32000 and "connections" in
      r["error"]["message"], r)
check(x.eof(5), "the connection over the limit was not closed")
x.close()
b.close()
time.sleep(0.2)
b = Conn(v.sock)
b.ok("ping")
a.ok("space.create", {"name": "one"})
a.ok("space.create", {"name": "two", "max_map_count": 100000})
r = a.call("space.create", {"name": "three"})
check(errno_of(r) == "EAGAIN", r)
r = a.call("space.create", {"name": "three", "max_map_count": 100001})
check(code_of(r) == -32602 and "max_map_count" in r["error"]["message"], r)
a.ok("space.destroy", {"space": "two"})
a.ok("space.create", {"name": "three", "max_map_count": 2})
a.ok("mmap", {"space": "three", "addr": W, "length": P, "prot": "r",
              "flags": ["private", "anonymous", "fixed"]})
a.ok("mmap", {"space": "three", "addr": W + 2 * P, "length": P, "prot": "rw",
              "flags": ["private", "anonymous", "fixed"]})
# Linux refuses a new mapping only once map_count exceeds max_map_count.
a.ok("mmap", {"space": "three", "addr": W + 4 * P, "length": P, "prot": "r",
              "flags": ["private", "anonymous", "fixed"]})
r = a.call("mmap", {"space": "three", "addr": W + 6 * P, "length": P,
                    "prot": "rw", "flags": ["private", "anonymous", "fixed"]})
check(errno_of(r) == "ENOMEM", r)
a.close()
b.close()
v.stop()

# Access control: the creator's uid owns a space; to other uids it does
# not exist (ENOENT, "no such space", as for a missing one); names are
# scoped per owner; root uses any space, another owner's as "~UID/NAME".
# Needs root to switch uid in a child.
if os.getuid() == 0:
    v = Vmad(VMAD, "--socket-mode", "0666")
    os.chmod(v.dir, 0o755)
    a = Conn(v.sock)
    roots_id = a.ok("space.create", {"name": "roots"})["space"]
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = {}
        try:
            os.setgid(65534)
            os.setuid(65534)
            n = Conn(v.sock)
            out["maps"] = n.call("maps", {"space": "roots"})
            out["destroy"] = n.call("space.destroy", {"space": "roots"})
            out["maps_id"] = n.call("maps", {"space": roots_id})
            out["maps_owned"] = n.call("maps", {"space": "~0/roots"})
            out["missing"] = n.call("maps", {"space": "nothere"})
            out["create"] = n.call("space.create", {"name": "nobodys"})
            out["same_name"] = n.call("space.create", {"name": "roots"})
            out["stats"] = n.call("stats")
            out["list"] = n.call("space.list")
            n.close()
        except Exception as ex:  # noqa: B902 - report to the parent
            out["exc"] = repr(ex)
        os.write(wfd, json.dumps(out).encode())
        os._exit(0)
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    out = json.loads(data)
    check("exc" not in out, out)
    # Another's space, by name, by id, by ~UID/NAME, and a missing one:
    # the same answer, word for word.
    for k in ("maps", "destroy", "maps_owned"):
        check(errno_of(out[k]) == "ENOENT" and
              out[k]["error"]["message"] == "no such space: 'roots'"
              or k == "maps_owned", out[k])
    for k in ("maps_id", "maps_owned", "missing"):
        check(errno_of(out[k]) == "ENOENT" and
              "no such space" in out[k]["error"]["message"], out[k])
    check("result" in out["create"], out["create"])
    # Names are per owner: nobody may have its own "roots".
    check("result" in out["same_name"], out["same_name"])
    check(sorted(s["name"] for s in out["list"]["result"]["spaces"]) ==
          ["nobodys", "roots"], out["list"])
    # stats: the caller's counts only.
    st = out["stats"]["result"]
    check(st["spaces"] == 2 and "requests" not in st and
          "spaces_by_uid" not in st, st)
    r = a.call("maps", {"space": "nobodys"})
    check(errno_of(r) == "ENOENT", "root's plain names are root's own")
    r = a.ok("maps", {"space": "~65534/nobodys"})
    check(r["vmas"] == [], "root may use any space")
    check(len(a.ok("space.list")["spaces"]) == 3, "root lists all spaces")
    check(a.ok("maps", {"space": "roots"})["vmas"] == [], "root's own")
    st = a.ok("stats")
    check(st["spaces"] == 3 and st["spaces_by_uid"] == {"0": 1, "65534": 2}
          and "requests" in st, st)
    a.close()
    v.stop()
    print("test_service: access control checked across uids")
else:
    # Without root only the owner's side can be exercised.
    v = Vmad(VMAD)
    a = Conn(v.sock)
    a.ok("space.create", {"name": "mine"})
    spaces = a.ok("space.list")["spaces"]
    check(spaces[0]["owner"] == os.getuid(), spaces)
    a.close()
    v.stop()
    print("test_service: not root; cross-uid EPERM needs root")
print("test_service: ok")
