"""Helpers for vmad's integration tests: start a daemon on a temporary
socket, talk JSON-RPC to it with nothing but the standard library, stop it
and check that it exited cleanly (status 0, socket removed, no sanitizer
report)."""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

W = 0x100000000000  # a window of the address space the tests use
P = 4096


def fail(msg):
    print("FAIL: " + str(msg), flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


_live = []  # (creator pid, Vmad) of every daemon started


@atexit.register
def _kill_left_overs():
    """A failed test exits without stopping its daemons: kill them, so
    that no daemon (and no client looping on it) outlives the test."""
    for pid, v in _live:
        if pid != os.getpid():
            continue
        if v.proc.poll() is None:
            v.proc.kill()
            v.proc.wait()
        # A passing test leaves nothing in the temporary directory; a
        # failing one has printed what it needs.
        shutil.rmtree(v.dir, ignore_errors=True)


class Vmad:
    """A vmad process on a socket in a fresh temporary directory."""

    def __init__(self, binary, *args, sock=None, wait=True, env=None,
                 preexec=None):
        self.dir = tempfile.mkdtemp(prefix="vmad-test-")
        self.sock = sock or os.path.join(self.dir, "vmad.sock")
        self.errpath = os.path.join(self.dir, "stderr")
        self.err = open(self.errpath, "w")
        self.argv = [binary, "--socket", self.sock, *args]
        e = dict(os.environ)
        e.pop("VMAD_SOCKET", None)
        if env:
            e.update(env)
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                     stderr=self.err, env=e,
                                     preexec_fn=preexec)
        _live.append((os.getpid(), self))
        if wait:
            line = self.proc.stdout.readline().decode()
            check(line.startswith("vmad listening on " + self.sock),
                  f"unexpected first line {line!r}; stderr: {self.stderr()}")

    def stderr(self):
        self.err.flush()
        with open(self.errpath) as f:
            return f.read()

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_s(self):
        """CPU time (user + system) the daemon used so far, in seconds."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self):
        """The daemon's peak resident set (VmHWM)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def nr_fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal the daemon and check a clean exit; return its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"vmad did not exit within {timeout}s of signal {sig}")
        err = self.stderr()
        check(rc == 0, f"vmad exited with {rc}; stderr:\n{err[-3000:]}")
        check(not os.path.exists(self.sock), "socket file left behind")
        check_sanitizers(err)
        return err


def check_sanitizers(err):
    for pat in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                "runtime error:", "WARNING: ThreadSanitizer"):
        check(pat not in err, f"sanitizer report in stderr:\n{err[-5000:]}")


class Conn:
    """One JSON-RPC connection (newline-delimited)."""

    def __init__(self, path, timeout=60):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.n = 0

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def send_req(self, method, params=None, id=None):
        if id is None:
            self.n += 1
            id = self.n
        req = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            req["params"] = params
        self.send(json.dumps(req).encode() + b"\n")
        return id

    def line(self):
        """The next response line, or None at EOF (linear in its size)."""
        nl = self.buf.find(b"\n")
        if nl < 0:
            parts = [self.buf]
            while True:
                try:
                    chunk = self.s.recv(1 << 20)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    self.buf = b"".join(parts)
                    return None
                parts.append(chunk)
                if b"\n" in chunk:
                    break
            self.buf = b"".join(parts)
            nl = self.buf.find(b"\n")
        line, self.buf = self.buf[:nl], self.buf[nl + 1:]
        return line

    def resp(self):
        line = self.line()
        check(line is not None, "connection closed, response expected")
        return json.loads(line)

    def call(self, method, params=None):
        id = self.send_req(method, params)
        r = self.resp()
        check(r.get("jsonrpc") == "2.0" and r.get("id") == id,
              f"bad envelope for {method}: {r}")
        return r

    def ok(self, method, params=None):
        r = self.call(method, params)
        check("result" in r, f"{method} {params} failed: {r}")
        return r["result"]

    def eof(self, timeout=10):
        """True if the peer closes within timeout (data before is kept)."""
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(1 << 20)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def as_uid(uid, fn):
    """Start fn() in a child running as @uid; collect() returns what it
    returned (JSON) once it is done."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            os.setgid(uid)
            os.setuid(uid)
            out = fn()
        except Exception as ex:  # noqa: B902 - report to the parent
            out = {"exc": repr(ex)}
        os.write(wfd, json.dumps(out).encode())
        os._exit(0)
    os.close(wfd)
    return pid, rfd


def collect(child):
    pid, rfd = child
    data = b""
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    out = json.loads(data)
    check(not (isinstance(out, dict) and "exc" in out), out)
    return out


def errno_of(r):
    return ((r.get("error") or {}).get("data") or {}).get("errno")


def code_of(r):
    return (r.get("error") or {}).get("code")


def vmad_binary():
    check(len(sys.argv) >= 2, "usage: test.py PATH/TO/vmad")
    return sys.argv[1]
