"""Seed images built in the test: ISO9660 with pycdlib (Joliet + Rock Ridge), vfat with mtools."""
import io
import subprocess
from pathlib import Path


def make_iso(path: Path, label: str, files: dict[str, bytes]) -> Path:
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label)
    dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(2, p.count("/") + 1)})
    for d in dirs:
        iso.add_directory(_iso_name(d, dirs), rr_name=d.rsplit("/", 1)[1], joliet_path=d)
    for n, (p, data) in enumerate(sorted(files.items())):
        parent = p.rsplit("/", 1)[0]
        iso_parent = _iso_name(parent, dirs) if parent else ""
        iso.add_fp(io.BytesIO(data), len(data), f"{iso_parent}/F{n}.;1", rr_name=p.rsplit("/", 1)[1], joliet_path=p)
    iso.write(str(path))
    iso.close()
    return path


def _iso_name(d: str, dirs: list[str]) -> str:
    """Short ISO9660 level-1-safe names for every directory level (Rock Ridge/Joliet carry the real ones)."""
    parts = d.strip("/").split("/")
    out = ""
    for i in range(1, len(parts) + 1):
        out += f"/D{dirs.index('/' + '/'.join(parts[:i]))}"
    return out


def make_vfat(path: Path, label: str, files: dict[str, bytes], tmp: Path) -> Path:
    subprocess.run(["truncate", "-s", "8M", str(path)], check=True)
    subprocess.run(["mkfs.vfat", "-n", label, str(path)], check=True, capture_output=True)
    for p, data in sorted(files.items()):
        parts = p.strip("/").split("/")
        for i in range(1, len(parts)):
            subprocess.run(["mmd", "-D", "s", "-i", str(path), "::/" + "/".join(parts[:i])], capture_output=True)
        src = tmp / "vfat-src"
        src.write_bytes(data)
        subprocess.run(["mcopy", "-o", "-i", str(path), str(src), "::" + p], check=True)
    return path
