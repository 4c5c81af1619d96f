#!/bin/sh
# Run every test tier (unit + host). Needs root for the host tier's loop devices.
set -eu
cd "$(dirname "$0")/.."
exec python3 -m pytest -ra -p no:cacheprovider tests "$@"
