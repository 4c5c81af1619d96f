"""Every filesystem location the agent uses, relative to one root.

Tests and ``--root DIR`` relocate files (etc, var, run); block devices are
still those of the running system.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    root: Path = Path("/")
    target: Path | None = None  # where mount points and etc/fstab live; default: root

    @property
    def tgt(self) -> Path:
        return self.target or self.root

    def under(self, base: Path, rel: str) -> Path:
        return base / rel.lstrip("/")

    @property
    def fstab(self) -> Path:
        return self.under(self.tgt, "etc/fstab")

    @property
    def state(self) -> Path:
        return self.under(self.root, "var/lib/blockprov")

    @property
    def storage_journal(self) -> Path:
        return self.state / "storage" / "journal.json"

    @property
    def cache(self) -> Path:
        return self.under(self.root, "var/cache/blockprov")

    @property
    def run(self) -> Path:
        return self.under(self.root, "run/blockprov")

    @property
    def etc(self) -> Path:
        return self.under(self.root, "etc/blockprov")


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """temp file + fsync + rename + fsync of the directory."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.blockprov-tmp")
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
