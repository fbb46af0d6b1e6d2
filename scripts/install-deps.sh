#!/usr/bin/env bash
# Installs the Debian packages vmad needs, by purpose:
#
#   scripts/install-deps.sh run    build and run vmad and its clients
#   scripts/install-deps.sh test   run + what the test suite needs
#   scripts/install-deps.sh fuzz   run + the libFuzzer toolchain (clang)
#   scripts/install-deps.sh        all of the above (what `make test` runs)
#
# Idempotent: apt-get runs only when a package is missing.
set -euo pipefail

run=(
	build-essential cmake pkg-config # the build
	liburcu-dev                      # libvma: RCU
	libevent-dev                     # vmad: event loops
	libjansson-dev                   # protocol: JSON
)
test=(
	check libsubunit-dev # unit tests (Check)
	python3              # integration and client tests, clients/python
	python3-pip          # pip install of clients/python (with setuptools, wheel)
	procps               # pmap, whose layout vmactl pmap is compared with
	socat                # the README's raw-socket example
	systemd              # systemd-analyze verify of the installed unit
	# tests/picture: rsvg-convert renders vmactl's SVG pictures, with the
	# font they name; headless Chromium loads the HTML view.
	librsvg2-bin fonts-dejavu-core
	chromium
)
fuzz=(
	clang              # libFuzzer targets
	libclang-rt-14-dev # their sanitizer and fuzzer runtimes (Debian 12)
)

case "${1:-all}" in
run) packages=("${run[@]}") ;;
test) packages=("${run[@]}" "${test[@]}") ;;
fuzz) packages=("${run[@]}" "${fuzz[@]}") ;;
all) packages=("${run[@]}" "${test[@]}" "${fuzz[@]}") ;;
*)
	echo "usage: $0 [run|test|fuzz|all]" >&2
	exit 2
	;;
esac

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
