#!/usr/bin/env python3
"""Run rtree-bench (arguments as given) and check its output: exit status 0,
every line one JSON object with the members of ARCHITECTURE.md
"Performance", every figure present for rtree, array and ratio, and the
reader's with/without-writer ratios (full speed and paced)."""
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
        assert obj["impl"] in ("rtree", "array", "ratio"), line
        value = obj["value"]
        assert isinstance(value, (int, float)), line
        assert math.isfinite(value) and value > 0, line
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
               obj.get("of"), obj.get("writer_pace"), obj.get("writer_tree"))
        assert key not in seen, f"duplicate figure: {line}"
        seen.add(key)
    ns = {k[2] for k in seen}
    assert ns, "no output"
    for n in ns:
        for impl in ("rtree", "array", "ratio"):
            for fig, w in (("store", None), ("erase", None),
                           ("bytes_per_entry", None), ("lookup", 0),
                           ("lookup", 1), ("commit", None)):
                assert (fig, impl, n, w, None, None, None) in seen, \
                    f"missing {fig}/{impl}/{n}/{w}"
        # The writer's cost to the reader, full speed and paced.
        assert ("lookup", "ratio", n, 1, "rtree writers=1 / writers=0",
                None, None) in seen, f"missing reader ratio for {n}"
        assert any(k[:4] == ("lookup", "rtree", n, 1) and k[5]
                   for k in seen), f"missing paced lookup for {n}"
        # The same writer on a tree of its own: the floor of its cost.
        assert ("lookup", "ratio", n, 1,
                "rtree writers=1 (separate tree) / writers=0", None,
                "separate") in seen, f"missing separate-tree ratio for {n}"
    print(f"{len(lines)} JSON lines checked")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
