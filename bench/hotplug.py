#!/usr/bin/env python3
"""Hotplug latency and the cost of an event with nothing to do, through a real systemd-udevd.

Set-up as the udev test tier: the project's rule and helper (helper path substituted), a
test rule giving loop disks serials, an OpenStack-style metadata service on 127.0.0.1
whose storagedata names ROUNDS volumes (gpt, one 48 MiB partition, ext4, mounted).
1. event to mounted: for each volume, the clock starts before ``losetup`` (its uevent is
   the attach) and stops when /proc/self/mountinfo shows the partition mounted; the mkfs
   share is ``mkfs.ext4`` of the same size on a scratch loop device, measured apart.
2. no-op event: with everything mounted, one ``change`` event for an applied disk is queued
   and ``blockprov hotplug process`` run; CPU = user + system of it and its children.
Targets (issue 6): event to mounted, median, < 0.5 s plus the mkfs time; a no-op event
< 100 ms CPU. Peer (../shared/notes/test-machine.md): cloud-init's hotplug hook process
alone costs about 0.64 s here and has no block scope at all.
Usage: python3 bench/hotplug.py [ROUNDS]   (root; stops any udevd it started)
"""
import os
import resource
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

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
PEER_HOOK_S = 0.64


def vol(serial: str) -> str:
    return (f"  - {{id: {serial}, type: disk, serial: {serial}, ptable: gpt}}\n"
            f"  - {{id: {serial}-p, type: partition, device: {serial}, size: 48M, number: 1}}\n"
            f"  - {{id: {serial}-f, type: format, volume: {serial}-p, fstype: ext4}}\n"
            f"  - {{id: {serial}-m, type: mount, device: {serial}-f, path: /vol/{serial}}}\n")


def mounted(point: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == point for line in f)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bp-hotplug-bench-"))
    serials = [f"bench-{i:02d}" for i in range(ROUNDS)]
    md = Metadata(uuid="bench-1", storagedata="version: 1\nconfig:\n" + "".join(vol(s) for s in serials))
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
        lat = []
        for s in serials:
            img = disks / s
            subprocess.run(["truncate", "-s", "64M", str(img)], check=True)
            point = f"{root}/vol/{s}"
            t0 = time.perf_counter()
            devs.append(subprocess.run(["losetup", "-f", "--show", str(img)], check=True, capture_output=True,
                                       text=True).stdout.strip())
            while not mounted(point):
                if time.perf_counter() - t0 > 30:
                    raise SystemExit(f"{s} not mounted after 30 s; see {root}/var/log/blockprov/output.log")
                time.sleep(0.002)
            lat.append(time.perf_counter() - t0)
            subprocess.run(["udevadm", "settle"], check=True)
            while (root / "run/blockprov/hotplug/queue").is_dir() and spool.pending(Paths(root)):
                time.sleep(0.01)  # our own partition events: let them drain before the next attach
        mk = []
        scratch = tmp / "scratch.img"
        subprocess.run(["truncate", "-s", "48M", str(scratch)], check=True)
        sdev = subprocess.run(["losetup", "-f", "--show", str(scratch)], check=True, capture_output=True,
                              text=True).stdout.strip()
        devs.append(sdev)
        for _ in range(ROUNDS):
            t = time.perf_counter()
            subprocess.run(["mkfs.ext4", "-q", "-F", sdev], check=True)
            mk.append(time.perf_counter() - t)
        subprocess.run(["udevadm", "settle"], check=True)
        udev.use(udev.sink, tmp / "none")  # the no-op runs below are started by hand, not by udev
        time.sleep(0.5)
        cpu = []
        env = dict(os.environ, PYTHONPATH=str(REPO))
        for _ in range(ROUNDS):
            spool.enqueue(Paths(root), {"ACTION": "change", "SUBSYSTEM": "block", "DEVTYPE": "disk",
                                        "DEVNAME": devs[0], "SEQNUM": "1"})
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "blockprov", "hotplug", "--root", str(root), "process"],
                           check=True, env=env, cwd=REPO)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        med, mkfs_med = statistics.median(lat), statistics.median(mk)
        print(f"event to mounted, median of {ROUNDS}: {med * 1000:.0f} ms "
              f"(min {min(lat) * 1000:.0f}, max {max(lat) * 1000:.0f}); mkfs.ext4 48M alone: {mkfs_med * 1000:.0f} ms;"
              f" blockprov's share {max(0.0, med - mkfs_med) * 1000:.0f} ms (target < 500 ms + mkfs)")
        print(f"no-op event, CPU of the processor and its children, median of {ROUNDS}: "
              f"{statistics.median(cpu) * 1000:.0f} ms (target < 100 ms); "
              f"peer: cloud-init's hotplug hook process alone ~{PEER_HOOK_S * 1000:.0f} ms, no block scope")
    finally:
        teardown(tmp, devs, udev, md)


if __name__ == "__main__":
    main()
