#!/usr/bin/env python3
"""No reply carries uninitialised bytes.

Run against a vmad of the poisoned build (VMAD_POISON: every uninitialised
stack variable is filled with a byte pattern; ASan fills new heap blocks
with 0xbe). The canary program of the same build says which patterns
these are. Every input of tests/data/rpc (valid and invalid, each on its
own connection, then end of stream), every proper prefix of the valid ones
(a value cut by the end of the stream), and every request of the scenario
library are sent; each reply must be valid JSON and hold no integer or
string made of a pattern (0xfefefefe..., "\\u00fe\\u00fe..."), which is what
a struct field left unset (as rpc_error.offset once was) looks like.

usage: test_uninit.py VMAD CANARY TESTS/DATA/RPC TESTS/SCENARIOS"""
import glob
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import Conn, Vmad, check, vmad_binary  # noqa: E402

VMAD = vmad_binary()
CANARY, RPC_DIR, SCEN_DIR = sys.argv[2:5]

out = subprocess.run([CANARY], capture_output=True, text=True,
                     check=True).stdout
fill = {line.split()[0]: int(line.split()[1], 16)
        for line in out.splitlines()}
print(f"this build fills the stack with {fill['stack']:#04x} and new heap "
      f"blocks with {fill['heap']:#04x}", flush=True)
check(fill["stack"] in (0xfe, 0xaa), "the stack is not poisoned: is "
      "this the VMAD_POISON build?")
patterns = sorted({fill["stack"], fill["heap"]} - {0})


def poisoned_int(v):
    for x in (v & (2**64 - 1), v & (2**32 - 1)):
        h = "%x" % x
        if any(("%02x" % b) * 4 in h for b in patterns):
            return True
    return False


def poisoned_str(s):
    return any(chr(b) * 2 in s for b in patterns)


def scan(v, where):
    if isinstance(v, bool) or v is None:
        return
    if isinstance(v, int):
        check(not poisoned_int(v), f"{where}: poisoned integer {v:#x}")
    elif isinstance(v, float):
        return
    elif isinstance(v, str):
        check(not poisoned_str(v), f"{where}: poisoned string {v!r}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            scan(x, f"{where}[{i}]")
    elif isinstance(v, dict):
        for k, x in v.items():
            scan(k, f"{where} key")
            scan(x, f"{where}.{k}")


def replies(data, what):
    """Send @data on a new connection, end the stream, read every reply."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(v.sock)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    buf = b""
    while True:
        try:
            chunk = s.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    s.close()
    n = 0
    for line in buf.splitlines():
        for b in patterns:
            check(bytes([b]) * 4 not in line,
                  f"{what}: pattern bytes in reply {line[:300]!r}")
        try:
            r = json.loads(line)
        except ValueError as e:
            check(False, f"{what}: reply is not JSON ({e}): {line[:300]!r}")
        scan(r, what)
        n += 1
    return n


v = Vmad(VMAD)
nr = 0
inputs = sorted(glob.glob(os.path.join(RPC_DIR, "*", "*", "input")))
check(len(inputs) > 40, f"too few test vectors in {RPC_DIR}")
for path in inputs:
    data = open(path, "rb").read()
    nr += replies(data, path)
    if "/valid/" in path:
        # Cut inside the value: the end-of-stream error and its offset.
        for cut in range(1, len(data), max(1, len(data) // 16)):
            nr += replies(data[:cut], f"{path}[:{cut}]")

# Every request of the scenario library, on one connection per file.
for path in sorted(glob.glob(os.path.join(SCEN_DIR, "*.jsonl"))):
    lines = []
    for i, text in enumerate(open(path)):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        req = json.loads(text)
        if "method" not in req:
            continue
        for k in ("expect", "repeat"):
            req.pop(k, None)
        req.update(jsonrpc="2.0", id=i)
        lines.append(json.dumps(req).encode() + b"\n")
    nr += replies(b"".join(lines), path)

c = Conn(v.sock)
st = c.ok("stats")
scan(st, "stats")
c.close()
check(nr > 1000, f"only {nr} replies checked")
v.stop()
print(f"test_uninit: {len(inputs)} vectors and the scenario library, "
      f"{nr} replies, no pattern bytes: ok")
