"""plan(model, inventory, options) -> Plan: pure, deterministic, no I/O.

Each item gets one status (see docs/storage-config.md "Statuses"):
create, ok, waiting, conflict, refused, blocked, error or unsupported.
Steps come out in dependency order; nothing here touches a device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from blockprov.storage import layout, plan_grow, plan_resize, sizes
from blockprov.storage.inventory import Device, Inventory, part_path
from blockprov.storage.model import Model

from blockprov.storage.status import APPLIED_GOOD
from blockprov.storage.status import PLANNED_GOOD as GOOD
ANY_ITEM = "*"  # Options.applied: devices blockprov worked on for any item (journals without per-item records)
FS_ALIASES = {"fat": "vfat", "fat12": "vfat", "fat16": "vfat", "fat32": "vfat"}
MEMBER_SIG = {"raid": "linux_raid_member", "lvm_volgroup": "LVM2_member", "dm_crypt": "crypto_LUKS",
              "bcache": "bcache", "zpool": "zfs_member"}


@dataclass
class Options:
    blank_disks: bool = False
    target: str = "/"
    # item id -> device of steps this tool started and never finished (a crash inside mkfs or a table write):
    # what is on that device now is our own half-made work, redone without asking for wipe
    interrupted: dict[str, str] = field(default_factory=dict)
    # item id -> identities (Inventory.identity) of the devices this config's item was applied to before
    # (the journal): a ``wipe`` is carried out the first time an item meets a device, later runs verify
    applied: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class ItemPlan:
    id: str
    type: str
    status: str
    reason: str = ""
    device: str | None = None
    expected: dict | None = None
    found: dict | None = None

    def to_json(self) -> dict:
        d = {"id": self.id, "type": self.type, "status": self.status, "reason": self.reason, "device": self.device}
        if self.expected is not None:
            d["expected"], d["found"] = self.expected, self.found
        return d


@dataclass
class Step:
    op: str
    item: str
    device: str | None
    args: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """Plain data; ``args`` holds plain data already (dicts, lists, strings, numbers), so no deep copy:
        dataclasses.asdict cost 1.2 s of a 13,000-item plan."""
        return {"op": self.op, "item": self.item, "device": self.device, "args": self.args}


@dataclass
class Plan:
    items: list[ItemPlan]
    steps: list[Step]

    def by_id(self) -> dict[str, ItemPlan]:
        return {i.id: i for i in self.items}

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.items:
            out[i.status] = out.get(i.status, 0) + 1
        return out

    def to_json(self) -> dict:
        return {"items": [i.to_json() for i in self.items], "steps": [s.to_json() for s in self.steps]}


@dataclass
class _St:
    status: str
    reason: str = ""
    device: str | None = None
    new: bool = False  # the device is (re)made by this plan: its old contents are gone anyway


def fs_uuid(value: str | None) -> str | None:
    """A filesystem UUID in one form for comparing: FAT's volume id is written ``2E24-EC82`` by blkid and
    ``2e24ec82`` by mkfs.fat users, ext4's in any case: case and dashes carry no meaning."""
    return value.lower().replace("-", "").strip("{}") or None if value else None


def settled_signature(fmt: dict, dev: Device) -> dict | None:
    """On a device blkid calls ambivalent (more than one signature): the signature that is certainly this
    format's filesystem, or None. Certain means the device's only signature is of the format's type, or exactly one
    signature of that type carries the uuid and label the format gives (Ignition's "reuse ambivalent" case: an
    ext4 with a stale zfs label at the end). Anything less stays unknown contents."""
    if not dev.probe_error or not dev.signatures:
        return None
    want = fs_norm(fmt["fstype"])
    same = [s for s in dev.signatures if fs_norm(s["type"]) == want]
    if len(dev.signatures) == 1 and same:
        return same[0]
    if not (fmt.get("uuid") or fmt.get("label") is not None):
        return None
    hits = [s for s in same if (not fmt.get("uuid") or fs_uuid(fmt["uuid"]) == fs_uuid(s["uuid"]))
            and (fmt.get("label") is None or fmt["label"] == s["label"])]
    return hits[0] if len(hits) == 1 else None


def fs_norm(fstype: str | None) -> str | None:
    return FS_ALIASES.get(fstype, fstype) if fstype else fstype


def blank_inventory(model: Model) -> Inventory:
    """Every disk the config names, present, blank and large enough."""
    inv = Inventory()
    for it in model.items:
        if it["type"] not in ("disk", "device"):
            continue
        need = 0
        for c in model.children[it["id"]]:
            p = model.by_id[c]
            if p["type"] != "partition":
                continue
            try:
                off = sizes.to_bytes(p["offset"]) if "offset" in p else 0
                sz = sizes.parse(p["size"]).bytes or 0 if "size" in p else 0
            except sizes.SizeError:
                continue
            need = max(need + sz + sizes.MiB * 2, off + sz + sizes.MiB * 2)
        size = sizes.align_up(max(need + 64 * sizes.MiB, 8 << 30), sizes.MiB)
        path = it.get("path") or f"/dev/blank-{it['id']}"
        serial = it.get("serial") or it.get("volume_id")  # the whole id as the serial: the "serial" rule
        links = [f"/dev/disk/azure/scsi1/lun{int(it['lun'])}"] if it.get("lun") is not None else []
        inv.devices[path] = Device(path=path, size=size, serial=serial, wwn=it.get("wwn"), links=links)
    return inv


