"""Remembered schema verdicts: the sha256 of (schema, document) pairs that passed.

An unchanged config (the boot and hotplug re-run case) then skips the jsonschema
import and check, which cost more than the rest of a re-run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

KEPT = 64


def key(schema_text: str, document) -> str:
    """Types are tagged so a YAML date and its text differ."""
    doc = json.dumps(document, sort_keys=True, default=lambda o: f"<{type(o).__name__}>{o!r}")
    return hashlib.sha256(schema_text.encode() + b"\0" + doc.encode()).hexdigest()


def known_valid(verdicts: Path, k: str) -> bool:
    try:
        return k in json.loads(verdicts.read_text()).get("valid", [])
    except (OSError, ValueError, AttributeError):
        return False


def remember_valid(verdicts: Path, k: str) -> None:
    from blockprov.paths import atomic_write

    try:
        keys = json.loads(verdicts.read_text()).get("valid", [])
    except (OSError, ValueError, AttributeError):
        keys = []
    keys = [x for x in keys if isinstance(x, str) and x != k][-(KEPT - 1):] + [k]
    try:
        atomic_write(verdicts, json.dumps({"valid": keys}), mode=0o600)
    except OSError:
        pass  # a read-only root only loses the shortcut
