#!/bin/sh
# run-fuzzer.sh SCRATCH FUZZER ARGS...: empty the scratch corpus directory
# (so that a run starts from the committed corpus alone), then run FUZZER.
set -e
d=$1
shift
rm -rf "$d"
mkdir -p "$d"
exec "$@"
