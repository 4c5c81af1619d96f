"""The imperative shell: turn a Plan's steps into commands, one item at a time.

A failed step fails its item and everything that depends on it; independent
items go on. Each completed step is recorded in the journal before the next
starts, so a crash at any point re-runs to the same end state.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from blockprov.paths import Paths, atomic_write
from blockprov.storage import conffiles, libparted, mkfs
from blockprov.storage import fstab as fstabmod
from blockprov.storage.execute_resize import ResizeOps
from blockprov.storage.execute_stacks import StackOps
from blockprov.storage.inventory import part_path
from blockprov.storage.journal import Journal
from blockprov.storage.plan import Step
from blockprov.storage.probe import mountinfo, read_table
from blockprov.run import CommandError, run

CHUNK = 4 << 20


class StepFailed(Exception):
    pass


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)  # item ids whose steps all ran
    failed: dict[str, str] = field(default_factory=dict)  # item id -> error text
    commands: list[dict] = field(default_factory=list)  # every command that ran, with stderr
    fstab_changed: bool = False


DESTRUCTIVE = frozenset({"wipe", "mkfs", "ptable", "part-replace"})
REDOABLE = frozenset({"wipe", "mkfs", "ptable", "part-add", "part-resize", "part-replace"})  # journalled as started: a crash inside is redone


def live_busy(dev: str) -> str | None:
    """Why a device (or a partition on it) is in use right now, from the kernel's own tables: mounted,
    active swap, or held by md/dm/bcache. The plan checked its snapshot; this is the last word before a
    destructive command, whatever path the plan took to it."""
    real = os.path.realpath(dev)
    name = os.path.basename(real)
    base = f"/sys/class/block/{name}"
    if not os.path.isdir(base):
        return None
    names = [name] + sorted(p for p in os.listdir(base) if os.path.exists(f"{base}/{p}/partition"))
    devnos = {}
    for n in names:
        try:
            with open(f"/sys/class/block/{n}/dev") as f:
                devnos[f.read().strip()] = n
        except OSError:
            pass
    mounted, _sources = mountinfo()
    for devno, n in devnos.items():
        if mounted.get(devno):
            return f"/dev/{n} is mounted at {mounted[devno][0]}"
    try:
        with open("/proc/swaps") as f:
            for line in f.readlines()[1:]:
                src = line.split()[0] if line.strip() else ""
                if src and os.path.basename(os.path.realpath(src)) in names:
                    return f"{src} is active swap"
    except OSError:
        pass
    for n in names:
        try:
            holders = os.listdir(f"/sys/class/block/{n}/holders")
        except OSError:
            holders = []
        if holders:
            return f"/dev/{n} is held by {', '.join(sorted(holders))}"
    return None


def _sfdisk_line(dev: str, s: dict) -> str:
    """One partition as an sfdisk script line; the node name carries its number."""
    sector = libparted.sector_size(dev)
    f = [f"start={s['start'] // sector}", f"size={s['size'] // sector}",
         f"type={'5' if s['kind'] == 'extended' else s['type']}"]
    if s.get("name"):
        f.append(f'name="{s["name"]}"')
    if s.get("uuid"):
        f.append(f"uuid={s['uuid']}")
    if s.get("attrs"):
        f.append(f'attrs="{" ".join(s["attrs"])}"')
    if s.get("bootable"):
        f.append("bootable")
    return f"{part_path(dev, s['number'])} : " + ", ".join(f)


def _append_needs_sfdisk(dev: str, s: dict) -> bool:
    """A partition added to a kept table whose number is not the lowest free one: libparted would take that."""
    if s["kind"] == "logical":
        return False
    used = {p.number for p in read_table(dev)[2]}
    lowest = next(n for n in range(1, 1 << 16) if n not in used)
    return lowest != s["number"]


def _needs_sfdisk(slots: list[dict]) -> bool:
    """Gaps in the primary numbering: libparted always takes the lowest free number, sfdisk the node's."""
    outer = [s["number"] for s in slots if s["kind"] != "logical"]
    return outer != list(range(1, len(outer) + 1))


