#!/usr/bin/env python3
"""Run rtree-bench (arguments as given) and check its output: exit status 0,
every line one JSON object with the members of ARCHITECTURE.md
"Performance", every figure present for rtree, array and ratio, the rtree
figures for both tree modes (in place, at the root), the reader's
with/without-writer ratios (full speed and paced), the cache-line transfer
time and the reader's time lost per commit in both modes."""
import json
import math
import subprocess
import sys

REQUIRED = ("bench", "figure", "impl", "value", "unit")


def main():
    proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True,
                          timeout=600)
    if proc.returncode != 0:
        print(f"rtree-bench exited with {proc.returncode}")
        return 1
    seen = set()
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    for line in lines:
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        for key in REQUIRED:
            assert key in obj, f"missing {key}: {line}"
        assert obj["bench"] == "rtree-bench", line
        assert obj["impl"] in ("rtree", "array", "ratio", "cpu"), line
        value = obj["value"]
        assert isinstance(value, (int, float)), line
        assert math.isfinite(value), line
        # A loss per commit is a difference of two rates: noise can make
        # it negative. Everything else is a positive measurement.
        assert value > 0 or obj["figure"] == "lost_per_commit", line
        if obj["figure"] in ("lookup", "commit", "lost_per_commit") and \
                obj["impl"] == "rtree":
            assert obj.get("tree") in ("in_place", "at_root"), line
        if obj["figure"] == "lost_per_commit":
            assert obj["line_transfer_ns"] > 0, line
            assert math.isfinite(obj["line_transfers"]), line
        assert isinstance(obj["n"], int) and obj["n"] > 0, line
        assert obj["runs"] >= 3, line
        if obj["figure"] == "lookup":
            assert obj["writers"] in (0, 1), line
            if obj["impl"] != "ratio":
                assert obj["batch"] >= 1, line
        if obj["figure"] == "commit":
            assert obj["readers"] == 1, line
        if "writer_pace" in obj:
            assert obj["writer_pace"] > 0 and obj["writers"] == 1, line
        key = (obj["figure"], obj["impl"], obj["n"], obj.get("writers"),
               obj.get("of"), obj.get("writer_pace"), obj.get("writer_tree"),
               obj.get("tree"))
        assert key not in seen, f"duplicate figure: {line}"
        seen.add(key)
    ns = {k[2] for k in seen}
    assert ns, "no output"
    for n in ns:
        for fig, w in (("store", None), ("erase", None),
                       ("bytes_per_entry", None)):
            for impl in ("rtree", "array", "ratio"):
                assert (fig, impl, n, w, None, None, None, None) in seen, \
                    f"missing {fig}/{impl}/{n}"
        for fig, w in (("lookup", 0), ("lookup", 1), ("commit", None)):
            assert (fig, "array", n, w, None, None, None, None) in seen, \
                f"missing {fig}/array/{n}/{w}"
            for tree in ("in_place", "at_root"):
                for impl in ("rtree", "ratio"):
                    assert (fig, impl, n, w, None, None, None, tree) \
                        in seen, f"missing {fig}/{impl}/{n}/{w}/{tree}"
        assert ("line_transfer", "cpu", n, None, None, None, None,
                None) in seen, f"missing line_transfer for {n}"
        for tree in ("in_place", "at_root"):
            # The writer's cost to the reader, full speed and paced.
            assert ("lookup", "ratio", n, 1, "rtree writers=1 / writers=0",
                    None, None, tree) in seen, \
                f"missing reader ratio for {n} {tree}"
            assert any(k[:4] == ("lookup", "rtree", n, 1) and k[5] and
                       k[7] == tree for k in seen), \
                f"missing paced lookup for {n} {tree}"
            # The same writer on a tree of its own: the floor of its cost.
            assert ("lookup", "ratio", n, 1,
                    "rtree writers=1 (separate tree) / writers=0", None,
                    "separate", tree) in seen, \
                f"missing separate-tree ratio for {n} {tree}"
            assert ("lost_per_commit", "rtree", n, 1, None, None, None,
                    tree) in seen, f"missing lost_per_commit {n} {tree}"
    print(f"{len(lines)} JSON lines checked")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
