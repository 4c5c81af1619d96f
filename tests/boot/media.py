"""Seed images built in the test: ISO9660 with pycdlib (Joliet + Rock Ridge), vfat with mtools."""
import subprocess
from pathlib import Path


def make_iso(path: Path, label: str, files: dict[str, bytes]) -> Path:
    from blockprov_engine.seed import write_iso

    return write_iso(path, label, files)


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


def make_iso_genisoimage(path: Path, label: str, files: dict[str, bytes], tmp: Path) -> Path:
    """The same image made by genisoimage (Joliet + Rock Ridge, as cloud-localds and OpenStack's nova do), so seeds
    are not only read back from blockprov's own writer."""
    tree = tmp / f"iso-tree-{label}"
    for name, data in files.items():
        f = tree / name.lstrip("/")
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    subprocess.run(["genisoimage", "-quiet", "-output", str(path), "-volid", label, "-joliet", "-rock", str(tree)],
                   check=True)
    return path
