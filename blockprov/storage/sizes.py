"""The size grammar shared by the schema, the validator and the planner.

Binary multiples throughout, as curtin's ``human2bytes``: ``K``, ``M``, ``G``,
``T``, ``P`` (optionally followed by ``i`` and/or ``B``) are powers of 1024;
a bare number or ``B`` suffix means bytes; ``N%`` is a share of the parent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal, InvalidOperation

UNITS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}
SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGTP])(?:i?B)?|B)?\s*$")
PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
# Mirrors SIZE_RE / PERCENT_RE for the JSON Schema (no capture groups needed there).
SCHEMA_PATTERN = r"^\s*\d+(\.\d+)?\s*(([KMGTP](i?B)?|B)?|%)\s*$"

MiB = 1 << 20


class SizeError(ValueError):
    pass


@dataclass(frozen=True)
class Size:
    """A parsed size: absolute bytes, or a percentage of the parent device."""

    bytes: int | None = None
    percent: Decimal | None = None

    def resolve(self, parent_bytes: int | None) -> int | None:
        if self.bytes is not None:
            return self.bytes
        if parent_bytes is None:
            return None
        return int(Decimal(parent_bytes) * self.percent / 100)


def parse(value: object) -> Size:
    """Parse an int or a size string; raise SizeError on anything else."""
    if isinstance(value, bool):
        raise SizeError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise SizeError(f"negative size: {value}")
        return Size(bytes=value)
    if not isinstance(value, str):
        raise SizeError(f"not a size: {value!r}")
    return _parse_text(value)


@lru_cache(maxsize=4096)
def _parse_text(value: str) -> Size:
    """Size strings repeat across a config ("4G" on a thousand partitions): parsed once each (Size is frozen)."""
    m = PERCENT_RE.match(value)
    if m:
        pct = Decimal(m.group(1))
        if not 0 < pct <= 100:
            raise SizeError(f"percentage out of range: {value!r}")
        return Size(percent=pct)
    m = SIZE_RE.match(value)
    if not m:
        raise SizeError(f"not a size: {value!r} (examples: 1048576, 512M, 1.5G, 10GiB, 100%)")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation as exc:  # pragma: no cover - regex guarantees digits
        raise SizeError(str(exc)) from exc
    return Size(bytes=int(number * (1024 ** UNITS[m.group(2) or ""])))


def to_bytes(value: object, parent_bytes: int | None = None) -> int | None:
    return parse(value).resolve(parent_bytes)


def human(n: int | None) -> str:
    """Short binary rendering for people: 1.5G, 512M, 4096B."""
    if n is None:
        return "?"
    for unit in ("P", "T", "G", "M", "K"):
        scale = 1024 ** UNITS[unit]
        if n >= scale:
            v = n / scale
            return f"{v:.1f}".rstrip("0").rstrip(".") + unit
    return f"{n}B"


def align_up(n: int, to: int) -> int:
    return -(-n // to) * to


def align_down(n: int, to: int) -> int:
    return n // to * to
