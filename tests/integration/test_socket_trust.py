#!/usr/bin/env python3
"""Whom the socket can be trusted to (issue 19 item 6, issue 17):

- without XDG_RUNTIME_DIR the default socket is in a private directory,
  /tmp/vmad-UID/, created 0700; a directory another user made first (or a
  symlink, or one others can enter) keeps the daemon from starting, and
  says why;
- a client talks only to a server running as itself or root (SO_PEERCRED),
  unless told otherwise (--server-uid, VMAD_SERVER_UID): an impostor's
  socket gets nothing, not even the first request;
- socket_group and socket_mode give the socket file its group and mode;
- without a per-user socket, the clients find the system service's socket.

Daemons run as other uids, which needs root; the test says so and fails
otherwise (CI runs as root).

Usage: test_socket_trust.py VMAD VMACTL
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import check, fail  # noqa

VMAD, VMACTL = sys.argv[1], sys.argv[2]
if os.geteuid() != 0:
    fail("test_socket_trust needs root (it runs daemons as other uids); "
         f"running as uid {os.geteuid()}")
VICTIM, ATTACKER = 42421, 42422
procs = []


def as_uid(uid):
    def pre():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return pre


def env_for(uid, **extra):
    e = {k: v for k, v in os.environ.items()
         if k not in ("VMAD_SOCKET", "XDG_RUNTIME_DIR", "VMAD_CONFIG",
                      "VMAD_SERVER_UID")}
    e.update(HOME="/", **extra)
    return e


def start(uid, *args, wait=True, **env):
    p = subprocess.Popen([VMAD, "--foreground", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=as_uid(uid), env=env_for(uid, **env))
    procs.append(p)
    if wait:
        line = p.stdout.readline().decode()
        check(line.startswith("vmad listening on "),
              f"vmad as {uid} did not start: {line!r} "
              f"{p.stderr.read().decode() if p.poll() is not None else ''}")
        return p, line.split()[-1]
    return p, None


def stop(p):
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def vmactl(uid, *args, **env):
    return subprocess.run([VMACTL, *args], capture_output=True, text=True,
                          preexec_fn=as_uid(uid), env=env_for(uid, **env),
                          timeout=60)


tmp = tempfile.mkdtemp(prefix="vmad-trust-")
os.chmod(tmp, 0o1777)
victim_dir = f"/tmp/vmad-{VICTIM}"
try:
    for d in (victim_dir, f"/tmp/vmad-{ATTACKER}"):
        shutil.rmtree(d, ignore_errors=True)

    # 1. The default socket, in a private directory made 0700.
    p, sock = start(VICTIM)
    check(sock == f"{victim_dir}/vmad.sock", sock)
    st = os.lstat(victim_dir)
    check(stat.S_ISDIR(st.st_mode) and st.st_uid == VICTIM and
          stat.S_IMODE(st.st_mode) == 0o700, f"{victim_dir}: {st}")
    r = vmactl(VICTIM, "--json", "space", "list")
    check(r.returncode == 0, r.stderr)
    stop(p)

    # 2. A directory taken first by another user, a symlink, or one that
    # others can enter: the daemon refuses it and says why.
    shutil.rmtree(victim_dir)
    os.mkdir(victim_dir, 0o777)
    os.chown(victim_dir, ATTACKER, ATTACKER)
    os.chmod(victim_dir, 0o777)
    p, _ = start(VICTIM, wait=False)
    rc = p.wait(20)
    err = p.stderr.read().decode()
    check(rc != 0 and "owned by uid %d" % ATTACKER in err,
          f"vmad started in another user's directory: {rc} {err}")
    check(not os.path.exists(f"{victim_dir}/vmad.sock"), "socket created")
    os.rmdir(victim_dir)
    os.symlink(tmp, victim_dir)
    p, _ = start(VICTIM, wait=False)
    check(p.wait(20) != 0 and "not a directory" in p.stderr.read().decode(),
          "vmad followed a symlink")
    os.unlink(victim_dir)
    os.mkdir(victim_dir, 0o755)
    os.chown(victim_dir, VICTIM, VICTIM)
    os.chmod(victim_dir, 0o755)
    p, _ = start(VICTIM, wait=False)
    check(p.wait(20) != 0 and "mode 0755" in p.stderr.read().decode(),
          "vmad accepted a directory others can enter")
    shutil.rmtree(victim_dir)

    # 3. An impostor's socket: the victim's client sends nothing to it.
    fake = os.path.join(tmp, "fake.sock")
    p, _ = start(ATTACKER, "--socket", fake, "--socket-mode", "0666")
    r = vmactl(VICTIM, "--socket", fake, "space", "create", "secret")
    check(r.returncode == 3 and "another user" in r.stderr,
          f"client talked to another user's server: {r.returncode} "
          f"{r.stdout} {r.stderr}")
    # Root's client is as careful; trusting the uid, it looks inside.
    r = vmactl(0, "--socket", fake, "space", "list")
    check(r.returncode == 3 and "another user" in r.stderr, r.stderr)
    r = vmactl(0, "--socket", fake, "--server-uid", str(ATTACKER), "--json",
               "space", "list")
    check(r.returncode == 0 and json.loads(r.stdout)["spaces"] == [],
          f"the impostor received a request: {r.stdout} {r.stderr}")
    # Trusted explicitly: by option, by environment.
    r = vmactl(VICTIM, "--socket", fake, "--server-uid", str(ATTACKER),
               "space", "create", "trusted")
    check(r.returncode == 0, r.stderr)
    r = vmactl(VICTIM, "--socket", fake, "space", "list",
               VMAD_SERVER_UID=str(ATTACKER))
    check(r.returncode == 0 and "trusted" in r.stdout, r.stderr)
    r = vmactl(VICTIM, "--socket", fake, "--server-uid", "x", "space",
               "list")
    check(r.returncode == 2 and "--server-uid" in r.stderr, r.stderr)
    # The Python client module checks the same way.
    pydir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         "..", "clients", "python")
    code = ("import sys, vmad\n"
            "try:\n"
            "    vmad.Client(sys.argv[1]).space_list()\n"
            "except PermissionError as e:\n"
            "    print('refused:', e); sys.exit(3)\n"
            "print(vmad.Client(sys.argv[1], server_uid=%d).space_list())\n"
            % ATTACKER)
    # (An interpreter the victim's uid may run: the system's, if any.)
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
        else sys.executable
    r = subprocess.run([py, "-c", code, fake],
                       capture_output=True, text=True, timeout=60,
                       preexec_fn=as_uid(VICTIM),
                       env=env_for(VICTIM, PYTHONPATH=pydir))
    check(r.returncode == 3 and "neither you nor root" in r.stdout,
          f"vmad.py talked to another user's server: {r}")
    stop(p)

    # 4. socket_group and socket_mode.
    gsock = os.path.join(tmp, "group.sock")
    p, _ = start(0, "--socket", gsock, "--socket-group", "4242",
                 "--socket-mode", "0660")
    st = os.stat(gsock)
    check(st.st_gid == 4242 and stat.S_IMODE(st.st_mode) == 0o660,
          f"socket group/mode: {st}")
    r = vmactl(VICTIM, "--socket", gsock, "space", "list")
    check(r.returncode == 3, f"uid outside the group got in: {r.stderr}")
    stop(p)
    p, _ = start(0, "--socket", gsock, "--socket-group", "no-such-group-x",
                 wait=False)
    check(p.wait(20) != 0 and "no-such-group-x" in p.stderr.read().decode(),
          "unknown socket_group accepted")

    # 5. No per-user socket: the clients find the system service's socket.
    if os.path.exists("/run/vmad"):
        print("test_socket_trust: /run/vmad exists on this machine (a "
              "service?): the system-socket fallback is checked with a "
              "socket there only when it is free", flush=True)
    if not os.path.exists("/run/vmad/vmad.sock"):
        made = not os.path.exists("/run/vmad")
        os.makedirs("/run/vmad", exist_ok=True)
        try:
            p, _ = start(0, "--socket", "/run/vmad/vmad.sock",
                         "--socket-mode", "0666")
            vmactl(0, "--socket", "/run/vmad/vmad.sock", "space", "create",
                   "system-one")
            xdg = tempfile.mkdtemp(prefix="vmad-xdg-")
            os.chmod(xdg, 0o755)
            r = vmactl(VICTIM, "space", "list", XDG_RUNTIME_DIR=xdg)
            check(r.returncode == 0, f"system socket not found: {r.stderr}")
            # The victim sees only its own spaces: none.
            check("system-one" not in r.stdout, r.stdout)
            r = vmactl(0, "space", "list", XDG_RUNTIME_DIR=xdg)
            check(r.returncode == 0 and "system-one" in r.stdout,
                  f"root did not reach the system socket: {r.stderr}")
            # A per-user socket that exists wins.
            q, _ = start(0, "--socket", os.path.join(xdg, "vmad.sock"))
            r = vmactl(0, "space", "list", XDG_RUNTIME_DIR=xdg)
            check(r.returncode == 0 and "system-one" not in r.stdout,
                  r.stdout)
            stop(q)
            stop(p)
            shutil.rmtree(xdg, ignore_errors=True)
        finally:
            if made:
                shutil.rmtree("/run/vmad", ignore_errors=True)
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    for d in (victim_dir, f"/tmp/vmad-{ATTACKER}"):
        if os.path.islink(d):
            os.unlink(d)
        shutil.rmtree(d, ignore_errors=True)
print("test_socket_trust: ok")
