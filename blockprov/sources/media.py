"""Seed media: find a device by filesystem label or type, read its files without mounting if possible.

ISO9660 is read with pycdlib (Rock Ridge, then Joliet, then plain names);
vfat with mtools; anything else, or when those fail, by a read-only mount in a
private temp dir. Reading never follows more than ``MAX_TOTAL`` bytes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from blockprov.sources.errors import SourceError
from blockprov.run import run

MAX_TOTAL = 64 << 20


def devices_with_label(labels: list[str]) -> list[str]:
    """Devices whose filesystem label is one of ``labels`` (udev links first, then blkid).

    blkid runs without its cache (``-c /dev/null``): a cached label of a loop or CD whose medium
    changed would send the search to the wrong device.
    """
    out: list[str] = []
    for label in labels:
        link = Path("/dev/disk/by-label") / label
        if link.exists():
            out.append(os.path.realpath(link))
    if out:
        return sorted(set(out))
    for label in labels:
        res = run(["blkid", "-c", "/dev/null", "-o", "device", "-t", f"LABEL={label}"], check=False, timeout=20)
        out.extend(line.strip() for line in res.stdout.splitlines() if line.strip())
    return sorted(set(out))


def devices_with_type(types: list[str]) -> list[str]:
    out: list[str] = []
    for t in types:
        res = run(["blkid", "-c", "/dev/null", "-o", "device", "-t", f"TYPE={t}"], check=False, timeout=20)
        out.extend(line.strip() for line in res.stdout.splitlines() if line.strip())
    return sorted(set(out))


def fstype(dev: str) -> str:
    res = run(["blkid", "-p", "-o", "value", "-s", "TYPE", dev], check=False, timeout=20)
    return res.stdout.strip()


def read_files(dev: str) -> dict[str, bytes]:
    """Every regular file on the medium as {"/path": bytes}."""
    kind = fstype(dev)
    if kind == "iso9660":
        try:
            return _read_iso(dev)
        except SourceError:
            raise
        except Exception:  # noqa: BLE001 - pycdlib raises its own and OSError types; fall back to mount
            pass
    if kind == "vfat":
        got = _read_vfat(dev)
        if got is not None:
            return got
    return _read_mounted(dev)


def _read_iso(dev: str) -> dict[str, bytes]:
    import io

    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(dev)
    try:
        if iso.has_rock_ridge():
            key = "rr_path"
        elif iso.has_joliet():
            key = "joliet_path"
        else:
            key = "iso_path"
        out: dict[str, bytes] = {}
        total = 0
        for dirpath, _dirs, files in iso.walk(**{key: "/"}):
            for f in files:
                path = dirpath.rstrip("/") + "/" + f
                buf = io.BytesIO()
                iso.get_file_from_iso_fp(buf, **{key: path})
                total += buf.tell()
                if total > MAX_TOTAL:
                    raise SourceError(f"{dev}: more than {MAX_TOTAL >> 20} MiB of seed files")
                name = path if key != "iso_path" else path.split(";")[0].lower().rstrip(".")
                out[name] = buf.getvalue()
        return out
    finally:
        iso.close()


def _read_vfat(dev: str) -> dict[str, bytes] | None:
    with tempfile.TemporaryDirectory(prefix="blockprov-seed-") as tmp:
        res = run(["mcopy", "-s", "-n", "-i", dev, "::/", tmp], check=False, timeout=60)
        if res.returncode != 0:
            return None
        return _collect(Path(tmp))


def _read_mounted(dev: str) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="blockprov-seed-") as tmp:
        res = run(["mount", "-o", "ro", dev, tmp], check=False, timeout=60)
        if res.returncode != 0:
            raise SourceError(f"{dev}: cannot read (not iso9660/vfat readable in place, and mount failed: "
                              f"{res.stderr.strip()})")
        try:
            return _collect(Path(tmp))
        finally:
            run(["umount", tmp], check=False, timeout=60)


def _collect(base: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    total = 0
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            p = Path(dirpath) / f
            if p.is_symlink() or not p.is_file():
                continue
            total += p.stat().st_size
            if total > MAX_TOTAL:
                raise SourceError(f"more than {MAX_TOTAL >> 20} MiB of seed files")
            out["/" + str(p.relative_to(base))] = p.read_bytes()
    return out


def read_dir(base: Path) -> dict[str, bytes]:
    return _collect(base)


def parse_structured(name: str, raw: bytes, want=dict):
    """JSON or YAML text into ``want``; SourceError naming the file otherwise."""
    import json

    from blockprov.limits import LimitError, load_json, load_yaml

    text = raw.decode("utf-8", errors="replace")
    try:
        obj = load_json(text, name)
    except LimitError as exc:
        raise SourceError(str(exc)) from None
    except ValueError:
        try:
            obj = load_yaml(text, name)
        except Exception as exc:  # noqa: BLE001 - YAML parse errors of every kind
            raise SourceError(f"{name}: neither JSON nor valid YAML: {' '.join(str(exc).split())[:300]}") from None
    if obj is None and want is dict:
        return {}
    if not isinstance(obj, want):
        raise SourceError(f"{name}: expected a {'mapping' if want is dict else want.__name__}, "
                          f"got {type(obj).__name__}")
    return obj
