"""Ignition's blackbox filesystem cases (tests/positive/filesystems/{creation,reformat_filesystem,
reuse_filesystem}.go and tests/negative/filesystems), translated to storage v1 on loop disks.

Ignition's ``wipeFilesystem: true`` is ``wipe: superblock`` on the volume; ``format: none`` is a volume with no
format item. The "in" state of each case is made with the real tools (sfdisk, mkfs, Ignition's own canned images
in tests/fixtures/ignition/), never by blockprov; the "out" is read back with blkid -p and the filesystem's tools.
"""
import bz2
import subprocess
import uuid as uuidlib
from pathlib import Path

import pytest

from tests.conformance.curtin.test_resize import mounted
from tests.host.helpers import apply, blkid, mounted_at, statuses, write_config

pytestmark = pytest.mark.host

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ignition"
MiB = 1 << 20


def sh(*argv, **kw):
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, **kw)


def disk_with_partition(loops, size_mib: int = 400, part_mib: int = 300) -> str:
    dev = loops.add(f"{size_mib}M")
    sh("sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev, input=f"label: gpt\nstart=2048, size={part_mib * 2048}\n")
    sh("partx", "--add", dev)
    return dev


def put_image(part: str, name: str) -> None:
    with open(FIXTURES / name, "rb") as f, open(part, "r+b") as out:
        out.write(bz2.decompress(f.read()))


def with_files(part: str) -> None:
    with mounted(part) as mnt:
        for rel in ("path/example/multiLine", "another/path/example/singleLine", "empty/emptyFile", "noPath"):
            p = Path(mnt) / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("example file\n")


def config(tmp_path, dev, fmt: dict | None, wipe: bool, mount: str | None = None) -> Path:
    part = {"id": "p1", "type": "partition", "device": "d0", "number": 1, "preserve": True}
    if wipe:
        part["wipe"] = "superblock"
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True}, part]
    if fmt is not None:
        items.append({"id": "f1", "type": "format", "volume": "p1", **fmt})
        if mount:
            items.append({"id": "m1", "type": "mount", "device": "f1", "path": mount})
    return write_config(tmp_path / "c.yaml", items, 2)


def run_twice(cfg, root) -> dict:
    rc, rep = apply(cfg, root)
    assert rc == 0, rep
    rc2, again = apply(cfg, root)
    assert rc2 == 0 and set(statuses(again).values()) == {"ok"}, again
    return rep


def test_wipe_same_type_makes_a_fresh_filesystem_once(loops, tmp_path):
    """filesystem.create.wipe.sametype: the ext4's files are gone; the next run keeps what is there now."""
    dev = disk_with_partition(loops)
    p1 = dev + "p1"
    sh("mkfs.ext4", "-q", p1)
    with_files(p1)
    old = blkid(p1)["UUID"]
    root = tmp_path / "root"
    rc, rep = apply(config(tmp_path, dev, {"fstype": "ext4"}, wipe=True, mount="/boot"), root)
    assert rc == 0 and statuses(rep)["f1"] == "done", rep
    assert blkid(p1)["TYPE"] == "ext4" and blkid(p1)["UUID"] != old
    assert mounted_at(root / "boot") == p1
    assert not (root / "boot/path").exists() and not (root / "boot/noPath").exists()
    (root / "boot/kept").write_text("written after the first run\n")
    rc, again = apply(config(tmp_path, dev, {"fstype": "ext4"}, wipe=True, mount="/boot"), root)
    assert rc == 0 and set(statuses(again).values()) == {"ok"}, again
    assert (root / "boot/kept").read_text() == "written after the first run\n"
    sh("umount", str(root / "boot"))


