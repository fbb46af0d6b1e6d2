#!/bin/sh
# diff-summary.sh BUILD_DIR: after the suite, show what the kernel
# differential test detected about this machine and compared (ctest keeps
# a passing test's output only in its log).
log="$1/Testing/Temporary/LastTest.log"
[ -f "$log" ] || exit 0
out=$(sed -n '/^platform (detected/,/^PASSED$\|^FAILED$/p' "$log")
[ -n "$out" ] || exit 0
echo
echo "diff_kernel on this machine:"
printf '%s\n' "$out"
