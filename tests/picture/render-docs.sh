#!/usr/bin/env bash
# Renders the pictures kept in docs/pictures/ from the three sample spaces
# of samples.py: tiny (the tour's space), process (a real process's maps)
# and huge (65,530 VMAs). Needs a build (build/) and rsvg-convert.
#   tests/picture/render-docs.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=docs/pictures
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$build/daemon/vmad" --socket "$dir/sock" >"$dir/log" 2>&1 &
pid=$!
for i in $(seq 100); do [ -S "$dir/sock" ] && break; sleep 0.1; done
mkdir -p "$out"
for kind in tiny process huge; do
	name=$kind
	[ "$kind" = tiny ] && name=demo # the tour's space
	python3 tests/picture/samples.py --socket "$dir/sock" "$kind" "$name"
	"$build/clients/vmactl" --socket "$dir/sock" show "$name" \
		--svg "$dir/$kind.svg"
	rsvg-convert "$dir/$kind.svg" -o "$out/$kind.png"
	echo "$out/$kind.png"
done
