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


# -- cloud-init's mergers, for the parts of one user-data -------------------------------------------------------
DEFAULT_HOW = "dict(replace)+list()+str()"  # cloud-init's default between user-data parts


class MergeSpecError(ValueError):
    pass


def parse_how(spec) -> dict[str, set[str]]:
    """``merge_how``/``X-Merge-Type`` in either form cloud-init accepts: ``"list(append)+dict(recurse_list)+str()"``
    or ``[{name: list, settings: [append]}, ...]`` -> {"dict": options, "list": options, "str": options}."""
    import re

    out: dict[str, set[str]] = {"dict": set(), "list": set(), "str": set()}
    if isinstance(spec, list):
        for m in spec:
            if not isinstance(m, dict) or m.get("name") not in out:
                raise MergeSpecError(f"merge_how: {m!r} is not {{name: dict|list|str, settings: [...]}}")
            out[m["name"]] = {str(s) for s in m.get("settings") or []}
        return out
    for name, opts in re.findall(r"(\w+)\(([^)]*)\)", str(spec or DEFAULT_HOW)):
        if name not in out:
            raise MergeSpecError(f"merge_how: unknown merger {name!r} (dict, list, str)")
        out[name] = {o.strip() for o in opts.split(",") if o.strip()}
    return out


def merge_how(old, new, how: dict[str, set[str]]):
    """``new`` merged onto ``old`` as cloud-init's mergers do it (pure)."""
    if isinstance(old, dict) and isinstance(new, dict):
        o = how["dict"]
        out = copy.deepcopy(old)
        for k, v in new.items():
            if k not in out:
                out[k] = copy.deepcopy(v)
            elif v is None and "allow_delete" in o:
                del out[k]
            elif isinstance(v, dict) and isinstance(out[k], dict) and "recurse_dict" in o or \
                    isinstance(v, list) and isinstance(out[k], list) and ("recurse_list" in o or "recurse_array" in o) or \
                    isinstance(v, str) and isinstance(out[k], str) and "recurse_str" in o:
                out[k] = merge_how(out[k], v, how)
            elif "replace" in o:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(old, list) and isinstance(new, list):
        o = how["list"]
        if "append" in o:
            return copy.deepcopy(old) + copy.deepcopy(new)
        if "prepend" in o:
            return copy.deepcopy(new) + copy.deepcopy(old)
        return copy.deepcopy(old) if "no_replace" in o else copy.deepcopy(new)
    if isinstance(old, str) and isinstance(new, str):
        return old + new if "append" in how["str"] else new
    return copy.deepcopy(new)
