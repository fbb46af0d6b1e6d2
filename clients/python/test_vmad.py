#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of the Python client module (vmad.py) against a private vmad.

usage: test_vmad.py --vmad PATH [--vmactl PATH] [--codec protocol/codec.c]
                    [--errh libvma/include/vma/err.h] [--require-pip]
"""
import argparse
import atexit
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vmad  # noqa: E402

ARGS = None
SOCK = None
W = 0x200000000000
P = 4096


def start_daemon(binary):
    d = tempfile.mkdtemp(prefix="vmad-python-")
    atexit.register(shutil.rmtree, d, True)
    sock = os.path.join(d, "vmad.sock")
    proc = subprocess.Popen([binary, "--socket", sock],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    if not line.startswith("vmad listening on"):
        raise RuntimeError("vmad did not start: %r %s"
                           % (line, proc.stderr.read().decode()))
    return proc, sock


class MethodsTest(unittest.TestCase):
    def setUp(self):
        self.c = vmad.Client(SOCK)
        self.name = self.id().rsplit(".", 1)[-1]
        r = self.c.space_create(self.name, stack=True)
        self.assertEqual(r["name"], self.name)
        self.sid = r["space"]

    def tearDown(self):
        try:
            self.c.space_destroy(self.name)
        except vmad.ENOENT:
            pass
        self.c.close()

    def test_every_method(self):
        c, s = self.c, self.name
        self.assertEqual(c.ping()["version"], vmad.__version__)
        self.assertEqual(c.mmap(s, W, 4 * P, "rw",
                               ["private", "anonymous", "fixed"]),
                         {"addr": W})
        self.assertEqual(c.mprotect(s, W + P, P, "r"), {})
        f = c.fault(s, W, "write")
        self.assertEqual((f["status"], f["populated"]), ("ok", True))
        self.assertEqual(c.lookup(s, W + P)["vma"]["perms"], "r--p")
        self.assertIsNone(c.lookup(s, 0x1000)["vma"])
        m = c.maps(space=s)
        self.assertEqual(len(m["vmas"]), 4)  # 3 pieces and the stack
        self.assertEqual(c.munmap(s, W + 2 * P, 2 * P), {})
        self.assertEqual(c.mremap(s, W + P, P, 2 * P)["addr"], W + P)
        start = c.brk(s)["brk"]
        self.assertEqual(c.brk(s, start + P)["brk"], start + P)
        self.assertEqual(c.stats(s)["nr_vmas"], len(c.maps(s)["vmas"]))
        self.assertIn("requests", c.stats())
        self.assertEqual(c.space_validate(s), {"valid": True})
        child = c.space_fork(s, s + "-child")
        self.assertEqual(child["name"], s + "-child")
        names = [x["name"] for x in c.space_list()["spaces"]]
        self.assertIn(s + "-child", names)
        self.assertEqual(c.space_destroy(child["space"]), {})
        text = c.maps(s)["text"]
        imp = c.space_import(s + "-copy", text)
        self.assertEqual(c.maps(imp["space"])["text"], text)
        c.space_destroy(imp["space"])
        # Raw calls, and keywords for any parameter.
        self.assertEqual(c.call("lookup", {"space": s, "addr": W})["vma"]
                         ["start"], W)
        self.assertEqual(c.mmap(space=s, length=P, prot="r",
                                flags=["private", "anonymous"],
                                addr=W + 0x100000)["addr"] % P, 0)
        with self.assertRaises(TypeError):
            c.munmap(s, W, P, "extra")
        with self.assertRaises(TypeError):
            c.munmap(s, W, length=P, addr=W)

    def test_typed_errors(self):
        c = self.c
        with self.assertRaises(vmad.ENOENT) as e:
            c.maps("no-such-space")
        err = e.exception
        self.assertIsInstance(err, vmad.DaemonError)
        self.assertIsInstance(err, vmad.VmadError)
        self.assertEqual((err.errno_name, err.errno, err.code),
                         ("ENOENT", errno.ENOENT, -32000))
        self.assertEqual(str(err), "no such space: 'no-such-space'")
        with self.assertRaises(vmad.EEXIST):
            c.space_create(self.name)
        with self.assertRaises(vmad.EINVAL):
            c.munmap(self.name, W + 1, P)
        with self.assertRaises(vmad.EBADF) as e:
            c.mmap(self.name, length=P, prot="r", flags=["shared"])
        self.assertEqual(e.exception.errno, errno.EBADF)
        with self.assertRaises(vmad.InvalidParams) as e:
            c.mmap(self.name, length=P, prot="rwq", flags=["private"])
        self.assertEqual(e.exception.code, -32602)
        self.assertIsNone(e.exception.errno_name)
        with self.assertRaises(vmad.MethodNotFound):
            c.call("no.such.method")
        # The connection is still usable after errors.
        self.assertIn("version", c.ping())

    def test_pipeline(self):
        c, s = self.c, self.name
        with c.pipeline() as p:
            maps = [p.mmap(s, W + i * 2 * P, P, "rw",
                           ["private", "anonymous", "fixed"])
                    for i in range(500)]
            bad = p.munmap(s, W + 1, P)
            look = p.lookup(s, W + 2 * P)
            self.assertFalse(look.done())
        self.assertEqual([m.result()["addr"] for m in maps],
                         [W + i * 2 * P for i in range(500)])
        self.assertIsInstance(bad.exception(), vmad.EINVAL)
        with self.assertRaises(vmad.EINVAL):
            bad.result()
        self.assertEqual(look.result()["vma"]["start"], W + 2 * P)
        p = c.pipeline()
        self.assertEqual(p.execute(), [])
        q = p.ping()
        with self.assertRaises(RuntimeError):
            q.result()
        self.assertEqual(p.execute()[0].result()["version"],
                         vmad.__version__)


class OfflineTest(unittest.TestCase):
    def test_pipelining_sends_before_reading(self):
        # A server that answers only once it has every request: a client
        # that waited for each response before sending the next would
        # time out here.
        d = tempfile.mkdtemp(prefix="vmad-python-fake-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "s")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(1)
        got = []

        def serve():
            conn, _ = srv.accept()
            buf = b""
            while buf.count(b"\n") < 3:
                buf += conn.recv(65536)
            reqs = [json.loads(x) for x in buf.splitlines()]
            got.extend(reqs)
            # Out of order on purpose: matched by id.
            out = b"".join(json.dumps(
                {"jsonrpc": "2.0", "id": r["id"], "result": {"n": i}}
            ).encode() + b"\n" for i, r in reversed(list(enumerate(reqs))))
            conn.sendall(out)
            conn.close()
        t = threading.Thread(target=serve)
        t.start()
        c = vmad.Client(path, timeout=5)
        p = c.pipeline()
        a, b, z = p.ping(), p.space_list(), p.stats()
        p.execute()
        t.join()
        c.close()
        srv.close()
        self.assertEqual([r["method"] for r in got],
                         ["ping", "space.list", "stats"])
        self.assertEqual([a.result(), b.result(), z.result()],
                         [{"n": 0}, {"n": 1}, {"n": 2}])

    def test_unreachable(self):
        with self.assertRaises(ConnectionError) as e:
            vmad.Client("/nonexistent/vmad.sock")
        self.assertIn("/nonexistent/vmad.sock", str(e.exception))

    def test_socket_order(self):
        keep = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(),
                                 os.environ.update(keep)))
        d = tempfile.mkdtemp(prefix="vmad-python-env-")
        self.addCleanup(shutil.rmtree, d, True)
        conf = os.path.join(d, "c.conf")
        with open(conf, "w") as f:
            f.write("# c\nworkers 2\nsocket %s/from-config.sock\n" % d)
        # The per-user default, unless it does not exist and the system
        # service's socket does (vmactl below checks the same choice).
        default = "/tmp/vmad-%d/vmad.sock" % os.getuid()
        if (not os.path.exists(default) and
                os.path.exists(vmad.SYSTEM_SOCKET)):
            default = vmad.SYSTEM_SOCKET
        cases = [
            ({}, default),
            ({"XDG_RUNTIME_DIR": d}, d + "/vmad.sock"),
            ({"XDG_RUNTIME_DIR": "relative"}, default),
            ({"VMAD_CONFIG": conf, "XDG_RUNTIME_DIR": d},
             d + "/from-config.sock"),
            ({"VMAD_SOCKET": d + "/env.sock", "VMAD_CONFIG": conf},
             d + "/env.sock"),
        ]
        for env, want in cases:
            os.environ.clear()
            os.environ.update({k: v for k, v in keep.items()
                               if k not in ("VMAD_SOCKET", "VMAD_CONFIG",
                                            "XDG_RUNTIME_DIR")})
            os.environ.update(env)
            self.assertEqual(vmad.socket_path(), want, env)
            self.assertEqual(vmad.socket_path("/x.sock"), "/x.sock")
            if ARGS.vmactl:
                # vmactl (libvmc) chooses the same socket.
                p = subprocess.run([ARGS.vmactl, "space", "list"],
                                   capture_output=True, text=True)
                m = re.search(r"cannot reach vmad at (\S+):", p.stderr)
                self.assertTrue(m, p.stderr)
                self.assertEqual(m.group(1), want, env)


class PackagingTest(unittest.TestCase):
    def test_every_protocol_method(self):
        # The daemon's method table (protocol/codec.c) and METHODS agree.
        if not ARGS.codec:
            self.skipTest("no --codec")
        text = open(ARGS.codec).read()
        table = text.split("rpc_methods[RPC_NR_METHODS] = {")[1].split(
            "};")[0]
        daemon = set(re.findall(r'ROW0?\(RPC_\w+,\s*"([^"]+)"', table))
        self.assertGreater(len(daemon), 10)
        ours = {m for m, _ in vmad.METHODS}
        self.assertEqual(daemon - ours, set(), "methods without a Python "
                         "method: add a line to vmad.METHODS")
        self.assertEqual(ours - daemon, set())
        for m in ours:
            self.assertTrue(callable(getattr(vmad.Client,
                                             m.replace(".", "_"))))

    def test_every_errno(self):
        # Every errno name vmad reports (libvma's VMA_ERRNO_MAP) has its
        # class.
        if not ARGS.errh:
            self.skipTest("no --errh")
        names = re.findall(r"X\((E[A-Z0-9]+),", open(ARGS.errh).read())
        self.assertGreater(len(names), 15)
        for n in names:
            cls = getattr(vmad, n, None)
            self.assertTrue(cls and issubclass(cls, vmad.DaemonError), n)

    def test_pip_install(self):
        # pip installs the module from the source tree (no network: the
        # build backend is the installed setuptools).
        pyproject = open(os.path.join(HERE, "pyproject.toml")).read()
        self.assertIn('version = "%s"' % vmad.__version__, pyproject)
        # An interpreter with pip, setuptools and wheel: this one, or
        # Debian's (python3-pip brings the other two).
        python = None
        for cand in (sys.executable, "/usr/bin/python3"):
            if cand and os.path.exists(cand) and subprocess.run(
                    [cand, "-c", "import setuptools, wheel, pip"],
                    capture_output=True).returncode == 0:
                python = cand
                break
        if not python:
            if ARGS.require_pip:
                self.fail("no python3 with pip, setuptools and wheel "
                          "(Debian: python3-pip)")
            print("pip, setuptools or wheel not installed: pip install "
                  "not tried")
            return
        d = tempfile.mkdtemp(prefix="vmad-python-pip-")
        self.addCleanup(shutil.rmtree, d, True)
        src = os.path.join(d, "src")
        shutil.copytree(HERE, src, ignore=shutil.ignore_patterns(
            "__pycache__", "*.egg-info", "build"))
        target = os.path.join(d, "site")
        p = subprocess.run([python, "-m", "pip", "install", "-q",
                            "--no-build-isolation", "--no-deps",
                            "--no-index", "--target", target, src],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = subprocess.run(
            [python, "-c",
             "import vmad, sys; print(vmad.__file__, vmad.__version__); "
             "print(vmad.Client(sys.argv[1]).ping()['version'])", SOCK],
            capture_output=True, text=True,
            env=dict(os.environ, PYTHONPATH=target))
        self.assertEqual(p.returncode, 0, p.stderr)
        where, version = p.stdout.splitlines()[0].split()
        self.assertTrue(where.startswith(target), where)
        self.assertEqual(p.stdout.splitlines()[1], version)


def main():
    global ARGS, SOCK
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmad", required=True)
    ap.add_argument("--vmactl")
    ap.add_argument("--codec")
    ap.add_argument("--errh")
    ap.add_argument("--require-pip", action="store_true")
    ARGS = ap.parse_args()
    proc, SOCK = start_daemon(ARGS.vmad)
    try:
        suite = unittest.TestSuite()
        for cls in (MethodsTest, OfflineTest, PackagingTest):
            suite.addTests(
                unittest.defaultTestLoader.loadTestsFromTestCase(cls))
        ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        err = proc.stderr.read().decode()
    if rc != 0 or "Sanitizer" in err or "runtime error:" in err:
        print("vmad exited with %d:\n%s" % (rc, err))
        ok = False
    time.sleep(0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
