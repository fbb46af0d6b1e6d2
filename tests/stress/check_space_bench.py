#!/usr/bin/env python3
"""Run space-bench (arguments as given) and check its output: exit status 0,
every line one JSON object with the members of ARCHITECTURE.md
"Performance", and every figure present for vmad, rwlock and ratio."""
import json
import math
import subprocess
import sys

REQUIRED = ("bench", "figure", "impl", "value", "unit")


def main():
    proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True,
                          timeout=600)
    if proc.returncode != 0:
        print(f"space-bench exited with {proc.returncode}")
        return 1
    seen = set()
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    for line in lines:
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        for key in REQUIRED:
            assert key in obj, f"missing {key}: {line}"
        assert obj["bench"] == "space-bench", line
        assert obj["impl"] in ("vmad", "rwlock", "kernel", "ratio"), line
        value = obj["value"]
        assert isinstance(value, (int, float)), line
        assert math.isfinite(value) and value > 0, line
        if obj["impl"] != "ratio":
            assert obj["runs"] >= 3, line
        if obj["figure"] == "fault" and obj["impl"] != "ratio":
            assert obj["threads"] in (1, 2), line
            assert obj["mutators"] in (0, 1), line
        if obj["figure"] == "bytes_per_vma":
            assert obj["n"] > 0, line
        seen.add((obj["figure"], obj["impl"], obj.get("threads"),
                  obj.get("mutators")))
    for impl in ("vmad", "rwlock", "ratio"):
        for fig in ("mmap_munmap", "map_fixed_8"):
            assert (fig, impl, None, None) in seen, f"missing {fig}/{impl}"
        for t in (1, 2):
            for m in (0, 1):
                assert ("fault", impl, t, m) in seen, \
                    f"missing fault/{impl}/threads={t}/mutators={m}"
    assert ("bytes_per_vma", "vmad", None, None) in seen, "missing bytes"
    print(f"{len(lines)} JSON lines checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
