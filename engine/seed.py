"""Seed images: ISO9660 (Joliet + Rock Ridge, written with pycdlib) in the config-2, NoCloud or Azure layout."""

from __future__ import annotations

import io
import os
from pathlib import Path

from blockprov_engine import render

FORMATS = ("config-2", "nocloud", "azure")
LABELS = {"config-2": "config-2", "nocloud": "cidata", "azure": "rd_rdfe_stable"}


def tree(defn: dict, fmt: str) -> tuple[dict[str, bytes], list[str]]:
    """The files of a seed and warnings about what its format cannot carry (pure)."""
    if fmt == "config-2":
        return render.openstack(defn), []
    if fmt == "nocloud":
        return render.nocloud(defn), []
    if fmt == "azure":
        return {"/ovf-env.xml": render.ovf_env(defn)}, render.azure_warnings(defn)
    raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


def write_iso(path: Path, label: str, files: dict[str, bytes]) -> Path:
    """An ISO holding ``files``; written to a temp name and renamed, so a reader never sees half an image."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label)
    dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(2, p.count("/") + 1)})
    for d in dirs:
        iso.add_directory(_iso_name(d, dirs), rr_name=d.rsplit("/", 1)[1], joliet_path=d)
    for n, (p, data) in enumerate(sorted(files.items())):
        parent = p.rsplit("/", 1)[0]
        iso_parent = _iso_name(parent, dirs) if parent else ""
        iso.add_fp(io.BytesIO(data), len(data), f"{iso_parent}/F{n}.;1", rr_name=p.rsplit("/", 1)[1],
                   joliet_path=p)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        iso.write(str(tmp))
        os.replace(tmp, path)
    finally:
        iso.close()
        tmp.unlink(missing_ok=True)
    return path


def _iso_name(d: str, dirs: list[str]) -> str:
    """Short ISO9660 names for every directory level (Rock Ridge and Joliet carry the real ones)."""
    parts = d.strip("/").split("/")
    return "".join(f"/D{dirs.index('/' + '/'.join(parts[:i]))}" for i in range(1, len(parts) + 1))


def build(defn: dict, fmt: str, out: Path) -> list[str]:
    """Write the seed image of ``defn``; the warnings of :func:`tree`."""
    files, warnings = tree(defn, fmt)
    write_iso(out, LABELS[fmt], files)
    return warnings