def _parted_table(dev: str, ptable: str, slots: list[dict]):
    """(device, disk): the complete new table built in libparted's memory, nothing written yet."""
    import parted

    device = parted.getDevice(dev)
    disk = parted.freshDisk(device, ptable)
    sector = device.sectorSize
    for s in sorted(slots, key=lambda s: (s["kind"] == "logical", s["number"])):
        geom = parted.Geometry(device=device, start=s["start"] // sector, length=s["size"] // sector)
        ptype = {"primary": parted.PARTITION_NORMAL, "extended": parted.PARTITION_EXTENDED,
                 "logical": parted.PARTITION_LOGICAL}[s["kind"]]
        part = parted.Partition(disk=disk, type=ptype, geometry=geom)
        disk.addPartition(part, constraint=parted.Constraint(exactGeom=geom))
        if part.number != s["number"]:
            raise StepFailed(f"partition {s['id']}: parted numbered it {part.number}, config wants {s['number']}")
        if ptable == "gpt" and s.get("name"):
            part.set_name(s["name"])
        elif s.get("bootable"):
            part.setFlag(parted.PARTITION_BOOT)
    return device, disk


def table_problem(step: Step) -> str | None:
    """Why a planned table cannot be written to its disk, found without writing: the table is built whole by
    the tool that will write it (libparted in memory; ``sfdisk --no-act`` for numbering with gaps) against the
    disk's real geometry. Checked for every table of a run before its first step, so a table that would fail
    never costs the disk its old contents (the wipe before it)."""
    dev, ptable = step.device, step.args["ptable"]
    slots = step.args["partitions"]
    if _needs_sfdisk(slots):
        lines = [f"label: {'dos' if ptable == 'msdos' else 'gpt'}", "unit: sectors"]
        lines += [_sfdisk_line(dev, s) for s in sorted(slots, key=lambda s: s["number"])]
        res = run(["sfdisk", "--no-act", "--quiet", "--no-reread", "--no-tell-kernel", dev],
                  input="\n".join(lines) + "\n", check=False, timeout=60)
        return None if res.returncode == 0 else f"sfdisk --no-act: {res.stderr.strip()[-300:]}"
    device = None
    try:
        device, _disk = _parted_table(dev, ptable, slots)
    except StepFailed as exc:
        return str(exc)
    except libparted.errors() as exc:
        return f"libparted: {exc}"
    finally:
        libparted.release(device)
    return None


def replace_problem(dev: str, s: dict) -> str | None:
    """Why the table cannot hold partition ``s`` in place of its current entry, found in libparted's memory."""
    import parted

    device = None
    try:
        device = parted.getDevice(dev)
        disk = parted.newDisk(device)
        sector = device.sectorSize
        old = next((p for p in disk.partitions if p.number == s["number"]), None)
        if old is not None:
            disk.deletePartition(old)
        geom = parted.Geometry(device=device, start=s["start"] // sector, length=s["size"] // sector)
        disk.addPartition(parted.Partition(disk=disk, type=parted.PARTITION_NORMAL, geometry=geom),
                          constraint=parted.Constraint(exactGeom=geom))
        return None
    except libparted.errors() as exc:
        return f"libparted: {exc}"
    finally:
        libparted.release(device)


def append_problem(step: Step) -> str | None:
    """Why a partition cannot be added to a kept table, found without writing (``sfdisk --append --no-act``)."""
    s = step.args["partition"]
    if s["kind"] == "logical":
        return None  # libparted places logical partitions (and their EBRs) itself
    res = run(["sfdisk", "--no-act", "--quiet", "--append", "--no-reread", "--no-tell-kernel", step.device],
              input=_sfdisk_line(step.device, s) + "\n", check=False, timeout=60)
    return None if res.returncode == 0 else f"sfdisk --no-act: {res.stderr.strip()[-300:]}"


class Executor(StackOps, ResizeOps):
    StepFailed = StepFailed

    def __init__(self, model, paths: Paths, progress=None, journal: Journal | None = None):
        self.m, self.paths, self.progress = model, paths, progress
        self.alias: dict[str, str] = {}  # planned path -> the node the kernel gave it
        self.out = Outcome()
        self.journal = journal or Journal(paths.storage_journal)
        self.fault_after = int(os.environ.get("BLOCKPROV_FAULT_AFTER_STEP", "0") or 0)
        trace = os.environ.get("BLOCKPROV_STEP_TRACE")  # testing: step boundaries for a crash tester outside
        self.trace = open(trace, "a", buffering=1) if trace else None
        self.count = 0
        self.locks: dict[str, int] = {}  # whole disk -> fd holding a BSD LOCK_EX on it
        self.resized: set[str] = set()  # disks with part-resize steps in this run

    def cmd(self, argv: list[str], timeout: float = 300, input=None) -> str:
        try:
            res = run(argv, timeout=timeout, input=input)
        except CommandError as exc:
            self.out.commands.append({"argv": exc.result.argv, "rc": exc.result.returncode, "stderr": exc.result.stderr[-4000:]})
            raise StepFailed(str(exc)) from None
        self.out.commands.append({"argv": argv, "rc": 0, "stderr": res.stderr[-2000:]})
        return res.stdout

    def real(self, path: str) -> str:
        return self.alias.get(path, path)

    def settle(self) -> None:
        """Wait for udev; releases our disk locks first (udev defers a locked disk's events: settle would hang)."""
        self.unlock_disks()
        if os.path.exists("/run/udev/control"):
            run(["udevadm", "settle", "--timeout=30"], check=False, timeout=40)

    def lock_disk(self, disk: str) -> None:
        """Own the disk while its table and new partitions are written (systemd's block device locking).

        With a BSD ``LOCK_EX`` on the whole disk, systemd-udevd neither probes it
        nor re-reads its partition table after our writes (which would remove and
        re-add the partitions we are formatting): its events wait until the lock
        goes at the end of the run, so no ``udevadm settle`` is needed in between.
        """
        import fcntl

        if disk in self.locks:
            return
        try:
            fd = os.open(disk, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return  # not a device node we can open (tests with regular files): nothing to coordinate
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits while udev is processing the disk (it holds LOCK_SH)
        except OSError:
            os.close(fd)
            return
        self.locks[disk] = fd

    def unlock_disks(self) -> None:
        for fd in self.locks.values():
            os.close(fd)
        self.locks.clear()

    def blocked_by(self, item: str) -> str | None:
        if not item:
            return None
        for f in self.out.failed:
            if f == item or f in self._ancestors(item):
                return f
        return None

    def _ancestors(self, item: str) -> set[str]:
        seen, stack = set(), list(self.m.deps.get(item, []))
        while stack:
            d = stack.pop()
            if d not in seen:
                seen.add(d)
                stack.extend(self.m.deps.get(d, []))
        return seen

    def run(self, steps: list[Step], fstab_entries) -> Outcome:
        # a disk whose partitions are resized first is checked step by step, each on the table the one before left
        self.resized = {s.device for s in steps if s.op == "part-resize"}
        for step in steps:
            if step.op not in ("ptable", "part-add") or not step.device or step.device in self.resized or \
                    not os.path.exists(f"/sys/class/block/{os.path.basename(step.device)}"):
                continue
            why = table_problem(step) if step.op == "ptable" else append_problem(step)
            if why:
                what = f"the new {step.args['ptable']} table" if step.op == "ptable" else "the new partition"
                self.out.failed[step.item] = f"{what} cannot be written to {step.device}, nothing was written: {why}"
        try:
            for step in steps:
                if step.op == "fstab":
                    continue
                culprit = self.blocked_by(step.item)
                if culprit:
                    if culprit != step.item:
                        self.out.failed.setdefault(step.item, f"depends on failed {culprit}")
                    continue
                if step.device in self.alias:
                    step = Step(step.op, step.item, self.alias[step.device], step.args)
                try:
                    if step.op in DESTRUCTIVE and step.device:
                        # a replacement destroys one partition: the others of its disk may be in use
                        busy = live_busy(part_path(step.device, step.args["partition"]["number"])
                                         if step.op == "part-replace" else step.device)
                        if busy:
                            raise StepFailed(f"refusing to {step.op} {step.device}: {busy}")
                    if step.op in REDOABLE:
                        self.journal.begin(step)
                    self._trace("begin", step)
                    detail = OPS.get(step.op, Executor.op_unsupported)(self, step)
                except StepFailed as exc:
                    self.out.failed[step.item] = str(exc)
                    continue
                self.journal.record(step, detail)
                self._trace("end", step)
                if step.item not in self.out.done:
                    self.out.done.append(step.item)
                self.count += 1
                if self.fault_after and self.count >= self.fault_after:
                    os._exit(99)  # test hook: simulate a crash right after this step
        finally:
            self.unlock_disks()  # before the fstab entries are probed (they settle udev)
        fs = next((s for s in steps if s.op == "fstab"), None)
        if fs is not None:
            self.out.fstab_changed = self.write_fstab(fs, fstab_entries(self.out.failed))
        return self.out

    def _trace(self, what: str, step: Step) -> None:
        if self.trace is not None:
            n = self.count + (what == "begin")
            self.trace.write(f"{what} {n} {step.op} {step.item} {step.device}\n")
            if what == "begin" and os.environ.get("BLOCKPROV_STEP_PAUSE") == str(n):
                time.sleep(120)  # testing: hold still at this boundary until the crash tester kills us

    # -- operations --------------------------------------------------------------
    def op_unsupported(self, step: Step):
        raise StepFailed(f"{step.op}: no executor for this operation in blockprov {self._version()}")

    @staticmethod
    def _version() -> str:
        from blockprov import __version__

        return __version__

    def op_wipe(self, step: Step):
        """``superblock``: every signature libblkid knows (wipefs --all, wherever it sits), and the first and last
        MiB zeroed as curtin does (old data without a signature, metadata at the end). ``-recursive``: each
        partition the same way first. ``zero``/``random``: the whole device."""
        dev, mode = step.device, step.args.get("mode", "superblock")
        if mode == "superblock-recursive":
            _label, _id, parts = read_table(dev)
            for p in parts:
                node = part_path(dev, p.number)
                if os.path.exists(node):
                    self.cmd(["wipefs", "--all", "--force", node])
                if p.kind != "extended":
                    self._quick_zero(dev, p.start, p.size)
        self._forget_partitions(dev)
        if mode == "pvremove":
            self.cmd(["pvremove", "--force", "--force", "--yes", dev])
        if mode in ("zero", "random"):
            self._fill(dev, mode)
        self.cmd(["wipefs", "--all", "--force", dev])
        if mode.startswith("superblock"):
            self._quick_zero(dev)
        return {"mode": mode}

    def _quick_zero(self, dev: str, start: int = 0, size: int | None = None) -> None:
        """Zero the first and last MiB of ``dev`` (or of the byte range ``start``, ``size`` on it)."""
        try:
            fd = os.open(dev, os.O_WRONLY)
        except OSError as exc:
            raise StepFailed(f"wipe {dev}: {exc.strerror}") from None
        try:
            if size is None:
                size = os.lseek(fd, 0, os.SEEK_END)
            chunk = min(1 << 20, size)
            for at in sorted({start, start + size - chunk}):
                os.pwrite(fd, bytes(chunk), at)
            os.fsync(fd)
        except OSError as exc:
            raise StepFailed(f"wipe {dev}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def _fill(self, dev: str, mode: str) -> None:
        fd = os.open(dev, os.O_WRONLY)
        try:
            size = os.lseek(fd, 0, os.SEEK_END)
            os.lseek(fd, 0, os.SEEK_SET)
            zero = bytes(CHUNK)
            written, last = 0, -1
            while written < size:
                n = min(CHUNK, size - written)
                os.write(fd, zero[:n] if mode == "zero" else os.urandom(n))
                written += n
                pct = written * 100 // size
                if self.progress is not None and pct // 10 != last:
                    last = pct // 10
                    self._progress(f"wipe {mode} {dev}", pct)
            os.fsync(fd)
        except OSError as exc:
            raise StepFailed(f"wipe {mode} {dev}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def _progress(self, what: str, pct: int) -> None:
        if hasattr(self.progress, "isatty") and self.progress.isatty():
            self.progress.write(f"\r{what}: {pct:3d}%" + ("\n" if pct >= 100 else ""))
        else:
            self.progress.write(json.dumps({"event": "progress", "what": what, "percent": pct}) + "\n")
        self.progress.flush()

    def _forget_partitions(self, disk: str) -> None:
        """Drop the kernel's partitions of a disk we are about to rewrite (none may be in use)."""
        name = os.path.basename(disk)
        if os.path.isdir(f"/sys/class/block/{name}") and any(
                os.path.exists(f"/sys/class/block/{name}/{p}/partition") for p in os.listdir(f"/sys/class/block/{name}")):
            run(["partx", "--delete", disk], check=False, timeout=60)

    def op_ptable(self, step: Step):
        import parted

        dev = step.device
        self.lock_disk(dev)
        ptable = step.args["ptable"]
        slots = sorted(step.args["partitions"], key=lambda s: (s["kind"] == "logical", s["number"]))
        if _needs_sfdisk(slots):
            return self._ptable_sfdisk(dev, slots, ptable)
        device = None
        try:
            device, disk = _parted_table(dev, ptable, slots)
            disk.commitToDevice()
        except libparted.errors() as exc:
            raise StepFailed(f"partition table on {dev}: {exc}") from None
        finally:
            libparted.release(device)
        self._tell_kernel(dev)
        self._fix_ids(dev, slots, self._verify_table(dev, ptable, slots))
        for s in slots:
            if s["kind"] != "extended":
                self.cmd(["wipefs", "--all", "--force", part_path(dev, s["number"])])
        return {"ptable": ptable, "partitions": [s["number"] for s in slots]}

    def _ptable_sfdisk(self, dev: str, slots: list[dict], ptable: str = "gpt"):
        """Tables whose numbering has gaps (GPT entries 1 and 3, msdos primaries 1 and 4): sfdisk takes each
        partition's number from its node name, libparted always the lowest free one."""
        lines = [f"label: {'dos' if ptable == 'msdos' else 'gpt'}", "unit: sectors"]
        lines += [_sfdisk_line(dev, s) for s in sorted(slots, key=lambda s: s["number"])]
        self.cmd(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", "--wipe", "always", dev],
                 input="\n".join(lines) + "\n")
        self._tell_kernel(dev)
        self._verify_table(dev, ptable, slots)
        for s in slots:
            if s["kind"] != "extended":
                self.cmd(["wipefs", "--all", "--force", part_path(dev, s["number"])])
        return {"ptable": ptable, "partitions": [s["number"] for s in slots], "tool": "sfdisk"}

    def _fix_ids(self, dev: str, slots: list[dict], parts: list | None = None) -> None:
        """Type GUIDs/ids and PARTUUIDs: libparted 3.5 cannot set them, sfdisk can (``parts``: the table as
        just read back; the kernel needs no re-read for them, they change no partition's extent)."""
        if parts is None:
            _label, _id, parts = read_table(dev)
        got = {p.number: p for p in parts}
        for s in slots:
            p = got.get(s["number"])
            if s["kind"] == "extended" or p is None:
                continue
            if p.type.lower() != s["type"].lower():
                self.cmd(["sfdisk", "--no-reread", "--no-tell-kernel", "--part-type", dev, str(s["number"]), s["type"]])
            if s.get("uuid") and (p.uuid or "").lower() != s["uuid"].lower():
                self.cmd(["sfdisk", "--no-reread", "--no-tell-kernel", "--part-uuid", dev, str(s["number"]), s["uuid"]])
            if s.get("attrs") is not None and list(p.attrs) != list(s["attrs"]):
                self.cmd(["sfdisk", "--no-reread", "--no-tell-kernel", "--part-attrs", dev, str(s["number"]),
                          ",".join(s["attrs"])])

    def _tell_kernel(self, dev: str) -> None:
        # partx --update skips logical partitions; the disk is not in use, so delete and re-add.
        self._forget_partitions(dev)
        self.cmd(["partx", "--add", dev], timeout=60)
        if dev not in self.locks:
            self.settle()

    def _verify_table(self, dev: str, ptable: str, slots: list[dict]) -> list:
        """The table as read back (its partitions), once every slot is found where it was written."""
        label, _id, parts = read_table(dev)
        got = {p.number: p for p in parts}
        if label != ptable:
            raise StepFailed(f"{dev}: wrote {ptable}, read back {label}")
        for s in slots:
            p = got.get(s["number"])
            if p is None or p.start != s["start"] or (s["kind"] != "extended" and p.size != s["size"]):
                raise StepFailed(f"{dev}: partition {s['number']} reads back as {p} instead of {s}")
            node = part_path(dev, s["number"])
            if not os.path.exists(node):
                raise StepFailed(f"{dev}: the kernel did not create {node}")
        return parts

    def op_part_add(self, step: Step):
        import parted

        s = step.args["partition"]
        dev = step.device
        if dev in self.resized:
            why = append_problem(step)
            if why:
                raise StepFailed(f"the new partition cannot be written to {dev}, nothing was written: {why}")
        self.lock_disk(dev)
        if _append_needs_sfdisk(dev, s):
            self.cmd(["sfdisk", "--quiet", "--append", "--no-reread", "--no-tell-kernel", dev],
                     input=_sfdisk_line(dev, s) + "\n")
            return self._added(dev, s)
        device = None
        try:
            device = parted.getDevice(dev)
            disk = parted.newDisk(device)
            sector = device.sectorSize
            geom = parted.Geometry(device=device, start=s["start"] // sector, length=s["size"] // sector)
            ptype = parted.PARTITION_LOGICAL if s["kind"] == "logical" else parted.PARTITION_NORMAL
            part = parted.Partition(disk=disk, type=ptype, geometry=geom)
            disk.addPartition(part, constraint=parted.Constraint(exactGeom=geom))
            if disk.type == "gpt" and s.get("name"):
                part.set_name(s["name"])
            if part.number != s["number"]:
                raise StepFailed(f"parted numbered the new partition {part.number}, config wants {s['number']}")
            disk.commitToDevice()
        except libparted.errors() as exc:
            raise StepFailed(f"add partition {s['number']} on {dev}: {exc}") from None
        finally:
            libparted.release(device)
        return self._added(dev, s)

    def op_part_replace(self, step: Step):
        """Delete a partition's entry and make it again as the config describes (its ``wipe`` authorises it).
        The new table is built in libparted's memory first: when it cannot hold the new entry, nothing is
        deleted. A run killed between the delete and the add finds the partition absent and adds it."""
        s, dev = step.args["partition"], step.device
        why = replace_problem(dev, s)
        if why:
            raise StepFailed(f"partition {s['number']} cannot be replaced on {dev}, nothing was written: {why}")
        self.lock_disk(dev)
        node = part_path(dev, s["number"])
        if os.path.exists(node):
            self.cmd(["wipefs", "--all", "--force", node])
            self.cmd(["partx", "--delete", "--nr", str(s["number"]), dev], timeout=60)
        self.cmd(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", "--delete", dev, str(s["number"])])
        self.cmd(["sfdisk", "--quiet", "--append", "--no-reread", "--no-tell-kernel", dev],
                 input=_sfdisk_line(dev, s) + "\n")
        out = self._added(dev, s)
        if step.args.get("mode") in ("zero", "random"):
            self._fill(node, step.args["mode"])
        return out

    def _added(self, dev: str, s: dict) -> dict:
        self._fix_ids(dev, [s])
        self.cmd(["partx", "--add", "--nr", str(s["number"]), dev], timeout=60)
        node = part_path(dev, s["number"])
        self.cmd(["wipefs", "--all", "--force", node])
        return {"number": s["number"]}

    def op_mkfs(self, step: Step):
        a = step.args
        fat = None
        item = self.m.by_id[step.item]
        if item["fstype"] in ("fat12", "fat16", "fat32"):
            fat = item["fstype"][3:]
        self.cmd(mkfs.argv(a["fstype"], step.device, a.get("label"), a.get("uuid"), a.get("extra_options"), fat),
                 timeout=1800)
        self.tell_udev(step.device)
        return {"fstype": a["fstype"]}

    def tell_udev(self, dev: str) -> None:
        """A change event for a device udev does not watch (device-mapper, md), so its database and
        /dev/disk/by-uuid links show the new filesystem: a boot mounts fstab's UUID= through those links."""
        name = os.path.basename(os.path.realpath(dev))
        if name.startswith(("dm-", "md")) and os.path.exists("/run/udev/control"):
            run(["udevadm", "trigger", "--action=change", f"/sys/class/block/{name}"], check=False, timeout=30)

    def op_mount(self, step: Step):
        from blockprov.storage.mountpoint import MountPointError, make

        try:
            target = make(str(self.paths.tgt), step.args["path"])
        except MountPointError as exc:
            raise StepFailed(f"mount point: {exc}") from None
        self.cmd(["mount", "-t", step.args["fstype"], "-o", step.args["options"], step.device, target])
        return {"target": target}

    def op_swapon(self, step: Step):
        self.cmd(["swapon", step.device])
        return {}

    def write_stack_conffiles(self, crypt: list[conffiles.CryptEntry] | None, arrays: list[str] | None,
                              held: dict[str, set[str]]) -> list[str]:
        """crypttab and mdadm.conf managed blocks; None leaves a file alone. Returns the files changed."""
        changed = []
        for path, render, entries, keep in (
                (self.paths.crypttab, conffiles.render_crypttab, crypt, held.get("crypt", set())),
                (self.paths.mdadm_conf, conffiles.render_mdadm_conf, arrays, held.get("raid", set()))):
            if entries is None:
                continue
            try:
                old = path.read_text()
            except FileNotFoundError:
                old = ""
            new = render(old, entries, frozenset(keep))
            if new != old:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, new)
                changed.append(str(path))
        return changed

    def md_brief(self, dev: str, name: str) -> str | None:
        """The array's ARRAY line, under its /dev/md/NAME link when udev made one: a boot then assembles it
        under that name, not as /dev/md127."""
        link = f"/dev/md/{name}"
        if os.path.realpath(link) == os.path.realpath(dev):
            dev = link
        res = run(["mdadm", "--detail", "--brief", dev], check=False, timeout=30)
        return next((ln for ln in res.stdout.splitlines() if ln.startswith("ARRAY")), None)

    def write_fstab(self, step: Step, entries: list[fstabmod.Entry]) -> bool:
        path = self.paths.fstab
        try:
            old = path.read_text()
        except FileNotFoundError:
            old = ""
        try:
            new = fstabmod.render(old, entries, set(p for p in step.args.get("held", []) if p))
        except fstabmod.FstabError as exc:
            self.out.failed["fstab"] = str(exc)
            return False
        if new == old:
            return False
        atomic_write(path, new)
        self.journal.record(step, {"lines": len(entries)})
        return True


# every step a plan can hold -> the method that carries it out (an op not listed fails as unsupported)
OPS = {
    "wipe": Executor.op_wipe, "ptable": Executor.op_ptable, "part-add": Executor.op_part_add,
    "part-replace": Executor.op_part_replace, "part-resize": Executor.op_part_resize, "mkfs": Executor.op_mkfs,
    "fs-grow": Executor.op_fs_grow, "mount": Executor.op_mount, "swapon": Executor.op_swapon,
    "raid-create": Executor.op_raid_create, "raid-assemble": Executor.op_raid_assemble,
    "raid-grow": Executor.op_raid_grow, "vg-create": Executor.op_vg_create, "pv-resize": Executor.op_pv_resize,
    "lv-create": Executor.op_lv_create, "lv-activate": Executor.op_lv_activate, "lv-extend": Executor.op_lv_extend,
    "crypt-format": Executor.op_crypt_format, "crypt-open": Executor.op_crypt_open,
    "crypt-plain": Executor.op_crypt_plain, "crypt-resize": Executor.op_crypt_resize,
    "bcache-create": Executor.op_bcache_create, "bcache-register": Executor.op_bcache_register,
    "bcache-mode": Executor.op_bcache_mode,
}
