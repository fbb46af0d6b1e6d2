#!/usr/bin/env python3
"""Every errno that a return path of libvma, protocol/ or daemon/ can produce
has a name in VMA_ERRNO_MAP, so that no error reaches a client as
"EUNKNOWN".

The sources are scanned for negative errno constants (`return -EBADF;`,
`err = -ENOMEM`, `? -EPERM : 0`, ...); each is looked up through the
compiled table (the errno_name helper calls vma_errno_name()).

usage: check_errno_names.py ERRNO_NAME_BINARY SOURCE_DIR
"""
import errno
import pathlib
import re
import subprocess
import sys

binary, top = sys.argv[1], pathlib.Path(sys.argv[2])
found = {}
for d in ("libvma", "protocol", "daemon"):
    for f in sorted((top / d).rglob("*.[ch]")):
        if "/test/" in str(f):
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            for name in re.findall(r"-(E[A-Z0-9]+)\b", line):
                if hasattr(errno, name):
                    found.setdefault(name, f"{f.relative_to(top)}:{n}")
if len(found) < 10:
    sys.exit(f"only {len(found)} errno constants found: is {top} the tree?")
nums = {name: getattr(errno, name) for name in found}
out = subprocess.run([binary] + [str(v) for v in nums.values()],
                     capture_output=True, text=True, check=True).stdout
names = dict(line.split() for line in out.splitlines())
bad = [(name, where) for name, where in sorted(found.items())
       if names[str(nums[name])] != name]
for name, where in bad:
    print(f"{name} (first used at {where}) has no name in VMA_ERRNO_MAP:"
          f" the wire would say {names[str(nums[name])]}")
print(f"{len(found)} errno constants checked, {len(bad)} without a name")
sys.exit(1 if bad else 0)
