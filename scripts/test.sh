#!/bin/sh
# Run every test tier (unit, host, udev, engine, vm). Needs root. `./scripts/test.sh tests/vm` runs the VM tier alone.
set -eu
cd "$(dirname "$0")/.."
exec python3 -m pytest -ra -p no:cacheprovider tests "$@"
