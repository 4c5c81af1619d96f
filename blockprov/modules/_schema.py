"""Checking a module's keys against the JSON Schema it declares (``SCHEMA``).

Only the top-level keys a schema names are checked, after the module entry's
``args`` override them, so one module's bad key never fails another. A key
set that passed is remembered by hash (see blockprov.verdicts): a reboot with
an unchanged config neither imports jsonschema nor checks again.
"""

from __future__ import annotations

import json
from pathlib import Path

COMMAND = {"description": "a string (run by sh -c) or an argv list",
           "oneOf": [{"type": "string"},
                     {"type": "array", "minItems": 1, "items": {"type": ["string", "number"]}}]}
COMMANDS = {"type": "array", "items": COMMAND}
STRINGS = {"type": "array", "items": {"type": "string"}}
STRING_OR_STRINGS = {"oneOf": [{"type": "string"}, STRINGS]}


def relevant(schema: dict, cfg: dict, args: dict) -> dict:
    keys = schema.get("properties", {})
    doc = {k: cfg[k] for k in keys if k in cfg}
    doc.update({k: v for k, v in (args or {}).items() if k in keys})
    return doc


def _path(parts) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _leaf(e):
    """The error worth showing under a oneOf/anyOf: from the branch whose type fits, the deepest one."""
    while e.validator in ("oneOf", "anyOf") and e.context:
        branches: dict = {}
        for c in e.context:
            branches.setdefault(c.relative_schema_path[0], []).append(c)
        fitting = [errs for errs in branches.values()
                   if not any(c.validator in ("type", "const", "enum") and not c.relative_path for c in errs)]
        errs = fitting[0] if fitting else e.context
        e = max(errs, key=lambda c: len(c.absolute_path))
    return e


def errors_of(schema: dict, entry, where: str) -> list[str]:
    """One entry of a list or mapping checked on its own: its problems, paths starting at ``where`` (pure)."""
    return [where + p[1:] for p in problems(schema, entry)]


def problems(schema: dict, doc: dict) -> list[str]:
    """'$.path: message' for every schema error, sorted by path (pure)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    out = []
    for e in cls(schema).iter_errors(doc):
        leaf = _leaf(e)
        out.append(f"{_path(leaf.absolute_path)}: {leaf.message}")
    return sorted(out)


def check(schema: dict | None, cfg: dict, args: dict, verdicts: Path | None = None) -> list[str]:
    if not schema:
        return []
    from blockprov import verdicts as cache

    doc = relevant(schema, cfg, args)
    if not doc:
        return []
    k = cache.key(json.dumps(schema, sort_keys=True), doc) if verdicts is not None else ""
    if k and cache.known_valid(verdicts, k):
        return []
    out = problems(schema, doc)
    if k and not out:
        cache.remember_valid(verdicts, k)
    return out
