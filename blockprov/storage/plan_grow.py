"""Grow the chain: after the layer below grew, how large each layer above can become (pure; no I/O).

A partition that grows with its disk (or with ``resize: true``) leaves room for
what it holds: an md array's members, a LUKS mapping, an LVM physical volume, a
filesystem. Each function takes what the probe read (``probe_room``) and the size
the device below will have once this plan's earlier steps ran, and returns the
layer's new size, or None when it cannot grow by a useful amount. The same
functions find room left by a grow a killed run did not finish, or by a disk that
grew while nothing was watching: they compare the layer with the device below it,
not with what happened before.
"""

from __future__ import annotations

from blockprov.storage.inventory import PV, Device, VGSpace

MiB = 1 << 20
GROW_MIN = 4 * MiB  # less is the rounding of the layers themselves (md, LVM extents); not worth a grow
FS_SLACK = 16 * MiB  # a filesystem may leave this much of its device unused by design (xfs AGs, ext4 groups)
MD_GROWABLE = ("raid1", "raid4", "raid5", "raid6", "raid10")  # mdadm --grow --size: not raid0/linear
FS_GROWABLE = ("ext2", "ext3", "ext4", "xfs", "btrfs")
ALIGN = 64 << 10  # md rounds a component down to 64 KiB


def raid_component(dev: Device, member_after: dict[str, int]) -> int | None:
    """The per-member size once every member's room is used (``mdadm --grow --size max``), or None."""
    if dev.level not in MD_GROWABLE or not dev.component_size or not dev.member_offsets:
        return None
    rooms = [member_after[m] - off for m, off in dev.member_offsets.items() if m in member_after]
    if len(rooms) != len(dev.member_offsets):
        return None
    comp = min(rooms) // ALIGN * ALIGN
    return comp if comp - dev.component_size >= GROW_MIN else None


def raid_after(dev: Device, member_after: dict[str, int]) -> int | None:
    """The array's size once every member's room is used, or None."""
    comp = raid_component(dev, member_after)
    if comp is None:
        return None
    data = max(1, round(dev.size / dev.component_size))  # members' worth of data: raid1 1, raid5 n-1, ...
    return dev.size + (comp - dev.component_size) * data


def crypt_after(dev: Device, volume_after: int) -> int | None:
    """The mapping's size once it fills its volume again (``cryptsetup resize``), or None."""
    if dev.payload_offset is None:
        return None
    new = (volume_after - dev.payload_offset) // 512 * 512
    return new if new - dev.size >= GROW_MIN else None


def pv_extents_gained(pv: PV, device_after: int, extent: int) -> int:
    """Whole extents a PV gains when ``pvresize`` makes it fill its device (0: nothing to do)."""
    return max(0, (device_after - pv.pe_start) // extent - pv.size // extent)


def lv_after(lv_size: int, share: float | None, vg: VGSpace, gained: int) -> int | None:
    """A relative LV's size once its group has ``gained`` more bytes: all the free space (``share`` None),
    or ``share`` of the group's size in whole extents; None when it stays."""
    free, size = vg.free + gained, vg.size + gained
    if share is None:
        new = lv_size + free // vg.extent * vg.extent
    else:
        new = min(int(size * share) // vg.extent * vg.extent, lv_size + free // vg.extent * vg.extent)
    return new if new - lv_size >= vg.extent else None


def fs_grows(fstype: str | None, fs_size: int | None, device_after: int, device_grows: bool) -> bool:
    """Whether the filesystem should be grown to fill its device: it grows in this plan, or the filesystem
    leaves more of it unused than its own rounding explains."""
    if fstype not in FS_GROWABLE:
        return False
    if device_grows:
        return True
    return fs_size is not None and device_after - fs_size >= FS_SLACK
