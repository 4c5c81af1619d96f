"""Where each partition of a disk goes: pure arithmetic over the config.

Version 1 (curtin's): partitions are laid out in list order, the first at
1 MiB, each after the previous one aligned up to 1 MiB; an explicit ``offset``
wins; an extended partition is 1 MiB larger per logical partition on its disk. Logical partitions start 1 MiB after the extended partition's start or
the previous logical's end (room for the EBR). Version 2: ``offset`` is exact
and not re-aligned. A size given as a percentage is a share of the whole disk,
clamped to the space that is left; a partition without size takes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from blockprov.storage import sizes
from blockprov.storage.sizes import MiB

LINUX_GUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
# curtin flag -> (GPT type GUID, MBR id)
FLAG_TYPES = {
    "linux": (LINUX_GUID, "83"),
    "boot": ("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "83"),
    "esp": ("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "ef"),
    "bios_grub": ("21686148-6449-6E6F-744E-656564454649", "83"),
    "swap": ("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "82"),
    "lvm": ("E6D6D379-F507-44C2-A23C-238F2A3DF928", "8e"),
    "raid": ("A19D880F-05FC-4D3B-A006-743F0F84911E", "fd"),
    "home": ("933AC7E1-2EB4-4F13-B844-0E14E2AEF915", "83"),
    "prep": ("9E1A2D38-C612-4316-AA26-8B49521E5A8B", "41"),
    "msftres": ("E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "83"),
    "mbr": ("024DEE41-33E7-11D3-9D69-0008C781F39F", "83"),  # curtin's name for GPT's "MBR partition scheme"
    "extended": (None, "0f"),
    "logical": (LINUX_GUID, "83"),
}
GPT_ENTRIES_BYTES = 128 * 128  # 128 entries of 128 bytes: the size every tool writes


def gpt_tail_sectors(sector: int) -> int:
    """Sectors at the end of a GPT disk that partitions cannot use: the backup entries and the backup
    header (33 with 512-byte sectors, 5 with 4 KiB ones). The last usable LBA is the one before them."""
    return -(-GPT_ENTRIES_BYTES // sector) + 1


@dataclass
class Slot:
    id: str
    number: int
    start: int
    size: int
    kind: str  # primary | extended | logical
    type: str
    name: str | None = None
    uuid: str | None = None
    bootable: bool = False
    min_size: int | None = None  # a partition that runs to the end: the smallest size that still verifies
    attrs: list[str] | None = None  # GPT attribute bits the config gives (normalised), None: not managed

    def to_dict(self) -> dict:
        """A step's copy (dataclasses.asdict's recursion cost a fifth of a 13,000-item plan)."""
        d = dict(self.__dict__)
        if self.attrs is not None:
            d["attrs"] = list(self.attrs)
        return d


class LayoutError(ValueError):
    def __init__(self, item_id: str, message: str):
        super().__init__(message)
        self.item_id = item_id


def part_type(item: dict, ptable: str) -> str:
    explicit = item.get("partition_type")
    if explicit:
        if ptable == "gpt":
            return explicit.upper()
        return f"{int(explicit, 16):02x}"
    gpt, mbr = FLAG_TYPES.get(item.get("flag") or "linux", FLAG_TYPES["linux"])
    return (gpt or LINUX_GUID) if ptable == "gpt" else mbr


def usable_end(disk_size: int, sector: int, ptable: str) -> int:
    """The first byte past the last usable sector."""
    if ptable == "gpt":
        return disk_size - gpt_tail_sectors(sector) * sector
    return disk_size - disk_size % sector


def compute(disk_size: int | None, sector: int, ptable: str, parts: list[dict], version: int = 1) -> list[Slot]:
    """Slots for a disk's partitions in config order; raise LayoutError if one does not fit."""
    size_known = disk_size is not None
    disk_size = disk_size if size_known else 1 << 62
    end = usable_end(disk_size, sector, ptable)
    slots: list[Slot] = []
    cursor = MiB
    ext: Slot | None = None
    lcursor = None
    next_primary, next_logical = 1, 5
    used: set[int] = {p["number"] for p in parts if isinstance(p.get("number"), int)}
    for it in parts:
        flag = it.get("flag")
        kind = "extended" if flag == "extended" else "logical" if flag == "logical" else "primary"
        number = it.get("number")
        if number is None:
            if kind == "logical":
                while next_logical in used:
                    next_logical += 1
                number = next_logical
            else:
                while next_primary in used:
                    next_primary += 1
                number = next_primary
            used.add(number)
        limit = end
        if kind == "logical":
            if ext is None:
                raise LayoutError(it["id"], "logical partition without an extended partition before it")
            limit = ext.start + ext.size
            base = lcursor if lcursor is not None else ext.start
            start = sizes.align_up(base + sector, MiB)
        else:
            start = sizes.align_up(cursor, MiB)
        if "offset" in it:
            start = sizes.to_bytes(it["offset"])
            if version == 1:
                start = sizes.align_up(start, sector)
        size_spec = sizes.parse(it["size"]) if "size" in it else None
        room = limit - start
        min_size = None
        if size_spec is None or (size_spec.percent is not None and size_spec.resolve(disk_size) >= room):
            # the rest of the disk: up to the last usable sector exactly, as parted's "100%" ends; a table
            # ending on the MiB boundary before it (as blockprov wrote before 0.2) verifies as well
            size = sizes.align_down(room, sector)
            min_size = sizes.align_down(room, MiB)
        elif size_spec.percent is not None:
            size = sizes.align_down(size_spec.resolve(disk_size), MiB)
        else:
            size = sizes.align_up(size_spec.bytes, sector)
            if kind == "extended" and version == 1:
                # curtin v1 grows an extended partition by 1 MiB per logical partition of its disk (each one
                # starts 1 MiB after its predecessor, room for its EBR); a table made without it still verifies
                min_size = size
                size += MiB * sum(1 for p in parts if p.get("flag") == "logical")
        if size <= 0 or start + size > limit:
            where = "the extended partition" if kind == "logical" else "the disk"
            raise LayoutError(it["id"], _misfit(start, size, limit, sector, where, size_known or kind == "logical"))
        slot = Slot(it["id"], number, start, size, kind, part_type(it, ptable),
                    name=it.get("partition_name") if ptable == "gpt" else None,
                    uuid=(it.get("uuid") or "").lower() or None if ptable == "gpt" else None,
                    bootable=ptable != "gpt" and flag == "boot", min_size=min_size,
                    attrs=norm_attrs(it["attrs"]) if ptable == "gpt" and it.get("attrs") is not None else None)
        _check_table_limits(it["id"], slot, slots, ptable)
        slots.append(slot)
        if kind == "logical":
            lcursor = start + size
        else:
            cursor = start + size
            if kind == "extended":
                ext, lcursor = slot, None
    return slots


