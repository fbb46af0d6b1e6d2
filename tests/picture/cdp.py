"""Headless Chromium driven over the DevTools protocol, with nothing but the
standard library (the WebSocket client is written out here).

    with Browser() as b:          # raises BrowserError, saying what it found
        page = b.page()
        page.load("file:///tmp/x.html")
        page.eval("document.title")

Chromium comes from Debian's package (scripts/install-deps.sh). It runs as
root here, hence --no-sandbox; the other flags keep it off the network.
"""
import base64
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1100,1400"]
NAMES = ("chromium", "chromium-browser", "google-chrome")


class BrowserError(Exception):
    pass


def find_chromium():
    """(path, description of what was looked for and found)."""
    found = []
    for n in NAMES:
        p = shutil.which(n)
        found.append("%s: %s" % (n, p or "not found"))
        if p:
            try:
                v = subprocess.run([p, "--version"], capture_output=True,
                                   text=True, timeout=60).stdout.strip()
            except (OSError, subprocess.TimeoutExpired) as e:
                v = "does not run: %s" % e
            return p, "; ".join(found) + " (%s)" % v
    return None, "; ".join(found)


class WebSocket:
    """A client WebSocket (RFC 6455): text frames, masked, no extensions."""

    def __init__(self, host, port, path, timeout=60):
        self.s = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n"
                        % (path, host, port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(4096)
            if not chunk:
                raise BrowserError("WebSocket handshake: connection closed")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise BrowserError("WebSocket handshake refused: %r" % head)

    def send(self, text):
        data = text.encode()
        n = len(data)
        hdr = bytes([0x81])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.s.sendall(hdr + mask + body)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise BrowserError("WebSocket closed by the browser")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            op = b0 & 0x0F
            if op == 8:
                raise BrowserError("WebSocket closed by the browser")
            if op in (9, 10):  # ping, pong: not used by DevTools
                continue
            msg += data
            if b0 & 0x80:
                return msg.decode()

    def close(self):
        self.s.close()


class Page:
    def __init__(self, ws):
        self.ws = ws
        self.n = 0
        self.events = []

    def call(self, method, params=None, timeout=60):
        self.n += 1
        id = self.n
        self.ws.send(json.dumps({"id": id, "method": method,
                                 "params": params or {}}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = json.loads(self.ws.recv())
            if m.get("id") == id:
                if "error" in m:
                    raise BrowserError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)
        raise BrowserError("%s: no answer in %d s" % (method, timeout))

    def wait_event(self, name, timeout=60):
        for i, e in enumerate(self.events):
            if e["method"] == name:
                return self.events.pop(i)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = json.loads(self.ws.recv())
            if m.get("method") == name:
                return m
            if "method" in m:
                self.events.append(m)
        raise BrowserError("no %s in %d s" % (name, timeout))

    def load(self, url):
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr,
                                           "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise BrowserError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def problems(self):
        """Console errors, uncaught exceptions, failed or outside loads."""
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append("exception: %s" % p["exceptionDetails"])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in (
                    "error", "warning", "assert"):
                out.append("console.%s: %s" % (
                    p["type"], [a.get("value") for a in p.get("args", [])]))
            elif m == "Log.entryAdded" and p["entry"]["level"] in (
                    "error", "warning"):
                out.append("log: %s" % p["entry"])
            elif m == "Network.requestWillBeSent":
                u = p["request"]["url"]
                if not u.startswith("file://"):
                    out.append("network request: %s" % u)
            elif m == "Network.loadingFailed":
                out.append("load failed: %s" % p)
        return out


class Browser:
    def __init__(self):
        self.path, self.found = find_chromium()
        if not self.path:
            raise BrowserError("no Chromium: %s (scripts/install-deps.sh "
                               "installs Debian's chromium)" % self.found)
        self.dir = tempfile.mkdtemp(prefix="vmad-chromium-")
        self.log = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(
            [self.path] + FLAGS + ["--user-data-dir=" + self.dir,
                                   "about:blank"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        deadline = time.time() + 90
        while not os.path.exists(port_file) or \
                os.path.getsize(port_file) == 0:
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                raise BrowserError("Chromium did not start (%s):\n%s" %
                                   (self.found, self.stderr()))
            time.sleep(0.1)
        time.sleep(0.1)
        self.port = int(open(port_file).read().split()[0])

    def stderr(self):
        self.log.seek(0)
        return self.log.read()[-4000:]

    def page(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("PUT", "/json/new?about:blank")
        r = c.getresponse()
        t = json.loads(r.read())
        c.close()
        u = t["webSocketDebuggerUrl"]
        path = u.split("%d" % self.port, 1)[1]
        p = Page(WebSocket("127.0.0.1", self.port, path))
        for m in ("Page.enable", "Runtime.enable", "Log.enable",
                  "Network.enable"):
            p.call(m)
        return p

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