class DiskIndex:
    """Whole disks by every serial and every path they answer to: a config naming a thousand disks is
    matched in one pass, not a thousand (the candidates are then checked against every key as before)."""

    def __init__(self, inv: Inventory):
        self.disks = [d for d in inv.devices.values() if d.kind != "part"]
        self.by_serial: dict[str, list[Device]] = {}
        self.by_path: dict[str, list[Device]] = {}
        for d in self.disks:
            for s in {d.serial, *d.serial_ids} - {None}:
                self.by_serial.setdefault(s, []).append(d)
            for p in {d.path, *d.links}:
                self.by_path.setdefault(p, []).append(d)

    def candidates(self, keys: dict) -> list[Device]:
        if "serial" in keys:
            return self.by_serial.get(keys["serial"], [])
        if "path" in keys:
            return self.by_path.get(keys["path"], [])
        return self.disks


def match_disk(item: dict, inv: Inventory, index: DiskIndex | None = None) -> tuple[list[Device], str]:
    """Every whole disk matching all the identifiers the item gives (storage/volume_id.py for volume_id, lun).
    ``index``: a DiskIndex of ``inv`` when many items are matched against the same inventory."""
    from blockprov.storage import volume_id

    keys = {k: item[k] for k in ("serial", "wwn", "path", "device_id", "volume_id", "lun") if item.get(k) is not None
            and item.get(k) != ""}
    if not keys:
        return [], "no serial, wwn, path, device_id, volume_id or lun to find it by"
    found = []
    for d in (index or DiskIndex(inv)).candidates(keys):
        if "serial" in keys and keys["serial"] != d.serial and keys["serial"] not in d.serial_ids:
            continue
        if "device_id" in keys and f"/dev/disk/by-path/ccw-{keys['device_id']}" not in d.links:
            continue
        if "wwn" in keys and (d.wwn or "").lower() != keys["wwn"].lower():
            continue
        if "path" in keys and keys["path"] != d.path and keys["path"] not in d.links:
            continue
        if "volume_id" in keys and not volume_id.matches(str(keys["volume_id"]), d):
            continue
        if "lun" in keys and not volume_id.lun_matches(int(keys["lun"]), d):
            continue
        found.append(d)
    desc = ", ".join(f"{k}={v}" for k, v in keys.items())
    return found, desc


FLAT_TYPES = frozenset({"disk", "partition", "format", "mount"})


def uses_lvm(model: Model) -> bool:
    """Volume group names are global: a config with LVM items needs every group listed, not only its disks'."""
    return any(it["type"] in ("lvm_volgroup", "lvm_partition") for it in model.items)


def disks_needed(model: Model, inv: Inventory) -> set[str] | None:
    """Whole disks whose signatures the plan can depend on: every candidate of every disk item.

    None (everything) when the config stacks devices, whose members may be anywhere.
    """
    if any(it["type"] not in FLAT_TYPES for it in model.items):
        return None
    out: set[str] = set()
    index = DiskIndex(inv)
    for it in model.items:
        if it["type"] == "disk":
            out.update(d.path for d in match_disk(it, inv, index)[0])
    return out


