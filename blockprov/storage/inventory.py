"""A plain, JSON-serialisable snapshot of the block devices the planner reasons about."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields


@dataclass
class Part:
    """One entry of a partition table as written on the disk (not the kernel's view)."""

    number: int
    start: int  # bytes
    size: int  # bytes
    type: str  # GPT type GUID (upper case) or MBR id as two hex digits ("83")
    kind: str = "primary"  # primary | extended | logical
    name: str | None = None
    uuid: str | None = None
    bootable: bool = False
    attrs: list[str] = field(default_factory=list)  # GPT attribute bits, normalised (layout.norm_attrs)


@dataclass
class Device:
    path: str
    kind: str = "disk"  # disk | part | raid | lvm | crypt | bcache | other
    size: int = 0
    sector_size: int = 512
    serial: str | None = None
    serial_ids: list[str] = field(default_factory=list)  # ID_SERIAL, ID_SERIAL_SHORT, ID_SCSI_SERIAL
    wwn: str | None = None
    links: list[str] = field(default_factory=list)
    ptable: str | None = None  # gpt | msdos
    ptuuid: str | None = None
    parts: list[Part] = field(default_factory=list)
    fstype: str | None = None  # any signature blkid reports: ext4, swap, linux_raid_member, crypto_LUKS...
    fsuuid: str | None = None
    label: str | None = None
    mountpoints: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)
    parent: str | None = None
    number: int | None = None
    readonly: bool = False
    name: str | None = None  # md name, dm name, VG/LV name
    members: list[str] = field(default_factory=list)  # slaves of md/dm/bcache devices (md: active ones)
    spares: list[str] = field(default_factory=list)  # md: members without a slot
    level: str | None = None  # md: raid0, raid1, raid5, raid6, raid10, linear
    metadata: str | None = None  # md: superblock version ("1.2")
    cache_mode: str | None = None  # bcache: writethrough | writeback | writearound | none
    caches: list[str] = field(default_factory=list)  # bcache: cache devices of the attached cache set
    probe_error: str | None = None  # blkid could not tell what it holds (ambivalent, I/O error): never blank
    # when blkid is ambivalent: every signature wipefs finds, as {"type", "uuid", "label", "offset"}
    signatures: list[dict] = field(default_factory=list)
    # what a layer could grow into (issue 23's chain): md's per-member size and each member's data offset,
    # a dm-crypt mapping's header (payload offset), a resizable filesystem's own size; None when not read
    component_size: int | None = None
    member_offsets: dict[str, int] = field(default_factory=dict)
    payload_offset: int | None = None
    fs_size: int | None = None

    def in_use(self) -> str | None:
        if self.mountpoints:
            return f"mounted at {', '.join(self.mountpoints)}"
        if self.holders:
            return f"held by {', '.join(self.holders)}"
        return None


@dataclass
class PV:
    """An LVM physical volume as ``pvs`` reports it: the size LVM uses (``pvresize`` makes it the device's)."""

    size: int
    pe_start: int = 1 << 20


@dataclass
class VGSpace:
    size: int
    free: int
    extent: int = 4 << 20


@dataclass
class Inventory:
    devices: dict[str, Device] = field(default_factory=dict)
    swaps: list[str] = field(default_factory=list)
    mounts: dict[str, str] = field(default_factory=dict)  # mount point -> source device
    vgs: dict[str, list[str]] = field(default_factory=dict)  # LVM volume group -> its physical volumes
    lvs: dict[str, dict] = field(default_factory=dict)  # "vg/lv" -> {"path": /dev/dm-N, "size": bytes}
    pvs: dict[str, PV] = field(default_factory=dict)  # PV device -> its LVM sizes
    vg_space: dict[str, VGSpace] = field(default_factory=dict)  # volume group -> its size, free space, extent

    def to_json(self) -> dict:
        return {"devices": [asdict(d) for d in self.devices.values()], "swaps": self.swaps, "mounts": self.mounts,
                "vgs": self.vgs, "lvs": self.lvs, "pvs": {k: asdict(v) for k, v in self.pvs.items()},
                "vg_space": {k: asdict(v) for k, v in self.vg_space.items()}}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, data: dict) -> "Inventory":
        inv = cls(swaps=list(data.get("swaps", [])), mounts=dict(data.get("mounts", {})),
                  vgs=dict(data.get("vgs", {})), lvs=dict(data.get("lvs", {})),
                  pvs={k: PV(**v) for k, v in data.get("pvs", {}).items()},
                  vg_space={k: VGSpace(**v) for k, v in data.get("vg_space", {}).items()})
        names = {f.name for f in fields(Device)}
        for d in data.get("devices", []):
            kw = {k: v for k, v in d.items() if k in names}
            kw["parts"] = [Part(**p) for p in d.get("parts", [])]
            dev = Device(**kw)
            inv.devices[dev.path] = dev
        return inv

    def partitions_of(self, disk: str) -> list[Device]:
        """The partitions of a disk by number (an index rebuilt when devices are added or removed: a plan of a
        thousand disks asks a thousand times)."""
        key = (id(self.devices), len(self.devices))
        cached = self.__dict__.get("_children")
        if cached is None or cached[0] != key:
            kids: dict[str, list[Device]] = {}
            for d in self.devices.values():
                if d.parent:
                    kids.setdefault(d.parent, []).append(d)
            for v in kids.values():
                v.sort(key=lambda d: d.number or 0)
            cached = self.__dict__["_children"] = (key, kids)
        return list(cached[1].get(disk, ()))

    def resolve(self, path: str) -> Device | None:
        """A device by node or any of its /dev/disk/by-* links."""
        if path in self.devices:
            return self.devices[path]
        for d in self.devices.values():
            if path in d.links:
                return d
        return None

    def identity(self, path: str) -> str:
        """What stays the same for a device across reboots and re-attaches, and changes when it is made anew:
        a disk's serial (or WWN, else its node); a partition's disk, number and table id (a new table gets a
        new one, so its partitions are new devices even where they were before)."""
        d = self.devices.get(path)
        if d is None:
            return f"path:{path}"
        if d.kind == "part" and d.parent:
            disk = self.devices.get(d.parent)
            part = next((p for p in (disk.parts if disk else []) if p.number == d.number), None)
            tag = (part.uuid if part and part.uuid else None) or (disk.ptuuid if disk else None) or "?"
            return f"{self.identity(d.parent)}/p{d.number}:{tag.lower()}"
        if d.serial:
            return f"serial:{d.serial}"
        if d.wwn:
            return f"wwn:{d.wwn.lower()}"
        if d.ptuuid and d.kind == "disk":  # no serial (loop disks, some hypervisors): the table's own id
            return f"table:{d.ptuuid.lower()}"
        return f"path:{path}"

    def in_use_tree(self, path: str) -> str | None:
        """Why a device or any partition on it is busy, or None."""
        dev = self.devices.get(path)
        if dev is None:
            return None
        why = dev.in_use() or ("active swap" if path in self.swaps else None)
        if why:
            return f"{path} {why}"
        for p in self.partitions_of(path):
            why = self.in_use_tree(p.path)
            if why:
                return why
        return None


def part_path(disk: str, number: int) -> str:
    """Kernel naming: sda -> sda1, loop0/nvme0n1/md0 -> loop0p1."""
    return f"{disk}p{number}" if re.search(r"\d$", disk) else f"{disk}{number}"
