#!/usr/bin/env python3
"""Bad input never hurts: malformed frames over a real socket each get the
right error (or a close), the daemon stays up, another client is not
affected, and no space changes (maps before and after)."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import (P, W, Conn, Vmad, check, code_of, errno_of,  # noqa
                      vmad_binary)

vmad = Vmad(vmad_binary(), "--workers", "2", "--output-high-water", "256K",
            "--output-low-water", "64K", "--output-timeout", "2")
main = Conn(vmad.sock)
sid = main.ok("space.create", {"name": "victim"})["space"]
main.ok("mmap", {"space": "victim", "addr": W, "length": 16 * P,
                 "prot": "rw", "flags": ["private", "anonymous", "fixed"]})
main.ok("mprotect", {"space": "victim", "addr": W + 4 * P, "length": P,
                     "prot": "r"})
before = main.ok("maps", {"space": "victim"})


def unchanged(what):
    check(vmad.alive(), f"vmad died after {what}")
    after = main.ok("maps", {"space": "victim"})
    check(after["text"] == before["text"], f"space changed by {what}")


def exchange(data, shut=False, closes=None):
    """Send raw bytes on a new connection; return the responses."""
    c = Conn(vmad.sock)
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        # vmad may answer and close before it has read all of a long
        # message it refuses (deep nesting): the answer is still there.
        check(closes, f"connection closed while sending {data[:60]!r}")
    if shut:
        c.s.shutdown(socket.SHUT_WR)
    out = []
    if closes:
        check(c.eof(10), f"connection not closed after {data[:60]!r}")
        for line in c.buf.split(b"\n"):
            if line:
                out.append(json.loads(line))
    else:
        out.append(c.resp())
        check(c.call("ping")["result"]["version"], "connection still usable")
    c.close()
    return out


def expect(name, data, code, words=(), shut=False, closes=False):
    out = exchange(data, shut, closes)
    check(len(out) == 1, f"{name}: expected one response, got {out}")
    r = out[0]
    check(code_of(r) == code, f"{name}: expected {code}, got {r}")
    check("id" in r, f"{name}: no id member: {r}")
    for w in words:
        check(w in r["error"]["message"], f"{name}: {w!r} not in {r}")
    unchanged(name)
    return r


def req(method, params, id=1):
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": method,
                       "params": params}).encode() + b"\n"


V = {"space": "victim"}
# Parse errors: reply with id null and close.
trunc = b'{"jsonrpc":"2.0","id":1,"method":"munmap"'
r = expect("truncated", trunc, -32700, ["end of stream"], shut=True,
           closes=True)
check(r["id"] is None, r)
# The offset is where the stream ended inside the value (it was once
# uninitialised stack memory).
check(r["error"]["data"]["offset"] == len(trunc), r)
expect("garbage", b"hello world\n", -32700, closes=True)
expect("invalid utf-8", req("mmap", {**V, "length": P, "prot": "r",
                                     "flags": ["private"], "file": "x"})
       .replace(b'"x"', b'"\xff\xfe"'), -32700, closes=True)
expect("nul byte", b'{"jsonrpc":"2.0","id":1,"method":"mun\x00map"}\n',
       -32700, closes=True)
expect("mismatched", b'{"jsonrpc":"2.0","id":1,"method":"ping"]\n', -32700,
       closes=True)
expect("deep nesting", b"[" * 100000, -32700, ["nested"], closes=True)
expect("deep nesting in params",
       req("munmap", {**V, "addr": 0, "length": 0}).replace(
           b'"length": 0', b'"length": ' + b"[" * 5000 + b"]" * 5000),
       -32700, ["nested"], closes=True)
# Values over 64 KiB are parsed on the job pool: same answers.
big_pad = b" " * (70 << 10)
r = expect("large garbage", b"[" + big_pad + b"1,}\n", -32700, closes=True)
check(r["id"] is None and r["error"]["data"]["offset"] > 70 << 10, r)
expect("large oversized batch",
       b"[" + b",".join([b'{"jsonrpc":"2.0","id":1,"method":"ping"}'] *
                        10001) + b"]\n", -32600, ["limit"])
# A large batch, then a small request: answered in order, stays open.
c = Conn(vmad.sock)
batch = [{"jsonrpc": "2.0", "id": i, "method": "lookup",
          "params": {**V, "addr": W + (i % 16) * P}} for i in range(2000)]
c.send(json.dumps(batch).encode() + b"\n" + req("ping", {}, id="after"))
r = c.resp()
check(len(r) == 2000 and [x["id"] for x in r] == list(range(2000)) and
      all(x["result"]["vma"]["start"] >= W for x in r), r[:2])
r = c.resp()
check(r.get("id") == "after" and "result" in r, r)
c.close()
unchanged("large batch")
# Invalid requests: reply, the connection stays usable.
expect("non-object", b"42\n", -32600)
expect("string", b'"munmap"\n', -32600)
expect("null", b"null\n", -32600)
expect("empty batch", b"[]\n", -32600, ["empty"])
expect("no jsonrpc", b'{"id":1,"method":"ping"}\n', -32600)
expect("unknown member", b'{"jsonrpc":"2.0","id":1,"method":"ping","x":0}\n',
       -32600, ["'x'"])
r = expect("unknown method", req("frob", {}), -32601, ["frob"])
check("did you mean" not in r["error"]["message"] and "data" not in
      r["error"], f"a suggestion for a name far from every method: {r}")
# A name close to a method names it in the message (the code and the
# absence of data are as for any unknown method).
r = expect("unknown method close to one", req("spaces.list", {}), -32601,
           ["'spaces.list'", "did you mean 'space.list'?"])
check("data" not in r["error"], r)
expect("unknown method, case", req("Munmap", {}), -32601,
       ["did you mean 'munmap'?"])
# The error message quotes the name cut to 60 bytes, inside the "é": the
# response must still be valid JSON (json.loads rejects broken UTF-8).
expect("unknown method cut in a character", req("a" * 59 + "\u00e9", {}),
       -32601, ["a" * 59])
# Invalid params: named in the message.
M = {**V, "addr": W, "length": P}
expect("wrong type", req("munmap", {**M, "addr": [W]}), -32602, ["'addr'"])
expect("bool length", req("munmap", {**M, "length": True}), -32602,
       ["'length'"])
expect("float", req("munmap", {**M, "addr": 1.5}), -32602, ["'addr'"])
expect("negative", req("munmap", {**M, "addr": -4096}), -32602, ["'addr'"])
expect("huge", req("munmap", {**M, "length": 2**64}), -32602,
       ["'length'", "range"])
expect("huger", req("munmap", {**M, "length": 10**40}), -32602,
       ["'length'"])
expect("huge negative", req("munmap", {**M, "addr": -10**30}), -32602,
       ["'addr'"])
expect("hex overflow", req("munmap", {**M, "addr": "0x1" + "0" * 16}),
       -32602, ["'addr'", "range"])
expect("hex garbage", req("munmap", {**M, "addr": "0xzz"}), -32602,
       ["'addr'"])
expect("unknown param", req("munmap", {**M, "len": 5}), -32602, ["'len'"])
expect("missing param", req("munmap", V), -32602, ["'addr'"])
expect("bad prot", req("mprotect", {**M, "prot": "rwz"}), -32602,
       ["'prot'"])
expect("bad flag", req("mmap", {**M, "prot": "r", "flags": ["private",
                                                            "fixed", "big"]}),
       -32602, ["'flags'"])
expect("bad space", req("munmap", {**M, "space": [1]}), -32602, ["'space'"])
expect("params array", req("munmap", [1, 2, 3]), -32602, ["params"])
# Model errors keep the space intact.
r = expect("unaligned munmap", req("munmap", {**M, "addr": W + 1}), -32000)
check(errno_of(r) == "EINVAL", r)
r = expect("unknown space", req("munmap", {**M, "space": "nope"}), -32000)
check(errno_of(r) == "ENOENT", r)

# Protocol conformance (issue 19): ids of the whole documented range come
# back verbatim, 2^63 and beyond are refused; the internal mark of big
# integers cannot be forged; numbers with leading zeros are parse errors
# whatever their length.
for rid in (10**18, 2**63 - 1, -2**63, -10**18, 123456789012345678):
    c = Conn(vmad.sock)
    c.send(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % rid)
    line = c.line()
    check(line.startswith(b'{"jsonrpc":"2.0","id":%d,"result"' % rid),
          f"id {rid} not echoed verbatim: {line!r}")
    c.close()
r = expect("id 2^63", b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % 2**63,
           -32600, ["'id'"])
check(r["id"] is None, r)
expect("forged big-integer mark",
       b'{"jsonrpc":"2.0","id":1,"method":"munmap","params":{"space":'
       b'"victim","addr":"\\u0001N%d","length":4096}}\n' % (W + 4 * P),
       -32600, ["control"])
expect("control character in a name",
       b'{"jsonrpc":"2.0","id":1,"method":"space.create","params":'
       b'{"name":"a\\u0001b"}}\n', -32600, ["control"])
for digits in (b"00004096", b"0000000000000000000004096", b"-01"):
    r = expect(f"leading zeros {digits!r}",
               b'{"jsonrpc":"2.0","id":1,"method":"munmap","params":'
               b'{"space":"victim","addr":' + digits + b',"length":4096}}\n',
               -32700, closes=True)
    check(r["id"] is None, r)

# A batch of 10,000 requests is served, in order; 10,001 is refused.
# (By name, written compactly: ids are 16 digits long, and 10,000 of them
# would take the batch past max_message.)
batch = [{"jsonrpc": "2.0", "id": i, "method": "lookup",
          "params": {"space": "victim", "addr": W + (i % 16) * P}}
         for i in range(10000)]
c = Conn(vmad.sock)
c.send(json.dumps(batch, separators=(",", ":")).encode() + b"\n")
r = c.resp()
check(isinstance(r, list) and len(r) == 10000 and
      [x["id"] for x in r] == list(range(10000)) and
      all(x["result"]["vma"]["start"] <= W + (x["id"] % 16) * P
          for x in r), "batch of 10000")
batch.append(batch[0])
c.send(json.dumps(batch, separators=(",", ":")).encode() + b"\n")
r = c.resp()
check(code_of(r) == -32600 and "10001" in r["error"]["message"], r)
c.close()
unchanged("batches")

# A 100 MiB line is refused once it exceeds max_message (1 MiB), without
# the daemon buffering it.
rss0 = vmad.rss_kib()
c = Conn(vmad.sock)
sent = [0]


def blast():
    chunk = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"p":"' + \
        b"x" * (1 << 20)
    try:
        c.send(chunk)
        sent[0] += len(chunk)
        chunk = b"x" * (1 << 20)
        for _ in range(99):
            c.send(chunk)
            sent[0] += len(chunk)
    except OSError:
        pass


t = threading.Thread(target=blast)
t.start()
line = c.line()
t.join(30)
check(not t.is_alive(), "sender still blocked: the daemon kept reading")
r = json.loads(line)
check(code_of(r) == -32600 and "too large" in r["error"]["message"], r)
check(sent[0] < 100 << 20, f"the daemon accepted all {sent[0]} bytes")
check(c.eof(10), "connection not closed after an oversized message")
c.close()
grown = vmad.rss_kib() - rss0
check(grown < 40 * 1024, f"RSS grew by {grown} KiB on a 100 MiB line")
unchanged("100 MiB line")

# A client that disconnects in the middle of a request.
for cut in (1, 20, 45):
    c = Conn(vmad.sock)
    c.send(req("munmap", M)[:cut])
    c.close()
unchanged("disconnect mid-request")

# A client that never reads: the daemon stops reading it at the high-water
# mark (so its sends block), keeps serving others, and closes it after
# output_timeout.
rss0 = vmad.rss_kib()
lazy = Conn(vmad.sock)
lazy.s.setblocking(False)
one = req("maps", V)
total = 0
stalled_since = None
deadline = time.time() + 20
while time.time() < deadline:
    try:
        total += lazy.s.send(one * 64)
        stalled_since = None
    except BlockingIOError:
        if stalled_since is None:
            stalled_since = time.time()
        elif time.time() - stalled_since > 0.5:
            break
        time.sleep(0.01)
    except OSError:
        break
check(total < 64 << 20, f"a non-reading client pushed {total} bytes")
check(main.ok("ping")["version"], "others are served meanwhile")
grown = vmad.rss_kib() - rss0
check(grown < 64 * 1024, f"RSS grew by {grown} KiB for a non-reader")
lazy.s.setblocking(True)
time.sleep(3.5)  # output_timeout is 2 s
closed = False
try:
    lazy.s.settimeout(10)
    while True:
        chunk = lazy.s.recv(1 << 20)
        if not chunk:
            closed = True
            break
except OSError:
    closed = True
check(closed, "a non-reading client was not closed after output_timeout")
lazy.close()
unchanged("non-reading client")

main.close()
vmad.stop()
print("test_bad_input: ok")