def _misfit(start: int, size: int, limit: int, sector: int, where: str, known: bool) -> str:
    """Exact sectors: near a boundary, "33M exceeds 33M" says nothing."""
    if size <= 0:
        return (f"does not fit: no room left at sector {start // sector} (byte {start}); {where} ends at sector "
                f"{limit // sector}" if known else f"does not fit: no room left at sector {start // sector}")
    last = (start + size) // sector - 1
    if not known:
        return f"does not fit: {sizes.human(size)} from sector {start // sector}"
    return (f"does not fit: {sizes.human(size)} ({size // sector} sectors) from sector {start // sector} would end "
            f"at sector {last}; the last usable sector of {where} is {limit // sector - 1} "
            f"({(start + size - limit) // sector} sectors too many)")


GPT_MAX_ENTRIES = 128
MSDOS_PRIMARY_SLOTS = 4


def _check_table_limits(item_id: str, slot: Slot, before: list[Slot], ptable: str) -> None:
    """What the table format itself allows, checked while planning (a plan that passes is carried out):
    msdos has four primary slots (the extended partition takes one), logical partitions are numbered from 5
    and only one extended partition exists; GPT has 128 entries."""
    if ptable == "gpt":
        if not 1 <= slot.number <= GPT_MAX_ENTRIES:
            raise LayoutError(item_id, f"partition number {slot.number}: a GPT has entries 1 to {GPT_MAX_ENTRIES}")
        return
    if ptable != "msdos":
        return
    if slot.kind == "logical":
        if slot.number < 5:
            raise LayoutError(item_id, f"logical partition number {slot.number}: msdos logical partitions are "
                                       "numbered from 5")
        return
    if not 1 <= slot.number <= MSDOS_PRIMARY_SLOTS:
        raise LayoutError(item_id, f"partition number {slot.number}: an msdos table has primary slots 1 to 4 "
                                   "(use flag: extended and logical partitions for more)")
    if slot.kind == "extended" and any(s.kind == "extended" for s in before):
        raise LayoutError(item_id, "an msdos table has only one extended partition")
    primaries = [s for s in before if s.kind != "logical"] + [slot]
    if len(primaries) > MSDOS_PRIMARY_SLOTS:
        raise LayoutError(item_id, f"an msdos table has four primary slots; this is the {len(primaries)}th primary "
                                   "or extended partition (use flag: extended and logical partitions for more)")


