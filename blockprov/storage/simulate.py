"""What the inventory would look like after a plan ran: used by --dry-run
reports, tests and the property that a plan of an applied config is all ok."""

from __future__ import annotations

import copy
import uuid as uuidlib

from blockprov.storage import plan_grow
from blockprov.storage.inventory import Device, Inventory, Part, part_path
from blockprov.storage.plan import Plan


def _add_part(out: Inventory, dev: Device, s: dict) -> None:
    """A planned slot as the table entry and the partition device it becomes."""
    dev.parts.append(Part(s["number"], s["start"], s["size"], s["type"], s["kind"], s.get("name"), s.get("uuid"),
                          s.get("bootable", False)))
    path = part_path(dev.path, s["number"])
    out.devices[path] = Device(path=path, kind="part", size=s["size"], parent=dev.path, number=s["number"],
                               sector_size=dev.sector_size)


def _grow(out: Inventory, step) -> None:
    dev = out.devices.get(step.device or "")
    size = step.args["size"]
    if step.op == "fs-grow":
        if dev is not None:
            dev.fs_size = size
        return
    if step.op == "lv-extend":
        lv = out.lvs[f"{step.args['vg']}/{step.args['name']}"]
        out.vg_space[step.args["vg"]].free -= size - lv["size"]
        lv["size"] = size
    if dev is not None:
        if step.op == "raid-grow":
            dev.component_size = step.args["component_size"]
        dev.size = size


def simulate(plan: Plan, inv: Inventory) -> Inventory:
    out = copy.deepcopy(inv)
    for step in plan.steps:
        dev = out.devices.get(step.device or "")
        if step.op == "wipe" and dev is not None:
            for p in [d for d in out.devices.values() if d.parent == dev.path]:
                del out.devices[p.path]
            dev.ptable, dev.ptuuid, dev.parts, dev.fstype, dev.fsuuid, dev.label = None, None, [], None, None, None
        elif step.op in ("ptable", "part-add") and dev is not None:
            slots = step.args["partitions"] if step.op == "ptable" else [step.args["partition"]]
            if step.op == "ptable":
                dev.ptable, dev.parts = step.args["ptable"], []
            for s in slots:
                _add_part(out, dev, s)
        elif step.op == "part-replace" and dev is not None:
            s = step.args["partition"]
            dev.parts = [p for p in dev.parts if p.number != s["number"]]
            _add_part(out, dev, s)
        elif step.op == "part-resize" and dev is not None:
            for p in dev.parts:
                if p.number == step.args["number"]:
                    p.size = step.args["size"]
            node = out.devices.get(part_path(dev.path, step.args["number"]))
            if node is not None:
                node.size = step.args["size"]
        elif step.op == "mkfs":
            target = out.devices.setdefault(step.device, Device(path=step.device, kind="other"))
            target.fstype = step.args["fstype"]
            target.fsuuid = step.args.get("uuid") or str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, step.device))
            target.label = step.args.get("label")
        elif step.op == "mount":
            out.mounts[step.args["target"]] = step.device
            if dev is not None:
                dev.mountpoints.append(step.args["target"])
        elif step.op == "swapon":
            out.swaps.append(step.device)
        elif step.op in ("raid-grow", "crypt-resize", "lv-extend", "fs-grow"):
            _grow(out, step)
        elif step.op == "pv-resize":
            space = out.vg_space[step.args["vg"]]
            for d, size in step.args["sizes"].items():
                pv = out.pvs[d]
                gained = plan_grow.pv_extents_gained(pv, size, space.extent) * space.extent
                pv.size += gained
                space.size += gained
                space.free += gained
        elif step.op.endswith("-create"):
            out.devices[step.device] = Device(path=step.device, kind="other", name=step.device.rsplit("/", 1)[-1])
    return out
