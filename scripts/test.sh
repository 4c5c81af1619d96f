#!/bin/sh
# Run every test tier (unit, host, udev, engine, vm). Needs root. Arguments replace the default
# selection: `./scripts/test.sh tests/vm` runs the VM tier alone.
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- tests
exec python3 -m pytest -ra -p no:cacheprovider "$@"
