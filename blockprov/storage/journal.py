"""The storage journal (``var/lib/blockprov/storage/journal.json``): what blockprov did, per item.

Read once per run: the planner learns from it which ``wipe``s were already carried out (``applied``) and
which device steps a killed run left unfinished (``inflight``); the executor records each step as it
starts and as it completes, rewriting the file atomically (0600) each time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from blockprov.paths import atomic_write
from blockprov.storage.inventory import Inventory
from blockprov.storage.plan import ANY_ITEM, Step


class Journal:
    """What blockprov created, per item; rewritten atomically after every step."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}
        if not isinstance(self.data, dict) or not isinstance(self.data.get("items"), dict):
            self.data = {"version": 1, "items": {}}

    def begin(self, step: Step) -> None:
        """Written before a step that changes a device starts: if the process dies inside it, the next run
        knows that the half-made table or filesystem is its own, and redoes it (``interrupted``)."""
        self.data.setdefault("inflight", {})[step.item] = {"op": step.op, "device": step.device,
                                                           "at": round(time.time(), 3)}
        self._save()

    def interrupted(self) -> dict[str, str]:
        """item id -> device of the device steps that started and never completed (a killed run): the
        planner's ``Options.interrupted``."""
        got = self.data.get("inflight")
        return {k: v["device"] for k, v in got.items() if isinstance(v, dict) and isinstance(v.get("device"), str)} \
            if isinstance(got, dict) else {}

    def applied(self, inv: Inventory) -> dict[str, set[str]]:
        """item id -> identities of the devices this config's items were applied to before (the planner's
        ``Options.applied``): the ``applied`` records, and under ``ANY_ITEM`` every device a recorded step ran
        on (journals from before the record existed): where blockprov worked, a ``wipe`` is not done again."""
        got = self.data.get("applied")
        out = {k: {x for x in v if isinstance(x, str)} for k, v in got.items() if isinstance(v, list)} \
            if isinstance(got, dict) else {}
        items = self.data.get("items")
        seen = {inv.identity(s["device"]) for entry in (items.values() if isinstance(items, dict) else [])
                if isinstance(entry, dict) for s in entry.get("steps") or []
                if isinstance(s, dict) and isinstance(s.get("device"), str) and s["device"] in inv.devices}
        if seen:
            out.setdefault(ANY_ITEM, set()).update(seen)
        return out

    def remember_applied(self, found: dict[str, set[str]]) -> None:
        """Add item -> device identities to the ``applied`` record (written only when something is new)."""
        got = self.data.get("applied")
        got = {k: list(v) for k, v in got.items() if isinstance(v, list)} if isinstance(got, dict) else {}
        changed = False
        for item, ids in found.items():
            new = sorted(set(ids) - set(got.get(item, [])))
            if new:
                got[item] = (got.get(item, []) + new)[-8:]
                changed = True
        if changed:
            self.data["applied"] = got
            self._save()

    def settle_inflight(self, keep: set[str]) -> None:
        got = self.data.get("inflight")
        if isinstance(got, dict) and set(got) - keep:
            self.data["inflight"] = {k: v for k, v in got.items() if k in keep}
            self._save()

    def record(self, step: Step, detail: dict | None = None) -> None:
        entry = self.data["items"].setdefault(step.item or "fstab", {"steps": []})
        entry["steps"].append({"op": step.op, "device": step.device, "at": round(time.time(), 3), **(detail or {})})
        entry["steps"] = entry["steps"][-8:]
        if isinstance(self.data.get("inflight"), dict):
            self.data["inflight"].pop(step.item, None)
        self._save()

    def _save(self) -> None:
        atomic_write(self.path, json.dumps(self.data, indent=1, sort_keys=True), mode=0o600)
