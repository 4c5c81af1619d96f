#!/bin/sh
# Build the Debian packages (blockprov, blockprov-engine) from this checkout into DIR (default: dist/).
# The build runs on a copy of the tracked and new files, so the checkout stays clean.
# Needs: apt-get install debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools
set -eu
# Debian's python3 builds the package, whatever python3 comes first in PATH (pyenv, a venv).
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-dist}")
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
mkdir -p "$work/blockprov" "$out"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/blockprov"
(cd "$work/blockprov" && PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1) || { tail -50 "$work/build.log"; exit 1; }
cp "$work"/*.deb "$out"/
ls "$out"/*.deb
