# SPDX-License-Identifier: LGPL-2.1-or-later
"""Client of vmad, the virtual-memory-area simulator daemon.

vmad speaks JSON-RPC 2.0 over a Unix stream socket, one JSON value per
line (protocol/PROTOCOL.md in the vmad sources). This module needs nothing
but the standard library::

    import vmad

    with vmad.Client() as c:                 # the socket vmactl would use
        c.space_create("demo", stack=True)
        addr = c.mmap("demo", length=8192, prot="rw",
                      flags=["private", "anonymous"])["addr"]
        print(c.fault("demo", addr, "write")["status"])
        print(c.maps("demo")["text"], end="")

        # Pipelining: the requests go out in one write, the responses are
        # read afterwards, in order.
        with c.pipeline() as p:
            a = p.lookup("demo", addr)
            b = p.lookup("demo", 0x1000)
        print(a.result()["vma"], b.result()["vma"])

        try:
            c.maps("no-such-space")
        except vmad.ENOENT as e:
            print(e.errno_name, e)           # ENOENT no such space: ...

Every protocol method is a method of Client and of Pipeline, named after
it with "_" for "." (space.create is space_create). Positional arguments
follow the order of METHODS below; every parameter may also be given by
keyword. A method returns the result object (a dict), or raises an error:

- DaemonError for an error with an errno name (JSON-RPC -32000), through
  a subclass named after the errno (ENOENT, EINVAL, EEXIST, ...) whose
  errno_name member holds it (and errno the number, where Python knows it);
- ProtocolError for the other JSON-RPC errors: ParseError (-32700),
  InvalidRequest (-32600), MethodNotFound (-32601), InvalidParams
  (-32602);
- ConnectionError (the built-in) when the daemon cannot be reached or
  closes the connection.

All are VmadError except ConnectionError. Adding a protocol method is one
line of METHODS.
"""

import errno as _errno
import json
import os
import socket
import struct

__version__ = "0.1.0"

# (Python name, JSON-RPC method, parameters in positional order). The
# Python name is the method with "." replaced by "_".
METHODS = (
    ("space.create", ("name", "task_size", "mmap_base", "stack_guard_gap",
                      "max_map_count", "stack_rlimit", "brk_base", "stack",
                      "memlock_rlimit")),
    ("space.destroy", ("space",)),
    ("space.fork", ("space", "name")),
    ("space.list", ()),
    ("space.validate", ("space",)),
    ("space.import", ("name", "maps", "start_brk", "brk", "start_stack",
                      "task_size", "mmap_base", "stack_guard_gap",
                      "max_map_count", "stack_rlimit", "snapshot")),
    ("space.export", ("space",)),
    ("mmap", ("space", "addr", "length", "prot", "flags", "file", "offset",
              "thp_align")),
    ("munmap", ("space", "addr", "length")),
    ("mprotect", ("space", "addr", "length", "prot")),
    ("mremap", ("space", "old_addr", "old_length", "new_length", "flags",
                "new_addr")),
    ("brk", ("space", "addr")),
    ("fault", ("space", "addr", "access")),
    ("lookup", ("space", "addr")),
    ("maps", ("space",)),
    ("stats", ("space",)),
    ("ping", ()),
    ("madvise", ("space", "addr", "length", "advice")),
    ("mlock", ("space", "addr", "length", "flags")),
    ("mlock2", ("space", "addr", "length", "flags")),
    ("munlock", ("space", "addr", "length")),
    ("mlockall", ("space", "flags")),
    ("munlockall", ("space",)),
    ("mseal", ("space", "addr", "length", "flags")),
    ("set_vma_anon_name", ("space", "addr", "length", "name")),
)


# ---- Errors ----------------------------------------------------------------

class VmadError(Exception):
    """An error response. code, message and data are the JSON-RPC error's
    members; errno_name is data.errno ("ENOENT") or None."""

    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.errno_name = (data or {}).get("errno") if isinstance(
            data, dict) else None
        self.errno = getattr(_errno, self.errno_name, None) \
            if self.errno_name else None

    def __str__(self):
        return self.message


class DaemonError(VmadError):
    """The operation failed with an errno (code -32000)."""


class ProtocolError(VmadError):
    """The request was not understood (codes -32700 to -32600)."""


class ParseError(ProtocolError):
    """-32700: not JSON."""


