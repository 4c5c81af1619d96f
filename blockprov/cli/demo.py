"""``blockprov demo``: the storage engine end to end on loop-backed disks.

Makes two sparse images, attaches them, applies the bundled example config
under a temporary root, shows the device tree and the fstab block, applies
again to show that nothing changes, then unmounts, detaches and removes all.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib.resources import files
from pathlib import Path


def _sh(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def main(cli) -> int:
    """``cli``: the command-line entry point (blockprov.cli.main.main), which runs each apply."""
    work = Path(tempfile.mkdtemp(prefix="blockprov-demo-"))
    disks: list[str] = []
    root = work / "root"
    try:
        for i, size in enumerate(("1G", "512M")):
            img = work / f"disk{i}.img"
            _sh(["truncate", "-s", size, str(img)])
            disks.append(_sh(["losetup", "--find", "--show", str(img)]).strip())
        text = files("blockprov.examples").joinpath("demo.yaml").read_text()
        cfg = work / "demo.yaml"
        cfg.write_text(text.replace("@DISK0@", disks[0]).replace("@DISK1@", disks[1]))
        print(f"== config {cfg} on {', '.join(disks)}; target root {root}\n", flush=True)
        print("== first apply", flush=True)
        rc = cli(["storage", "apply", str(cfg), "--root", str(root)])
        print("\n== device tree", flush=True)
        print(_sh(["lsblk", "-o", "NAME,SIZE,TYPE,MOUNTPOINTS", *disks]))
        print("== " + str(root / "etc/fstab"))
        print((root / "etc/fstab").read_text())
        print("== second apply (nothing to do)", flush=True)
        rc2 = cli(["storage", "apply", str(cfg), "--root", str(root)])
        return rc or rc2
    finally:
        mounts = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()
                  if ln.split()[4].startswith(str(work))]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", m], capture_output=True)
        for d in disks:
            subprocess.run(["partx", "-d", d], capture_output=True)
            subprocess.run(["losetup", "-d", d], capture_output=True)
        subprocess.run(["rm", "-rf", str(work)])
        print("== cleaned up", file=sys.stderr)
