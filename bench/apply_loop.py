#!/usr/bin/env python3
"""First apply and no-op re-run on one 1 GiB loop disk (gpt, 2 partitions, ext4 + btrfs, both mounted).

The workload of curtin's figure in ../shared/notes/test-machine.md (3.4 s first apply,
1.1-1.75 s re-run). Targets: first apply < 1.2 s, re-run < 0.2 s. Run as root:
python3 bench/apply_loop.py [ROUNDS]
"""
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
firsts, reruns = [], []
for _ in range(rounds):
    work = Path(tempfile.mkdtemp(prefix="bp-bench-"))
    img = work / "d.img"
    subprocess.run(["truncate", "-s", "1G", str(img)], check=True)
    dev = subprocess.run(["losetup", "-f", "--show", str(img)], check=True, capture_output=True, text=True).stdout.strip()
    cfg = work / "c.yaml"
    cfg.write_text(f"""storage:
  version: 1
  config:
    - {{id: d0, type: disk, path: {dev}, ptable: gpt, wipe: superblock}}
    - {{id: p1, type: partition, device: d0, size: 400M}}
    - {{id: p2, type: partition, device: d0, size: 500M}}
    - {{id: f1, type: format, volume: p1, fstype: ext4}}
    - {{id: f2, type: format, volume: p2, fstype: btrfs}}
    - {{id: m1, type: mount, device: f1, path: /a}}
    - {{id: m2, type: mount, device: f2, path: /b}}
""")
    argv = [sys.executable, "-m", "blockprov", "storage", "apply", str(cfg), "--root", str(work / "r"), "--json"]
    try:
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        firsts.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        reruns.append(time.perf_counter() - t)
    finally:
        for m in ("a", "b"):
            subprocess.run(["umount", str(work / "r" / m)], capture_output=True)
        subprocess.run(["partx", "-d", dev], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)
        subprocess.run(["rm", "-rf", str(work)])
print(f"first apply: median {statistics.median(firsts):.2f} s (curtin 3.4 s; target < 1.2 s)")
print(f"re-run:      median {statistics.median(reruns):.3f} s (curtin 1.1-1.75 s; target < 0.2 s)")