class _Planner:
    def __init__(self, model: Model, inv: Inventory, opts: Options):
        self.m, self.inv, self.opts = model, inv, opts
        self.st: dict[str, _St] = {}
        self.items: dict[str, ItemPlan] = {}
        self.steps: list[Step] = []
        self.slots: dict[str, layout.Slot] = {}
        self.grow: dict[str, set[int]] = {}  # whole disk -> partitions that grow with it (table_grows)
        # whole disk -> its table as it will be once this plan's resizes are done (kept tables only)
        self.future: dict[str, dict[int, plan_resize.Extent]] = {}
        # the grow chain: device -> its size once this plan's steps before it ran (only devices that grow);
        # partitions whose part-resize step grows their filesystem itself; bytes each volume group gains / hands out
        self.disk_index = DiskIndex(inv)
        self.after: dict[str, int] = {}
        self.fs_follows: set[str] = set()
        self.vg_gain: dict[str, int] = {}
        self.vg_taken: dict[str, int] = {}

    def size_after(self, path: str) -> int:
        """A device's size once the steps planned so far ran (its observed size when none changes it)."""
        if path in self.after:
            return self.after[path]
        dev = self.inv.devices.get(path)
        return dev.size if dev is not None else 0

    def first_meeting(self, it: dict, path: str | None) -> bool:
        """``wipe`` asks for a fresh start the first time this item meets this device (no journal record)."""
        if not it.get("wipe") or path is None or path not in self.inv.devices:
            return False
        ident = self.inv.identity(path)
        return ident not in self.opts.applied.get(it["id"], ()) and ident not in self.opts.applied.get(ANY_ITEM, ())

    def format_on(self, vol_id: str) -> dict | None:
        return next((self.m.by_id[c] for c in self.m.children[vol_id] if self.m.by_id[c]["type"] == "format"), None)

    def identified_match(self, fmt: dict | None, path: str) -> bool:
        """A format that gives a uuid or label, all matching what the device holds: proof that the filesystem is
        the one the config describes (a re-attached volume, a lost state directory), so it is kept."""
        dev = self.inv.devices.get(path)
        if fmt is None or dev is None or not (fmt.get("uuid") or fmt.get("label") is not None):
            return False
        sig = settled_signature(fmt, dev)
        fstype, uuid, label = (sig["type"], sig["uuid"], sig["label"]) if sig else (dev.fstype, dev.fsuuid, dev.label)
        if fs_norm(fstype) != fs_norm(fmt["fstype"]):
            return False
        if fmt.get("uuid") and fs_uuid(fmt["uuid"]) != fs_uuid(uuid):
            return False
        return fmt.get("label") is None or fmt["label"] == label

    def set(self, it: dict, st: _St, expected=None, found=None) -> None:
        self.st[it["id"]] = st
        self.items[it["id"]] = ItemPlan(it["id"], it["type"], st.status, st.reason, st.device, expected, found)

    def upstream(self, it: dict) -> _St | None:
        """Waiting or blocked when something this item needs cannot proceed."""
        for d in self.m.deps[it["id"]]:
            s = self.st[d]
            if s.status == "waiting":
                return _St("waiting", f"waits for {d}: {s.reason}" if not s.reason.startswith("waits for") else s.reason)
        for d in self.m.deps[it["id"]]:
            s = self.st[d]
            if s.status not in GOOD and s.status != "waiting":
                return _St("blocked", f"depends on {d} ({s.status})")
        return None

    def run(self) -> Plan:
        for iid in self.m.order:
            it = self.m.by_id[iid]
            up = self.upstream(it)
            if up:
                self.set(it, up)
                continue
            ITEM_PLANNERS.get(it["type"], _Planner.do_unsupported)(self, it)
        items = [self.items[i["id"]] for i in self.m.items]
        self.order_resizes()
        self.fstab_step()
        return Plan(items, self.steps)

    def order_resizes(self) -> None:
        """Every resize of a disk before anything else is added to it (a new partition may use the room a
        shrink makes), in plan_resize.step_order. They depend on nothing but the kept table."""
        moved = ("part-resize", "part-replace")
        disks = {s.device for s in self.steps if s.op in moved}
        for disk in disks:
            mine = [s for s in self.steps if s.op in moved and s.device == disk]
            first = min(i for i, s in enumerate(self.steps) if s.device == disk and s.op in moved + ("part-add",))
            rest = [s for s in self.steps if not (s.op in moved and s.device == disk)]
            mine.sort(key=lambda s: plan_resize.step_order(s.op, s.args))
            first = sum(1 for s in self.steps[:first] if not (s.op in moved and s.device == disk))
            self.steps = rest[:first] + mine + rest[first:]

    # -- disks and partitions -------------------------------------------------
    def do_device(self, it: dict) -> None:
        self.do_disk(it)

    def do_disk(self, it: dict) -> None:
        found, desc = match_disk(it, self.inv, self.disk_index)
        if not found:
            return self.set(it, _St("waiting", f"no disk with {desc}"))
        if len(found) > 1:
            return self.set(it, _St("error", f"{desc} matches {len(found)} devices: {', '.join(d.path for d in found)}"))
        dev = found[0]
        parts = [self.m.by_id[c] for c in self.m.children[it["id"]] if self.m.by_id[c]["type"] == "partition"]
        ptable = {"dos": "msdos"}.get(it.get("ptable"), it.get("ptable"))
        if ptable is None and parts:
            ptable = "gpt"
        if ptable in ("vtoc", "unsupported"):
            return self.set(it, _St("unsupported", f"ptable {ptable} is not supported here", dev.path))
        if ptable is None:
            why = "used whole" + (" (preserved)" if it.get("preserve") else "")
            return self.set(it, _St("ok", why, dev.path))
        try:
            if it.get("preserve") and dev.ptable == ptable == "gpt":
                slots = layout.around(dev.size, dev.sector_size, ptable, parts, dev.parts, self.m.version)
            else:
                slots = layout.compute(dev.size, dev.sector_size, ptable, parts, self.m.version)
        except layout.LayoutError as exc:
            self.set(it, _St("error", f"partition {exc.item_id} {exc}", dev.path))
            return
        for s in slots:
            self.slots[s.id] = s
        observed = {"ptable": dev.ptable, "partitions": len(dev.parts)}
        if it.get("preserve"):
            if dev.ptable != ptable:
                return self.set(it, _St("conflict", f"expected a {ptable} table, found {dev.ptable or 'none'}", dev.path),
                                {"ptable": ptable}, observed)
            self.future[dev.path] = self.future_table(dev, slots)
            return self.set(it, _St("ok", f"preserved {ptable} table verified", dev.path))
        fresh = False
        grows = table_grows(dev, slots, self.m.by_id) if dev.ptable == ptable and not table_matches(dev, slots) \
            else set()
        if grows:
            # the disk grew: its table is kept, and the partitions that follow its size grow (do_partition)
            self.grow[dev.path] = grows
            self.future[dev.path] = self.future_table(dev, slots, grows)
            return self.set(it, _St("ok", f"{ptable} table kept; partition(s) {', '.join(map(str, sorted(grows)))} "
                                          f"grow with the disk ({sizes.human(dev.size)} now)", dev.path))
        if dev.ptable == ptable and table_matches(dev, slots):
            formats = [(self.format_on(s.id), part_path(dev.path, s.number)) for s in slots]
            formats = [(f, p) for f, p in formats if f is not None]
            kept = formats and all(self.identified_match(f, p) for f, p in formats)
            if not self.first_meeting(it, dev.path) or kept:
                return self.set(it, _St("ok", f"{ptable} table with {len(slots)} partitions already as desired",
                                        dev.path))
            fresh = True
        busy = self.inv.in_use_tree(dev.path)
        if busy:
            return self.set(it, _St("refused", f"in use: {busy}", dev.path))
        if dev.readonly:
            return self.set(it, _St("refused", "device is read-only", dev.path))
        holds = describe_contents(dev)
        if holds and self.opts.interrupted.get(it["id"]) == dev.path:
            holds = f"{holds} left by an interrupted run of this config"
        elif holds and not it.get("wipe"):
            return self.set(it, _St("refused", f"holds {holds}; add wipe to replace it, or preserve: true to keep it",
                                    dev.path))
        if it.get("wipe") or holds:
            self.steps.append(Step("wipe", it["id"], dev.path, {"mode": it.get("wipe", "superblock")}))
        self.steps.append(Step("ptable", it["id"], dev.path, {
            "ptable": ptable, "partitions": [s.to_dict() for s in slots]}))
        why = f"new {ptable} table, {len(slots)} partitions" + (f" (replacing {holds})" if holds else "")
        if fresh:
            why += f"; wipe: {it['wipe']} is carried out the first time this config meets the disk"
        self.set(it, _St("create", why, dev.path, new=True))

    def do_partition(self, it: dict) -> None:
        disk = self.m.by_id[it["device"]]
        dst = self.st[disk["id"]]
        slot = self.slots.get(it["id"])
        if slot is None or dst.device is None:
            return self.set(it, _St("unsupported", f"partitions on a {disk['type']} of unknown size are not planned"))
        path = part_path(dst.device, slot.number)
        dev = self.inv.devices.get(dst.device)
        if dst.new:
            return self.set(it, _St("create", f"partition {slot.number}, {sizes.human(slot.size)}", path, new=True))
        observed = next((p for p in (dev.parts if dev else []) if p.number == slot.number), None)
        if not disk.get("preserve"):
            if observed is not None and slot.number in self.grow.get(dst.device, ()):
                return self.resize_partition(it, dev, slot, observed, path)
            return self.partition_ok(it, path, "already as desired")
        want = {"number": slot.number}
        if "size" in it:
            want["size"] = slot.size
        if "offset" in it:
            want["start"] = slot.start
        if it.get("flag") or it.get("partition_type"):
            want["type"] = slot.type
        if slot.name:
            want["name"] = slot.name
        if slot.uuid:
            want["uuid"] = slot.uuid
        if slot.attrs is not None:
            want["attrs"] = slot.attrs
        if observed is None:
            if it.get("preserve"):
                return self.set(it, _St("conflict", f"partition {slot.number} not found", path), want, None)
            return self.add_partition(it, dev, slot, path)
        got = {"number": observed.number, "size": observed.size, "start": observed.start, "type": observed.type,
               "name": observed.name, "uuid": observed.uuid, "attrs": observed.attrs}
        diff = {k: v for k, v in want.items()
                if not (size_fits(slot, got["size"]) if k == "size" else _same(k, v, got.get(k)))}
        redo = self.opts.interrupted.get(it["id"]) in (path, dev.path)  # part-resize steps name the disk
        if it.get("resize") and (set(diff) == {"size"} or not diff and redo):
            return self.resize_partition(it, dev, slot, observed, path)
        if set(diff) == {"size"} and relative(it) and observed.size < slot.size and not it.get("resize"):
            # the disk grew under a preserved table: what is there is kept as it is (preserve), and said
            return self.partition_ok(it, path, f"preserved partition verified; the disk grew: it could be "
                                               f"{sizes.human(slot.size)} (add resize: true to grow it)")
        if diff and it.get("wipe") and not it.get("preserve"):
            return self.replace_partition(it, dev, slot, observed, path, diff, got)
        if diff:
            what = "; ".join(f"{k}: expected {_fmt(k, v)}, found {_fmt(k, got.get(k))}" for k, v in diff.items())
            status = "conflict" if it.get("preserve") else "refused"
            hint = "" if it.get("preserve") else " (the config does not authorise replacing it: add wipe to it)"
            return self.set(it, _St(status, f"partition {slot.number} differs: {what}{hint}", path),
                            want, {k: got.get(k) for k in want})
        why = "preserved partition verified" if it.get("preserve") else "already as desired"
        self.partition_ok(it, path, why)

    def partition_ok(self, it: dict, path: str, why: str) -> None:
        """An existing partition as the config describes it. With ``wipe`` and nothing to put on it (no format
        item: a format item carries the wipe out itself), it is wiped once, the first time this config meets
        it, as curtin wipes a preserved partition it is told to."""
        if self.format_on(it["id"]) is None and self.first_meeting(it, path) and it["type"] == "partition":
            busy = self.inv.in_use_tree(path)
            if busy:
                return self.set(it, _St("refused", f"in use: {busy}", path))
            self.steps.append(Step("wipe", it["id"], path, {"mode": it["wipe"]}))
            return self.set(it, _St("create", f"{why}; wipe: {it['wipe']} the first time this config meets it",
                                    path))
        self.set(it, _St("ok", why, path))

    def future_table(self, dev: Device, slots: list[layout.Slot], grows: set[int] = frozenset()
                     ) -> dict[int, plan_resize.Extent]:
        """The kept table with every ``resize: true`` partition (and every one in ``grows``) at its new size
        (its start unchanged)."""
        out = {p.number: plan_resize.Extent(p.number, p.start, p.size, p.kind) for p in dev.parts}
        for s in slots:
            it = self.m.by_id[s.id]
            p = out.get(s.number)
            if s.number in grows and p is not None:
                out[s.number] = plan_resize.Extent(p.number, p.start, s.size, p.kind)
            elif it.get("resize") and p is not None and ("offset" not in it or s.start == p.start) \
                    and "size" in it and not size_fits(s, p.size):
                out[s.number] = plan_resize.Extent(p.number, p.start, s.size, p.kind)
            elif it.get("wipe") and not it.get("preserve") and p is not None and (
                    "offset" in it and s.start != p.start or "size" in it and not size_fits(s, p.size)):
                out[s.number] = plan_resize.Extent(p.number, s.start, s.size, s.kind)  # replaced (wipe)
        return out

    def replace_partition(self, it: dict, dev: Device, slot: layout.Slot, observed, path: str, diff: dict,
                          got: dict) -> None:
        """A partition that differs from the config, which says ``wipe`` on it (and not ``preserve``): the config
        authorises destroying it, so its entry is deleted and made again as described (curtin's
        replace_partition, Ignition's wipePartitionEntry). Its number and neighbours stay."""
        what = "; ".join(f"{k}: {_fmt(k, got.get(k))} -> {_fmt(k, v)}" for k, v in diff.items())
        expected, found = dict(diff), {k: got.get(k) for k in diff}
        if dev.ptable == "msdos" and (observed.kind != "primary" or slot.kind != "primary"):
            return self.set(it, _St("refused", f"partition {slot.number} differs ({what}); replacing a logical or "
                                               "extended msdos partition is not supported (its EBR chain and the "
                                               "numbers after it would change)", path), expected, found)
        busy = self.inv.in_use_tree(path)
        if busy:
            return self.set(it, _St("refused", f"in use: {busy}", path), expected, found)
        why = plan_resize.geometry_problem(self.future[dev.path], slot.number,
                                           layout.usable_end(dev.size, dev.sector_size, dev.ptable), dev.sector_size)
        if why:
            return self.set(it, _St("refused", f"replace partition {slot.number}: {why}", path), expected, found)
        self.steps.append(Step("part-replace", it["id"], dev.path, {
            "partition": slot.to_dict(), "ptable": dev.ptable, "mode": it["wipe"],
            "old": {"start": observed.start, "size": observed.size}}))
        self.set(it, _St("create", f"replace partition {slot.number} (wipe: {it['wipe']}): {what}", path, new=True),
                 expected, found)

    def resize_partition(self, it: dict, dev: Device, slot: layout.Slot, observed, path: str) -> None:
        """``resize: true`` and only the size differs: the entry moves its end, the contents follow."""
        new = self.future[dev.path][slot.number].size
        old = observed.size
        grow = new >= old
        expected, found = {"size": new}, {"size": old}
        why = plan_resize.geometry_problem(self.future[dev.path], slot.number,
                                           layout.usable_end(dev.size, dev.sector_size, dev.ptable), dev.sector_size)
        if why:
            return self.set(it, _St("refused", f"resize partition {slot.number}: {why}", path), expected, found)
        fstype = None
        if observed.kind != "extended":
            pdev = self.inv.devices.get(path)
            if pdev is None:
                return self.set(it, _St("waiting", f"{path} is not visible to the kernel (yet); its contents are "
                                                   "unknown", path))
            fstype = fs_norm(pdev.fstype)
            why = plan_resize.content_problem(fstype, pdev.probe_error, grow, self.inv.in_use_tree(path))
            if why:
                return self.set(it, _St("refused", f"resize partition {slot.number}: {why}", path), expected, found)
        fs = fstype if fstype in plan_resize.FS_RESIZE else None  # a stack member's layer grows by its own item
        self.steps.append(Step("part-resize", it["id"], dev.path, {
            "number": slot.number, "start": observed.start, "old_size": old, "size": new, "kind": observed.kind,
            "ptable": dev.ptable, "fstype": fs}))
        if new > old:
            self.after[path] = new
        if fs:
            self.fs_follows.add(path)
        verb = "finish resizing" if new == old else "grow" if grow else "shrink"
        what = f" and its {fstype}" if fs else f" (the {fstype} on it follows)" if fstype and grow else ""
        self.set(it, _St("grow" if new > old else "create", f"{verb} partition {slot.number}{what} from "
                                                           f"{sizes.human(old)} to {sizes.human(new)}, data kept",
                         path), expected, found)

    def add_partition(self, it: dict, dev: Device, slot: layout.Slot, path: str) -> None:
        table = self.future.get(dev.path) or {p.number: plan_resize.Extent(p.number, p.start, p.size, p.kind)
                                              for p in dev.parts}
        for p in table.values():
            if p.kind == "extended" and slot.kind == "logical":
                if not (p.start < slot.start and slot.start + slot.size <= p.end):
                    return self.set(it, _St("refused", f"logical partition outside extended partition {p.number} "
                                                       f"(bytes {p.start}-{p.end})", path))
                continue
            if slot.start < p.end and p.start < slot.start + slot.size:
                return self.set(it, _St("refused", f"would overlap existing partition {p.number}", path))
        self.steps.append(Step("part-add", it["id"], dev.path, {"partition": slot.to_dict(), "ptable": dev.ptable}))
        self.set(it, _St("create", f"add partition {slot.number} to the preserved table", path, new=True))

    # -- contents ---------------------------------------------------------------
    def consume(self, it: dict, vol_id: str, desired_sig: str) -> tuple[str, str, str | None]:
        """May item `it` put `desired_sig` on volume `vol_id`? -> (status, reason, wipe mode or None)."""
        vst = self.st[vol_id]
        vol = self.m.by_id[vol_id]
        if vst.new:
            return "create", "new volume", "superblock"
        dev = self.inv.devices.get(vst.device or "")
        if dev is None:
            # Never assume blank what could not be seen: it may hold data the probe missed.
            return "waiting", f"{vst.device} is not visible to the kernel (yet); its contents are unknown", None
        have = fs_norm(dev.fstype)
        if have == desired_sig:
            return "same", "", None
        if dev.probe_error and not vol.get("wipe"):
            return "refused", f"{vst.device}: {describe_contents(dev)}; add wipe to {vol_id} to replace it", None
        busy = self.inv.in_use_tree(vst.device) if dev else None
        if busy:
            return "refused", f"in use: {busy}", None
        if dev is not None and dev.parts and vol["type"] != "partition" and not vol.get("wipe"):
            return "refused", f"{vst.device} holds a {dev.ptable} table; add wipe to {vol_id} to replace it", None
        if not have and not (dev and dev.parts):
            # Blank to blkid is not empty: old data without a signature is exactly what zero/random wipes are for.
            return "create", "volume is blank", vol.get("wipe")
        if vol.get("wipe"):
            return "create", f"replacing {have or 'partition table'} (wipe: {vol['wipe']})", vol["wipe"]
        return "refused", f"{vst.device} holds {have}; add wipe to {vol_id} to replace it, or preserve: true to keep it", None

    def do_format(self, it: dict) -> None:
        vid = it["volume"]
        vst = self.st[vid]
        fstype = fs_norm(it["fstype"])
        dev = self.inv.devices.get(vst.device or "")
        want = {"fstype": fstype}
        if it.get("uuid"):
            want["uuid"] = fs_uuid(it["uuid"])
        if it.get("label") is not None:
            want["label"] = it["label"]
        got = {"fstype": fs_norm(dev.fstype), "uuid": fs_uuid(dev.fsuuid), "label": dev.label} if dev else {}
        sig = settled_signature(it, dev) if dev is not None and not vst.new else None
        if sig is not None:  # ambivalent to blkid, but the config says which of its signatures is the filesystem
            got = {"fstype": fs_norm(sig["type"]), "uuid": fs_uuid(sig["uuid"]), "label": sig["label"]}
        matches = not vst.new and dev is not None and all(got.get(k) == v for k, v in want.items())
        if it.get("preserve"):
            if matches:
                return self.fs_ok(it, fstype, vst.device, f"preserved {fstype} verified")
            found = {k: got.get(k) for k in want} if dev else None
            what = "; ".join(f"{k}: expected {v}, found {got.get(k)}" for k, v in want.items() if got.get(k) != v)
            return self.set(it, _St("conflict", what or "volume is being recreated", vst.device), want, found)
        redo = self.opts.interrupted.get(it["id"]) == vst.device and vst.device is not None
        vol = self.m.by_id[vid]
        busy = self.inv.in_use_tree(vst.device) if dev is not None else None
        if matches and not redo:
            if not self.first_meeting(vol, vst.device) or self.identified_match(it, vst.device):
                return self.fs_ok(it, fstype, vst.device, f"{fstype} already present")
            status, wipe = ("refused", None) if busy else ("create", vol["wipe"])
            reason = f"in use: {busy}" if busy else \
                f"wipe: {vol['wipe']} on {vid} is carried out the first time this config meets the device"
        else:
            status, reason, wipe = self.consume(it, vid, fstype)
        if redo and status in ("same", "refused") and dev is not None and not busy:
            status, reason, wipe = "create", "redoing a mkfs an earlier run did not finish", "superblock"
        if status == "same":
            if "uuid" in want and got.get("uuid") != want["uuid"] or "label" in want and got.get("label") != want["label"]:
                status, reason, wipe = self._differs(it, vid, got, want)
            else:  # pragma: no cover - "matches" covers it
                return self.set(it, _St("ok", "already present", vst.device))
        if status != "create":
            return self.set(it, _St(status, reason, vst.device))
        if fstype not in MKFS:
            return self.set(it, _St("unsupported", f"no mkfs for fstype {it['fstype']!r}", vst.device))
        if wipe:
            self.steps.append(Step("wipe", it["id"], vst.device, {"mode": wipe}))
        self.steps.append(Step("mkfs", it["id"], vst.device, {
            "fstype": fstype, "label": it.get("label"), "uuid": it.get("uuid"),
            "extra_options": list(it.get("extra_options") or [])}))
        self.set(it, _St("create", f"mkfs {fstype}" + (f" ({reason})" if reason else ""), vst.device, new=True))

    def fs_ok(self, it: dict, fstype: str, path: str, why: str) -> None:
        """A filesystem as the config says: ``ok``, or ``grow`` when its device grows in this plan (the layer
        below grew) or it leaves room on its device (a grow a killed run did not finish, a disk that grew
        while nothing watched). A filesystem fills its device; it is never shrunk here."""
        dev = self.inv.devices.get(path)
        grows = path in self.after
        if dev is None or path in self.fs_follows or not plan_grow.fs_grows(fstype, dev.fs_size,
                                                                              self.size_after(path), grows):
            return self.set(it, _St("ok", why, path))
        was, will = dev.fs_size or dev.size, self.size_after(path)
        self.steps.append(Step("fs-grow", it["id"], path, {"fstype": fstype, "size": will}))
        self.set(it, _St("grow", f"grow {fstype} from {sizes.human(was)} to {sizes.human(will)} (filling {path}), "
                                 "data kept", path), {"size": will}, {"size": was})

    def _differs(self, it, vid, got, want):
        vol = self.m.by_id[vid]
        busy = self.inv.in_use_tree(self.st[vid].device or "")
        if busy:  # a mounted filesystem is never replaced, whatever the config says of its label
            return "refused", f"in use: {busy}", None
        if vol.get("wipe"):
            return "create", f"replacing {got.get('fstype')} with other uuid/label (wipe: {vol['wipe']})", vol["wipe"]
        what = ", ".join(f"{k} {got.get(k)!r}" for k in ("uuid", "label") if k in want and got.get(k) != want[k])
        return "refused", f"{self.st[vid].device} holds {got.get('fstype')} with {what}; add wipe to {vid} or fix the config", None

    def do_mount(self, it: dict) -> None:
        fmt = self.m.by_id.get(it.get("device") or "")
        path = it.get("path") or "none"
        if fmt is None:
            return self.set(it, _St("unsupported", "mounts without a format device (spec only) are not planned"))
        fst = self.st[fmt["id"]]
        fstype = fs_norm(it.get("fstype") or fmt["fstype"])
        dev = fst.device
        if fstype == "swap" or path == "none":
            if fstype != "swap":
                return self.set(it, _St("error", f"path 'none' is only valid for swap, not {fstype}", dev))
            if not fst.new and dev in self.inv.swaps:
                return self.set(it, _St("ok", "swap active", dev))
            self.steps.append(Step("swapon", it["id"], dev, {}))
            return self.set(it, _St("create", "swapon", dev, new=True))
        target = join_target(self.opts.target, path)
        current = self.inv.mounts.get(target)
        if current is not None and not fst.new and self._same_dev(current, dev):
            return self.set(it, _St("ok", f"mounted at {target}", dev))
        if current is not None and not self._same_dev(current, dev):
            return self.set(it, _St("refused", f"{target} already has {current} mounted", dev))
        self.steps.append(Step("mount", it["id"], dev, {
            "path": path, "target": target, "fstype": fstype, "options": it.get("options") or "defaults"}))
        self.set(it, _St("create", f"mount at {target}", dev, new=True))

    def _same_dev(self, source: str, dev: str | None) -> bool:
        if source == dev:
            return True
        d = self.inv.resolve(source)
        return d is not None and d.path == dev

    def do_unsupported(self, it: dict) -> None:
        if it["type"] == "nvme_controller":
            return self.set(it, _St("ok", "describes a controller; nothing to do"))
        from blockprov.storage.plan_stacks import PLANNERS

        if it["type"] in PLANNERS:
            PLANNERS[it["type"]](self, it)
            return self.plan_stack_partitions(it)
        self.set(it, _St("unsupported", f"{it['type']} is validated and planned only; blockprov does not execute it"))

    # -- the interface plan_stacks uses ----------------------------------------------
    def mark(self, it: dict, status: str, reason: str, device: str | None = None, *, new: bool | None = None,
             expected=None, found=None) -> None:
        self.set(it, _St(status, reason, device, new=status == "create" if new is None else new), expected, found)

    def add_step(self, op: str, item: str, device: str | None, **args) -> None:
        self.steps.append(Step(op, item, device, args))

    def plan_stack_partitions(self, it: dict) -> None:
        """A partition table on a stacked device this plan creates (its size is known only once it exists)."""
        st = self.st[it["id"]]
        parts = [self.m.by_id[c] for c in self.m.children[it["id"]] if self.m.by_id[c]["type"] == "partition"]
        if not parts or not st.new:
            return
        ptable = {"dos": "msdos"}.get(it.get("ptable"), it.get("ptable") or "gpt")
        try:
            slots = layout.compute(None, 512, ptable, parts, self.m.version)
        except layout.LayoutError as exc:
            return self.set(it, _St("error", f"partition {exc.item_id} {exc}", st.device))
        for s in slots:
            self.slots[s.id] = s
        self.steps.append(Step("ptable", it["id"], st.device, {"ptable": ptable,
                                                              "partitions": [s.to_dict() for s in slots]}))

    def mapper_spec(self, fmt: dict) -> str | None:
        """On a plain dm-crypt mapping with a random key the filesystem (swap) is new on every boot, its UUID
        too: fstab names the mapping."""
        from blockprov.storage.plan_stacks import random_key

        vol = self.m.by_id.get(fmt.get("volume") or "")
        if vol is not None and vol["type"] == "dm_crypt" and random_key(vol):
            return f"/dev/mapper/{vol.get('dm_name') or vol['id']}"
        return None

    def fstab_step(self) -> None:
        entries = []
        for iid in self.m.order:
            it = self.m.by_id[iid]
            if it["type"] != "mount" or self.st[iid].status not in GOOD:
                continue
            fmt = self.m.by_id[it["device"]]
            fstype = fs_norm(it.get("fstype") or fmt["fstype"])
            path = it.get("path") or "none"
            swap = fstype == "swap"
            entries.append({"item": iid, "format": fmt["id"], "device": self.st[iid].device,
                            "path": "none" if swap else path, "fstype": fstype,
                            "options": it.get("options") or ("sw" if swap else "defaults"),
                            "freq": str(it.get("freq", 0)), "passno": str(it.get("passno", 0 if swap or fstype in ("xfs", "btrfs", "vfat") else 2 if path != "/" else 1)),
                            "spec": it.get("spec") or self.mapper_spec(fmt)})
        waiting = [i for i in self.m.order if self.m.by_id[i]["type"] == "mount" and self.st[i].status == "waiting"]
        if entries or waiting:
            self.steps.append(Step("fstab", "", None, {"entries": entries,
                                                       "held": [self.m.by_id[i].get("path") for i in waiting]}))


