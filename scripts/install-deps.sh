#!/usr/bin/env bash
# Installs the Debian packages that vmad's build and tests need.
# Idempotent: apt-get runs only when a package is missing.
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	liburcu-dev libevent-dev libjansson-dev check libsubunit-dev
	python3 socat
	clang libclang-rt-14-dev
	# tests/picture: rsvg-convert renders vmactl's SVG pictures, with the
	# font they name; headless Chromium loads the HTML view.
	librsvg2-bin fonts-dejavu-core
	chromium
)

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
