"""Executor for ``part-resize``: move a kept partition's end, its filesystem following, data kept.

A mixin of the Executor. Order inside one step: a shrinking filesystem first,
then the table entry (checked by libparted in memory, written by sfdisk, which
keeps every other field: type, uuid, name, attrs), then the kernel's view
(BLKPG resize, so a mounted partition may grow), then a growing filesystem.
Each part is idempotent: a run killed inside the step redoes it whole.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager

from blockprov.paths import ensure_dir
from blockprov.storage import libparted
from blockprov.storage.inventory import part_path
from blockprov.storage.probe import mountinfo, read_table
from blockprov.run import run

EXT = ("ext2", "ext3", "ext4")
CAP_SYS_RESOURCE = 24


def may_resize_online() -> bool:
    """ext4's online resize ioctl needs CAP_SYS_RESOURCE, which containers often drop."""
    try:
        with open("/proc/self/status") as f:
            caps = next(line.split()[1] for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration):
        return True
    return bool(int(caps, 16) >> CAP_SYS_RESOURCE & 1)


def libparted_problem(dev: str, number: int, start: int, size: int) -> str | None:
    """Why libparted would not accept the entry's new extent on the table as it is (overlaps, an EBR in the
    way, outside the extended partition or the disk), found in memory without writing."""
    import parted

    device = None
    try:
        device = parted.getDevice(dev)
        disk = parted.newDisk(device)
        sector = device.sectorSize
        part = next((p for p in disk.partitions if p.number == number), None)
        if part is None:
            return f"partition {number} is not in the table"
        first, last = start // sector, (start + size) // sector - 1
        geom = parted.Geometry(device=device, start=first, end=last)
        disk.setPartitionGeometry(part, parted.Constraint(exactGeom=geom), first, last)
        return None
    except libparted.errors() as exc:
        return f"libparted: {exc}"
    finally:
        libparted.release(device)


def backup_gpt_misplaced(dev: str) -> bool:
    """Whether the primary GPT header's AlternateLBA (bytes 32-39 of LBA 1) is not the device's last sector:
    the device grew since the table was written."""
    sector = libparted.sector_size(dev)
    with open(dev, "rb") as f:
        f.seek(sector)
        hdr = f.read(92)
        end = f.seek(0, os.SEEK_END)
    return hdr[:8] == b"EFI PART" and int.from_bytes(hdr[32:40], "little") != end // sector - 1