# item type -> its planner; the stacked types (raid, lvm, dm_crypt, bcache) go through do_unsupported to
# plan_stacks.PLANNERS, and anything else is unsupported
ITEM_PLANNERS = {"device": _Planner.do_device, "disk": _Planner.do_disk, "partition": _Planner.do_partition,
                 "format": _Planner.do_format, "mount": _Planner.do_mount}

MKFS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "swap"}


def describe_contents(dev: Device) -> str | None:
    if dev.probe_error:
        return f"contents blkid cannot tell ({dev.probe_error})"
    if dev.ptable:
        return f"a {dev.ptable} table with {len(dev.parts)} partition(s)"
    if dev.fstype:
        return f"a {dev.fstype} signature"
    return None


def relative(it: dict) -> bool:
    """A partition whose size follows its disk: no size (the rest of the disk) or a percentage."""
    if "size" not in it:
        return True
    try:
        return sizes.parse(it["size"]).percent is not None
    except sizes.SizeError:
        return False


def table_grows(dev: Device, slots: list[layout.Slot], by_id: dict) -> set[int]:
    """The partitions that must grow for the kept table to be the config's on a disk that grew: every entry
    matches but for sizes, and each that differs is smaller, starts where it did, and follows the disk
    (``relative``) or says ``resize: true``. Empty when the table is not that (pure)."""
    got = {p.number: p for p in dev.parts}
    if set(got) != {s.number for s in slots}:
        return set()
    grows = set()
    for s in slots:
        p = got[s.number]
        if (p.start, p.kind) != (s.start, s.kind) or s.kind != "extended" and not _same("type", s.type, p.type):
            return set()
        if s.name and p.name != s.name or s.uuid and p.uuid != s.uuid or s.bootable != p.bootable:
            return set()
        if s.attrs is not None and s.attrs != p.attrs:
            return set()
        if s.kind == "extended" or size_fits(s, p.size):
            continue
        it = by_id[s.id]
        if p.size < (s.min_size or s.size) and (relative(it) or it.get("resize")):
            grows.add(s.number)
        else:
            return set()
    return grows


