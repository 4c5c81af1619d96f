"""Modules: one file each, declaring FREQUENCY, DESCRIPTION, RERUNNABLE and ``handle(ctx, args)``.

A module succeeds by returning (optionally a one-line message), warns by
raising ModuleWarning and fails by raising anything else. Names are the file
names, so listing them needs no import.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import lru_cache

from blockprov.paths import Paths


class ModuleWarning(Exception):
    """The module did its job partly; the boot is degraded, not failed."""


@dataclass
class ModuleContext:
    paths: Paths
    cfg: dict  # merged: system < datasource < vendor-data < user-data
    iid: str
    stage: str
    datasource: object = None  # SourceData
    new_instance: bool = False
    log: object = None  # callable(str): the output log


@lru_cache(maxsize=1)
def known_modules() -> frozenset[str]:
    here = os.path.dirname(__file__)
    return frozenset(f[:-3] for f in os.listdir(here) if f.endswith(".py") and not f.startswith("_"))


def load(name: str):
    return importlib.import_module(f"blockprov.modules.{name}")
