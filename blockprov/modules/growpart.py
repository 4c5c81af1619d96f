"""growpart and resize_rootfs: the partition under a mounted filesystem grows into the room after it, with its
filesystem, every boot (cloud-init's cc_growpart and cc_resizefs).

Carried out by the storage engine, not beside it: the disk's table as it is now
becomes a storage config (``preserve: true``, every partition at its observed
offset and size), the partition to grow gets ``resize: true`` and the size up to
the next partition or the end of the disk, and that config is applied: the same
checks (libparted in memory, the GPT backup header moved to the new end), the
same ``sfdisk -N`` + ``resizepart`` + filesystem grow, the same journal.

``growpart: {mode: auto | growpart | off | false, devices: ["/"],
ignore_growroot_disabled: false}``; ``/etc/growroot-disabled`` in the target
turns it off unless ``ignore_growroot_disabled``. ``resize_rootfs`` (default
true) grows each listed mount's filesystem to its device even when the
partition did not change (resize2fs / xfs_growfs / btrfs, no-ops when full);
``false`` leaves the filesystems alone and then no partition is grown either
(the engine grows a partition together with what it holds).
"""

from __future__ import annotations

import os
from blockprov.modules._meta import ModuleMeta

MIN_GROWTH = 1 << 20  # less than this after the partition is not worth a table write (growpart's own rule)
SCHEMA = {"type": "object", "properties": {
    "growpart": {"type": "object", "additionalProperties": False, "properties": {
        "mode": {"oneOf": [{"enum": ["auto", "growpart", "off"]}, {"const": False}]},
        "devices": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "ignore_growroot_disabled": {"type": "boolean"}}},
    "resize_rootfs": {"oneOf": [{"type": "boolean"}, {"const": "noblock"}]}}}

META = ModuleMeta(
    "growpart",
    frequency="always",
    description="grow the partitions (and filesystems) of mounted filesystems into free room",
    rerunnable=True,
    schema=SCHEMA,
    scope="storage",
)


def grow_config(disk, number: int, usable_end: int) -> dict | None:
    """A storage v2 config describing ``disk``'s table as it is, partition ``number`` to grow to the next
    partition or ``usable_end`` (pure); None when it cannot grow by MIN_GROWTH."""
    parts = sorted(disk.parts, key=lambda p: p.start)
    me = next((p for p in parts if p.number == number), None)
    if me is None or me.kind != "primary":
        return None
    after = [p.start for p in parts if p.start > me.start and p.kind != "logical"]
    end = min(after) if after else usable_end
    if end - (me.start + me.size) < MIN_GROWTH:
        return None
    items = [{"id": "disk", "type": "disk", "path": disk.path, "ptable": disk.ptable, "preserve": True}]
    for p in sorted(disk.parts, key=lambda p: p.number):
        size = end - p.start if p.number == number else p.size
        items.append({"id": f"part{p.number}", "type": "partition", "device": "disk", "number": p.number,
                      "offset": f"{p.start}B", "size": f"{size}B", "preserve": True,
                      **({"resize": True} if p.number == number else {}), **({"flag": "extended"}
                                                                          if p.kind == "extended" else {})})
    return {"version": 2, "config": items}


def _source(mountpoint: str) -> str | None:
    from blockprov.storage.probe import mountinfo

    return mountinfo()[1].get(mountpoint)


def _fs(fs_grow, node: str, mnt: str, where: str, warns: list[str]) -> str:
    try:
        return fs_grow(node, mnt)
    except ValueError as exc:
        warns.append(f"{where}: {exc}")
        return ""


def handle(ctx, args):
    from blockprov.modules import ModuleWarning
    from blockprov.storage import layout
    from blockprov.storage.execute_resize import fs_grow
    from blockprov.storage.probe import probe

    cfg = {**ctx.cfg, **(args or {})}
    gp = cfg.get("growpart") or {}
    mode = gp.get("mode", "auto")
    resize_fs = cfg.get("resize_rootfs", True) is not False
    if mode in ("off", False):
        return "growpart: mode off"
    if ctx.paths.inside("/etc/growroot-disabled").exists() and not gp.get("ignore_growroot_disabled"):
        return "growpart: etc/growroot-disabled exists; nothing done"
    done, warns = [], []
    inv = None
    given = bool(gp.get("devices"))
    for i, dev in enumerate(gp.get("devices") or ["/"]):
        where = f"$.growpart.devices[{i}]"
        mnt = str(ctx.paths.inside(dev)) if dev.startswith("/") and not dev.startswith("/dev/") else None
        node = _source(os.path.normpath(mnt)) if mnt else dev
        if not node or not node.startswith("/dev/"):
            if given:  # the default "/" of a container or a temp root is simply not a block device
                warns.append(f"{where}: {dev}: not a mounted block device; skipped")
            continue
        inv = inv or probe()
        part = inv.resolve(os.path.realpath(node))
        if part is None or part.kind != "part" or part.parent not in inv.devices:
            if resize_fs and mnt:
                done.append(_fs(fs_grow, node, mnt, where, warns))
            continue
        disk = inv.devices[part.parent]
        doc = grow_config(disk, part.number, layout.usable_end(disk.size, disk.sector_size, disk.ptable or "gpt"))
        if doc is None:
            if resize_fs and mnt:
                done.append(_fs(fs_grow, node, mnt, where, warns))
            continue
        if not resize_fs:
            warns.append(f"{where}: {node} could grow, but resize_rootfs is false and blockprov grows a partition "
                         "with its filesystem; left as it is")
            continue
        from blockprov.modules._storage import apply_document

        try:
            done.append(apply_document(ctx, doc, f"growpart {dev}", wrapped=False))
        except (ValueError, RuntimeError) as exc:
            warns.append(f"{where}: {exc}")
    msg = "; ".join(m for m in done if m) or "nothing to grow"
    if warns:
        raise ModuleWarning("; ".join(warns) + f" ({msg})")
    return msg
