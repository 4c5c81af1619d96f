"""probe -> plan -> execute -> probe -> report: the storage apply shell."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

from blockprov.paths import Paths, open_lock, sweep_temp
from blockprov.storage import conffiles
from blockprov.storage import fstab as fstabmod
from blockprov.storage import plan as planner
from blockprov.storage.inventory import Inventory, part_path
from blockprov.storage.plan_stacks import RANDOM_KEYS
from blockprov.storage.probe import probe
from blockprov.run import run
from blockprov.storage.status import PLANNED_GOOD


@dataclass
class Report:
    items: list[planner.ItemPlan]
    steps: list[planner.Step]
    fstab_changed: bool = False
    commands: list[dict] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)  # crypttab, mdadm.conf

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.items:
            out[i.status] = out.get(i.status, 0) + 1
        return out


def fstab_entries(step: planner.Step | None, inv: Inventory, failed: dict[str, str],
                  node=lambda path: path) -> list[fstabmod.Entry]:
    """``node`` maps a planned path (/dev/vg/lv, /dev/md/NAME) to the kernel node the inventory is keyed by."""
    if step is None:
        return []
    out = []
    for e in step.args["entries"]:
        if e["item"] in failed or e["format"] in failed:
            continue
        dev = inv.devices.get(e["device"] or "") or inv.devices.get(node(e["device"]) if e["device"] else "")
        aliases = {e["device"]} if e["device"] else set()
        spec = e.get("spec")
        if dev is not None:
            aliases |= set(dev.links)
            if dev.fsuuid:
                aliases.add(f"UUID={dev.fsuuid}")
            if dev.label:
                aliases.add(f"LABEL={dev.label}")
            pu = partuuid(dev, inv)
            if pu:
                aliases.add(f"PARTUUID={pu}")
            # no filesystem UUID blkid will vouch for (an ambivalent device): the partition's, then the node
            spec = spec or (f"UUID={dev.fsuuid}" if dev.fsuuid else f"PARTUUID={pu}" if pu else dev.path)
        if not spec:
            continue
        out.append(fstabmod.Entry(spec, e["path"], e["fstype"], e["options"], e["freq"], e["passno"], aliases))
    return out


# Steps that bring up what already exists (its contents can be planned only once it is up).
ACTIVATE = frozenset({"raid-assemble", "crypt-open", "bcache-register", "lv-activate"})


def stack_conffiles(model, inv: Inventory, good: set[str], brief) -> tuple:
    """crypttab entries and mdadm.conf ARRAY lines for the config's stacks that are up (None: no such items),
    and the names of those that are not (their existing lines are kept)."""
    crypt = arrays = None
    held: dict[str, set[str]] = {"crypt": set(), "raid": set()}
    for it in model.items:
        if it["type"] not in ("dm_crypt", "raid"):
            continue
        name = it.get("dm_name" if it["type"] == "dm_crypt" else "name") or it["id"]
        if it["id"] not in good:
            held["crypt" if it["type"] == "dm_crypt" else "raid"].add(name)
        if it["type"] == "dm_crypt":
            crypt = crypt if crypt is not None else []
            dev = next((d for d in inv.devices.values() if d.kind == "crypt" and d.name == name), None)
            member = inv.devices.get(dev.members[0]) if dev and dev.members else None
            plain = it.get("keyfile") in RANDOM_KEYS
            source = volume_spec(member, inv) if plain and member is not None else \
                f"UUID={member.fsuuid}" if member is not None and member.fsuuid else None
            if it["id"] not in good or source is None:
                continue
            keyfile = it.get("keyfile") or "none"
            given = it.get("options") or []
            given = given.split(",") if isinstance(given, str) else [str(o) for o in given]
            # a plain mapping has no header: systemd-cryptsetup must not be told "luks" (curtin writes the options)
            options = ",".join(([] if plain else ["luks"]) + [o for o in given if o and o != "luks"]) or "plain"
            crypt.append(conffiles.CryptEntry(name, source, keyfile, options, set(member.links) | {member.path}))
        else:
            arrays = arrays if arrays is not None else []
            dev = next((d for d in inv.devices.values() if d.kind == "raid" and d.name == name), None)
            line = brief(dev.path, name) if dev is not None and it["id"] in good else None
            if line:
                arrays.append(line)
    return crypt, arrays, held


def partuuid(dev, inv: Inventory) -> str | None:
    """The PARTUUID udev links and fstab accept: a GPT entry's GUID, or on an MBR disk the disk id and the
    partition number (blkid's PART_ENTRY_UUID, ``8d4a5de3-01``)."""
    parent = inv.devices.get(dev.parent or "")
    if parent is None or dev.number is None:
        return None
    pu = next((p.uuid for p in parent.parts if p.number == dev.number and p.uuid), None)
    if pu is None and parent.ptable == "msdos" and parent.ptuuid:
        pu = f"{parent.ptuuid.removeprefix('0x')}-{dev.number:02x}"
    return pu


def volume_spec(dev, inv: Inventory) -> str:
    """A name for a volume without a filesystem UUID that survives reboots (curtin's get_volume_id for a plain
    volume): its partition's PARTUUID, else a /dev/disk/by-id link, else the node."""
    pu = partuuid(dev, inv)
    if pu:
        return f"PARTUUID={pu}"
    return next((link for link in sorted(dev.links) if link.startswith("/dev/disk/by-id/")), dev.path)


def _ensure_partition_nodes(model, inv: Inventory) -> bool:
    """Tell the kernel about partitions of the config's disks that it does not know (read-only)."""
    added = False
    for it in model.items:
        if it["type"] not in ("disk", "device"):
            continue
        found, _desc = planner.match_disk(it, inv)
        dev = found[0] if len(found) == 1 else None
        if dev is None or not dev.parts:
            continue
        if any(part_path(dev.path, p.number) not in inv.devices for p in dev.parts if p.kind != "extended"):
            if not inv.in_use_tree(dev.path):
                run(["partx", "--update", dev.path], check=False, timeout=60)
            else:
                run(["partx", "--add", dev.path], check=False, timeout=60)
            added = True
    return added


class Unusable(ValueError):
    """The config cannot be carried out on this target as it stands; nothing was written (exit 2)."""

    def __init__(self, problems):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def mount_point_problems(model, plan: planner.Plan, target: str) -> list:
    """Mount points that exist as files or links under the target: found before the first write, so that a
    config is never half applied (filesystem made, then no place to mount it)."""
    from blockprov.storage.mountpoint import problem
    from blockprov.storage.validate import Problem

    out = []
    for s in plan.steps:
        if s.op == "mount":
            why = problem(target, s.args["path"])
            if why:
                out.append(Problem("mount-point-unusable", model.path(s.item, "path"), s.item, why))
    return out


def apply(model, root: str = "/", target: str | None = None, dry_run: bool = False, progress=None,
          inventory: Inventory | None = None) -> Report:
    paths = Paths(Path(root), Path(target) if target else None)
    from blockprov.storage.journal import Journal

    journal = Journal(paths.storage_journal)  # for planning: what was applied before, what a killed run left
    opts = planner.Options(target=str(paths.tgt), interrupted=journal.interrupted())
    def look() -> Inventory:
        return probe(scope=lambda topo: planner.disks_needed(model, topo), lvm=planner.uses_lvm(model),
                     cache=None if dry_run else paths.ptable_cache)

    inv = inventory or look()
    if not dry_run and inventory is None and _ensure_partition_nodes(model, inv):
        inv = look()
    opts.applied = journal.applied(inv)
    plan = planner.plan(model, inv, opts)
    unusable = mount_point_problems(model, plan, str(paths.tgt))
    if unusable:
        raise Unusable(unusable)
    if dry_run:
        return Report(plan.items, plan.steps)
    paths.prepare()
    with open_lock(paths.storage_lock) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sweep_temp([paths.run, paths.storage_journal.parent, paths.fstab.parent, paths.crypttab.parent,
                    paths.mdadm_conf.parent])
        from blockprov.storage.execute import Executor

        ex = Executor(model, paths, progress)  # re-reads the journal under the lock: another run may have written
        activated: dict[str, str] = {}
        ran: list = []  # activation steps, reported before the plan that followed them
        for _round in range(4):  # each round brings up one more layer of an existing stack
            acts = [s for s in plan.steps if s.op in ACTIVATE and s.item not in activated]
            if not acts:
                break
            ex.run(acts, lambda failed: [])
            ran += acts
            for s in acts:
                if s.item not in ex.out.failed:
                    activated[s.item] = plan.by_id()[s.item].reason
            inv = look()
            plan = planner.plan(model, inv, opts)
        fs_step = next((s for s in plan.steps if s.op == "fstab"), None)
        todo = [s for s in plan.steps if s.op not in ACTIVATE]
        device_steps = any(s.op != "fstab" for s in todo)
        # Nothing but fstab to do: the inventory just probed is still the truth; skip re-probing. The fstab
        # step comes after every device step, so what it probed is also the final state.
        final_inv: Inventory | None = None

        def settled() -> Inventory:
            """The state after the device steps, probed once (udev has handled the events our steps caused)."""
            nonlocal final_inv
            if final_inv is None:
                if device_steps:
                    ex.settle()
                final_inv = look() if device_steps else inv
            return final_inv

        out = ex.run(todo, lambda failed: fstab_entries(fs_step, settled(), failed,
                                                        lambda p: os.path.realpath(ex.real(p))))
        final_inv = settled()
        # what this run redid is no longer interrupted: the check after it must not plan the redo again
        after_opts = planner.Options(target=opts.target, interrupted={
            k: v for k, v in opts.interrupted.items() if k in out.failed}, applied=opts.applied)
        # what this run carried out (and what it found as the config says) counts as applied from now on,
        # so the check after it does not plan a first-time wipe again
        done_now = [planner.ItemPlan(i.id, i.type, "done", "", os.path.realpath(ex.real(i.device)))
                    for i in plan.items if i.status in PLANNED_GOOD and i.id not in out.failed
                    and i.device]
        for k, v in planner.applied_identities(done_now, final_inv).items():
            after_opts.applied = {**after_opts.applied, k: after_opts.applied.get(k, set()) | v}
        final = planner.plan(model, final_inv, after_opts) if device_steps else plan
        ex.journal.remember_applied(planner.applied_identities(final.items, final_inv))
        good = {i.id for i in final.items if i.status == "ok"} - set(out.failed)
        files = ex.write_stack_conffiles(*stack_conffiles(model, final_inv, good, ex.md_brief))
        # this run finished: what it neither redid nor failed at is no longer known to be ours
        ex.journal.settle_inflight(keep=set(out.failed))
    after = final.by_id()
    items = []
    for ip in plan.items:
        now = after[ip.id]
        if ip.id in out.failed:
            ip = planner.ItemPlan(ip.id, ip.type, "failed", out.failed[ip.id], ip.device)
        elif ip.id in activated and now.status == "ok":
            ip = planner.ItemPlan(ip.id, ip.type, "done", activated[ip.id], now.device)
        elif ip.status in PLANNED_GOOD and ip.status != "ok":
            if now.status == "ok":
                ip = planner.ItemPlan(ip.id, ip.type, "done", ip.reason, now.device)
            else:
                ip = planner.ItemPlan(ip.id, ip.type, "failed", f"after apply: {now.status}: {now.reason}", now.device)
        items.append(ip)
    return Report(items, ran + [s for s in plan.steps if s.op not in ACTIVATE], out.fstab_changed, out.commands,
                  files)
