"""Frequency semaphores: a file per (module, frequency), written only after the module succeeded.

per-instance: ``var/lib/blockprov/instances/<iid>/sem/<name>``; once:
``var/lib/blockprov/sem/<name>.once``; always: none (runs every time).
A new instance-id means a new instance dir, so per-instance modules run again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from blockprov.paths import Paths, atomic_write, safe_name


def path(paths: Paths, iid: str, name: str, frequency: str) -> Path | None:
    if frequency == "per-instance":
        return paths.instance_dir(iid) / "sem" / safe_name(name)
    if frequency == "once":
        return paths.global_sem / f"{safe_name(name)}.once"
    return None


def done(paths: Paths, iid: str, name: str, frequency: str) -> bool:
    p = path(paths, iid, name, frequency)
    return p is not None and p.exists()


def mark(paths: Paths, iid: str, name: str, frequency: str) -> None:
    p = path(paths, iid, name, frequency)
    if p is not None:
        atomic_write(p, json.dumps({"name": name, "frequency": frequency, "at": round(time.time(), 3)}) + "\n")
