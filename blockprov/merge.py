"""Config merging: mappings merge key by key, everything else (lists too) is replaced.

The precedence chain is system config < datasource config < vendor-data <
user-data, each merged onto the one before. Replacing lists (rather than
appending) keeps a later layer able to say "exactly these users".
"""

from __future__ import annotations

import copy


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def merge_all(*layers: dict | None) -> dict:
    out: dict = {}
    for layer in layers:
        if layer:
            out = merge(out, layer)
    return out