@pytest.mark.parametrize("had", ["ext4", None], ids=["withpreexistingfilesystem", "withnofilesystem"])
def test_erase_block_device(loops, tmp_path, had):
    """filesystem.erase.block.device.*: format none with wipe erases what was there; without wipe and with nothing
    there, nothing is written."""
    dev = disk_with_partition(loops)
    p1 = dev + "p1"
    if had:
        sh("mkfs.ext4", "-q", p1)
    before = Path(loops.image(dev)).read_bytes()
    rep = run_twice(config(tmp_path, dev, None, wipe=bool(had)), tmp_path / "root")
    assert "TYPE" not in blkid(p1)
    if had:
        assert statuses(rep)["p1"] == "done"
        assert subprocess.run(["wipefs", "--no-act", p1], capture_output=True, text=True).stdout.strip() == ""
    else:
        assert Path(loops.image(dev)).read_bytes() == before


def test_create_on_multiple_disks(loops, tmp_path):
    """filesystem.create.multipledisks: four blank partitions on four disks get ext4 labelled data-0..3."""
    items = []
    devs = []
    for i in range(4):
        dev = loops.add("64M")
        sh("sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev,
           input=f"label: gpt\nstart=2048, size=65536, name=data-{i}\n")
        sh("partx", "--add", dev)
        devs.append(dev)
        items += [{"id": f"d{i}", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
                  {"id": f"p{i}", "type": "partition", "device": f"d{i}", "number": 1, "preserve": True},
                  {"id": f"f{i}", "type": "format", "volume": f"p{i}", "fstype": "ext4", "label": f"data-{i}"},
                  {"id": f"m{i}", "type": "mount", "device": f"f{i}", "path": f"/tmp-{i}"}]
    root = tmp_path / "root"
    run_twice(write_config(tmp_path / "c.yaml", items, 2), root)
    for i, dev in enumerate(devs):
        got = blkid(dev + "p1")
        assert (got["TYPE"], got["LABEL"]) == ("ext4", f"data-{i}")
        assert mounted_at(root / f"tmp-{i}") == dev + "p1"
        sh("umount", str(root / f"tmp-{i}"))


U0 = str(uuidlib.UUID(int=0x0DDBA11DEADBEEF0CAFED00D0BADF00D)).upper()


@pytest.mark.parametrize("fstype,label,uuid,was", [
    ("btrfs", None, None, "ext4"),          # filesystem.create.btrfs.wipe
    ("xfs", "OEM", U0, "ext4"),             # filesystem.create.xfs.wipe
    ("vfat", "OEM", "2e24ec82", "ext4"),    # filesystem.create.vfat.wipe
    ("ext4", "OEM", U0, "ext2"),            # filesystem.create.ext4.wipe
    ("swap", "OEM", U0, "ext2"),            # filesystem.create.swap.wipe
    ("ext4", None, None, "zfs"),            # filesystem.create.zfs.ext4
    ("xfs", None, None, "zfs"),             # filesystem.create.zfs.xfs
    ("vfat", None, None, "zfs"),            # filesystem.create.zfs.vfat
])
def test_reformat_with_wipe(loops, tmp_path, fstype, label, uuid, was):
    dev = disk_with_partition(loops)
    p1 = dev + "p1"
    if was == "zfs":
        put_image(p1, "zfs.img.bz2")
        assert blkid(p1)["TYPE"] == "zfs_member"
    else:
        sh(f"mkfs.{was}", "-q", "-F", p1) if was.startswith("ext") else sh(f"mkfs.{was}", "-q", p1)
    fmt = {"fstype": fstype, **({"label": label} if label else {}), **({"uuid": uuid} if uuid else {})}
    run_twice(config(tmp_path, dev, fmt, wipe=True), tmp_path / "root")
    got = blkid(p1)
    assert got["TYPE"] == fstype
    if label:
        assert got["LABEL"] == label
    if uuid:
        # blkid writes a FAT volume id as 2E24-EC82: the same id (Ignition compares them normalised too)
        assert got["UUID"].replace("-", "").lower() == uuid.replace("-", "").lower()
    if was == "zfs":  # nothing of the pool is left anywhere on the partition
        sigs = subprocess.run(["wipefs", "--no-act", "--json", p1], capture_output=True, text=True).stdout
        assert "zfs_member" not in sigs


def test_reuse_an_existing_filesystem(loops, tmp_path):
    """filesystem.reuse: xfs with the label and uuid the config gives, no wipe: kept with its files."""
    dev = disk_with_partition(loops)
    p1 = dev + "p1"
    sh("mkfs.xfs", "-q", "-L", "data", "-m", f"uuid={U0}", p1)
    with_files(p1)
    rep = run_twice(config(tmp_path, dev, {"fstype": "xfs", "label": "data", "uuid": U0}, wipe=False),
                    tmp_path / "root")
    assert statuses(rep)["f1"] == "ok"
    with mounted(p1) as mnt:
        assert (Path(mnt) / "noPath").read_text() == "example file\n"


def test_reuse_an_ambivalent_filesystem(loops, tmp_path):
    """filesystem.reuse.ambivalent: blkid -p sees ext4 and a stale zfs label; the config's fstype, uuid and
    label identify the ext4, so it is kept, mounted, and its file read; fstab names it by PARTUUID (no udev
    UUID link exists for an ambivalent device)."""
    dev = disk_with_partition(loops, 100, 64)  # the image fills it: zfs labels sit at the end
    p1 = dev + "p1"
    put_image(p1, "ext4-zfs.img.bz2")
    assert subprocess.run(["blkid", "-p", p1], capture_output=True).returncode == 8  # ambivalent
    root = tmp_path / "root"
    fmt = {"fstype": "ext4", "label": "some-label", "uuid": "f63bf118-f6d7-40a3-b64c-a92b05a7f9ee"}
    rep = run_twice(config(tmp_path, dev, fmt, wipe=False, mount="/tmp0"), root)
    assert statuses(rep)["f1"] == "ok" and statuses(rep)["m1"] == "done", rep
    assert (root / "tmp0/foo/bar").read_text() == "example file\n"
    partuuid = sh("sfdisk", "--part-uuid", dev, "1").stdout.strip().lower()
    line = next(x for x in (root / "etc/fstab").read_text().splitlines() if "/tmp0" in x)
    assert line.split()[0].lower() == f"partuuid={partuuid}"
    sh("umount", str(root / "tmp0"))


def test_an_ambivalent_device_the_config_does_not_identify_is_refused(loops, tmp_path):
    """Without a uuid or label that picks one signature, an ambivalent device is unknown contents: refused, and
    nothing written (Ignition, too, fails such a case unless told to wipe)."""
    dev = disk_with_partition(loops, 100, 64)  # the image fills it: zfs labels sit at the end
    p1 = dev + "p1"
    put_image(p1, "ext4-zfs.img.bz2")
    before = Path(loops.image(dev)).read_bytes()
    rc, rep = apply(config(tmp_path, dev, {"fstype": "ext4", "label": "other"}, wipe=False), tmp_path / "root")
    assert rc == 1 and statuses(rep)["f1"] == "refused", rep
    assert "ambivalent" in next(i["reason"] for i in rep["items"] if i["id"] == "f1")
    assert Path(loops.image(dev)).read_bytes() == before


def test_no_device(tmp_path):
    """filesystems.nodevice (negative): a format on a device that does not exist is an error naming it; storage v1
    can only name it through a disk that is not there, so the format waits and nothing is written."""
    cfg = write_config(tmp_path / "c.yaml", [
        {"id": "d0", "type": "disk", "path": "/dev/disk/by-id/no-such-disk", "ptable": "gpt", "preserve": True},
        {"id": "p1", "type": "partition", "device": "d0", "number": 1, "preserve": True},
        {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4"}], 2)
    rc, rep = apply(cfg, tmp_path / "root")
    assert statuses(rep) == {"d0": "waiting", "p1": "waiting", "f1": "waiting"}, rep


def test_mount_options(loops, tmp_path):
    """filesystem.mount.options: an existing btrfs mounted with noexec and subvolid=5; fstab carries them."""
    dev = disk_with_partition(loops)
    p1 = dev + "p1"
    sh("mkfs.btrfs", "-q", p1)
    root = tmp_path / "root"
    cfg = write_config(tmp_path / "c.yaml", [
        {"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
        {"id": "p1", "type": "partition", "device": "d0", "number": 1, "preserve": True},
        {"id": "f1", "type": "format", "volume": "p1", "fstype": "btrfs"},
        {"id": "m1", "type": "mount", "device": "f1", "path": "/tmp0", "options": "noexec,subvolid=5"}], 2)
    run_twice(cfg, root)
    opts = sh("findmnt", "-n", "-o", "OPTIONS", str(root / "tmp0")).stdout
    assert "noexec" in opts.split(",") and "subvolid=5" in opts.split(","), opts
    line = next(x for x in (root / "etc/fstab").read_text().splitlines() if "/tmp0" in x)
    assert line.split()[3] == "noexec,subvolid=5"
    sh("umount", str(root / "tmp0"))


def test_negative_mount_with_invalid_options_fails_and_is_not_in_fstab(loops, tmp_path):
    """filesystem.mount.invalidoptions: the mount fails, the run says so (exit 1), and no fstab line is written
    for a mount that does not work."""
    dev = disk_with_partition(loops)
    p1 = dev + "p1"
    sh("mkfs.ext4", "-q", p1)
    root = tmp_path / "root"
    cfg = write_config(tmp_path / "c.yaml", [
        {"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
        {"id": "p1", "type": "partition", "device": "d0", "number": 1, "preserve": True},
        {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4"},
        {"id": "m1", "type": "mount", "device": "f1", "path": "/tmp0", "options": "doesnotexist"}], 2)
    rc, rep = apply(cfg, root)
    assert rc == 1 and statuses(rep)["m1"] == "failed", rep
    fstab = root / "etc/fstab"
    assert not fstab.exists() or "/tmp0" not in fstab.read_text()
    assert mounted_at(root / "tmp0") is None


def test_negative_a_mount_path_through_a_symlink_is_refused(loops, tmp_path):
    """filesystem.pathusessymlinks: /tmp0 in the target is a link to /; nothing is mounted through it, nothing
    written (exit 2 before any write, the mount point named)."""
    dev = disk_with_partition(loops)
    p1 = dev + "p1"
    sh("mkfs.ext4", "-q", p1)
    root = tmp_path / "root"
    root.mkdir()
    (root / "tmp0").symlink_to("/")
    before = Path(loops.image(dev)).read_bytes()
    cfg = write_config(tmp_path / "c.yaml", [
        {"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
        {"id": "p1", "type": "partition", "device": "d0", "number": 1, "preserve": True},
        {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4", "preserve": True},
        {"id": "m1", "type": "mount", "device": "f1", "path": "/tmp0"}], 2)
    rc, rep = apply(cfg, root)
    assert rc == 2, rep
    assert mounted_at(Path("/")) != p1 and mounted_at(root / "tmp0") is None
    assert Path(loops.image(dev)).read_bytes() == before


def test_negative_a_mount_without_a_filesystem_is_invalid(tmp_path):
    """filesystem.erase.block.device.invalidoptions: a mount path with no filesystem to mount (Ignition: format
    none with a path) is refused by validation with the JSON path and the item id, exit 2."""
    import subprocess
    import sys

    cfg = write_config(tmp_path / "c.yaml", [
        {"id": "d0", "type": "disk", "path": "/dev/loop-none", "ptable": "gpt", "preserve": True},
        {"id": "p1", "type": "partition", "device": "d0", "number": 1, "preserve": True},
        {"id": "m1", "type": "mount", "device": "p1", "path": "/tmp0"}], 2)
    res = subprocess.run([sys.executable, "-m", "blockprov", "storage", "validate", str(cfg)], capture_output=True,
                         text=True)
    assert res.returncode == 2, res
    assert "m1" in res.stdout + res.stderr and "$.storage.config[2].device" in res.stdout + res.stderr, res