class InvalidRequest(ProtocolError):
    """-32600: not a valid request."""


class MethodNotFound(ProtocolError):
    """-32601: no such method."""


class InvalidParams(ProtocolError):
    """-32602: bad parameters."""


_PROTOCOL_ERRORS = {-32700: ParseError, -32600: InvalidRequest,
                    -32601: MethodNotFound, -32602: InvalidParams}

# The errno names vmad reports (libvma/include/vma/err.h); any other name
# still gets a class of its own, made when first seen.
_ERRNO_NAMES = ("EPERM", "ENOENT", "EINTR", "EIO", "EBADF", "EAGAIN",
                "ENOMEM", "EACCES", "EFAULT", "EBUSY", "EEXIST", "ENODEV",
                "EINVAL", "ENFILE", "EMFILE", "EFBIG", "ENOSPC", "ERANGE",
                "ENAMETOOLONG", "ENOSYS", "EOVERFLOW", "ECANCELED",
                "ETIMEDOUT", "ELOOP", "EMSGSIZE", "EPROTO", "EADDRINUSE",
                "EOPNOTSUPP",
                "EUNKNOWN")
_errno_classes = {}


def errno_class(name):
    """The DaemonError subclass for errno @name ("ENOENT")."""
    cls = _errno_classes.get(name)
    if cls is None:
        cls = type(name, (DaemonError,),
                   {"__doc__": "vmad answered %s." % name,
                    "__module__": __name__})
        _errno_classes[name] = cls
    return cls


for _name in _ERRNO_NAMES:
    globals()[_name] = errno_class(_name)


def error_from(err):
    """The exception for the "error" member of a response."""
    if not isinstance(err, dict):
        return ProtocolError(None, "malformed error: %r" % (err,))
    code, msg, data = err.get("code"), err.get("message", ""), err.get(
        "data")
    name = data.get("errno") if isinstance(data, dict) else None
    if name:
        return errno_class(name)(code, msg, data)
    return _PROTOCOL_ERRORS.get(code, ProtocolError)(code, msg, data)


# ---- The socket --------------------------------------------------------------

def _config_socket(path):
    """The "socket" setting of a config file, or None."""
    with open(path) as f:
        for line in f:
            s = line.strip()
            if not s or s[0] in "#;[":
                continue
            key, _, rest = s.partition(" ")
            if key.rstrip("=:") != "socket" and not key.startswith(
                    ("socket=", "socket:")):
                continue
            value = s[len("socket"):].lstrip(" \t=:").split("#")[0].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            if value:
                return value
    return None


SYSTEM_SOCKET = "/run/vmad/vmad.sock"


def socket_path(path=None, config=None):
    """The socket vmactl would use: @path, else $VMAD_SOCKET, else the
    "socket" setting of @config (or $VMAD_CONFIG), else the per-user
    default if it exists: $XDG_RUNTIME_DIR/vmad.sock when XDG_RUNTIME_DIR
    is absolute, else /tmp/vmad-$UID/vmad.sock (a directory the daemon
    keeps private); else the system service's /run/vmad/vmad.sock if that
    exists; else the per-user default (the order of vmc_socket_path() in
    libvmc)."""
    if path:
        return path
    env = os.environ.get("VMAD_SOCKET")
    if env:
        return env
    config = config or os.environ.get("VMAD_CONFIG")
    if config:
        try:
            value = _config_socket(config)
        except OSError as e:
            raise FileNotFoundError(e.errno, "cannot read config", config)
        if value:
            return value
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and xdg.startswith("/"):
        default = os.path.join(xdg, "vmad.sock")
    else:
        default = "/tmp/vmad-%d/vmad.sock" % os.getuid()
    if not os.path.exists(default) and os.path.exists(SYSTEM_SOCKET):
        return SYSTEM_SOCKET
    return default


def _trusted_uids(server_uid):
    uids = {os.getuid(), 0}
    if server_uid is None:
        env = os.environ.get("VMAD_SERVER_UID", "")
        server_uid = int(env) if env.isdigit() else None
    if server_uid is not None:
        uids.add(int(server_uid))
    return uids


# ---- Calls -------------------------------------------------------------------

