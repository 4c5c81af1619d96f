#!/usr/bin/env python3
"""Change event to filesystem grown (issue 23), through a real systemd-udevd, beside the peer's tools.

Set-up as bench/hotplug.py: the project's rules and helper, a metadata service whose storagedata
names one volume (gpt, one partition of 100%, xfs, mounted). For each round the volume's file
grows by 64 MiB; the clock starts before ``losetup -c`` (the kernel's capacity change), a
``change`` event goes through udev (``udevadm trigger``, as the kernel's would), and the clock
stops when statvfs shows the mounted xfs bigger. Peer, on a second loop disk in the same run:
what cloud-init runs for the same job, ``growpart DEV 1`` then ``xfs_growfs MNT`` (cloud-guest-utils;
installed with apt-get when missing), timed as whole processes from the same ``losetup -c``.
Usage: python3 bench/grow.py [ROUNDS]   (root)
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blockprov.events import spool  # noqa: E402
from blockprov.paths import Paths  # noqa: E402
from bench._teardown import teardown  # noqa: E402
from tests.udev.conftest import Udev  # noqa: E402
from tests.udev.metadata import Metadata  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
VOL = ("  - {id: g, type: disk, serial: bench-grow, ptable: gpt}\n"
       "  - {id: g-p, type: partition, device: g, size: 100%, number: 1}\n"
       "  - {id: g-f, type: format, volume: g-p, fstype: xfs}\n"
       "  - {id: g-m, type: mount, device: g-f, path: /vol/grow}\n")


def fs_bytes(point) -> int:
    st = os.statvfs(point)
    return st.f_blocks * st.f_frsize


def grown_after(point, before: int, t0: float, limit: float = 60) -> float:
    while fs_bytes(point) <= before:
        if time.perf_counter() - t0 > limit:
            raise SystemExit(f"{point} did not grow within {limit} s")
        time.sleep(0.002)
    return time.perf_counter() - t0


def main() -> None:
    if shutil.which("growpart") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "cloud-guest-utils"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)
    tmp = Path(tempfile.mkdtemp(prefix="bp-grow-bench-"))
    md = Metadata(uuid="bench-grow", storagedata="version: 1\nconfig:\n" + VOL)
    udev = Udev(tmp / "udev")
    root, disks = tmp / "root", tmp / "serial-disks"
    disks.mkdir()
    cfgd = root / "etc/blockprov/blockprov.cfg.d"
    cfgd.mkdir(parents=True)
    (cfgd / "bench.cfg").write_text(md.dscfg() + "init_local_modules: []\ninit_modules: [storage]\n"
                                    "config_modules: []\nfinal_modules: []\n")
    devs: list[str] = []
    try:
        subprocess.run([sys.executable, "-m", "blockprov", "boot", "--root", str(root)], check=True, cwd=REPO)
        udev.use(root, disks)
        img = disks / "bench-grow"
        subprocess.run(["truncate", "-s", "320M", str(img)], check=True)
        devs.append(subprocess.run(["losetup", "-f", "--show", str(img)], check=True, capture_output=True,
                                   text=True).stdout.strip())
        point = root / "vol/grow"
        t0 = time.perf_counter()
        while not point.is_mount():
            if time.perf_counter() - t0 > 60:
                raise SystemExit("the volume was not mounted")
            time.sleep(0.01)
        subprocess.run(["udevadm", "settle"], check=True)
        ours = []
        for i in range(ROUNDS):
            while spool.pending(Paths(root)):
                time.sleep(0.01)
            before = fs_bytes(point)
            subprocess.run(["truncate", "-s", f"{320 + 64 * (i + 1)}M", str(img)], check=True)
            t0 = time.perf_counter()
            subprocess.run(["losetup", "-c", devs[0]], check=True)
            subprocess.run(["udevadm", "trigger", "--action=change", devs[0]], check=True)
            ours.append(grown_after(point, before, t0))
            subprocess.run(["udevadm", "settle"], check=True)
        # the peer: cloud-utils growpart + xfs_growfs on a disk of its own, same sizes
        udev.use(udev.sink, tmp / "none")
        peer_img, peer_mnt = tmp / "peer.img", tmp / "peer"
        subprocess.run(["truncate", "-s", "320M", str(peer_img)], check=True)
        pdev = subprocess.run(["losetup", "-f", "--show", str(peer_img)], check=True, capture_output=True,
                              text=True).stdout.strip()
        devs.append(pdev)
        subprocess.run(["sfdisk", "-q", pdev], input="label: gpt\n,\n", text=True, check=True)
        subprocess.run(["partx", "-u", pdev], check=True)
        subprocess.run(["mkfs.xfs", "-q", pdev + "p1"], check=True)
        peer_mnt.mkdir()
        subprocess.run(["mount", pdev + "p1", str(peer_mnt)], check=True)
        peer = []
        for i in range(ROUNDS):
            before = fs_bytes(peer_mnt)
            subprocess.run(["truncate", "-s", f"{320 + 64 * (i + 1)}M", str(peer_img)], check=True)
            t0 = time.perf_counter()
            subprocess.run(["losetup", "-c", pdev], check=True)
            subprocess.run(["growpart", pdev, "1"], check=True, capture_output=True)
            subprocess.run(["xfs_growfs", str(peer_mnt)], check=True, capture_output=True)
            peer.append(grown_after(peer_mnt, before, t0))
        print(f"change event to mounted xfs grown, median of {ROUNDS}: {statistics.median(ours) * 1000:.0f} ms "
              f"(min {min(ours) * 1000:.0f}, max {max(ours) * 1000:.0f}); peer (cloud-utils growpart + xfs_growfs, "
              f"run by hand, no event handling): {statistics.median(peer) * 1000:.0f} ms "
              f"(min {min(peer) * 1000:.0f}, max {max(peer) * 1000:.0f})")
    finally:
        teardown(tmp, devs, udev, md)


if __name__ == "__main__":
    main()
