"""The config layer the event channel set on an instance (``instances/<iid>/channel-config.json``, 0600).

A leaf: the stage runner and the metadata refresh merge it last, and
``channel/actions.py`` writes it.
"""

from __future__ import annotations

import json

from blockprov.paths import Paths


def layer_path(paths: Paths, iid: str):
    return paths.instance_dir(iid) / "channel-config.json"


def layer(paths: Paths, iid: str) -> dict:
    """What the channel set ({} when nothing)."""
    try:
        got = json.loads(layer_path(paths, iid).read_text())
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}
