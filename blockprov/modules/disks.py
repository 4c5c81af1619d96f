"""disks: cloud-init's ``disk_setup``, ``fs_setup``, ``mounts`` and ``swap``, so existing user-data works.

The first three are translated into one storage v1 config
(blockprov.storage.cloudinit) and applied by the storage engine, with its
safety and fstab de-duplication. ``swap`` makes a swap file: created only
where no file exists, never over other content, listed once in fstab, and
switched on only when the root is the running system.
"""

from __future__ import annotations

import os

from blockprov.modules import ModuleWarning
from blockprov.modules._schema import STRINGS
from blockprov.run import run
from blockprov.modules._meta import ModuleMeta

_SIZE = {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "minLength": 1}]}
SCHEMA = {"type": "object", "properties": {
    "disk_setup": {"type": "object", "additionalProperties": {
        "type": "object", "additionalProperties": False, "properties": {
            "table_type": {"enum": ["mbr", "gpt"]}, "overwrite": {"type": "boolean"},
            "layout": {"oneOf": [{"type": "boolean"}, {"type": "array", "minItems": 1, "items": {"oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 100},
                {"type": "array", "minItems": 2, "maxItems": 2,
                 "prefixItems": [{"type": "integer", "minimum": 1, "maximum": 100},
                                 {"type": ["integer", "string"]}]}]}}]}}}},
    "fs_setup": {"type": "array", "items": {"type": "object", "required": ["device", "filesystem"],
                                            "additionalProperties": False, "properties": {
        "label": {"type": "string"}, "filesystem": {"type": "string"}, "device": {"type": "string"},
        "partition": {"oneOf": [{"enum": ["auto", "any", "none"]}, {"type": "integer", "minimum": 1}]},
        "overwrite": {"type": "boolean"}, "replace_fs": {"type": "string"},
        "extra_opts": {"oneOf": [{"type": "string"}, STRINGS]}, "cmd": {}}}},
    "mounts": {"type": "array", "items": {"type": "array", "minItems": 1, "maxItems": 6,
                                          "items": {"type": ["string", "integer", "null"]}}},
    "mount_default_fields": {"type": "array", "minItems": 6, "maxItems": 6,
                             "items": {"type": ["string", "integer", "null"]}},
    "swap": {"type": "object", "additionalProperties": False, "properties": {
        "filename": {"type": "string", "pattern": "^/"}, "size": {"anyOf": [{"const": "auto"}, _SIZE]},
        "maxsize": _SIZE}}}}

META = ModuleMeta(
    "disks",
    frequency="per-instance",  # as cloud-init's disk_setup and mounts: a reboot never partitions or formats again
    description="cloud-init disk_setup, fs_setup, mounts and swap through the storage engine",
    rerunnable=True,
    schema=SCHEMA,
    scope="storage",
)
KEYS = ("disk_setup", "fs_setup", "mounts")
GIB = 1 << 30


def auto_swap_size(ram: int, free: int, maxsize: int | None) -> int:
    """2 x RAM below 2 GiB of RAM, else RAM up to 8 GiB; never more than maxsize or half the free space (pure)."""
    size = 2 * ram if ram < 2 * GIB else min(ram, 8 * GIB)
    size = min(size, free // 2)
    if maxsize is not None:
        size = min(size, maxsize)
    return size - size % (1 << 20)


def handle(ctx, args):
    cfg = {**ctx.cfg, **args}
    out = []
    if any(cfg.get(k) for k in KEYS):
        out.append(_storage(ctx, cfg))
    if cfg.get("swap"):
        out.append(_swap(ctx, cfg["swap"]))
    return "; ".join(m for m in out if m)


def _storage(ctx, cfg) -> str:
    from blockprov.modules._storage import apply_document
    from blockprov.storage import cloudinit
    from blockprov.storage.probe import probe

    try:
        t = cloudinit.translate(cfg, probe())
    except cloudinit.TranslateError as exc:
        raise ValueError(f"{exc} (nothing applied)") from None
    if ctx.log:
        for note in t.notes:
            ctx.log(f"disks: {note}")
    msg = apply_document(ctx, t.storage, "cloud-init disk keys", wrapped=False) if t.storage["config"] else ""
    return msg + (f"; {len(t.notes)} left for later: " + "; ".join(t.notes) if t.notes else "")


def _swap(ctx, spec: dict) -> str:
    from blockprov.storage import sizes

    filename = spec.get("filename", "/swap.img")
    target = ctx.paths.confined(filename)
    size = spec.get("size", 0)
    if size in (0, "0"):
        return "swap: size 0, no swap file"
    maxsize = sizes.to_bytes(spec["maxsize"]) if spec.get("maxsize") is not None else None
    if size == "auto":
        st = os.statvfs(target.parent if target.parent.exists() else ctx.paths.root)
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        size = auto_swap_size(ram, st.f_bavail * st.f_frsize, maxsize)
    else:
        size = sizes.to_bytes(size)
    if target.exists():
        kind = run(["blkid", "-c", "/dev/null", "-p", "-o", "value", "-s", "TYPE", str(target)], check=False).stdout
        if kind.strip() != "swap":
            raise ModuleWarning(f"$.swap.filename: {filename} exists and is not a swap file; left alone")
        made = False
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        if run(["fallocate", "-l", str(size), str(target)], check=False).returncode:
            run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={size >> 20}", "status=none"], timeout=3600)
        os.chmod(target, 0o600)
        run(["mkswap", str(target)], timeout=120)
        made = True
    added = _fstab_line(ctx, filename)
    if str(ctx.paths.root) == "/" and filename not in _active_swaps():
        run(["swapon", filename], timeout=60)
    return f"swap: {filename} {'created' if made else 'present'} ({size >> 20} MiB)" + \
        (", fstab line added" if added else "")


def _fstab_line(ctx, filename: str) -> bool:
    """Append one swap line unless a line already names the file; returns whether it was added."""
    from blockprov.paths import atomic_write
    from blockprov.storage.fstab import FstabError, checked_line, unescape

    fstab = ctx.paths.inside("/etc/fstab")
    text = fstab.read_text() if fstab.exists() else ""
    for line in text.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#") and unescape(fields[0]) == filename:
            return False
    try:
        entry = checked_line([filename, "none", "swap", "sw", "0", "0"])
    except FstabError as exc:
        raise ModuleWarning(f"$.swap.filename: {exc}") from None
    atomic_write(fstab, text + ("" if not text or text.endswith("\n") else "\n") + entry + "\n")
    return True


def _active_swaps() -> set[str]:
    try:
        with open("/proc/swaps") as f:
            return {ln.split()[0] for ln in f.read().splitlines()[1:] if ln.strip()}
    except OSError:
        return set()
