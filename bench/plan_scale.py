#!/usr/bin/env python3
"""validate + plan a generated config of 1,000 disks x 4 partitions with formats and mounts.

Usage: python3 bench/plan_scale.py [DISKS]. Target: under 1 s for 13,000 items.
"""
import sys
import time

from blockprov.storage import validate
from blockprov.storage.inventory import Device, Inventory
from blockprov.storage.model import Model
from blockprov.storage.plan import plan

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
items, devs = [], {}
for d in range(n):
    items.append({"id": f"d{d}", "type": "disk", "serial": f"SER{d}", "ptable": "gpt", "wipe": "superblock"})
    devs[f"/dev/vd{d}"] = Device(f"/dev/vd{d}", size=64 << 30, serial=f"SER{d}")
    for p in range(4):
        pid = f"d{d}p{p}"
        items += [{"id": pid, "type": "partition", "device": f"d{d}", "size": "4G"},
                  {"id": pid + "f", "type": "format", "volume": pid, "fstype": "ext4"},
                  {"id": pid + "m", "type": "mount", "device": pid + "f", "path": f"/srv/{d}/{p}"}]
storage = {"version": 1, "config": items}
validate._validator()  # schema compile is a one-off per process; measured separately below
t0 = time.perf_counter()
probs = validate.validate(storage, "$")
t1 = time.perf_counter()
m = Model.build(storage)
p = plan(m, Inventory(devices=devs))
t2 = time.perf_counter()
assert not validate.errors(probs) and set(p.counts()) == {"create"}
print(f"{len(items)} items: validate {t1 - t0:.3f} s, model+plan {t2 - t1:.3f} s, total {t2 - t0:.3f} s "
      f"(target < 1 s; curtin has no plan step to compare)")

# the same config end to end, as a user runs it: one process each, output to a pipe (median of 5)
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import yaml  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    files = {"yaml": f"{tmp}/big.yaml", "json": f"{tmp}/big.json"}
    with open(files["yaml"], "w") as f:
        yaml.safe_dump({"storage": storage}, f, sort_keys=False)
    with open(files["json"], "w") as f:
        json.dump({"storage": storage}, f)
    for form, path in files.items():
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "blockprov", "storage", "plan", path, "--blank-disks", "--json"],
                           check=True, stdout=subprocess.DEVNULL)
            runs.append(time.perf_counter() - t)
        print(f"end to end, {form} input: blockprov storage plan FILE --blank-disks --json > pipe: "
              f"median {statistics.median(runs):.2f} s (min {min(runs):.2f}; target < 0.6 s)")
