#!/usr/bin/env python3
"""Run the shared contract smoke test against a fresh vmad.

usage: test_contract_smoke.py VMAD SMOKE_SCRIPT
The smoke script lives beside the repository (shared/checks/); if it is
missing the test fails and says so."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmadtest import Vmad, check, vmad_binary  # noqa

vmad_path = vmad_binary()
smoke = sys.argv[2] if len(sys.argv) > 2 else ""
check(os.path.isfile(smoke),
      f"contract smoke script not found at {smoke!r}: the test needs "
      "shared/checks/contract-smoke.py checked out beside the repository")
# Further arguments go to vmad (the in-place tree variant).
vmad = Vmad(vmad_path, *sys.argv[3:])
p = subprocess.run([sys.executable, smoke, vmad.sock], capture_output=True,
                   text=True, timeout=120)
print(p.stdout, end="")
check(p.returncode == 0 and " 0 failed" in p.stdout,
      f"contract smoke failed (rc {p.returncode}):\n{p.stdout}{p.stderr}")
vmad.stop()
print("test_contract_smoke: ok")
