"""The hotplug spool: one file per udev event under ``run/blockprov/hotplug/queue``.

The udev RUN helper (``udev/blockprov-hotplug-enqueue``) writes each event's
environment as NUL-separated ``KEY=VALUE`` pairs to a dot-file and renames it
to ``<SEQNUM, 20 digits>-<pid>.event``, so a reader never sees half an event
and name order is kernel order. Files are deleted only after their event was
handled: a crash re-handles them, and handling is idempotent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from blockprov.paths import Paths, atomic_write

KEEP = ("ACTION", "SUBSYSTEM", "DEVTYPE", "DEVNAME", "DEVPATH", "SEQNUM", "INTERFACE", "IFINDEX", "ID_SERIAL",
        "ID_SERIAL_SHORT", "ID_SCSI_SERIAL", "ID_WWN", "ID_PATH", "ID_FS_TYPE", "ID_FS_UUID", "ID_FS_LABEL",
        "ID_PART_TABLE_TYPE", "ID_NET_NAME", "DEVLINKS", "MAJOR", "MINOR", "PARTN", "USEC_INITIALIZED")


def queue_dir(paths: Paths) -> Path:
    return paths.run / "hotplug" / "queue"


@dataclass
class Event:
    file: str  # spool file name ("" for events made in-process)
    props: dict[str, str] = field(default_factory=dict)
    queued: float = 0.0  # when the helper wrote it (file mtime, wall clock); 0 for events made in-process

    @property
    def action(self) -> str:
        return self.props.get("ACTION", "")

    @property
    def subsystem(self) -> str:
        return self.props.get("SUBSYSTEM", "")

    @property
    def device(self) -> str:
        """/dev/NAME for block, the interface name for net."""
        if self.subsystem == "net":
            return self.props.get("INTERFACE", "")
        return self.props.get("DEVNAME", "")

    @property
    def seqnum(self) -> int:
        try:
            return int(self.props.get("SEQNUM", "0"))
        except ValueError:
            return 0

    def to_json(self) -> dict:
        return {"subsystem": self.subsystem, "action": self.action, "device": self.device, "seqnum": self.seqnum,
                "properties": {k: v for k, v in self.props.items() if k in KEEP}}


def parse(raw: bytes) -> dict[str, str]:
    """``env -0`` output -> dict; also accepts newline-separated pairs (hand-made events)."""
    sep = b"\0" if b"\0" in raw else b"\n"
    out = {}
    for item in raw.split(sep):
        k, eq, v = item.decode("utf-8", "replace").partition("=")
        if eq and k:
            out[k] = v
    return out


def pending(paths: Paths) -> list[str]:
    try:
        return sorted(n for n in os.listdir(queue_dir(paths)) if n.endswith(".event"))
    except OSError:
        return []


def take(paths: Paths) -> list[Event]:
    """Every queued event, in kernel order (unreadable files are dropped: they cannot be retried)."""
    q = queue_dir(paths)
    out = []
    for name in pending(paths):
        try:
            raw = (q / name).read_bytes()
            out.append(Event(name, parse(raw), (q / name).stat().st_mtime))
        except FileNotFoundError:
            continue
    out.sort(key=lambda e: (e.seqnum, e.file))
    return out


def done(paths: Paths, events: list[Event]) -> None:
    q = queue_dir(paths)
    for e in events:
        if e.file:
            (q / e.file).unlink(missing_ok=True)


def enqueue(paths: Paths, props: dict[str, str]) -> str:
    """What the udev helper does, for `blockprov hotplug handle` and tests."""
    name = f"{int(props.get('SEQNUM') or 0):020d}-{os.getpid()}-{len(pending(paths))}.event"
    raw = b"".join(f"{k}={v}".encode() + b"\0" for k, v in props.items())
    atomic_write(queue_dir(paths) / name, raw)
    return name


def kick(paths: Paths) -> None:
    """Start a processor without waiting for it: the systemd unit on a live system, else a detached process."""
    import subprocess
    import sys

    if str(paths.root) == "/" and os.path.isdir("/run/systemd/system"):
        r = subprocess.run(["systemctl", "--no-block", "start", "blockprov-hotplug.service"],
                           capture_output=True, check=False)
        if r.returncode == 0:
            return
    subprocess.Popen([sys.executable, "-m", "blockprov", "hotplug", "--root", str(paths.root), "process"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
