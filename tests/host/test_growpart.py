"""cloud-init's growpart and resize_rootfs keys, carried out by the storage engine at boot: a loop disk that
grew under a mounted xfs (growing a mounted ext4 needs CAP_SYS_RESOURCE, which CI containers lack; the VM
tier's root is ext4), read back with sfdisk and statvfs."""
import hashlib
import os
import subprocess

import pytest

from blockprov.storage.inventory import Device, Part
from blockprov.modules.growpart import grow_config
from tests.boot.helpers import bp, isolated_cfg, nocloud_seed, reboot
from tests.host.helpers import sfdisk

MiB, G = 1 << 20, 1 << 30


def test_grow_config_describes_the_table_and_grows_into_the_room_after():
    disk = Device("/dev/vdb", size=4 * G, ptable="gpt", parts=[
        Part(1, MiB, 512 * MiB, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
        Part(2, 1 * G, 1 * G, "0FC63DAF-8483-4772-8E79-3D69D8477DE4")])
    doc = grow_config(disk, 1, 4 * G - 33 * 512)
    p1, p2 = doc["config"][1], doc["config"][2]
    assert p1 == {"id": "part1", "type": "partition", "device": "disk", "number": 1, "offset": f"{MiB}B",
                  "size": f"{G - MiB}B", "preserve": True, "resize": True}  # up to partition 2
    assert p2["size"] == f"{G}B" and "resize" not in p2
    assert grow_config(disk, 2, 4 * G - 33 * 512)["config"][2]["size"] == f"{4 * G - 33 * 512 - G}B"
    assert grow_config(disk, 2, 2 * G + MiB // 2) is None  # less than 1 MiB of room: nothing


def setup(tmp_path, loops, text: str):
    root = tmp_path / "root"
    isolated_cfg(root)
    (root / "etc/blockprov/blockprov.cfg.d/02-growpart.cfg").write_text("init_modules: [growpart]\n")
    loops.mounts_under.append(root)
    dev = loops.add("512M")
    subprocess.run(["sfdisk", "-q", dev], input="label: gpt\n,300M\n", text=True, check=True)
    subprocess.run(["partx", "-u", dev], check=True)
    subprocess.run(["mkfs.xfs", "-q", dev + "p1"], check=True)
    mnt = root / "srv/data"
    mnt.mkdir(parents=True)
    subprocess.run(["mount", dev + "p1", str(mnt)], check=True)
    nocloud_seed(root, "instance-id: i-1\n", "#cloud-config\n" + text)
    return root, dev, mnt


def size_of(mnt) -> int:
    st = os.statvfs(mnt)
    return st.f_blocks * st.f_frsize


def test_growpart_grows_a_mounted_partition_and_its_xfs_every_boot(tmp_path, loops):
    root, dev, mnt = setup(tmp_path, loops, "growpart: {mode: auto, devices: [/srv/data]}\n")
    data = os.urandom(1 << 20)
    (mnt / "f").write_bytes(data)
    before = size_of(mnt)
    res = bp(root, "boot")
    assert res.returncode == 0, res.stderr  # room: 512M - 301M; grown now
    assert size_of(mnt) > before + 150 * MiB
    assert subprocess.run(["sfdisk", "--verify", dev], capture_output=True).returncode == 0
    table = sfdisk(dev)
    # a reboot with no new room writes nothing; the disk grows; the next boot grows again
    reboot(root)
    assert bp(root, "boot").returncode == 0 and sfdisk(dev) == table
    subprocess.run(["truncate", "-s", "1G", str(loops.image(dev))], check=True)
    subprocess.run(["losetup", "-c", dev], check=True)
    reboot(root)
    res = bp(root, "boot")
    assert res.returncode == 0, res.stderr
    assert size_of(mnt) > 900 * MiB and (mnt / "f").read_bytes() == data


def test_growroot_disabled_and_mode_off_and_resize_rootfs_false(tmp_path, loops):
    root, dev, mnt = setup(tmp_path, loops, "growpart: {devices: [/srv/data]}\n")
    (root / "etc/growroot-disabled").touch()
    table = sfdisk(dev)
    bp(root, "boot")
    assert sfdisk(dev) == table
    nocloud_seed(root, "instance-id: i-2\n", "#cloud-config\ngrowpart: {devices: [/srv/data]}\n"
                                             "resize_rootfs: false\n")
    (root / "etc/growroot-disabled").unlink()
    reboot(root)
    res = bp(root, "boot")
    assert res.returncode == 3 and "resize_rootfs is false" in res.stderr and sfdisk(dev) == table
    nocloud_seed(root, "instance-id: i-3\n", "#cloud-config\ngrowpart: {mode: 'off', devices: [/srv/data]}\n")
    reboot(root)
    assert bp(root, "boot").returncode == 0 and sfdisk(dev) == table