def _params(method, names, args, kwargs):
    if len(args) > len(names):
        raise TypeError("%s takes at most %d positional arguments (%d given)"
                        % (method, len(names), len(args)))
    params = dict(zip(names, args))
    for k, v in kwargs.items():
        if k in params:
            raise TypeError("%s got two values for %r" % (method, k))
        params[k] = v
    return params


def _bind(method, names):
    def call(self, *args, **kwargs):
        return self.call(method, _params(method, names, args, kwargs))
    call.__name__ = method.replace(".", "_")
    call.__doc__ = "JSON-RPC %s(%s)." % (method, ", ".join(names))
    return call


class Pending:
    """The future result of a pipelined request."""

    def __init__(self, method):
        self.method = method
        self._done = False
        self._value = None
        self._error = None

    def done(self):
        return self._done

    def result(self):
        """The result object, or raise the request's error."""
        if not self._done:
            raise RuntimeError("the pipeline has not been executed")
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self):
        return self._error


class Client:
    """One connection to vmad. Not thread-safe: use one per thread."""

    def __init__(self, path=None, config=None, timeout=30.0,
                 server_uid=None):
        """Connect, and check who listens before anything is sent: the
        server must run as our uid or root (SO_PEERCRED), or as
        @server_uid (else $VMAD_SERVER_UID), as libvmc checks; otherwise
        PermissionError."""
        self.path = socket_path(path, config)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
        except OSError as e:
            self._sock.close()
            raise ConnectionError(e.errno, "cannot reach vmad at %s: %s"
                                  % (self.path, e.strerror)) from e
        cred = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                     struct.calcsize("3i"))
        uid = struct.unpack("3i", cred)[1]
        if uid not in _trusted_uids(server_uid):
            self._sock.close()
            raise PermissionError(
                _errno.EPERM, "the server at %s runs as uid %d, neither "
                "you nor root (server_uid=%d or VMAD_SERVER_UID trusts it)"
                % (self.path, uid, uid))
        self._buf = b""
        self._next_id = 1

    def close(self):
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, method, params):
        req = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            req["params"] = params
        self._next_id += 1
        return req

    def _send(self, reqs):
        data = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n"
                        for r in reqs)
        try:
            self._sock.sendall(data)
        except OSError as e:
            raise ConnectionError(e.errno, "lost the connection to %s: %s"
                                  % (self.path, e.strerror)) from e

    def _recv(self):
        while b"\n" not in self._buf:
            try:
                chunk = self._sock.recv(1 << 20)
            except OSError as e:
                raise ConnectionError(e.errno, "lost the connection to %s"
                                      % self.path) from e
            if not chunk:
                raise ConnectionError("vmad closed the connection (%s)"
                                      % self.path)
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params=None):
        """Send any request; return its result or raise its error."""
        req = self._request(method, params)
        self._send([req])
        resp = self._recv()
        if resp.get("id") != req["id"]:
            raise ProtocolError(None, "response id %r for request %r"
                                % (resp.get("id"), req["id"]))
        if "error" in resp:
            raise error_from(resp["error"])
        return resp.get("result")

    def pipeline(self):
        """A Pipeline on this connection."""
        return Pipeline(self)


class Pipeline:
    """Requests queued by its methods, sent in one write by execute() (or
    at the end of a with block), then answered in order. Each method
    returns a Pending whose result() is the result or raises the error."""

    def __init__(self, client):
        self._client = client
        self._queue = []

    def call(self, method, params=None):
        pending = Pending(method)
        self._queue.append((self._client._request(method, params), pending))
        return pending

    def execute(self):
        """Send the queued requests, read every response; return the
        Pending objects in order (their errors are not raised here)."""
        queue, self._queue = self._queue, []
        if not queue:
            return []
        self._client._send([req for req, _ in queue])
        by_id = {req["id"]: p for req, p in queue}
        for _ in queue:
            resp = self._client._recv()
            p = by_id.pop(resp.get("id"), None)
            if p is None:
                raise ProtocolError(None, "unexpected response id %r"
                                    % resp.get("id"))
            if "error" in resp:
                p._error = error_from(resp["error"])
            else:
                p._value = resp.get("result")
            p._done = True
        return [p for _, p in queue]

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.execute()


for _method, _names in METHODS:
    setattr(Client, _method.replace(".", "_"), _bind(_method, _names))
    setattr(Pipeline, _method.replace(".", "_"), _bind(_method, _names))
del _method, _names
