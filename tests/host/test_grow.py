"""Growing with the disk (docs/storage-config.md): a loop disk made bigger (truncate, then losetup -c) and the
same config applied again. What counts is what the tools show afterwards: sfdisk's table (and --verify),
the filesystem's size as df (statvfs) and blkid see it, a file's checksum."""
import hashlib
import os
import re
import subprocess

import pytest

from blockprov.storage.execute_resize import may_resize_online
from tests.host.helpers import apply, blkid, mounted_at, sfdisk, statuses, write_config

G = 1 << 30


def grow_disk(loops, dev: str, size: str) -> None:
    subprocess.run(["truncate", "-s", size, str(loops.image(dev))], check=True)
    subprocess.run(["losetup", "-c", dev], check=True)


def fs_bytes(path) -> int:
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


def put_file(mnt) -> str:
    data = os.urandom(8 << 20)
    (mnt / "file").write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def items(dev: str, fstype: str, mount: bool, size: str | None = "100%") -> list[dict]:
    out = [{"id": "d", "type": "disk", "path": dev, "ptable": "gpt"},
           {"id": "p", "type": "partition", "device": "d", **({"size": size} if size else {})},
           {"id": "f", "type": "format", "volume": "p", "fstype": fstype, "label": "growme"}]
    return out + ([{"id": "m", "type": "mount", "device": "f", "path": "/srv/grow"}] if mount else [])


@pytest.mark.parametrize("fstype,mounted,size", [
    ("ext4", False, "100%"), ("ext4", True, None), ("xfs", True, "100%"), ("btrfs", True, "100%"),
    ("xfs", False, None)])
def test_partition_and_filesystem_grow_with_the_disk(tmp_path, loops, fstype, mounted, size):
    if fstype == "ext4" and mounted and not may_resize_online():
        pytest.skip("growing a mounted ext4 needs CAP_SYS_RESOURCE, which this container lacks (the VM tier "
                    "grows one online)")
    root = tmp_path / "root"
    loops.mounts_under.append(root)
    dev = loops.add("1G")
    cfg = write_config(tmp_path / "grow.yaml", items(dev, fstype, mounted, size))
    rc, rep = apply(cfg, root)
    assert rc == 0, rep
    mnt = root / "srv/grow"
    if not mounted:
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        subprocess.run(["mount", dev + "p1", str(mnt)], check=True)
    digest, before = put_file(mnt), fs_bytes(mnt)
    if not mounted:
        subprocess.run(["umount", str(mnt)], check=True)
    uuid = blkid(dev + "p1")["UUID"]

    grow_disk(loops, dev, "2G")
    rc, rep = apply(cfg, root)
    st = {i["id"]: i for i in rep["items"]}
    assert rc == 0 and st["p"]["status"] == "done", rep
    assert st["d"]["status"] == "ok" and "grow with the disk" in st["d"]["reason"]
    part = sfdisk(dev)["partitions"][0]
    assert part["start"] == 2048 and (part["start"] + part["size"]) * 512 > 2 * G - 2 * (1 << 20)
    assert subprocess.run(["sfdisk", "--verify", dev], capture_output=True, text=True).returncode == 0
    assert blkid(dev + "p1")["UUID"] == uuid  # the same filesystem, grown
    if not mounted:
        subprocess.run(["mount", dev + "p1", str(mnt)], check=True)
    assert fs_bytes(mnt) > before + 900 * (1 << 20), (before, fs_bytes(mnt))
    assert hashlib.sha256((mnt / "file").read_bytes()).hexdigest() == digest
    if not mounted:
        subprocess.run(["umount", str(mnt)], check=True)
    rc, rep = apply(cfg, root)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    assert rep["steps"] == [] or all(s["op"] == "fstab" for s in rep["steps"]), rep["steps"]


def applied_then_grown(tmp_path, loops, its=None):
    """A 1 GiB loop disk with ``its`` (default: gpt, one 100% ext4 partition) applied, then grown to 2 GiB:
    (root, disk, config file, the table sfdisk shows after the growth)."""
    root = tmp_path / "root"
    dev = loops.add("1G")
    cfg = write_config(tmp_path / "grow.yaml", its(dev) if its else items(dev, "ext4", False))
    assert apply(cfg, root)[0] == 0
    grow_disk(loops, dev, "2G")
    return root, dev, cfg, sfdisk(dev)


def test_plan_shows_grow_before_anything_is_written(tmp_path, loops):
    root, dev, cfg, table = applied_then_grown(tmp_path, loops)
    rc, rep = apply(cfg, root, "--dry-run")
    p = {i["id"]: i for i in rep["items"]}["p"]
    assert p["status"] == "grow" and p["found"]["size"] == table["partitions"][0]["size"] * 512, p
    assert p["expected"]["size"] > 2 * G - 2 * (1 << 20) and p["reason"].startswith("grow partition 1 and its ext4"), p
    assert sfdisk(dev) == table  # nothing written


