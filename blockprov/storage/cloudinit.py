"""cloud-init's ``disk_setup``, ``fs_setup`` and ``mounts`` -> one storage v1 config (pure).

A function of (cloud-config, inventory). The result goes through the storage
engine like any config, so cloud-init user-data gets blockprov's safety: a disk
or volume holding data is refused unless ``overwrite: true`` (which becomes
``wipe``), a volume already holding the wanted filesystem is ``ok`` (re-runs
do nothing), a disk that is not attached waits, and fstab lines already naming
the device or mount point are not duplicated. ``swap`` (a swap file) is not a
storage v1 item; the disks module handles it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from blockprov.storage.inventory import Device, Inventory

AZURE_EPHEMERAL = "/dev/disk/cloud/azure_resource"
MOUNT_DEFAULTS = [None, None, "auto", "defaults,nofail", "0", "2"]
FSTYPES = {"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "fat", "fat32", "swap"}


class TranslateError(ValueError):
    """Bad cloud-init disk keys; the message starts with the JSON path."""


@dataclass
class Translation:
    storage: dict  # {"version": 1, "config": [...]}
    notes: list[str] = field(default_factory=list)  # entries left for later (device absent), one line each


def device_path(name, where: str) -> str:
    """'sdb', '/dev/sdb', 'ephemeral0', 'ephemeral0.1' -> a device path."""
    if not isinstance(name, str) or not name:
        raise TranslateError(f"{where}: a device name or path")
    m = re.fullmatch(r"ephemeral0(?:\.(\d+))?", name)
    if m:
        return AZURE_EPHEMERAL + (f"-part{m.group(1)}" if m.group(1) else "")
    return name if name.startswith("/") or "=" in name else f"/dev/{name}"


def part_path(disk: str, n: int) -> str:
    if disk.startswith("/dev/disk/"):
        return f"{disk}-part{n}"
    return f"{disk}p{n}" if disk[-1].isdigit() else f"{disk}{n}"


def find(inv: Inventory, spec: str) -> Device | None:
    """The observed device a spec names: path, by-* link, LABEL= or UUID=."""
    if spec.upper().startswith("LABEL="):
        v = spec.split("=", 1)[1].strip('"')
        return next((d for d in inv.devices.values() if d.label == v), None)
    if spec.upper().startswith("UUID="):
        v = spec.split("=", 1)[1].strip('"').lower()
        return next((d for d in inv.devices.values() if (d.fsuuid or "").lower() == v), None)
    if spec in inv.devices:
        return inv.devices[spec]
    return next((d for d in inv.devices.values() if spec in d.links), None)


def translate(cfg: dict, inv: Inventory) -> Translation:
    t = _Builder(inv)
    ds = cfg.get("disk_setup") or {}
    if not isinstance(ds, dict):
        raise TranslateError("$.disk_setup: a mapping of device -> {table_type, layout, overwrite}")
    for name, spec in ds.items():
        t.disk_setup(name, spec, f"$.disk_setup.{name}")
    fs = cfg.get("fs_setup") or []
    if not isinstance(fs, list):
        raise TranslateError("$.fs_setup: a list of filesystems")
    for n, entry in enumerate(fs):
        t.fs_setup(entry, f"$.fs_setup[{n}]")
    defaults = cfg.get("mount_default_fields") or MOUNT_DEFAULTS
    if not isinstance(defaults, list) or len(defaults) != 6:
        raise TranslateError("$.mount_default_fields: a list of 6 fields")
    mounts = cfg.get("mounts") or []
    if not isinstance(mounts, list):
        raise TranslateError("$.mounts: a list of fstab-like entries")
    for n, entry in enumerate(mounts):
        t.mount(entry, defaults, f"$.mounts[{n}]")
    return Translation({"version": 1, "config": t.items}, t.notes)


class _Builder:
    def __init__(self, inv: Inventory):
        self.inv = inv
        self.items: list[dict] = []
        self.disks: dict[str, str] = {}  # device path -> disk item id
        self.parts: dict[tuple[str, int], str] = {}  # (disk path, number) -> partition item id
        self.volumes: dict[str, str] = {}  # volume path (or LABEL=) -> format item id
        self.notes: list[str] = []
        self.n = 0

    def _id(self, kind: str) -> str:
        self.n += 1
        return f"ci-{kind}-{self.n}"

    # -- disk_setup ---------------------------------------------------------------
    def disk_setup(self, name, spec, where: str) -> None:
        if not isinstance(spec, dict):
            raise TranslateError(f"{where}: a mapping with table_type, layout, overwrite")
        path = device_path(name, where)
        table = spec.get("table_type", "mbr")
        if table not in ("mbr", "gpt"):
            raise TranslateError(f"{where}.table_type: {table!r} is not mbr or gpt")
        layout = spec.get("layout", False)
        overwrite = spec.get("overwrite", False)
        if not isinstance(overwrite, bool):
            raise TranslateError(f"{where}.overwrite: true or false")
        disk_id = self._id("disk")
        disk = {"id": disk_id, "type": "disk", "path": path, "ptable": "gpt" if table == "gpt" else "msdos"}
        if overwrite:
            disk["wipe"] = "superblock-recursive"
        self.items.append(disk)
        self.disks[path] = disk_id
        if layout is True:
            layout = [100]
        if layout is False or layout is None:
            return
        if not isinstance(layout, list) or not layout:
            raise TranslateError(f"{where}.layout: true, or a list of percentages ([33, [67, 82]])")
        total = 0
        for k, part in enumerate(layout, start=1):
            w = f"{where}.layout[{k - 1}]"
            pct, ptype = (part[0], part[1]) if isinstance(part, list) and len(part) == 2 else (part, None)
            if isinstance(pct, bool) or not isinstance(pct, int) or not 0 < pct <= 100:
                raise TranslateError(f"{w}: a percentage 1-100 (or [percentage, partition type])")
            total += pct
            if total > 100:
                raise TranslateError(f"{w}: the layout adds up to more than 100%")
            pid = self._id("part")
            item = {"id": pid, "type": "partition", "device": disk_id, "number": k, "size": f"{pct}%"}
            if ptype is not None:
                code = str(ptype).lower().removeprefix("0x")
                if code in ("82", "8200"):
                    item["flag"] = "swap"
                elif code in ("fd", "fd00"):
                    item["flag"] = "raid"
                elif code in ("ef", "ef00"):
                    item["flag"] = "boot"
                elif code not in ("83", "8300"):
                    raise TranslateError(f"{w}: partition type {ptype!r} is not 82, 83, fd or ef")
            self.items.append(item)
            self.parts[(path, k)] = pid

    # -- fs_setup ---------------------------------------------------------------------
    def fs_setup(self, e, where: str) -> None:
        if not isinstance(e, dict) or "device" not in e:
            raise TranslateError(f"{where}: a mapping with device and filesystem")
        if e.get("cmd"):
            raise TranslateError(f"{where}.cmd: custom mkfs commands are not supported (blockprov runs mkfs itself)")
        fstype = str(e.get("filesystem", "")).lower()
        if fstype not in FSTYPES:
            raise TranslateError(f"{where}.filesystem: {e.get('filesystem')!r} is not one of {sorted(FSTYPES)}")
        fstype = {"fat": "vfat"}.get(fstype, fstype)
        dev = device_path(e["device"], f"{where}.device")
        part = e.get("partition", "auto")
        m = re.fullmatch(r"(ephemeral0)\.(\d+)", str(e["device"]))
        if m:  # the disk's partition N, whether disk_setup makes it or it exists
            dev, part = device_path(m.group(1), f"{where}.device"), int(m.group(2))
        vol_id, vol_path = self._volume(dev, part, f"{where}.partition")
        if vol_id is None:
            self.notes.append(f"{where}: {vol_path} is not attached; left for a later run")
            return
        fid = self._id("fs")
        item = {"id": fid, "type": "format", "volume": vol_id, "fstype": fstype}
        if e.get("label"):
            item["label"] = str(e["label"])
        if e.get("extra_opts"):
            opts = e["extra_opts"]
            item["extra_options"] = opts.split() if isinstance(opts, str) else [str(o) for o in opts]
        if e.get("overwrite") is True or e.get("replace_fs") and self._holds(vol_path, str(e["replace_fs"])):
            # storage v1 keeps wipe on the volume; a kept disk used whole gives up preserve for it (a disk with
            # both is invalid): what is replaced is what overwrite / replace_fs asked to replace
            vol = next(i for i in self.items if i["id"] == vol_id)
            vol["wipe"] = "superblock"
            if vol["type"] == "disk" and not vol.get("ptable"):
                vol.pop("preserve", None)
        self.items.append(item)
        self.volumes[vol_path] = fid
        if e.get("label"):
            self.volumes[f"LABEL={e['label']}"] = fid

    def _holds(self, path: str, fstype: str) -> bool:
        """replace_fs: the volume holds that filesystem now (cloud-init replaces only that one)."""
        dev = self.inv.devices.get(path)
        return dev is not None and (dev.fstype or "").lower() == fstype.lower()

    def _volume(self, dev: str, part, where: str) -> tuple[str | None, str]:
        """(item id of the volume to format, its path); creates preserve items for existing devices."""
        if dev in self.disks:  # set up by disk_setup in this config
            nums = sorted(n for (d, n) in self.parts if d == dev)
            if part in ("none",):
                return self.disks[dev], dev
            if part in ("auto", "any"):
                if not nums:
                    return self.disks[dev], dev
                part = nums[0]
            if not isinstance(part, int) or (dev, part) not in self.parts:
                raise TranslateError(f"{where}: {part!r}: disk_setup gives {dev} partitions {nums}")
            return self.parts[(dev, part)], part_path(dev, part)
        found = find(self.inv, dev)
        if found is None:
            return None, dev
        if found.kind == "disk" and part not in ("none",) and found.parts:
            number = found.parts[0].number if part in ("auto", "any") else part
            child = next((d for d in self.inv.devices.values() if d.parent == found.path and d.number == number), None)
            if child is None:
                raise TranslateError(f"{where}: {dev} has no partition {part!r}")
            found = child
        return self._existing(found), found.path

    def _existing(self, dev: Device) -> str:
        """Items that name an existing disk or partition with preserve: true (verified, never changed)."""
        if dev.kind == "part" and dev.parent:
            parent = self.inv.devices.get(dev.parent)
            disk_id = self.disks.get(dev.parent)
            if disk_id is None:
                disk_id = self._id("disk")
                item = {"id": disk_id, "type": "disk", "path": dev.parent, "preserve": True}
                if parent is not None and parent.ptable:
                    item["ptable"] = parent.ptable
                self.items.append(item)
                self.disks[dev.parent] = disk_id
            key = (dev.parent, dev.number)
            if key not in self.parts:
                pid = self._id("part")
                self.items.append({"id": pid, "type": "partition", "device": disk_id, "number": dev.number,
                                   "size": dev.size, "preserve": True})
                self.parts[key] = pid
            return self.parts[key]
        if dev.path not in self.disks:
            did = self._id("disk")
            self.items.append({"id": did, "type": "disk", "path": dev.path, "preserve": True})
            self.disks[dev.path] = did
        return self.disks[dev.path]

    # -- mounts -------------------------------------------------------------------------
    def mount(self, entry, defaults: list, where: str) -> None:
        if not isinstance(entry, list) or not 1 <= len(entry) <= 6:
            raise TranslateError(f"{where}: a list of 1 to 6 fstab fields [device, path, type, options, dump, pass]")
        fields = [str(f) if f is not None else None for f in entry] + [None] * (6 - len(entry))
        fields = [f if f is not None else d for f, d in zip(fields, defaults)]
        spec, path, fstype, options, freq, passno = fields
        if spec is None or path is None:
            if spec is not None and path is None:
                return  # cloud-init: an entry without a mount point removes the device's line; nothing to add
            raise TranslateError(f"{where}: needs a device")
        dev = device_path(spec, f"{where}[0]")
        swap = fstype == "swap" or path in ("none", "swap")
        fid = self.volumes.get(dev)
        if fid is None:
            found = find(self.inv, dev)
            if found is None:
                self.notes.append(f"{where}: {spec} is not attached; left for a later run")
                return
            if not found.fstype:
                raise TranslateError(f"{where}[0]: {spec} has no filesystem (and no fs_setup entry makes one)")
            fid = self._id("fs")
            self.items.append({"id": fid, "type": "format", "volume": self._existing(found),
                               "fstype": found.fstype, "preserve": True})
            self.volumes[dev] = fid
        mount = {"id": self._id("mount"), "type": "mount", "device": fid, "path": "none" if swap else path}
        if "=" in spec:
            mount["spec"] = spec
        if options:
            mount["options"] = "sw" if swap and options == defaults[3] else options
        if not swap:
            mount.update(freq=str(freq or "0"), passno=str(passno or "0"))
        self.items.append(mount)
