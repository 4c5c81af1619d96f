"""Modules: one file each, declaring ``META`` (a ``ModuleMeta`` record) and ``handle(ctx, args)``.

The record holds the module's id, default frequency, description, whether it is
re-runnable, its schema, and optionally its scope ("storage" or "network": the
``updates`` policy of that scope decides when the module runs) and the
SourceData fields it reads besides the config keys its schema names (together
they are the module's inputs, whose digest says whether a re-run is due).

A module succeeds by returning (optionally a one-line message), warns by
raising ModuleWarning and fails by raising anything else. Names are the file
names, so listing them needs no import.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from functools import lru_cache

from blockprov.modules._meta import ModuleMeta
from blockprov.paths import Paths


class ModuleWarning(Exception):
    """The module did its job partly; the boot is degraded, not failed."""


@dataclass
class StorageOutcome:
    """What the storage modules settled in one run, for the hotplug processor to act on."""

    done: list[str] = field(default_factory=list)  # item ids applied in this run
    waiting: list[str] = field(default_factory=list)  # item ids whose disk is not attached
    disks: set[str] = field(default_factory=set)  # disks the config names and found (not bad)
    settled: set[str] = field(default_factory=set)  # disks whose whole subtree is as the config says

    def add(self, other: "StorageOutcome") -> None:
        self.done.extend(other.done)
        self.waiting.extend(other.waiting)
        self.disks |= other.disks
        self.settled |= other.settled


@dataclass
class ModuleContext:
    paths: Paths
    cfg: dict  # merged: system < datasource < vendor-data < user-data
    iid: str
    stage: str
    datasource: object = None  # SourceData
    new_instance: bool = False
    log: object = None  # callable(str): the output log
    storage: StorageOutcome = field(default_factory=StorageOutcome)  # filled by the storage modules


@lru_cache(maxsize=1)
def known_modules() -> frozenset[str]:
    here = os.path.dirname(__file__)
    return frozenset(f[:-3] for f in os.listdir(here) if f.endswith(".py") and not f.startswith("_"))


def load(name: str):
    return importlib.import_module(f"blockprov.modules.{name}")


def meta(name: str) -> ModuleMeta:
    return load(name).META


def inputs_digest(mod, cfg: dict, args: dict, datasource) -> str:
    """A digest of everything the module reads: equal digests mean a re-run would change nothing."""
    import hashlib
    import json

    from blockprov.modules._schema import relevant

    doc = {"cfg": relevant(mod.META.schema, cfg, args),
           "ds": {k: getattr(datasource, k, None) for k in mod.META.datasource_inputs}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]
