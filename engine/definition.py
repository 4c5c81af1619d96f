"""Instance definitions: the JSON Schema, the checks past it, and the stored form (pure but for the hasher).

Every problem is collected with its JSON path (``$.nics[0].address``) and, for
storage items, the item id, as the agent's storage validator reports them.
The stored form never holds a plain password: ``users[].password`` becomes
``hashed_password`` before anything is written.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import uuid
from functools import lru_cache
from importlib.resources import files
from typing import Callable

from blockprov.storage.validate import Problem, json_path


class DefinitionError(ValueError):
    """A definition that cannot be stored; ``problems`` says every reason."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(files("blockprov_engine").joinpath("definition.schema.json").read_text())


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    s = schema()
    return jsonschema.validators.validator_for(s)(s)


def _schema_problems(doc) -> list[Problem]:
    out = []
    for e in _validator().iter_errors(doc):
        msg = e.message
        if e.validator == "additionalProperties":
            msg = msg.replace("Additional properties are not allowed", "unknown key")
        elif e.validator == "not" and list(e.path)[:1] == ["users"]:
            msg = "give password or hashed_password, not both"
        elif e.validator == "pattern":
            msg = f"{e.instance!r} is not valid here"
        out.append(Problem(f"schema.{e.validator}", json_path("$", e.absolute_path), None, msg))
    return out


def _ip_problems(values, where: str) -> list[Problem]:
    out = []
    for i, v in enumerate(values or []):
        try:
            ipaddress.ip_address(v)
        except ValueError:
            out.append(Problem("definition.ip", f"{where}[{i}]", None, f"{v!r} is not an IP address"))
    return out


def _duplicates(items, key: str, where: str) -> list[Problem]:
    seen: dict = {}
    out = []
    for i, it in enumerate(items or []):
        k = it.get(key)
        if k in seen:
            out.append(Problem("definition.duplicate", f"{where}[{i}].{key}", None,
                               f"{k!r} is already {where}[{seen[k]}]"))
        seen.setdefault(k, i)
    return out


def validate(doc) -> list[Problem]:
    """Every problem of a definition (an empty list means it can be stored)."""
    problems = _schema_problems(doc)
    if not isinstance(doc, dict) or problems:
        return problems
    problems += _ip_problems((doc.get("dns") or {}).get("servers"), "$.dns.servers")
    problems += _ip_problems(doc.get("source_addresses"), "$.source_addresses")
    problems += _duplicates(doc.get("users"), "name", "$.users")
    problems += _duplicates(doc.get("nics"), "name", "$.nics")
    problems += _duplicates(doc.get("files"), "path", "$.files")
    if doc.get("nics"):
        from blockprov.net.model import NetConfigError
        from blockprov.net.ovirt import from_ovirt

        try:
            from_ovirt({"nics": doc["nics"]}, {})
        except NetConfigError as exc:
            path, _, msg = str(exc).partition(": ")
            problems.append(Problem("definition.nic", path, None, msg))
    for i, f in enumerate(doc.get("files") or []):
        if f.get("encoding") == "base64":
            import base64
            import binascii

            try:
                base64.b64decode(f["content"], validate=True)
            except (binascii.Error, ValueError):
                problems.append(Problem("definition.base64", f"$.files[{i}].content", None, "not valid base64"))
    if "storage" in doc or doc.get("volumes"):
        problems += validate_storage(effective_storage(doc), "$.storage")
    return problems


def volume_items(volumes: list[dict]) -> list[dict]:
    """Storage items for the definition's ``volumes``: each disk named by its cloud ``volume_id`` (pure)."""
    out = []
    for n, v in enumerate(volumes or []):
        vid = v.get("id") or f"volume{n}"
        ptable = v.get("ptable", "gpt")
        out.append({"id": vid, "type": "disk", "volume_id": v["volume_id"],
                    **({"ptable": ptable} if ptable != "none" else {})})
        if not v.get("fstype"):
            continue
        vol = vid
        if ptable != "none":
            vol = f"{vid}-part1"
            out.append({"id": vol, "type": "partition", "device": vid, "size": "100%", "number": 1})
        out.append({"id": f"{vid}-fs", "type": "format", "volume": vol, "fstype": v["fstype"],
                    **({"label": v["label"]} if v.get("label") else {})})
        if v.get("mount"):
            out.append({"id": f"{vid}-mount", "type": "mount", "device": f"{vid}-fs", "path": v["mount"],
                        **({"options": v["options"]} if v.get("options") else {})})
    return out


def effective_storage(doc: dict):
    """``storage`` with the items of ``volumes`` appended (a version-1 config when there was none)."""
    storage = doc.get("storage")
    extra = volume_items(doc.get("volumes") or [])
    if not extra:
        return storage
    if not isinstance(storage, dict):
        storage = {"version": 1, "config": []}
    return {**storage, "config": list(storage.get("config") or []) + extra}


def validate_storage(storage, prefix: str) -> list[Problem]:
    from blockprov.storage.validate import errors
    from blockprov.storage.validate import validate as storage_validate

    if not isinstance(storage, dict):
        return [Problem("schema.type", prefix, None, "a storage config is a mapping {version: 1, config: [...]}")]
    return errors(storage_validate(storage, prefix))


def address_problems(doc: dict, owners: dict[str, str]) -> list[Problem]:
    """A source address already owned (``owners``: address -> instance id) by another instance."""
    return [Problem("definition.address_taken", f"$.source_addresses[{i}]", None,
                    f"{a} is already the address of instance {owners[a]!r}")
            for i, a in enumerate(doc.get("source_addresses") or []) if owners.get(a, doc["id"]) != doc["id"]]


def stored(doc: dict, hasher: Callable[[str], str], iid: str | None = None) -> dict:
    """The form kept in the store: an id, a name, and hashes in place of plain passwords."""
    out = copy.deepcopy(doc)
    out["id"] = iid or out.get("id") or str(uuid.uuid4())
    out.setdefault("name", out["hostname"])
    if out.get("volumes"):  # kept as storage items, so every seed form and the service serve them
        out["storage"] = effective_storage(out)
    for u in out.get("users") or []:
        plain = u.pop("password", None)
        if plain is not None:
            u["hashed_password"] = hasher(plain)
    return out


def check(doc) -> None:
    problems = validate(doc)
    if problems:
        raise DefinitionError(problems)
