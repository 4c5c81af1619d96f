"""Applying a scope (storage, network, modules) or an executable handler after boot.

Shared by hotplug events, ``blockprov watch``, ``refresh-metadata`` and
``apply``: the caller decides which event happened and which handlers the
policy names; this module runs them through the stage runner, so module
schemas, semaphores, input digests and reporting work as at boot.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from blockprov.boot import sysconfig
from blockprov.modules import StorageOutcome

SCOPE_MODULES = {"storage": ("storage", "disks"), "network": ("network",)}
UPDATE_STAGES = ("init-network", "modules-config", "modules-final")


@dataclass
class Outcome:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    storage: StorageOutcome = field(default_factory=StorageOutcome)  # what the storage modules settled

    def summary(self) -> str:
        parts = [f"ran {', '.join(self.ran)}" if self.ran else "nothing ran"]
        if self.skipped:
            parts.append(f"unchanged {', '.join(self.skipped)}")
        return "; ".join(parts + self.errors + self.warnings)


def _entries(cfg: dict, names: tuple[str, ...]) -> list[sysconfig.ModuleEntry]:
    """The configured entries (with their args) of a scope's modules: a module no stage lists never runs."""
    found: dict[str, sysconfig.ModuleEntry] = {}
    for stage in sysconfig.STAGE_KEYS:
        for ent in sysconfig.module_entries(cfg, stage):
            found.setdefault(ent.name, ent)
    return [found[n] for n in names if n in found]


def run_scope(runner, scope: str, stage: str, sd, cfg: dict, only_changed: bool = False) -> Outcome:
    """storage / network: run their modules (``only_changed``: if their inputs changed; hotplug runs them
    regardless, since the devices changed); modules: re-run re-runnable modules whose inputs changed."""
    from blockprov import modules
    from blockprov.boot.stages import StageResult

    out = Outcome()
    res = StageResult(stage)
    if scope in SCOPE_MODULES:
        todo = [(e, only_changed) for e in _entries(cfg, SCOPE_MODULES[scope])]
    else:
        todo = []
        for st in UPDATE_STAGES:
            for ent in sysconfig.module_entries(cfg, st):
                meta = modules.meta(ent.name)
                if meta.rerunnable and not meta.scope:
                    todo.append((ent, True))
    for ent, only_changed in todo:
        r = runner.run_module(stage, ent, sd, cfg, res, force=not only_changed, only_changed=only_changed)
        if r.state == "ran":
            out.ran.append(ent.name)
        elif r.state == "skipped":
            out.skipped.append(ent.name)
        out.storage.add(r.storage)
    out.errors = res.errors
    out.warnings = res.warnings
    return out


def run_executable(path: str, event: dict, env: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    """A custom handler: the event as environment variables and as JSON on stdin; (exit code, output)."""
    from blockprov.run import run

    if not os.access(path, os.X_OK):
        return 126, f"{path}: not an executable file"
    res = run([path], check=False, timeout=timeout, input=json.dumps(event, sort_keys=True),
              env={**env, "BLOCKPROV_EVENT": event.get("event_type", "")})
    return res.returncode, (res.stdout + res.stderr).strip()