def table_matches(dev: Device, slots: list[layout.Slot]) -> bool:
    got = {p.number: p for p in dev.parts}
    if set(got) != {s.number for s in slots}:
        return False
    for s in slots:
        p = got[s.number]
        if (p.start, p.kind) != (s.start, s.kind) or s.kind != "extended" and not _same("type", s.type, p.type):
            return False
        if s.kind != "extended" and not size_fits(s, p.size):
            return False
        if s.name and p.name != s.name or s.uuid and p.uuid != s.uuid or s.bootable != p.bootable:
            return False
        if s.attrs is not None and s.attrs != p.attrs:
            return False
    return True


EXTENDED_IDS = frozenset({0x05, 0x0F, 0x85})


def size_fits(slot: layout.Slot, size: int) -> bool:
    """A partition's observed size verifies: exact, or (one that runs to the end of the disk) anywhere from
    the MiB-aligned end to the last usable sector."""
    if slot.min_size is not None:
        return slot.min_size <= size <= slot.size
    return size == slot.size


def _same(key: str, want, got) -> bool:
    """Types and uuids compare case-insensitively; MBR ids by value ("0f" == "f")."""
    if key in ("type", "uuid") and isinstance(want, str) and isinstance(got, str):
        if key == "type" and len(want) <= 4 and len(got) <= 4:
            a, b = int(want, 16), int(got, 16)
            return a == b or {a, b} <= EXTENDED_IDS  # libparted writes 05 or 0f, fdisk 05, curtin asks 0f
        return want.lower() == got.lower()
    return want == got


def _fmt(key: str, v) -> str:
    return sizes.human(v) + f" ({v} bytes)" if key in ("size", "start") and isinstance(v, int) else str(v)


def join_target(target: str, path: str) -> str:
    base = target.rstrip("/")
    return (base + "/" + path.lstrip("/")).rstrip("/") or "/" if base else path


def applied_identities(items: list[ItemPlan], inv: Inventory) -> dict[str, set[str]]:
    """item id -> identity of the device it is on, for the items a run leaves as the config says (``ok`` or
    ``done``, checked against ``inv``, the probe after the run): the journal's record that ``wipe`` was done."""
    return {i.id: {inv.identity(i.device)} for i in items
            if i.status in APPLIED_GOOD and i.device and i.device in inv.devices}


def plan(model: Model, inv: Inventory, opts: Options | None = None) -> Plan:
    return _Planner(model, inv, opts or Options()).run()
