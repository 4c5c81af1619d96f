#!/usr/bin/env python3
"""`blockprov --help`: wall time (median of 20) and which heavy modules it imports.

Target: under 80 ms with none of pyudev, parted, jsonschema or yaml imported.
Peer: `cloud-init --help` 0.35-0.45 s on this machine (docs/performance.md).
"""
import statistics
import subprocess
import sys
import time

runs = []
for _ in range(20):
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "blockprov", "--help"], check=True, capture_output=True)
    runs.append(time.perf_counter() - t)
mods = subprocess.run([sys.executable, "-c", "import sys; sys.argv=['blockprov','--help']\n"
                       "from blockprov.cli import main as cli\ntry: cli.main()\nexcept SystemExit: pass\n"
                       "print(' '.join(m for m in ('pyudev','parted','_ped','jsonschema','yaml','sh') if m in sys.modules), file=sys.stderr)"],
                      capture_output=True, text=True).stderr.strip().splitlines()[-1:]
print(f"blockprov --help: median {statistics.median(runs) * 1000:.0f} ms (min {min(runs) * 1000:.0f} ms), "
      f"heavy modules imported: {mods[0] if mods and mods[0] else 'none'}; peer cloud-init --help 350-450 ms")
