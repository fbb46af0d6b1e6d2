"""Random operation sequences on a space, for tests that compare two
spaces (or two daemons) request by request: the same seed gives the same
requests, whatever the answers."""
import random

W = 0x100000000000  # the window the operations use
P = 4096
TOP = 0x7ffffffff000
FILES = ["/lib/a.so", "/lib/b.so", "/data/x"]


ADVICE = ["dontfork", "dofork", "wipeonfork", "keeponfork", "dontdump",
          "dodump", "hugepage", "nohugepage", "sequential", "random",
          "normal", "mergeable", "unmergeable", "dontneed", "free",
          "guard_install", "guard_remove", "populate_read",
          "populate_write"]


def random_request(rng, space):
    """One request (method, params) on @space, drawn from @rng."""
    addr = W + rng.randrange(512) * P
    length = (1 + rng.randrange(16)) * P
    prot = rng.choice(["", "r", "rw", "rx", "rwx", "w"])
    op = rng.randrange(18)
    if op < 3:
        flags = [rng.choice(["private", "private", "private", "shared"])]
        params = {"space": space, "length": length, "prot": prot}
        if rng.randrange(3):
            flags.append("anonymous")
        else:
            params["file"] = rng.choice(FILES)
            params["offset"] = rng.randrange(4) * P
        if rng.randrange(2):
            flags.append("fixed")
            params["addr"] = addr
        elif rng.randrange(2):
            params["addr"] = addr  # a hint
        for f in ("populate", "noreserve", "growsdown"):
            if not rng.randrange(10):
                flags.append(f)
        params["flags"] = flags
        return "mmap", params
    if op == 3:
        return "munmap", {"space": space, "addr": addr, "length": length}
    if op == 4:
        return "mprotect", {"space": space, "addr": addr, "length": length,
                            "prot": prot}
    if op == 5:
        flags = ["maymove"] if rng.randrange(3) else []
        params = {"space": space, "old_addr": addr, "old_length": length,
                  "new_length": (1 + rng.randrange(16)) * P}
        if not rng.randrange(3):
            flags = ["maymove", "fixed"]
            if not rng.randrange(4):
                flags.append("dontunmap")
                params["new_length"] = length
            params["new_addr"] = W + rng.randrange(512) * P
        params["flags"] = flags
        return "mremap", params
    if op == 6:
        return "brk", {"space": space,
                       "addr": 0x555555559000 + rng.randrange(64) * P
                       + rng.randrange(P)}
    if op == 7:
        return "lookup", {"space": space, "addr": addr + rng.randrange(P)}
    # issue 16's calls, which change VMA flags, names and guard markers
    if op == 14:
        return "madvise", {"space": space, "addr": addr, "length": length,
                           "advice": rng.choice(ADVICE)}
    if op == 15:
        method = rng.choice(["mlock", "mlock2", "munlock"])
        params = {"space": space, "addr": addr, "length": length}
        if method == "mlock2":
            params["flags"] = ["onfault"]
        return method, params
    if op == 16:
        if not rng.randrange(8):
            return "mseal", {"space": space, "addr": addr, "length": length}
        return "set_vma_anon_name", {"space": space, "addr": addr,
                                     "length": length,
                                     "name": rng.choice(["arena", "jit",
                                                         None])}
    if op == 17:
        if not rng.randrange(4):
            return "mlockall", {"space": space, "flags": ["future"]}
        return "munlockall", {"space": space}
    # faults, in the window or at the top (the stack)
    if not rng.randrange(4):
        addr = TOP - rng.randrange(96) * P
    return "fault", {"space": space, "addr": addr + rng.randrange(P),
                     "access": rng.choice(["read", "write", "exec"])}


def outcome(resp):
    """What of a response two equal spaces must agree on."""
    if "error" in resp:
        e = resp["error"]
        return ("error", e.get("code"), (e.get("data") or {}).get("errno"))
    return ("result", resp["result"])


def maps_state(conn, space):
    """The observable state of a space: every VMA, and the break."""
    r = conn.ok("maps", {"space": space})
    brk = conn.ok("brk", {"space": space})["brk"]
    return r["text"], r["vmas"], brk
