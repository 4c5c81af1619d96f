"""Observe the running system's block devices into an Inventory.

Sources: sysfs for topology and sizes, the udev database through pyudev for
serials, WWNs and /dev/disk links, one ``blkid -p`` for every signature,
``sfdisk --json`` for tables as written on disk (this machine's kernel may not
know the partitions yet), mountinfo and /proc/swaps. Stacked devices: md level,
members and spares from sysfs, names from ``/dev/md``; bcache's cache set and mode from sysfs; LVM
volume groups and logical volumes from ``pvs``/``lvs``, run only when a probed
device carries an LVM signature or the config has LVM items. A table read is
remembered (``cache``) under a digest of the bytes it comes from and reused
while they stay the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from blockprov.storage.inventory import Device, Inventory, Part
from blockprov.storage.layout import norm_attrs
from blockprov.run import run

SYS = Path("/sys/class/block")
SKIP_PREFIX = ("ram", "zram", "sr", "fd")


def _read(p: Path, default: str = "") -> str:
    try:
        return p.read_text().strip()
    except OSError:
        return default


def serials(props: dict, sysfs_serial: str = "") -> tuple[str | None, list[str]]:
    """(the disk's serial, every serial it is known by) from its udev properties and sysfs ``serial`` (pure)."""
    main = props.get("ID_SERIAL_SHORT") or props.get("ID_SCSI_SERIAL") or props.get("ID_SERIAL") or sysfs_serial
    ids = {props[k] for k in ("ID_SERIAL", "ID_SERIAL_SHORT", "ID_SCSI_SERIAL") if props.get(k)}
    return main or None, sorted(ids | ({sysfs_serial} if sysfs_serial else set()))


@dataclass
class UdevView:
    """What the udev database says of one block device: its properties and its /dev links."""

    props: dict[str, str]
    links: list[str]


def udev_view(sys_name: str, context=None) -> UdevView:
    """A block device's udev properties and links through pyudev (libudev); without a udev database (a
    container with no udevd) the kernel's uevent properties and no links; empty when the device is gone.
    Asked per device: a listing of every block device (a hundred loop nodes here) costs twice as much."""
    import pyudev  # lazy: only the probe and the hotplug processor need it

    try:
        d = pyudev.Devices.from_name(context or pyudev.Context(), "block", sys_name)
        return UdevView(dict(d.properties), sorted(d.device_links))
    except (OSError, pyudev.DeviceNotFoundError):
        return UdevView({}, [])


BLKID_NOTHING = 2  # blkid's exit code for "no signature found"


def parse_export(text: str) -> list[dict[str, str]]:
    """``blkid -o export`` records, in output order (pure)."""
    out: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if "DEVNAME" in cur:
                out.append(cur)
            cur = {}
            continue
        k, _, v = line.partition("=")
        cur[k] = v
    return out


_UDEV_HEX = re.compile(rb"\\x([0-9a-fA-F]{2})")
# blkid's export form escapes " \\\"'$`<>" with a backslash, shows bytes >= 128 as "M-" and control
# characters as "^": lossy ("M-" may be the label itself). A value with any of these is read again exactly.
_LOSSY = ("\\", "M-", "^")


def decode_udev(text: str) -> str:
    """A ``*_ENC`` value of ``blkid -o udev`` (every unsafe byte as \\xNN, nothing else escaped) as text."""
    raw = _UDEV_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def exact_values(path: str) -> dict[str, str]:
    """LABEL and UUID of one device exactly as stored (decoded from ``blkid -p -o udev``)."""
    res = run(["blkid", "-p", "-o", "udev", path], check=False, timeout=30)
    out = {}
    for line in res.stdout.splitlines():
        k, _, v = line.partition("=")
        if k in ("ID_FS_LABEL_ENC", "ID_FS_UUID_ENC"):
            out[k[6:-4]] = decode_udev(v)
    return out


BLKID_AMBIVALENT = 8  # blkid -p: more than one signature, none stronger


def _blkid(paths: list[str]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """(signatures by path, probe errors by path) from ``blkid -p``.

    Low-level blkid stops at the first device it finds nothing on (or fails
    on), so its output is the found prefix of the list and its exit code is
    that device's. A blank device is then skipped and the rest probed again;
    any other failure (ambivalent signatures, I/O errors) is recorded so that
    the planner never takes the device for blank.
    """
    sigs: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    todo = list(paths)
    while todo:
        res = run(["blkid", "-p", "-o", "export", *todo], check=False, timeout=30)
        found = parse_export(res.stdout)
        for rec in found:
            if any(m in rec.get(k, "") for k in ("LABEL", "UUID") for m in _LOSSY):
                rec.update(exact_values(rec["DEVNAME"]))
            sigs[rec["DEVNAME"]] = rec
        if res.returncode == 0:
            break
        done = len(found)
        if done >= len(todo):
            break
        if res.returncode == BLKID_AMBIVALENT:
            errors[todo[done]] = "ambivalent: blkid -p finds more than one signature"
        elif res.returncode != BLKID_NOTHING:
            errors[todo[done]] = f"blkid -p exited {res.returncode}: {res.stderr.strip()[-200:] or 'no detail'}"
        todo = todo[done + 1:]
    blank = [p for p in paths if p not in sigs and p not in errors]
    if blank:
        errors.update(_hidden_signatures(blank))
    return sigs, errors


def all_signatures(paths: list[str]) -> dict[str, list[dict]]:
    """Every signature ``wipefs`` finds on each device (for the ones blkid calls ambivalent)."""
    res = run(["wipefs", "--no-act", "--json", *paths], check=False, timeout=60)
    try:
        found = json.loads(res.stdout).get("signatures", []) if res.stdout.strip() else []
    except ValueError:
        return {}
    by_name = {os.path.basename(p): p for p in paths}
    out: dict[str, list[dict]] = {}
    for sig in found:
        path = by_name.get(os.path.basename(str(sig.get("device", ""))))
        if path:
            out.setdefault(path, []).append({k: sig.get(k) or None for k in ("type", "uuid", "label", "offset")})
    return out


def _hidden_signatures(paths: list[str]) -> dict[str, str]:
    """Devices blkid calls blank on which ``wipefs`` still finds a signature: a GPT whose primary header is
    damaged but whose backup at the end of the disk survives, say. Not blank is not blank: such a device is
    reported as unknown contents, so the planner never treats it as empty (only ``wipe`` replaces it)."""
    return {path: f"wipefs finds a {sigs[0]['type']} signature at offset {sigs[0]['offset']} where "
                  "blkid -p finds nothing (a damaged table or superblock?)"
            for path, sigs in all_signatures(paths).items()}


def read_table(path: str) -> tuple[str | None, str | None, list[Part]]:
    res = run(["sfdisk", "--json", path], check=False, timeout=30)
    if res.returncode != 0 or not res.stdout.strip():
        return None, None, []
    pt = json.loads(res.stdout)["partitiontable"]
    sector = int(pt.get("sectorsize", 512))
    label = {"dos": "msdos"}.get(pt["label"], pt["label"])
    parts = []
    for p in pt.get("partitions", []):
        node = p["node"]
        num = int(node[len(node.rstrip("0123456789")):])
        ptype = p.get("type", "")
        kind = "primary"
        if label == "msdos":
            ptype = f"{int(ptype, 16):02x}"
            if ptype in ("05", "0f", "85"):
                kind = "extended"
            elif num > 4:
                kind = "logical"
        else:
            ptype = ptype.upper()
        parts.append(Part(number=num, start=int(p["start"]) * sector, size=int(p["size"]) * sector, type=ptype,
                          kind=kind, name=p.get("name") or None, uuid=(p.get("uuid") or "").lower() or None,
                          bootable=bool(p.get("bootable")),
                          attrs=norm_attrs((p.get("attrs") or "").replace(",", " ").split())))
    return label, (pt.get("id") or "").lower() or None, parts


def mountinfo() -> tuple[dict[str, list[str]], dict[str, str]]:
    by_devno: dict[str, list[str]] = {}
    mounts: dict[str, str] = {}
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        f = line.split()
        sep = f.index("-")
        point = f[4].encode().decode("unicode_escape")
        by_devno.setdefault(f[2], []).append(point)
        source = f[sep + 2]
        if source.startswith("/dev/"):
            # /dev/mapper/vg-lv, /dev/md/NAME...: the kernel node by device number, as the inventory names it
            node = os.path.realpath(f"/sys/dev/block/{f[2]}")
            if node != f"/sys/dev/block/{f[2]}" and os.path.isdir(node):
                source = "/dev/" + os.path.basename(node)
        mounts[point] = source
    return by_devno, mounts


def probe(scope=None, lvm: bool = False, cache: Path | None = None) -> Inventory:
    """Snapshot block devices: topology of all (cheap: sysfs, udev db, links), signatures and tables of some.

    ``scope`` is a function of the topology-only Inventory returning the whole disks whose
    signatures and tables are needed (or None for all): a disk the config cannot
    name is then never opened, and a run costs no ``blkid`` on unrelated disks.
    Volume groups are listed (``pvs``/``lvs``: the slowest probe, 0.5 s in a slow VM)
    when ``lvm`` (the config has LVM items: group names are global) or LVM is in scope.
    ``cache``: a file for tables already read (see ``_read_tables``).
    """
    inv = topology()
    wanted = scope(inv) if scope is not None else None
    if wanted is None:
        deep = list(inv.devices)
    else:
        deep = _closure(inv, wanted)
    add_signatures(inv, deep, cache)
    from blockprov.storage.probe_room import add_room

    add_room(inv, deep)
    if lvm or any(inv.devices[p].fstype == "LVM2_member" or inv.devices[p].kind == "lvm" for p in deep):
        add_lvm(inv)
    return inv


def add_lvm(inv: Inventory) -> None:
    """Volume groups with their PVs and logical volumes with their sizes (``pvs``/``lvs`` JSON reports)."""
    from blockprov.storage.probe_room import add_lvm_space

    # one pvs run also reports each PV's group sizes (vgs would be another slow LVM start)
    pvs = run(["pvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o",
               "pv_name,vg_name,pv_size,pe_start,vg_size,vg_free,vg_extent_size"], check=False, timeout=60)
    lvs = run(["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "vg_name,lv_name,lv_size,lv_dm_path"],
              check=False, timeout=60)
    for rep in _reports(pvs.stdout, "pv"):
        if rep.get("vg_name"):
            inv.vgs.setdefault(rep["vg_name"], []).append(os.path.realpath(rep["pv_name"]))
    for rep in _reports(lvs.stdout, "lv"):
        path = os.path.realpath(rep["lv_dm_path"]) if rep.get("lv_dm_path") else None
        inv.lvs[f"{rep['vg_name']}/{rep['lv_name']}"] = {"path": path, "size": int(rep["lv_size"] or 0)}
    for members in inv.vgs.values():
        members.sort()
    rows = _reports(pvs.stdout, "pv")
    add_lvm_space(inv, rows, [r for r in rows if r.get("vg_name")])


def _reports(text: str, kind: str) -> list[dict]:
    try:
        return [r for rep in json.loads(text).get("report", []) for r in rep.get(kind, [])]
    except ValueError:
        return []


def md_names() -> dict[str, str]:
    """/dev/mdN -> the array's name, from the /dev/md/NAME links mdadm and udev make."""
    out = {}
    base = Path("/dev/md")
    for link in base.iterdir() if base.is_dir() else []:
        out[os.path.realpath(link)] = link.name
    return out


def md_detail(d: Path) -> dict:
    level = _read(d / "md" / "level") or None
    active, spares = [], []
    for m in sorted((d / "md").glob("dev-*")):
        (spares if _read(m / "slot") == "none" else active).append("/dev/" + os.path.basename(os.path.realpath(m / "block")))
    return {"level": level, "metadata": _read(d / "md" / "metadata_version") or None, "members": active,
            "spares": spares}


def bcache_detail(d: Path) -> dict:
    mode = _read(d / "bcache" / "cache_mode")
    chosen = next((w[1:-1] for w in mode.split() if w.startswith("[")), None)
    caches = []
    for c in sorted((d / "bcache" / "cache").glob("cache[0-9]*")):
        caches.append("/dev/" + Path(os.path.realpath(c)).parent.name)
    return {"cache_mode": chosen, "caches": caches}


def _closure(inv: Inventory, disks: set[str]) -> list[str]:
    """The disks, their partitions and everything stacked on them (holders, recursively)."""
    out: list[str] = []
    stack = [d for d in inv.devices if d in disks or inv.devices[d].parent in disks]
    while stack:
        path = stack.pop()
        if path in out or path not in inv.devices:
            continue
        out.append(path)
        stack.extend(f"/dev/{h}" for h in inv.devices[path].holders)
    return sorted(out)


def add_signatures(inv: Inventory, paths: list[str], cache: Path | None = None) -> None:
    sigs, errors = _blkid(paths)
    tables = []
    for path in paths:
        dev = inv.devices[path]
        dev.probe_error = errors.get(path)
        s = sigs.get(path, {})
        dev.fstype = s.get("TYPE") or None
        dev.fsuuid = s.get("UUID") or None
        dev.label = s.get("LABEL") or None
        if s.get("PTTYPE") and dev.kind != "part":
            tables.append(dev)
    ambivalent = [p for p, e in errors.items() if e.startswith("ambivalent")]
    for path, found in (all_signatures(ambivalent) if ambivalent else {}).items():
        inv.devices[path].signatures = found
        inv.devices[path].probe_error += ": " + ", ".join(f"{s['type']} at {s['offset']}" for s in found)
    for dev, table in zip(tables, _read_tables([d.path for d in tables], cache)):
        dev.ptable, dev.ptuuid, dev.parts = table


TABLE_SPAN = 64 << 10  # a GPT's header and entries (4 KiB sectors too), an MBR; its backup at the end


def table_digest(path: str) -> str | None:
    """sha256 of a disk's first and last 64 KiB, device number, size and sector size: every byte ``sfdisk``
    reads for a GPT (either copy; the headers hold their entries' CRC) or an MBR with no extended partition."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        sector = _read(SYS / os.path.basename(path) / "queue" / "logical_block_size", "512")
        h = hashlib.sha256(f"{os.fstat(fd).st_rdev}:{size}:{sector}".encode())
        h.update(os.pread(fd, TABLE_SPAN, 0))
        h.update(os.pread(fd, TABLE_SPAN, max(0, size - TABLE_SPAN)))
        return h.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_tables(paths: list[str], cache: Path | None = None) -> list:
    """One ``sfdisk --json`` per disk (0.1-0.2 s each in a slow VM), run side by side: they wait on I/O, not
    on us. With ``cache``, a disk whose table bytes have the digest of an earlier read is not read again
    (MBRs with an extended partition are always read: their logical partitions live anywhere on the disk)."""
    memo = _load_memo(cache)
    digests = {p: table_digest(p) for p in paths} if cache is not None else {}
    out: dict[str, tuple] = {}
    for p in paths:
        hit = memo.get(p)
        if isinstance(hit, dict) and digests.get(p) and hit.get("digest") == digests[p]:
            try:
                label, ptid, parts = hit["table"]
                out[p] = (label, ptid, [Part(**x) for x in parts])
            except (TypeError, KeyError, ValueError):  # written by another version: read again
                pass
    todo = [p for p in paths if p not in out]
    if len(todo) < 2:
        fresh = [read_table(p) for p in todo]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(4, len(todo))) as pool:
            fresh = list(pool.map(read_table, todo))
    out.update(zip(todo, fresh))
    if cache is not None and todo:
        for p, (label, ptid, parts) in zip(todo, fresh):
            if digests.get(p) and (label == "gpt" or (label == "msdos" and all(x.kind == "primary" for x in parts))):
                memo[p] = {"digest": digests[p], "table": [label, ptid, [asdict(x) for x in parts]]}
            else:
                memo.pop(p, None)
        _save_memo(cache, memo)
    return [out[p] for p in paths]


def _load_memo(cache: Path | None) -> dict:
    try:
        memo = json.loads(cache.read_text()) if cache is not None else {}
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def _save_memo(cache: Path, memo: dict) -> None:
    """A cache: failing to write it costs a read next time, never the probe."""
    from blockprov.paths import atomic_write

    try:
        atomic_write(cache, json.dumps(memo, sort_keys=True))
    except OSError:
        pass


def topology() -> Inventory:
    """All block devices with what sysfs, the udev database, /dev/disk and mountinfo say; no signatures."""
    mounted, mounts = mountinfo()
    import pyudev

    context = pyudev.Context()
    inv = Inventory(mounts=mounts)
    swaps = _read(Path("/proc/swaps")).splitlines()[1:]
    inv.swaps = [s.split()[0] for s in swaps if s.strip()]
    names = sorted(os.listdir(SYS)) if SYS.is_dir() else []
    mdnames = md_names() if any(n.startswith("md") for n in names) else {}
    for name in names:
        if name.startswith(SKIP_PREFIX):
            continue
        d = SYS / name
        is_part = (d / "partition").exists()
        parent = d.resolve().parent.name if is_part else None
        size = int(_read(d / "size", "0") or 0) * 512
        if size == 0:
            continue
        devno = _read(d / "dev")
        view = udev_view(name, context)
        props = view.props
        path = f"/dev/{name}"
        kind = "part" if is_part else "disk"
        dmname = _read(d / "dm" / "name")
        if name.startswith("md"):
            kind = "raid"
        elif dmname:
            dmuuid = _read(d / "dm" / "uuid")
            kind = "lvm" if dmuuid.startswith("LVM-") else "crypt" if dmuuid.startswith("CRYPT-") else "other"
        elif name.startswith("bcache"):
            kind = "bcache"
        # virtio-blk has it in the disk's own directory, SCSI/NVMe under device/: the kernel's word, for the
        # moments when udev's database is being rewritten (an event in flight) and has no ID_SERIAL
        sysfs_serial = "" if is_part else (_read(d / "serial") or _read(d / "device" / "serial")).strip()
        dev = Device(
            path=path, kind=kind, size=size,
            sector_size=int(_read(d / "queue" / "logical_block_size", "512") or 512) if not is_part
            else int(_read(d.resolve().parent / "queue" / "logical_block_size", "512") or 512),
            serial=serials(props, sysfs_serial)[0],
            serial_ids=serials(props, sysfs_serial)[1],
            wwn=props.get("ID_WWN_WITH_EXTENSION") or props.get("ID_WWN") or _read(d / "wwid") or None,
            links=view.links,
            mountpoints=mounted.get(devno, []),
            holders=sorted(os.listdir(d / "holders")) if (d / "holders").is_dir() else [],
            parent=f"/dev/{parent}" if parent else None,
            number=int(_read(d / "partition")) if is_part else None,
            readonly=_read(d / "ro") == "1",
            name=dmname or _read(d / "md" / "array_name") or None,
            members=sorted(f"/dev/{s}" for s in os.listdir(d / "slaves")) if (d / "slaves").is_dir() else [],
        )
        if kind == "raid":
            det = md_detail(d)
            dev.level, dev.metadata, dev.members, dev.spares = det["level"], det["metadata"], det["members"], det["spares"]
            dev.name = mdnames.get(path, dev.name)
        elif kind == "bcache":
            det = bcache_detail(d)
            dev.cache_mode, dev.caches = det["cache_mode"], det["caches"]
        inv.devices[path] = dev
    return inv
