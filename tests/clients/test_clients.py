#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Black-box tests of vmactl, vma-replay and vma-bench against a private vmad.

Usage: test_clients.py GROUP --bindir DIR --vmad PATH
GROUP is one of: vmactl, show, replay, bench, help. Each group starts its own
daemon on a temporary socket and stops it with SIGTERM at the end.
"""
import argparse
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
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = None
W = 0x200000000000
P = 4096


class Daemon:
    def __init__(self, vmad):
        self.dir = tempfile.mkdtemp(prefix="vmad-clients-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "sock")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen([vmad, "--socket", self.sock],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("vmad exited: " + self.output())
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                s.close()
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("vmad did not listen: " + self.output())

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        if rc != 0:
            raise RuntimeError("vmad exited with %d: %s" % (rc, self.output()))


def run(prog, *args, stdin=None, env=None, sock=True):
    cmd = [os.path.join(ARGS.bindir, prog)]
    if sock:
        cmd += ["--socket", DAEMON.sock]
    cmd += [str(a) for a in args]
    e = dict(os.environ)
    e.pop("VMAD_SOCKET", None)
    if env:
        e.update(env)
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                       env=e, timeout=120)
    return p.returncode, p.stdout, p.stderr


DAEMON = None


class VmactlTest(unittest.TestCase):
    def setUp(self):
        self.space = self.id().rsplit(".", 1)[-1]
        rc, out, err = run("vmactl", "space", "create", self.space)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^space \d+ \(%s\)\n$" % self.space)

    def tearDown(self):
        run("vmactl", "space", "destroy", self.space)

    def mmap(self, addr, length, prot="rw", flags="private,anonymous,fixed"):
        rc, out, err = run("vmactl", "mmap", "--space", self.space, "--addr",
                           hex(addr), "--length", length, "--prot", prot,
                           "--flags", flags)
        self.assertEqual(rc, 0, err)
        return int(out, 16)

    def test_space_export_import(self):
        addr = self.mmap(W, 3 * P)
        run("vmactl", "fault", self.space, hex(addr + P), "--write")
        path = os.path.join(DAEMON.dir, self.space + ".snap")
        rc, out, err = run("vmactl", "space", "export", self.space, path)
        self.assertEqual(rc, 0, err)
        size = os.path.getsize(path)
        self.assertRegex(out, r"^space \d+ exported to %s \(%d bytes\)\n$"
                         % (re.escape(path), size))
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"VMADSPC\0")
        copy = self.space + "_copy"
        rc, out, err = run("vmactl", "space", "import", copy, "--snapshot",
                           path)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^space \d+ \(%s\)\n$" % copy)
        rc, a, err = run("vmactl", "--json", "maps", self.space)
        rc, b, err = run("vmactl", "--json", "maps", copy)
        self.assertEqual(json.loads(a), json.loads(b))
        self.assertIn('"rss_pages": 1', json.dumps(json.loads(b)))
        run("vmactl", "space", "destroy", copy)
        # A damaged file is refused, saying how; a missing one too.
        with open(path, "r+b") as f:
            f.truncate(size - 5)
        rc, out, err = run("vmactl", "space", "import", copy, "--snapshot",
                           path)
        self.assertEqual(rc, 2)
        self.assertIn("truncated", err)
        rc, out, err = run("vmactl", "space", "import", copy, "--snapshot",
                           path + ".none")
        self.assertEqual(rc, 2)
        self.assertIn("cannot read", err)
        rc, out, err = run("vmactl", "space", "export", self.space)
        self.assertEqual(rc, 2)
        self.assertIn("missing FILE", err)
        rc, out, err = run("vmactl", "space", "import", copy, "--snapshot",
                           path, "--maps", "/proc/self/maps")
        self.assertEqual(rc, 2)
        self.assertIn("exactly one of", err)

    def test_mmap_maps_fault(self):
        rc, out, err = run("vmactl", "mmap", "--space", self.space,
                           "--length", "8192", "--prot", "rw", "--flags",
                           "private,anonymous")
        self.assertEqual(rc, 0, err)
        addr = int(out.strip(), 16)
        self.assertEqual(addr % P, 0)
        rc, out, err = run("vmactl", "maps", self.space)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^%x-%x rw-p " % (addr, addr + 8192))
        rc, js, err = run("vmactl", "--json", "maps", self.space)
        self.assertEqual(rc, 0, err)
        res = json.loads(js)
        self.assertEqual(res["text"], out)
        self.assertEqual([(v["start"], v["end"]) for v in res["vmas"]],
                         [(addr, addr + 8192)])
        rc, out, err = run("vmactl", "fault", self.space, hex(addr + P),
                           "--write")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out.splitlines()), 1)
        self.assertIn("write: ok, populated in %x-%x rw-p" %
                      (addr, addr + 8192), out)
        rc, out, err = run("vmactl", "fault", self.space, "0x1000")
        self.assertEqual(rc, 0, err)
        self.assertIn("segv SEGV_MAPERR", out)
        # x86: a fetch from a page not present is handled as a read, so
        # the page is mapped before the retried fetch fails.
        rc, out, err = run("vmactl", "fault", self.space, hex(addr),
                           "--access", "exec")
        self.assertEqual(rc, 0, err)
        self.assertIn("exec: segv SEGV_ACCERR, populated", out)
        rc, out, err = run("vmactl", "--json", "fault", self.space,
                           hex(addr), "--access", "exec")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out),
                         {"status": "segv", "code": "SEGV_ACCERR"})

    def test_json_outputs(self):
        rc, out, err = run("vmactl", "--json", "mmap", self.space,
                           "--addr", hex(W), "--length", "4K", "--prot", "r",
                           "--flags", "private,anonymous,fixed")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"addr": W})
        rc, out, err = run("vmactl", "--json", "lookup", self.space,
                           hex(W + 10))
        self.assertEqual(rc, 0, err)
        vma = json.loads(out)["vma"]
        self.assertEqual((vma["start"], vma["end"], vma["perms"]),
                         (W, W + P, "r--p"))
        rc, out, err = run("vmactl", "lookup", self.space, hex(W + P))
        self.assertEqual(rc, 0, err)
        self.assertIn("not mapped", out)
        rc, out, err = run("vmactl", "--json", "stats", self.space)
        self.assertEqual(rc, 0, err)
        self.assertIsInstance(json.loads(out), dict)
        rc, out, err = run("vmactl", "--json", "space", "list")
        self.assertEqual(rc, 0, err)
        names = [s.get("name") for s in json.loads(out)["spaces"]]
        self.assertIn(self.space, names)

    def test_mprotect_munmap_mremap_brk(self):
        self.mmap(W, "16K")
        rc, _, err = run("vmactl", "mprotect", self.space, hex(W + P), "4K",
                         "r")
        self.assertEqual(rc, 0, err)
        rc, out, _ = run("vmactl", "maps", self.space)
        self.assertEqual(len(out.splitlines()), 3)
        rc, _, err = run("vmactl", "munmap", self.space, hex(W), "16K")
        self.assertEqual(rc, 0, err)
        rc, out, _ = run("vmactl", "maps", self.space)
        self.assertEqual(out, "")
        self.mmap(W, "8K")
        rc, out, err = run("vmactl", "mremap", self.space, hex(W), "8K",
                           "16K")
        self.assertEqual(rc, 0, err)
        self.assertEqual(int(out, 16), W)
        rc, out, err = run("vmactl", "brk", self.space)
        self.assertEqual(rc, 0, err)
        start = int(out, 16)
        rc, out, err = run("vmactl", "brk", self.space, hex(start + 0x3000))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "%#x -> %#x\n" % (start, start + 0x3000))
        rc, out, _ = run("vmactl", "maps", self.space)
        self.assertIn("[heap]", out)
        # A break the kernel refuses (below start_brk) stays where it
        # was: the result is shown beside the request, and it fails.
        rc, out, err = run("vmactl", "brk", self.space, "0x1000")
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(out, "%#x -> %#x\n" % (start + 0x3000,
                                               start + 0x3000))
        self.assertIn("did not move to 0x1000", err)
        rc, out, err = run("vmactl", "--json", "brk", self.space, "0x1000")
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out), {"brk": start + 0x3000})

    def test_exit_status_failure(self):
        rc, out, err = run("vmactl", "mmap", self.space, "--length", "0",
                           "--prot", "rw", "--flags", "private,anonymous")
        self.assertEqual(rc, 1)
        self.assertEqual(err, "vmactl: mmap: invalid argument (EINVAL)\n")
        # The daemon's own message, with the errno name.
        rc, out, err = run("vmactl", "maps", "no-such-space")
        self.assertEqual(rc, 1)
        self.assertEqual(
            err, "vmactl: maps: no such space: 'no-such-space' (ENOENT)\n")
        rc, out, err = run("vmactl", "mmap", self.space, "--length", "4K",
                           "--prot", "rwq", "--flags", "private,anonymous")
        self.assertEqual(rc, 2)
        self.assertIn("vmactl: mmap: 'prot' must hold", err)
        self.mmap(W, "4K")
        rc, out, err = run("vmactl", "--json", "mmap", self.space, "--addr",
                           hex(W), "--length", "4K", "--prot", "rw",
                           "--flags", "private,anonymous,fixed_noreplace")
        self.assertEqual(rc, 1)
        self.assertIn("mmap: already exists (EEXIST)", err)
        self.assertEqual(json.loads(out)["error"]["data"]["errno"], "EEXIST")
        # Neither anonymous nor a file: EBADF, by its name.
        rc, out, err = run("vmactl", "mmap", self.space, "--length", "4K",
                           "--prot", "r", "--flags", "shared")
        self.assertEqual((rc, err), (1, "vmactl: mmap: bad file descriptor "
                                        "(EBADF)\n"))

    def test_exit_status_usage(self):
        for args in (["frobnicate"], ["mmap", self.space, "--bogus", "1"],
                     ["mmap", self.space, "--prot", "rw"],
                     ["munmap", self.space, "notanumber", "4K"],
                     ["fault"], ["call"], ["call", "maps", "{bad json"]):
            rc, out, err = run("vmactl", *args)
            self.assertEqual(rc, 2, "%s: %s" % (args, err))
            self.assertIn("vmactl:", err)
        rc, out, err = run("vmactl", "call", "no.such.method")
        self.assertEqual(rc, 2, err)
        self.assertNotIn("did you mean", err)
        # The daemon's -32601 names the method meant; vmactl shows it.
        rc, out, err = run("vmactl", "call", "spaces.list")
        self.assertEqual(rc, 2, err)
        self.assertIn("did you mean 'space.list'?", err)
        # Errors name the option, and suggest what was meant.
        for args, want in (
                (["mmap", self.space, "--length", "4Q", "--prot", "rw",
                  "--flags", "private"],
                 "vmactl: mmap: --length: invalid value '4Q'"),
                (["munmap", self.space, "0x1000", "4Q"],
                 "vmactl: munmap: LENGTH: invalid value '4Q'"),
                (["mmap", self.space, "--lenght", "4K"],
                 "vmactl: mmap: unknown option '--lenght'; did you mean "
                 "'--length'?"),
                (["mapz", self.space],
                 "vmactl: unknown command 'mapz'; did you mean 'maps'?"),
                (["space", "destory", self.space],
                 "vmactl: unknown command 'space destory'; did you mean "
                 "'space destroy'?"),
                (["destroy", self.space],
                 "did you mean 'space destroy'?"),
                (["spce", "create", "x"],
                 "vmactl: unknown command 'spce create'; did you mean "
                 "'space create'?"),
                (["MAPS", self.space],
                 "vmactl: unknown command 'MAPS'; did you mean 'maps'?"),
                # Options before the command suggest too; "=value" is not
                # part of the name.
                (["--jsno", "space", "list"],
                 "vmactl: unknown option '--jsno'; did you mean "
                 "'--json'?"),
                (["--sever-uid=0", "space", "list"],
                 "vmactl: unknown option '--sever-uid'; did you mean "
                 "'--server-uid'?"),
                (["mmap", self.space, "--prot", "rw"],
                 "vmactl: mmap: missing --length"),
                (["fault", self.space, "0x1000", "--write=1"],
                 "vmactl: fault: --write takes no value"),
                # A page count takes no size suffix: 1M is not 1M pages.
                (["space", "create", "gg", "--stack-guard-gap", "1M"],
                 "--stack-guard-gap: invalid value '1M': a number of pages "
                 "takes no size suffix (1M bytes would be 256 pages)"),
                (["space", "create", "gg", "--max-map-count", "64K"],
                 "--max-map-count: invalid value '64K'")):
            rc, out, err = run("vmactl", *args)
            self.assertEqual(rc, 2, "%s: %s" % (args, err))
            self.assertIn(want, err, args)
            self.assertIn("Try 'vmactl", err)
        # Far from every name: no suggestion.
        for args, want in ((["--frobnicate", "ping"],
                            "vmactl: unknown option '--frobnicate'\n"),
                           (["frobnicate", "x"],
                            "vmactl: unknown command 'frobnicate'\n")):
            rc, out, err = run("vmactl", *args)
            self.assertEqual(rc, 2, "%s: %s" % (args, err))
            self.assertIn(want, err, args)
        rc, out, err = run("vmactl", "--sockt", "x", "ping", sock=False)
        self.assertEqual(rc, 2, err)
        self.assertIn("unknown option '--sockt'; did you mean '--socket'?",
                      err)
        rc, out, err = run("vmactl", "space", "list")
        self.assertNotIn(" gg ", out)
        rc, out, err = run("vmactl", "--json", "space", "create", "gg",
                           "--stack-guard-gap", "0x10", "--max-map-count",
                           "100")
        self.assertEqual(rc, 0, err)
        rc, out, err = run("vmactl", "--json", "space", "list")
        gg = [x for x in json.loads(out)["spaces"] if x["name"] == "gg"][0]
        self.assertEqual((gg["stack_guard_gap"], gg["max_map_count"]),
                         (16, 100))
        run("vmactl", "space", "destroy", "gg")

    def test_exit_status_unreachable(self):
        bad = os.path.join(DAEMON.dir, "nobody-here.sock")
        rc, out, err = run("vmactl", "--socket", bad, "space", "list",
                           sock=False)
        self.assertEqual(rc, 3)
        self.assertIn(bad, err)
        rc, out, err = run("vmactl", "space", "list", sock=False,
                           env={"VMAD_SOCKET": bad})
        self.assertEqual(rc, 3)
        self.assertIn(bad, err)

    def test_socket_order(self):
        # VMAD_SOCKET is used without --socket; --socket wins over it.
        rc, out, err = run("vmactl", "space", "list", sock=False,
                           env={"VMAD_SOCKET": DAEMON.sock})
        self.assertEqual(rc, 0, err)
        rc, out, err = run("vmactl", "--socket", DAEMON.sock, "space",
                           "list", sock=False,
                           env={"VMAD_SOCKET": "/nonexistent/x.sock"})
        self.assertEqual(rc, 0, err)
        conf = os.path.join(DAEMON.dir, "vmad.conf")
        with open(conf, "w") as f:
            f.write("# test config\nworkers 2\nsocket %s\n" % DAEMON.sock)
        rc, out, err = run("vmactl", "--config", conf, "space", "list",
                           sock=False)
        self.assertEqual(rc, 0, err)

    def test_call(self):
        self.mmap(W, "8K")
        rc, out, err = run("vmactl", "call", "lookup",
                           json.dumps({"space": self.space,
                                       "addr": hex(W + P)}))
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["vma"]["start"], W)
        rc, out, err = run("vmactl", "call", "munmap",
                           json.dumps({"space": self.space, "addr": W + 1,
                                       "length": P}))
        self.assertEqual(rc, 1)
        self.assertIn("EINVAL", err)

    def test_stdin(self):
        lines = [
            "# comment",
            "",
            json.dumps({"method": "mmap", "params": {
                "space": self.space, "addr": W, "length": P, "prot": "r",
                "flags": ["private", "anonymous", "fixed"]}}),
            json.dumps({"jsonrpc": "2.0", "id": "x", "method": "lookup",
                        "params": {"space": self.space, "addr": W}}),
            json.dumps({"method": "munmap", "params": {
                "space": self.space, "addr": W + 3, "length": P}}),
        ]
        rc, out, err = run("vmactl", "-", stdin="\n".join(lines) + "\n")
        self.assertEqual(rc, 1, err)  # the last request fails
        resp = [json.loads(l) for l in out.splitlines()]
        self.assertEqual(len(resp), 3)
        self.assertEqual(resp[0]["result"], {"addr": W})
        self.assertEqual(resp[1]["id"], "x")
        self.assertEqual(resp[1]["result"]["vma"]["start"], W)
        self.assertEqual(resp[2]["error"]["data"]["errno"], "EINVAL")
        rc, out, err = run("vmactl", "-", stdin=lines[3] + "\n")
        self.assertEqual(rc, 0, err)

        # A malformed line is reported and the next lines still run; so
        # does a line the daemon answers by closing the connection.
        lines = [json.dumps({"method": "ping"}), "{not json",
                 "[" * 100 + "]" * 100,
                 json.dumps({"method": "lookup", "params": {
                     "space": self.space, "addr": W}})]
        rc, out, err = run("vmactl", "-", stdin="\n".join(lines) + "\n")
        self.assertEqual(rc, 1, err)
        resp = [json.loads(l) for l in out.splitlines()]
        self.assertEqual(len(resp), 4, out)
        self.assertIn("version", resp[0]["result"])
        self.assertEqual((resp[1]["id"], resp[1]["error"]["code"]),
                         (None, -32700))
        self.assertIn("error", resp[2])
        self.assertEqual(resp[3]["result"]["vma"]["start"], W)
        self.assertIn("vmactl: line 2: not JSON", err)

    def test_human_output(self):
        # Addresses in hex, a table of spaces, no "name=null".
        run("vmactl", "space", "create")  # an unnamed space
        rc, out, err = run("vmactl", "space", "list")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), [
            "SPACE", "NAME", "OWNER", "TASK_SIZE", "MMAP_BASE", "GUARD",
            "MAX_MAP", "STACK", "MEMLOCK"])
        mine = [l for l in lines if " %s " % self.space in l]
        self.assertEqual(len(mine), 1, out)
        self.assertEqual(mine[0].split()[3:], [
            "0x7ffffffff000", "0x7ffff7fff000", "256", "65530", "8M",
            "8M"])
        self.assertNotIn("null", out)
        self.assertTrue(any(l.split()[1] == "-" for l in lines[1:]), out)
        rc, js, _ = run("vmactl", "--json", "space", "list")
        for sp in json.loads(js)["spaces"]:
            if sp["name"] is None:
                run("vmactl", "space", "destroy", str(sp["space"]))
        rc, out, err = run("vmactl", "stats", self.space)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^brk: 0x[0-9a-f]+$")
        self.assertRegex(out, r"(?m)^tree\.entries: \d+$")

    def test_lookup_and_maps_share_the_maps_format(self):
        rc, out, err = run("vmactl", "mmap", self.space, "--addr", hex(W),
                           "--length", "8K", "--prot", "r", "--flags",
                           "shared,fixed", "--file", "/srv/data.bin")
        self.assertEqual(rc, 0, err)
        rc, out, err = run("vmactl", "mmap", self.space, "--addr",
                           hex(W + 0x100000), "--length", "8K", "--prot",
                           "r", "--flags", "private,fixed", "--file",
                           "/usr/lib/libc.so.6", "--offset", "4K")
        self.assertEqual(rc, 0, err)
        self.mmap(W + 0x200000, "4K", flags="shared,anonymous,fixed")
        self.mmap(W + 0x300000, "4K")
        rc, maps, err = run("vmactl", "maps", self.space)
        self.assertEqual(rc, 0, err)
        rc, js, err = run("vmactl", "--json", "maps", self.space)
        self.assertEqual(maps, json.loads(js)["text"])
        lines = maps.splitlines()
        self.assertEqual(len(lines), 4, maps)
        self.assertRegex(lines[1], r" fe:01 [1-9]\d* +/usr/lib/libc\.so\.6$")
        self.assertRegex(lines[2], r" 00:01 [1-9]\d* +/dev/zero \(deleted\)$")
        for addr, line in zip((W, W + 0x100000, W + 0x200000,
                               W + 0x300000), lines):
            rc, out, err = run("vmactl", "lookup", self.space, hex(addr))
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, line + "\n")

    def test_brk_base(self):
        rc, out, err = run("vmactl", "space", "create", "brkb", "--brk-base",
                           "0x600000000000")
        self.assertEqual(rc, 0, err)
        rc, out, err = run("vmactl", "brk", "brkb")
        self.assertEqual((rc, out), (0, "0x600000000000\n"), err)
        run("vmactl", "space", "destroy", "brkb")

    def test_pmap(self):
        self.mmap(W, "16K")
        rc, out, err = run("vmactl", "mmap", self.space, "--addr",
                           hex(W + 0x100000), "--length", "8K", "--prot",
                           "rx", "--flags", "private,fixed", "--file",
                           "/usr/lib/libc.so.6")
        self.assertEqual(rc, 0, err)
        run("vmactl", "fault", self.space, hex(W), "--write")
        run("vmactl", "fault", self.space, hex(W + P), "--write")
        rc, out, err = run("vmactl", "pmap", self.space)
        self.assertEqual(rc, 0, err)
        rc, js, _ = run("vmactl", "--json", "space", "list")
        sid = [x["space"] for x in json.loads(js)["spaces"]
               if x["name"] == self.space][0]
        self.assertEqual(out, "%d:   %s\n"
                         "%016x     16K rw---   [ anon ]\n"
                         "%016x      8K r-x-- libc.so.6\n"
                         " total               24K\n"
                         % (sid, self.space, W, W + 0x100000))
        rc, out, err = run("vmactl", "pmap", self.space, "-x")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[1:], [
            "Address           Kbytes     RSS Mode  Mapping",
            "%016x      16       8 rw---   [ anon ]" % W,
            "%016x       8       0 r-x-- libc.so.6" % (W + 0x100000),
            "---------------- ------- ------- ",
            "total kB              24       8"])
        # The real pmap (procps) lays its columns out the same way, with a
        # Dirty column the simulator has no data for.
        pmap = shutil.which("pmap")
        if not pmap:
            print("pmap (procps) not installed: layout not compared")
            return
        real = subprocess.run([pmap, "-x", str(os.getpid())],
                              capture_output=True, text=True).stdout
        rl = real.splitlines()
        self.assertEqual(rl[1].replace("   Dirty", ""), lines[1])
        self.assertEqual(rl[-2].replace(" -------", "", 1), lines[-2])
        row = re.compile(r"^([0-9a-f]{16}) +(\d+) +(\d+) +\d+ ([-rwxs]{5}) "
                         r"(.*)$")
        m = row.match(rl[2])
        self.assertTrue(m, rl[2])
        ours = "%s %7s %7s %s %s" % m.groups()
        self.assertEqual(len(ours.split(m.group(4))[0]),
                         len(lines[2].split("rw---")[0]))
        tot = re.match(r"^(total kB +\d+) +\d+ +\d+$", rl[-1])
        self.assertTrue(tot, rl[-1])
        self.assertEqual(len(tot.group(1)),
                         len(re.match(r"^total kB +\d+", lines[-1]).group(0)))
        real = subprocess.run([pmap, str(os.getpid())], capture_output=True,
                              text=True).stdout.splitlines()
        self.assertRegex(real[1], r"^[0-9a-f]{16} +\d+K [-rwxs]{5} ")
        self.assertEqual(len(real[1].split("K ")[0]),
                         len("%016x     16" % W))
        self.assertRegex(real[-1], r"^ total +\d+K$")
        self.assertEqual(len(real[-1]), len(" total               24K"))


class ShowTest(unittest.TestCase):
    def test_svg_and_text(self):
        sp = "show-test"
        run("vmactl", "space", "create", sp, "--stack")
        for addr, length, prot in ((W, "64K", "rw"), (W + 0x100000, "4K", "r"),
                                   (W + 0x200000, "1M", "rx"),
                                   (W + 0x400000, "8K", "none")):
            rc, out, err = run("vmactl", "mmap", sp, "--addr", hex(addr),
                               "--length", length, "--prot", prot,
                               "--flags", "private,anonymous,fixed")
            self.assertEqual(rc, 0, err)
        # A neighbour inside the stack's guard gap is drawn as a red hatch.
        rc, out, err = run("vmactl", "mmap", sp, "--addr",
                           hex(0x7ffffffde000 - 0x10000), "--length", "4K",
                           "--prot", "rw", "--flags",
                           "private,anonymous,fixed")
        self.assertEqual(rc, 0, err)
        svg = os.path.join(DAEMON.dir, "show.svg")
        rc, out, err = run("vmactl", "show", sp, "--svg", svg)
        self.assertEqual(rc, 0, err)
        root = ET.parse(svg).getroot()
        self.assertTrue(root.tag.endswith("svg"))
        ns = {"s": "http://www.w3.org/2000/svg"}
        texts = " ".join("".join(t.itertext()) for t in root.iter(
            "{http://www.w3.org/2000/svg}text"))
        for label in ("rw-p", "r--p", "r-xp", "---p", "[stack]",
                      "%x" % W, "%x" % (W + 0x10000), "gap", "guard gap"):
            self.assertIn(label, texts)
        # Each band's tooltip holds its maps lines.
        titles = " ".join(t.text or "" for t in root.iter(
            "{http://www.w3.org/2000/svg}title"))
        self.assertIn("%x-%x rw-p" % (W, W + 0x10000), titles)
        rects = root.findall(".//s:rect", ns)
        self.assertGreaterEqual(len(rects), 6 + 1)
        rc, out, err = run("vmactl", "show", sp)
        self.assertEqual(rc, 0, err)
        self.assertIn("[stack]", out)
        self.assertIn("guard gap", out)
        self.assertEqual(len([l for l in out.splitlines()
                              if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", l)]), 6)
        run("vmactl", "space", "destroy", sp)


class ReplayTest(unittest.TestCase):
    def test_failing_expectation(self):
        f = os.path.join(HERE, "wrong-expectation.jsonl")
        rc, out, err = run("vma-replay", f)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("wrong-expectation.jsonl:9: expectation failed", err)
        self.assertNotIn(":7:", err)
        for part in ("request:", "expected:", "actual:"):
            self.assertIn(part, err)
        self.assertIn("1 failed", out)
        # Only the member that differs, addresses in hex.
        self.assertIn("  at result.vmas[0].end:\n"
                      "    expected: \"0x200000003000\"\n"
                      "    actual:   \"0x200000002000\"\n", err)
        self.assertNotIn("rss_pages", err)
        rc, out, err = run("vma-replay", "--json", f)
        self.assertEqual(rc, 1)
        rep = json.loads(out)
        self.assertFalse(rep["passed"])
        self.assertEqual(rep["failures"], 1)
        e = rep["files"][0]["errors"][0]
        self.assertEqual(e["line"], 9)
        self.assertEqual(e["differences"], [{
            "at": "result.vmas[0].end", "expected": "0x200000003000",
            "actual": "0x200000002000"}])
        self.assertEqual(e["actual"]["result"]["vmas"][0]["start"],
                         "0x200000000000")
        # Times are milliseconds, without float noise.
        for t in re.findall(r'"elapsed_s": ([0-9.eE+-]+)', out):
            self.assertRegex(t, r"^\d+(\.\d{1,3})?$")

    def test_failure_kinds(self):
        f = os.path.join(HERE, "wrong-kinds.jsonl")
        rc, out, err = run("vma-replay", f)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("  at result.vmas (length):\n    expected: 2\n"
                      "    actual:   1\n", err)
        self.assertIn("  at result.vmas[1]:\n"
                      "    expected: {\"start\":\"0x200000001000\"}\n"
                      "    actual:   (none)\n", err)
        self.assertIn("  at error:\n    expected: (none)\n    actual:   "
                      "{\"code\":-32000,\"message\":\"invalid argument\","
                      "\"data\":{\"errno\":\"EINVAL\"}}\n", err)
        self.assertIn("2 failed", out)

    def test_library_on_a_busy_daemon(self):
        # The scenario library runs against a daemon that has other
        # spaces (not only against a fresh one, --spawn).
        for name in ("busy-1", "busy-2"):
            run("vmactl", "space", "create", name)
        files = sorted(os.path.join(ARGS.scenarios, f)
                       for f in os.listdir(ARGS.scenarios)
                       if f.endswith(".jsonl"))
        rc, out, err = run("vma-replay", "--quiet", *files)
        self.assertEqual(rc, 0, out + err)
        for name in ("busy-1", "busy-2"):
            run("vmactl", "space", "destroy", name)

    def test_passing_and_spawn(self):
        f = os.path.join(ARGS.scenarios, "merge-adjacent-anon.jsonl")
        rc, out, err = run("vma-replay", "--json", f)
        self.assertEqual(rc, 0, out + err)
        rep = json.loads(out)
        self.assertTrue(rep["passed"])
        self.assertGreater(rep["requests"], 5)
        rc, out, err = run("vma-replay", "--spawn", "--vmad", ARGS.vmad, f,
                           sock=False)
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"ok +.*merge-adjacent-anon.jsonl")
        self.assertIn("passed", out)

    def test_stable_violation_is_reported(self):
        f = os.path.join(HERE, "stable-violation.jsonl")
        rc, out, err = run("vma-replay", "--readers", "2", f)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("seen unmapped", err)
        m = re.search(r"(\d+) stable addresses seen unmapped", out)
        self.assertTrue(m and int(m.group(1)) > 0, out)

    def test_io_errors(self):
        rc, out, err = run("vma-replay", "/nonexistent.jsonl")
        self.assertEqual(rc, 2)
        bad = os.path.join(DAEMON.dir, "nobody.sock")
        rc, out, err = run("vma-replay", "--socket", bad,
                           os.path.join(HERE, "wrong-expectation.jsonl"),
                           sock=False)
        self.assertEqual(rc, 2)
        self.assertIn(bad, err)
        malformed = os.path.join(DAEMON.dir, "bad.jsonl")
        with open(malformed, "w") as f:
            f.write('{"method": "space.list"}\n{not json\n')
        rc, out, err = run("vma-replay", malformed)
        self.assertEqual(rc, 2)
        self.assertIn("bad.jsonl:2:", err)
        rc, out, err = run("vma-replay")
        self.assertEqual(rc, 2)


class BenchTest(unittest.TestCase):
    def test_json_smoke(self):
        rc, out, err = run("vma-bench", "-c", "3", "-p", "4", "-t", "2",
                           "-d", "0.5", "-w", "0.1", "--vmas", "8",
                           "--mix", "fault=4,lookup=2,mmap=1,munmap=1,"
                           "mprotect=1,fixed=1", "--mutators", "1", "--json")
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        for k in ("requests_per_s", "connections", "pipeline", "latency_us",
                  "ops", "client_cpu_s"):
            self.assertIn(k, r)
        self.assertEqual((r["connections"], r["pipeline"]), (3, 4))
        self.assertGreater(r["requests"], 0)
        self.assertEqual(r["errors"], 0, out)
        for k in ("p50", "p90", "p99", "p999", "max"):
            self.assertIn(k, r["latency_us"])
        self.assertLessEqual(r["latency_us"]["p50"], r["latency_us"]["max"])
        for op in ("fault", "lookup", "mmap", "munmap", "mprotect", "fixed"):
            self.assertIn(op, r["ops"])
            self.assertGreater(r["ops"][op]["requests"], 0)
            self.assertIn("p999", r["ops"][op]["latency_us"])
        # The spaces are destroyed afterwards.
        rc, out, err = run("vmactl", "--json", "space", "list")
        names = [s.get("name") or "" for s in json.loads(out)["spaces"]]
        self.assertFalse([n for n in names if n.startswith("bench-")])

    def test_open_loop_and_count(self):
        rc, out, err = run("vma-bench", "-c", "2", "-R", "2000", "-d", "0.5",
                           "-w", "0", "--json")
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        self.assertEqual(r["rate"], 2000)
        # Open loop: about rate * duration requests.
        self.assertTrue(700 <= r["requests"] <= 1300, r["requests"])
        rc, out, err = run("vma-bench", "-c", "2", "-n", "300", "-w", "0",
                           "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["requests"], 300)
        rc, out, err = run("vma-bench", "--mix", "bogus=1")
        self.assertEqual(rc, 2)


class BenchDeathTest(unittest.TestCase):
    """Issue 19: a daemon that dies mid-run: vma-bench reports the time it
    actually measured and the requests lost, and exits non-zero."""

    def test_daemon_dies(self):
        d = Daemon(ARGS.vmad)
        cmd = [os.path.join(ARGS.bindir, "vma-bench"), "--socket", d.sock,
               "-c", "2", "-d", "20", "-w", "0.2", "--json"]
        t0 = time.time()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        d.proc.kill()
        d.proc.wait()
        out, err = p.communicate(timeout=60)
        took = time.time() - t0
        self.assertNotEqual(p.returncode, 0, out + err)
        self.assertLess(took, 10, "kept running after the daemon died")
        r = json.loads(out)
        self.assertLess(r["elapsed_s"], 3, r)
        self.assertGreater(r["elapsed_s"], 0.5, r)
        self.assertTrue(r["failed"], r)
        self.assertIn("connection", r["failure"], r)
        # The rate is over the time measured, not the time asked for.
        self.assertAlmostEqual(r["requests_per_s"],
                               r["requests"] / r["elapsed_s"], delta=1)
        self.assertIn("daemon", err)

    def test_mremap_mix(self):
        rc, out, err = run("vma-bench", "-c", "2", "-d", "0.5", "-w", "0.1",
                           "--mix", "mremap=3,mmap=1,munmap=1,fault=1",
                           "--json")
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        self.assertGreater(r["ops"]["mremap"]["requests"], 0)
        self.assertEqual(r["errors"], 0, out)
        self.assertFalse(r["failed"], r)


class HelpTest(unittest.TestCase):
    def test_help_version(self):
        for prog in ("vmactl", "vma-replay", "vma-bench"):
            rc, out, err = run(prog, "--help", sock=False)
            self.assertEqual(rc, 0)
            for sec in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS",
                        "EXIT STATUS", "ENVIRONMENT", "EXAMPLES"):
                self.assertRegex(out, r"(?m)^%s$" % sec, prog)
            rc, out, err = run(prog, "--version", sock=False)
            self.assertEqual(rc, 0)
            self.assertRegex(out, r"^%s \d+\.\d+\.\d+\n$" % prog)


    def test_vmactl_help(self):
        rc, full, err = run("vmactl", "help", sock=False)
        self.assertEqual(rc, 0, err)
        rc, out, err = run("vmactl", "--help", sock=False)
        self.assertEqual(out, full)
        # Every command has its usage line in COMMANDS.
        cmds = full.split("\nCOMMANDS\n")[1].split("\nOPTIONS\n")[0]
        for name in ("space create", "space destroy", "space fork",
                     "space list", "mmap", "munmap", "mprotect", "mremap",
                     "brk", "fault", "lookup", "maps", "pmap", "stats",
                     "show", "call", "help"):
            self.assertRegex(cmds, r"(?m)^    %s( |$)" % name)
        self.assertIn("[--brk-base ADDR]", cmds)
        self.assertIn("[--stack-guard-gap PAGES]", cmds)
        for args in (["help", "mmap"], ["mmap", "--help"],
                     ["mmap", "-h"]):
            rc, out, err = run("vmactl", *args, sock=False)
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.startswith(
                "usage: vmactl mmap SPACE [--addr ADDR] --length LENGTH"),
                out)
            self.assertIn("--flags F[,F...]", out)
            self.assertIn('Sends the JSON-RPC method "mmap"', out)
        rc, out, err = run("vmactl", "help", "space", "create", sock=False)
        self.assertEqual(rc, 0, err)
        self.assertIn("--stack-guard-gap PAGES", out)
        self.assertIn("a number of pages, decimal or 0x hex, no size suffix",
                      out)
        rc, out, err = run("vmactl", "pmap", "--help", sock=False)
        self.assertIn("-x", out)
        rc, out, err = run("vmactl", "help", "pmpa", sock=False)
        self.assertEqual(rc, 2)
        self.assertIn("unknown command 'pmpa'; did you mean 'pmap'?", err)


GROUPS = {"vmactl": VmactlTest, "show": ShowTest, "replay": ReplayTest,
          "bench": BenchTest, "bench_death": BenchDeathTest,
          "help": HelpTest}


def main():
    global ARGS, DAEMON
    ap = argparse.ArgumentParser()
    ap.add_argument("group", choices=sorted(GROUPS))
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--vmad", required=True)
    ap.add_argument("--scenarios", required=True)
    ARGS = ap.parse_args()
    DAEMON = Daemon(ARGS.vmad)
    ok = False
    try:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(
            GROUPS[ARGS.group])
        ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    finally:
        DAEMON.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
