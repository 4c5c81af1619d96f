"""``resize: true`` on a kept partition: may it change size, and how (pure; no I/O).

A resize keeps the partition's start and its contents: the filesystem on it is
shrunk before the table entry, or grown after it. Only contents whose tools keep
the data are resized (see docs/storage-config.md "GPT attributes and resize").
"""

from __future__ import annotations

from dataclasses import dataclass

from blockprov.storage import sizes

# fstype -> (can grow, can shrink, shrink needs it unmounted)
FS_RESIZE = {
    "ext2": (True, True, True),
    "ext3": (True, True, True),
    "ext4": (True, True, True),
    "xfs": (True, False, False),
    "btrfs": (True, True, False),
}

# members of a stack: the partition grows, then the item built on it (raid, dm_crypt, lvm_volgroup) grows its layer
STACK_MEMBERS = ("linux_raid_member", "crypto_LUKS", "LVM2_member")


@dataclass(frozen=True)
class Extent:
    """A table entry as it will be once every resize of this plan is done."""

    number: int
    start: int
    size: int
    kind: str  # primary | extended | logical

    @property
    def end(self) -> int:
        return self.start + self.size


def content_problem(fstype: str | None, probe_error: str | None, grow: bool, busy: str | None) -> str | None:
    """Why what the partition holds cannot follow its new size, or None (``fstype`` None: blank)."""
    if probe_error:
        return f"its contents cannot be told apart ({probe_error}); nothing is resized"
    if fstype is None:
        return None
    if fstype in STACK_MEMBERS:
        return None if grow else (f"it holds {fstype}; blockprov grows what is stacked on a partition but never "
                                  "shrinks it (the layer above would lose its end)")
    caps = FS_RESIZE.get(fstype)
    if caps is None:
        return (f"it holds {fstype}, which blockprov does not resize (ext2/3/4, xfs and btrfs are resized with "
                "their data kept)")
    can_grow, can_shrink, offline = caps
    if grow:
        return None if can_grow else f"{fstype} cannot grow"
    if not can_shrink:
        return f"{fstype} cannot shrink; give a size at least as large as the partition's"
    if offline and busy:
        return f"shrinking {fstype} needs it unmounted ({busy})"
    return None


def geometry_problem(table: dict[int, Extent], number: int, usable_end: int, sector: int) -> str | None:
    """Why the future table (``table``, resizes applied) cannot hold partition ``number``'s new extent."""
    me = table[number]
    if me.size <= 0 or me.size % sector:
        return f"the new size {me.size} bytes is not a positive multiple of the {sector}-byte sector"
    if me.end > usable_end:
        return (f"it would end at byte {me.end}, past the last usable sector (ends at byte {usable_end}; "
                f"{sizes.human(usable_end - me.start)} fit from its start)")
    for other in table.values():
        if other.number == number:
            continue
        if me.kind == "logical" and other.kind == "extended":
            if not (other.start < me.start and me.end <= other.end):
                return (f"it would end at byte {me.end}, outside extended partition {other.number} "
                        f"(bytes {other.start}-{other.end}); resize that too")
            continue
        if me.kind == "extended" and other.kind == "logical":
            if not (me.start < other.start and other.end <= me.end):
                return f"logical partition {other.number} (bytes {other.start}-{other.end}) would fall outside it"
            continue
        if (me.kind == "logical") != (other.kind == "logical"):
            continue  # a primary's overlap with the extended partition is checked from the extended side
        # a logical's successor starts after its own EBR: at least one sector is left before it
        gap = sector if me.kind == other.kind == "logical" else 0
        if me.start < other.end + gap and other.start < me.end + gap:
            return f"it would overlap partition {other.number} (bytes {other.start}-{other.end})"
    return None


def step_order(op: str, step_args: dict) -> tuple[int, int]:
    """Resizes and replacements of one disk run shrinks first (logicals before their extended partition), then
    replacements (their new extent may use room a shrink made, their old one room for a grow), then grows (the
    extended partition before its logicals): each step finds the room the ones before made."""
    if op == "part-replace":
        return (1, 0)
    shrink = step_args["size"] < step_args["old_size"]
    ext = step_args["kind"] == "extended"
    return (0, 1 if ext else 0) if shrink else (2, 0 if ext else 1)