class ResizeOps:
    """Needs from the executor: cmd(), paths, StepFailed, lock_disk()."""

    def op_part_resize(self, step):
        a = step.args
        dev, number, fstype = step.device, a["number"], a.get("fstype")
        node = part_path(dev, number)
        grow = a["size"] >= a["old_size"]
        if a.get("ptable") == "gpt" and grow and backup_gpt_misplaced(dev):
            # the disk grew: the backup GPT is still at the old end, so the new room is outside the table's
            # usable area. Moving it to the new end changes no partition; it is what every GPT tool does first.
            self.lock_disk(dev)
            self.cmd(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", "--relocate", "gpt-bak-std", dev])
        why = libparted_problem(dev, number, a["start"], a["size"])
        if why:
            raise self.StepFailed(f"resize partition {number} of {dev}, nothing was written: {why}")
        if fstype in EXT and grow and self._mount_point(node) is not None and not may_resize_online():
            raise self.StepFailed(f"resize partition {number} of {dev}, nothing was written: {node} is mounted and "
                                  "growing ext4 online needs CAP_SYS_RESOURCE, which this process lacks; unmount it "
                                  "or run with that capability")
        self.lock_disk(dev)
        if fstype and not grow:
            self._fs_resize(node, fstype, a["size"])
        sector = libparted.sector_size(dev)
        self.cmd(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", "-N", str(number), dev],
                 input=f",{a['size'] // sector}\n")
        _label, _id, parts = read_table(dev)
        got = next((p for p in parts if p.number == number), None)
        if got is None or (got.start, got.size) != (a["start"], a["size"]):
            raise self.StepFailed(f"{dev}: partition {number} reads back as {got} after the resize")
        if a["kind"] != "extended":  # the kernel shows an extended partition as 1 KiB whatever its size
            self._kernel_resize(dev, number, a["start"], a["size"])
        if fstype and grow:
            self._fs_resize(node, fstype, None)
        return {"number": number, "size": a["size"], "old_size": a["old_size"]}

    def op_fs_grow(self, step):
        """Grow a filesystem to fill its device (the layer below grew); online when it is mounted."""
        node = self.real(step.device)
        fstype = step.args["fstype"]
        if fstype in EXT and self._mount_point(node) is not None and not may_resize_online():
            raise self.StepFailed(f"{node} is mounted and growing ext4 online needs CAP_SYS_RESOURCE, which this "
                                  "process lacks; unmount it or run with that capability")
        self._fs_resize(node, fstype, None)
        return {"fstype": fstype}

    def _kernel_resize(self, dev: str, number: int, start: int, size: int) -> None:
        """BLKPG: the kernel's partition takes the new length even while it is mounted (a re-read would not)."""
        node = part_path(dev, number)
        if not os.path.exists(node):
            self.cmd(["partx", "--add", "--nr", str(number), dev], timeout=60)
            return
        self.cmd(["resizepart", dev, str(number), str(size // 512)], timeout=60)
        with open(f"/sys/class/block/{os.path.basename(os.path.realpath(node))}/size") as f:
            if int(f.read()) * 512 != size:
                raise self.StepFailed(f"{node}: the kernel did not take the new size {size}")

    def _fs_resize(self, node: str, fstype: str, size: int | None) -> None:
        """Resize the filesystem to ``size`` bytes (None: fill the partition)."""
        if fstype in EXT:
            mounted = self._mount_point(node)
            if mounted is None:
                # offline resize2fs wants a freshly checked filesystem; -p fixes only what is safe
                res = run(["e2fsck", "-f", "-p", node], check=False, timeout=3600)
                if res.returncode > 1:
                    raise self.StepFailed(f"e2fsck -f -p {node} (exit {res.returncode}): {res.stdout[-500:]}"
                                          f"{res.stderr[-500:]}; the filesystem needs a manual check before a resize")
            self.cmd(resize_argv(fstype, node, node, size), timeout=3600)  # resize2fs needs no mount point
            return
        with self._mounted(node, fstype) as mnt:
            devid = self._btrfs_devid(node) if fstype == "btrfs" else None
            argv = resize_argv(fstype, node, mnt, size, devid)
            if argv is None:  # pragma: no cover - the planner refuses other contents
                raise self.StepFailed(f"no resizer for {fstype}")
            self.cmd(argv, timeout=3600)

    def _btrfs_devid(self, node: str) -> str:
        for line in self.cmd(["btrfs", "inspect-internal", "dump-super", node]).splitlines():
            if line.startswith("dev_item.devid"):
                return line.split()[1]
        raise self.StepFailed(f"{node}: no devid in the btrfs superblock")

    @staticmethod
    def _mount_point(node: str) -> str | None:
        real = os.path.realpath(node)
        try:
            st = os.stat(real)
        except OSError:
            return None
        devno = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        points = mountinfo()[0].get(devno)
        return points[0] if points else None

    @contextmanager
    def _mounted(self, node: str, fstype: str):
        """Where the filesystem is mounted; mounted privately for the resize when it is not."""
        point = self._mount_point(node)
        if point is not None:
            yield point
            return
        base = self.paths.run / "resize"
        ensure_dir(base, 0o700)
        mnt = tempfile.mkdtemp(dir=base)
        self.cmd(["mount", "-t", fstype, node, mnt], timeout=600)
        try:
            yield mnt
        finally:
            run(["umount", mnt], check=False, timeout=600)
            os.rmdir(mnt)


def resize_argv(fstype: str | None, node: str, mountpoint: str, size: int | None = None,
                btrfs_devid: str | None = None) -> list[str] | None:
    """The command that resizes a mounted filesystem to ``size`` bytes (None: to fill its device); None for a
    filesystem blockprov does not resize (pure). One table for part-resize and growpart/resize_rootfs."""
    if fstype in EXT:
        return ["resize2fs", node] + ([f"{size // 1024}K"] if size is not None else [])
    if fstype == "xfs":
        return ["xfs_growfs", mountpoint]
    if fstype == "btrfs":
        target = "max" if size is None else str(size)
        return ["btrfs", "filesystem", "resize", f"{btrfs_devid}:{target}" if btrfs_devid else target, mountpoint]
    return None


def fs_grow(node: str, mountpoint: str) -> str:
    """Grow the filesystem mounted at ``mountpoint`` from ``node`` to fill its device (cloud-init's resizefs):
    what changed, "" when it already fills it. The same tools as a partition resize; ValueError when one fails."""
    from blockprov.storage.probe import _blkid

    fstype = _blkid([node])[0].get(node, {}).get("TYPE")
    if fstype in EXT and not may_resize_online():
        raise ValueError(f"{node}: growing a mounted ext4 needs CAP_SYS_RESOURCE, which this process lacks")
    argv = resize_argv(fstype, node, mountpoint)
    if argv is None:
        return ""
    res = run(argv, check=False, timeout=3600)
    if res.returncode:
        raise ValueError(f"{' '.join(argv)} exited {res.returncode}: {(res.stderr or res.stdout).strip()[-200:]}")
    out = res.stdout + res.stderr
    if "Nothing to do" in out or (fstype == "xfs" and "data blocks changed" not in out):
        return ""
    return f"{fstype} on {mountpoint} grown to fill {node}"
