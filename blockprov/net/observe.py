"""The target's network interfaces, read from its ``sys/class/net`` (the shell's one probe)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from blockprov.paths import Paths


@dataclass
class Nic:
    name: str
    mac: str  # lower case
    physical: bool  # has a device behind it (not a veth, bridge or tunnel)


def interfaces(paths: Paths) -> list[Nic]:
    base = paths.inside("/sys/class/net")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    out = []
    for name in names:
        if name == "lo":
            continue
        try:
            mac = (base / name / "address").read_text().strip().lower()
        except OSError:
            continue
        out.append(Nic(name, mac, (base / name / "device").exists()))
    return out


def macs(nics: list[Nic]) -> dict[str, str]:
    return {n.mac: n.name for n in nics if n.mac and n.mac != "00:00:00:00:00:00"}