def test_partitions_that_would_move_are_not_grown(tmp_path, loops):
    """[50%, 50%]: the second partition would have to start elsewhere; blockprov never moves data."""
    root, dev, cfg, table = applied_then_grown(tmp_path, loops, lambda dev: [
        {"id": "d", "type": "disk", "path": dev, "ptable": "gpt"},
        {"id": "a", "type": "partition", "device": "d", "size": "50%"},
        {"id": "b", "type": "partition", "device": "d", "size": "50%"}])
    rc, rep = apply(cfg, root)
    assert statuses(rep)["d"] == "refused" and sfdisk(dev) == table


def test_preserved_relative_partition_is_kept_and_the_growth_told(tmp_path, loops):
    root, dev, _cfg, whole = applied_then_grown(tmp_path, loops)
    table = whole["partitions"]
    kept = [{**i, "preserve": True} for i in items(dev, "ext4", False)]
    rc, rep = apply(write_config(tmp_path / "keep.yaml", kept), root)
    p = {i["id"]: i for i in rep["items"]}["p"]
    assert rc == 0 and p["status"] == "ok" and "add resize: true to grow it" in p["reason"], p
    assert sfdisk(dev)["partitions"] == table
    grown = [{**i, "resize": True} if i["id"] == "p" else i for i in kept]
    rc, rep = apply(write_config(tmp_path / "resize.yaml", grown), root)
    assert rc == 0 and statuses(rep)["p"] == "done", rep
    assert sfdisk(dev)["partitions"][0]["size"] > table[0]["size"]


def fs_size_of(dev: str, fstype: str) -> int:
    """The filesystem's own size from its on-disk superblock, read by another tool than the probe's (the
    oracle for probe_room; call it on an unmounted filesystem, whose superblock on disk is current)."""
    if fstype == "ext4":
        out = subprocess.run(["tune2fs", "-l", dev], capture_output=True, text=True, check=True).stdout
        f = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return int(f["Block count"]) * int(f["Block size"])
    if fstype == "xfs":
        out = subprocess.run(["xfs_db", "-r", "-c", "sb 0", "-c", "print dblocks blocksize", dev],
                             capture_output=True, text=True, check=True).stdout
        return int(re.search(r"dblocks = (\d+)", out).group(1)) * int(re.search(r"blocksize = (\d+)", out).group(1))
    out = subprocess.run(["btrfs", "inspect-internal", "dump-super", dev], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"dev_item\.total_bytes\s+(\d+)", out).group(1))


@pytest.mark.parametrize("fstype", ["ext4", "xfs", "btrfs"])
def test_filesystem_on_a_whole_disk_grows_with_the_disk(tmp_path, loops, fstype):
    """No partition table (how Hetzner and DigitalOcean volumes are often formatted): the filesystem is the
    disk's only layer, and an apply that finds it short of its disk grows it, offline here, data kept."""
    root = tmp_path / "root"
    dev = loops.add("512M")
    cfg = write_config(tmp_path / "whole.yaml", [
        {"id": "d", "type": "disk", "path": dev},
        {"id": "f", "type": "format", "volume": "d", "fstype": fstype, "label": "whole"}])
    assert apply(cfg, root)[0] == 0
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", dev, str(mnt)], check=True)
    digest = put_file(mnt)
    subprocess.run(["umount", str(mnt)], check=True)
    before = fs_size_of(dev, fstype)
    grow_disk(loops, dev, "1G")
    rc, rep = apply(cfg, root, "--dry-run")
    f = {i["id"]: i for i in rep["items"]}["f"]
    assert f["status"] == "grow" and f["found"] == {"size": before} and f["expected"] == {"size": G}, f
    assert fs_size_of(dev, fstype) == before  # the dry run wrote nothing
    rc, rep = apply(cfg, root)
    assert rc == 0 and statuses(rep)["f"] == "done", rep
    assert fs_size_of(dev, fstype) > G - 16 * (1 << 20)
    subprocess.run(["mount", dev, str(mnt)], check=True)
    try:
        assert hashlib.sha256((mnt / "file").read_bytes()).hexdigest() == digest
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    rc, rep = apply(cfg, root)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def test_probe_reads_each_filesystem_size_as_its_tools_do(loops):
    from blockprov.storage.probe_room import fs_size_argv, parse_fs_size

    dev = loops.add("400M")
    for fstype, mkfs in (("ext4", ["mkfs.ext4", "-q", "-F", dev, "200M"]),
                         ("xfs", ["mkfs.xfs", "-q", "-f", "-d", "size=320m", dev]),
                         ("btrfs", ["mkfs.btrfs", "-q", "-f", "-b", "300M", dev])):
        subprocess.run(mkfs, check=True, capture_output=True)
        out = subprocess.run(fs_size_argv(fstype, dev), capture_output=True, text=True, check=True).stdout
        assert parse_fs_size(fstype, out) == fs_size_of(dev, fstype), fstype