ATTR_NAMES = {"RequiredPartition": 0, "NoBlockIOProtocol": 1, "LegacyBIOSBootable": 2}


def attr_bit(token: str) -> int | None:
    """A GPT attribute as sfdisk and curtin spell it (``RequiredPartition``, ``GUID:63``, ``63``) -> its bit."""
    t = str(token).strip()
    if t in ATTR_NAMES:
        return ATTR_NAMES[t]
    t = t[5:] if t.upper().startswith("GUID:") else t
    if t.isdigit() and (int(t) in ATTR_NAMES.values() or 48 <= int(t) <= 63):
        return int(t)
    return None


def norm_attrs(tokens) -> list[str]:
    """Attributes in one spelling, sorted by bit: the names sfdisk prints for bits 0-2, ``GUID:N`` for 48-63."""
    names = {v: k for k, v in ATTR_NAMES.items()}
    bits = sorted({b for b in (attr_bit(t) for t in tokens) if b is not None})
    return [names.get(b, f"GUID:{b}") for b in bits]


def around(disk_size: int, sector: int, ptable: str, parts: list[dict], existing, version: int = 1) -> list[Slot]:
    """Slots for a kept GPT table (``preserve``): partitions the table already has stay where they are, new ones
    go into the free space around them, whatever the list order (Ignition's semantics).

    Partitions without a number are numbered in list order first (skipping the config's explicit numbers). A
    config partition whose number the table has and that gives no ``offset`` is that partition: its start (and,
    without ``size``, its size) is the table's, so it verifies. Any other one without ``offset`` goes into the
    first free gap it fits in, in list order, 1 MiB aligned (without ``size``, the largest free gap). Then ``compute`` checks it all.
    """
    if ptable != "gpt":
        return compute(disk_size, sector, ptable, parts, version)
    have = {p.number: p for p in existing}
    parts = _number_in_order(parts)
    end = usable_end(disk_size, sector, ptable)
    busy = [(p.start, p.start + p.size) for p in existing]
    out: dict[int, dict] = {}
    new = []
    for i, it in enumerate(parts):
        n = it.get("number")
        if isinstance(n, int) and n in have and "offset" not in it:
            p = have[n]
            out[i] = {**it, "offset": f"{p.start}B", **({} if "size" in it else {"size": f"{p.size}B"})}
        elif "offset" in it:
            out[i] = it
            try:
                start = sizes.to_bytes(it["offset"])
                busy.append((start, start + (sizes.to_bytes(it["size"]) if "size" in it else 0)))
            except (sizes.SizeError, KeyError, TypeError):
                pass
        else:
            new.append(i)
    for i in new:
        it = dict(parts[i])
        gaps = _gaps(busy, MiB, end)
        want = None
        if "size" in it:
            spec = sizes.parse(it["size"])
            want = spec.resolve(disk_size) if spec.percent is not None else spec.bytes
        if want is None:
            fit = max(gaps, key=lambda g: g[1] - g[0], default=None)
        else:
            fit = next((g for g in gaps if g[1] - g[0] >= sizes.align_up(want, sector)), None)
        if fit is None:
            out[i] = it  # compute() says where and why it does not fit
            continue
        it["offset"] = f"{fit[0]}B"
        size = sizes.align_up(want, sector) if want is not None else sizes.align_down(fit[1] - fit[0], sector)
        it.setdefault("size", f"{size}B")
        busy.append((fit[0], fit[0] + size))
        out[i] = it
    return compute(disk_size, sector, ptable, [out[i] for i in range(len(parts))], 2)


def _number_in_order(parts: list[dict]) -> list[dict]:
    """Partitions without a number are numbered in list order, skipping the config's explicit numbers (as
    ``compute`` does): the same config gives the same numbers on every run, so what a first run added is found
    again by the next."""
    used = {p["number"] for p in parts if isinstance(p.get("number"), int)}
    out, n = [], 1
    for it in parts:
        if not isinstance(it.get("number"), int) and it.get("flag") != "logical":
            while n in used:
                n += 1
            used.add(n)
            it = {**it, "number": n}
        out.append(it)
    return out


def _gaps(busy: list[tuple[int, int]], first: int, end: int) -> list[tuple[int, int]]:
    """Free (start, end) spans between ``first`` and ``end``, each start aligned up to 1 MiB."""
    out, cursor = [], first
    for s, e in sorted(busy):
        start = sizes.align_up(cursor, MiB)
        if s > start:
            out.append((start, s))
        cursor = max(cursor, e)
    start = sizes.align_up(cursor, MiB)
    if end > start:
        out.append((start, end))
    return out
