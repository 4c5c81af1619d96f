"""Read what each layer of a stack spans, so the planner can tell what could grow (issue 23's chain).

The kernel and the tools know how much of the device below each layer uses: md's
``component_size`` and each member's data offset (sysfs), a dm-crypt mapping's
payload offset (``cryptsetup status``), a physical volume's size and first extent
(``pvs``), a volume group's free space (``vgs``), and a filesystem's own size from
its tool (``dumpe2fs -h``, ``xfs_info``, ``btrfs filesystem show``; each
reads, none writes). The planner compares these with the
device sizes below them (pure, ``plan_grow``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from blockprov.storage.inventory import PV, Device, Inventory, VGSpace
from blockprov.run import run

SECTOR = 512
RESIZABLE = ("ext2", "ext3", "ext4", "xfs", "btrfs")


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def md_room(sysdir: Path) -> tuple[int | None, dict[str, int]]:
    """(bytes each member contributes, member node -> its data offset in bytes) from an array's sysfs."""
    try:
        comp = _int((sysdir / "md" / "component_size").read_text())
    except OSError:
        comp = None
    offsets = {}
    for m in sorted((sysdir / "md").glob("dev-*")):
        try:
            off = _int((m / "offset").read_text())
        except OSError:
            continue
        if off is not None:
            offsets["/dev/" + os.path.basename(os.path.realpath(m / "block"))] = off * SECTOR
    return (comp * 1024 if comp is not None else None), offsets


def parse_crypt_status(text: str) -> int | None:
    """The payload offset in bytes from ``cryptsetup status`` output (pure)."""
    m = re.search(r"^\s*offset:\s*(\d+)\s+sectors", text, re.M)
    return int(m.group(1)) * SECTOR if m else None


def parse_fs_size(fstype: str, text: str, node: str = "") -> int | None:
    """A filesystem's own size in bytes from its tool's report (pure but for resolving ``node``'s links)."""
    if fstype in ("ext2", "ext3", "ext4"):
        count = re.search(r"^Block count:\s*(\d+)", text, re.M)
        bsize = re.search(r"^Block size:\s*(\d+)", text, re.M)
        return int(count.group(1)) * int(bsize.group(1)) if count and bsize else None
    if fstype == "xfs":  # xfs_info's "data = bsize=4096 blocks=262144, imaxpct=25"
        m = re.search(r"^data\s+=\s+bsize=(\d+)\s+blocks=(\d+)", text, re.M)
        return int(m.group(1)) * int(m.group(2)) if m else None
    if fstype == "btrfs":  # this device's share ("devid 1 size N used M path DEV"), which ``resize devid:max`` grows
        sizes = re.findall(r"^\s*devid\s+\d+\s+size\s+(\d+)\s.*\spath\s+(\S+)", text, re.M)
        mine = [int(s) for s, p in sizes if not node or os.path.realpath(p) == os.path.realpath(node)]
        return mine[0] if len(mine) == 1 else None
    return None


def fs_size_argv(fstype: str, node: str) -> list[str] | None:
    if fstype in ("ext2", "ext3", "ext4"):
        return ["dumpe2fs", "-h", node]
    # xfs and btrfs keep their superblocks in their own caches: a mounted one is asked through the kernel
    # (xfs_info uses xfs_spaceman on a mounted device; btrfs filesystem show its ioctls), never the stale disk
    if fstype == "xfs":
        return ["xfs_info", node]
    if fstype == "btrfs":
        return ["btrfs", "filesystem", "show", "--raw", node]
    return None


def add_room(inv: Inventory, paths: list[str]) -> None:
    """Fill the room facts of the probed devices ``paths`` (their signatures are known)."""
    for path in paths:
        dev: Device = inv.devices[path]
        if dev.kind == "raid":
            dev.component_size, dev.member_offsets = md_room(Path("/sys/class/block") / os.path.basename(path))
        elif dev.kind == "crypt" and dev.name:
            res = run(["cryptsetup", "status", dev.name], check=False, timeout=30)
            dev.payload_offset = parse_crypt_status(res.stdout) if res.returncode == 0 else None
        if dev.fstype in RESIZABLE and not dev.probe_error:
            res = run(fs_size_argv(dev.fstype, path), check=False, timeout=60)
            dev.fs_size = parse_fs_size(dev.fstype, res.stdout, path) if res.returncode == 0 else None


def add_lvm_space(inv: Inventory, pv_reports: list[dict], vg_reports: list[dict]) -> None:
    """PV sizes and VG free space from ``pvs``/``vgs`` JSON report rows (bytes, no suffix)."""
    for rep in pv_reports:
        size = _int(rep.get("pv_size") or "")
        if rep.get("pv_name") and size is not None:
            inv.pvs[os.path.realpath(rep["pv_name"])] = PV(size=size, pe_start=_int(rep.get("pe_start") or "") or 0)
    for rep in vg_reports:
        size, free, ext = (_int(rep.get(k) or "") for k in ("vg_size", "vg_free", "vg_extent_size"))
        if rep.get("vg_name") and size is not None and free is not None:
            inv.vg_space[rep["vg_name"]] = VGSpace(size=size, free=free, extent=ext or 4 << 20)
