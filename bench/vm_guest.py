#!/usr/bin/env python3
"""Guest figures from the VM tier's qemu guest (TCG, 2 vCPUs): boot stages and hotplug latency.

Same set-up as tests/vm: the Debian packages built from this checkout, a config-2 seed
from ``blockprov-engine build-seed`` (hostname, a user, a static NIC, ext4 + xfs over two
disks), storagedata for hotplug from ``blockprov-engine serve-local`` in the guest.

1. first boot and reboot: each blockprov unit's time (``systemd-analyze blame``) and when
   ``blockprov.target`` was reached after the kernel started (guest monotonic clock);
2. hotplug: a 1 GiB virtio-blk disk named in storagedata (gpt, one partition, ext4,
   mounted) is plugged over QMP; latency is from udev's first sight of the disk
   (``USEC_INITIALIZED``) to its mount point in mountinfo, on the guest clock. "warm": a
   processor is lingering (``hotplug.linger``); "cold": none runs, the event starts one.
Target (issue 8): mounted in under 2 s of guest time. Peer: cloud-init has no block
hotplug; its hotplug hook process alone costs about 0.64 s on the host
(../shared/notes/test-machine.md), several times that under TCG.
Usage: python3 bench/vm_guest.py [ROUNDS]   (root; qemu, mmdebstrap and the package build tools)
"""
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from tests.vm import image  # noqa: E402
from tests.vm.harness import Guest  # noqa: E402
from tests.vm.test_guest import DEFINITION, MAC  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
PEER_HOOK_HOST_S = 0.64


def hot(serial: str) -> list[dict]:
    return [{"id": serial, "type": "disk", "serial": serial, "ptable": "gpt"},
            {"id": f"{serial}-p", "type": "partition", "device": serial, "size": "100%"},
            {"id": f"{serial}-f", "type": "format", "volume": f"{serial}-p", "fstype": "ext4"},
            {"id": f"{serial}-m", "type": "mount", "device": f"{serial}-f", "path": f"/srv/{serial}"}]


def boot_figures(g: Guest) -> dict:
    blame = g.run(["systemd-analyze", "blame", "--no-pager"], check=False).stdout
    units = {ln.split()[-1]: ln.split()[0] for ln in blame.splitlines() if "blockprov" in ln}
    us = g.run(["systemctl", "show", "-P", "ActiveEnterTimestampMonotonic", "blockprov.target"]).stdout.strip()
    return {"target_reached_s": round(int(us) / 1e6, 2), "units": units}


def plug_and_wait(g: Guest, serial: str) -> float:
    sd = yaml.safe_load(g.run(["cat", "/etc/blockprov/storagedata.yaml"]).stdout)
    sd["config"] += hot(serial)
    g.write("/etc/blockprov/storagedata.yaml.new", yaml.safe_dump(sd))
    g.run(["mv", "/etc/blockprov/storagedata.yaml.new", "/etc/blockprov/storagedata.yaml"])
    g.run(["sleep", "0.3"])  # serve-local notices the file
    g.run(["blockprov", "refresh-metadata"])
    disk = g.new_disk(serial, "1G")
    watch = g.watch({"op": "await-hotplug", "serial": serial, "mountpoint": f"/srv/{serial}", "timeout": 60})
    g.plug(disk)
    res = g.result(watch, 90)
    if res.rc != 0:
        raise SystemExit(f"{serial}: {res.stderr}")
    g.run(["sleep", "2"])  # the processor finishes the batch (fstab, final probe)
    return res.json()["latency"]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-vm-"))
    debs = work / "debs"
    debs.mkdir()
    subprocess.run([str(REPO / "scripts/build-deb.sh"), str(debs)], check=True, stdout=subprocess.DEVNULL)
    g = Guest(work / "g", image.ensure(), deadline=3600)
    (g.ctl / "def.json").write_text(json.dumps(DEFINITION))
    subprocess.run([sys.executable, "-m", "blockprov_engine", "build-seed", "--definition", str(g.ctl / "def.json"),
                    "--format", "config-2", "-o", str(g.dir / "seed.iso")], check=True, stdout=subprocess.DEVNULL)
    g.cdrom, g.nic_mac = g.dir / "seed.iso", MAC
    for serial in ("data-a", "data-b"):
        g.boot_disk(serial, "1G")
    try:
        g.start()
        for d in sorted(debs.glob("*.deb")):
            shutil.copy(d, g.ctl / d.name)
        g.run(["dpkg", "-i", *[f"/mnt/ctl/{d.name}" for d in sorted(debs.glob("*.deb"))]], timeout=300)
        g.reboot()
        g.run(["blockprov", "status", "--wait", "--timeout", "300"], timeout=320)
        first = boot_figures(g)
        g.reboot()
        g.run(["blockprov", "status", "--wait", "--timeout", "300"], timeout=320)
        again = boot_figures(g)
        g.write("/etc/blockprov/storagedata.yaml", yaml.safe_dump(DEFINITION["storage"]))
        g.run(["systemd-run", "--unit=bench-local-metadata", "blockprov-engine", "serve-local", "--storagedata",
               "/etc/blockprov/storagedata.yaml", "--definition", "/mnt/ctl/def.json", "--listen", "127.0.0.1:8775"])
        g.run(["sleep", "3"])
        g.write("/etc/blockprov/blockprov.cfg.d/50-local-storagedata.cfg",
                "datasource:\n  ConfigDrive:\n    storagedata_url: http://127.0.0.1:8775/openstack/latest/storagedata\n")
        warm, cold = [], []
        for i in range(ROUNDS):
            warm.append(plug_and_wait(g, f"warm-{i}"))
        for i in range(ROUNDS):
            g.run(["systemctl", "stop", "blockprov-hotplug.service"])  # no processor lingers now
            cold.append(plug_and_wait(g, f"cold-{i}"))
    finally:
        g.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"first boot: blockprov.target reached {first['target_reached_s']} s after the kernel started; "
          f"units {first['units']}")
    print(f"reboot:     blockprov.target reached {again['target_reached_s']} s; units {again['units']}")
    for name, xs in (("warm", warm), ("cold", cold)):
        print(f"hotplug {name}: median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, "
              f"n={len(xs)}) disk seen -> mounted, guest clock; target < 2 s; "
              f"peer: cloud-init no block hotplug (hook process alone {PEER_HOOK_HOST_S} s on the host)")


if __name__ == "__main__":
    main()
