"""Validation report: the JSON Schema, then the checks a schema cannot express.

Every problem is collected (never the first only) as a Problem with a stable
code, the JSON path into the user's document, the item id and one line of text.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from blockprov.storage import sizes
from blockprov.storage.model import REFS, refs_of

LABEL_MAX = {"ext2": 16, "ext3": 16, "ext4": 16, "xfs": 12, "btrfs": 255, "vfat": 11,
             "fat": 11, "fat12": 11, "fat16": 11, "fat32": 11, "swap": 15, "ntfs": 128, "jfs": 16}
KNOWN_FSTYPES = set(LABEL_MAX) | {"zfsroot", "iso9660", "reiserfs", "f2fs", "tmpfs", "none"}


@dataclass(frozen=True)
class Problem:
    code: str
    path: str
    id: str | None
    message: str
    severity: str = "error"  # or "warning": reported, does not fail validation

    def to_json(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        who = f" [{self.id}]" if self.id else ""
        return f"{self.severity}: {self.path}{who}: {self.message} ({self.code})"


def schema_text(name: str) -> str:
    """The schema from the checkout (source or editable install) or the installed package."""
    from pathlib import Path

    local = Path(__file__).resolve().parents[2] / "storage-schemas" / name
    if local.is_file():
        return local.read_text()
    from importlib.resources import files

    return files("blockprov.schemas").joinpath(name).read_text()


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(schema_text("storage-v1.json"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=None)


def json_path(prefix: str, parts) -> str:
    out = prefix
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


FAST_GATE_ITEMS = 300  # above this, a compiled validator checks first (its 50 ms compile pays off)


@lru_cache(maxsize=1)
def _fast_validators():
    """Compiled validators: the document without its items, and each item type's own schema. The schema's
    ``item`` is an allOf of one if/then per type; run as it is, each item fails thirteen ifs (an exception
    each in fastjsonschema), so the gate picks the item's branch by its ``type`` instead (the same check)."""
    import copy

    import fastjsonschema

    schema = json.loads(schema_text("storage-v1.json"))
    shell = copy.deepcopy(schema)
    shell["properties"]["config"]["items"] = {"type": "object"}
    types = set(schema["$defs"]["item"]["properties"]["type"]["enum"])

    @lru_cache(maxsize=None)
    def per_type(t: str):  # compiled when a config first uses the type (each costs about 6 ms)
        return fastjsonschema.compile({"$defs": schema["$defs"], "$ref": f"#/$defs/{t}"}) if t in types else None

    return fastjsonschema.compile(shell), per_type


def schema_valid_fast(storage: dict) -> bool:
    """True when the compiled validators accept the document (they stop at the first error)."""
    import fastjsonschema

    shell, per_type = _fast_validators()
    try:
        shell(storage)
        for it in storage.get("config") or []:
            check = per_type(it.get("type")) if isinstance(it.get("type"), str) else None
            if check is None:
                return False
            check(it)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def schema_problems(storage: dict, prefix: str) -> list[Problem]:
    """Schema errors."""
    return _schema_problems(storage, prefix)


def _schema_problems(storage: dict, prefix: str) -> list[Problem]:
    items = storage.get("config") if isinstance(storage.get("config"), list) else []
    if len(items) > FAST_GATE_ITEMS and schema_valid_fast(storage):
        return []
    v = _validator()
    out = []
    for err in v.iter_errors(storage):
        # Descend into the most specific failure of a conditional (allOf/if-then) branch.
        leaves = [err]
        while leaves[0].context:
            leaves = leaves[0].context
        for e in leaves if err.validator in ("allOf",) else [err]:
            parts = list(e.absolute_path) if e is err else list(err.absolute_path) + list(e.absolute_path)
            item_id = None
            if len(parts) >= 2 and parts[0] == "config" and isinstance(parts[1], int) and parts[1] < len(items):
                it = items[parts[1]]
                item_id = it.get("id") if isinstance(it, dict) and isinstance(it.get("id"), str) else None
            if parts and parts[-1] in ("size", "offset") and e.validator in ("oneOf", "pattern", "type", "minimum"):
                continue  # reported by the size grammar check with a better message
            msg = e.message
            if e.validator == "not" and isinstance(e.validator_value, dict) and "pattern" in e.validator_value:
                msg = f"{e.instance!r} contains " + ("white space or " if "0020" in e.validator_value["pattern"]
                                                      else "") + "control characters"
            if e.validator == "additionalProperties":
                msg = msg.replace("Additional properties are not allowed", "unknown key")
            out.append(Problem(f"schema.{e.validator}", json_path(prefix, parts), item_id, msg))
    return sorted(set(out), key=lambda p: (p.path, p.code, p.message))


def validate(storage: dict, prefix: str = "$", verdicts: Path | None = None) -> list[Problem]:
    """All problems of a storage mapping; an empty list (or only warnings) means valid."""
    """``verdicts`` remembers documents that were wholly valid, so an unchanged config (the boot and hotplug
    re-run case) skips the 60 ms jsonschema import and check; an invalid one is never remembered."""
    from blockprov import verdicts as cache

    key = cache.key(schema_text("storage-v1.json"), storage) if verdicts is not None else ""
    known = bool(key) and cache.known_valid(verdicts, key)
    problems = [] if known else schema_problems(storage, prefix)
    items = storage.get("config")
    if not isinstance(items, list):
        return problems
    # Items the schema rejected are not examined further: their shape is unknown.
    bad = {int(p.path[len(prefix) + 8:].split("]")[0]) for p in problems
           if p.path.startswith(f"{prefix}.config[") and p.severity == "error"}
    problems = problems + semantic_problems(items, prefix, bad)
    if key and not known and not errors(problems):
        cache.remember_valid(verdicts, key)
    return problems


def semantic_problems(items: list, prefix: str, skip: set[int] = frozenset()) -> list[Problem]:
    out: list[Problem] = []
    by_id: dict[str, int] = {}
    good = [(i, it) for i, it in enumerate(items) if i not in skip and isinstance(it, dict)
            and isinstance(it.get("id"), str) and isinstance(it.get("type"), str) and it["type"] in REFS]

    def P(i, key, code, msg, iid=None, severity="error"):
        path = f"{prefix}.config[{i}]" + (f".{key}" if key else "")
        out.append(Problem(code, path, iid if iid is not None else items[i].get("id"), msg, severity))

    for i, it in enumerate(items):
        if not (isinstance(it, dict) and isinstance(it.get("id"), str)):
            continue
        if it["id"] in by_id:
            P(i, "id", "duplicate-id", f"id {it['id']!r} is already used by config[{by_id[it['id']]}]")
        else:
            by_id[it["id"]] = i

    # References: existence and target type.
    deps: dict[str, list[str]] = {}
    for i, it in good:
        for key, idx, target in refs_of(it):
            k = f"{key}[{idx}]" if idx is not None else key
            if target not in by_id:
                P(i, k, "dangling-ref", f"{key} refers to {target!r}, which no item has as id")
                continue
            allowed = REFS[it["type"]][key][1]
            ttype = items[by_id[target]].get("type")
            if ttype not in allowed:
                P(i, k, "wrong-ref-type", f"{key} refers to {target!r} of type {ttype}; expected one of {', '.join(allowed)}")
                continue
            deps.setdefault(it["id"], []).append(target)

    out.extend(_cycles(deps, by_id, prefix))

    mounts: dict[str, int] = {}
    for i, it in good:
        t = it.get("type")
        if t == "disk" and it.get("wipe") and it.get("preserve"):
            P(i, "wipe", "wipe-preserve", "disk has both wipe and preserve: true; preserving a disk means not wiping it")
        if t == "raid":
            level = str(it.get("raidlevel", "")).replace("raid", "")
            if level in ("0", "linear", "stripe") and it.get("spare_devices"):
                P(i, "spare_devices", "raid-spares", f"raid level {it.get('raidlevel')} cannot have spare devices")
            n = len(it.get("devices") or [])
            need = {"1": 2, "mirror": 2, "4": 3, "5": 3, "6": 4, "10": 2}.get(level)
            if need and n and n < need and not it.get("preserve"):
                P(i, "devices", "raid-too-few", f"raid{level} needs at least {need} devices, has {n}")
        if t == "format":
            fst, label = it.get("fstype"), it.get("label")
            if isinstance(fst, str) and isinstance(label, str) and fst in LABEL_MAX and len(label.encode()) > LABEL_MAX[fst]:
                P(i, "label", "label-too-long", f"label {label!r} is {len(label.encode())} bytes; {fst} allows {LABEL_MAX[fst]}")
            if isinstance(fst, str) and fst not in KNOWN_FSTYPES:
                P(i, "fstype", "unknown-fstype", f"fstype {fst!r} is not one blockprov can create", severity="warning")
        if t == "mount" and isinstance(it.get("path"), str) and it["path"] != "none":
            comps = it["path"].split("/")
            if ".." in comps:
                P(i, "path", "path-escapes", f"{it['path']!r}: '..' components would leave the target; "
                                             "give the mount point without them")
            long = next((c for c in comps if len(c.encode("utf-8", "surrogateescape")) > 255), None)
            if long is not None:
                P(i, "path", "path-component-too-long", f"a path component of {len(long.encode())} bytes; "
                                                        "the limit is 255")
            norm = "/" + "/".join(p for p in it["path"].split("/") if p)
            if norm in mounts:
                P(i, "path", "duplicate-mount", f"{norm} is also mounted by config[{mounts[norm]}] ({items[mounts[norm]].get('id')})")
            else:
                mounts[norm] = i
        for key in ("size", "offset"):
            if key in it:
                try:
                    sizes.parse(it[key])
                except sizes.SizeError as exc:
                    P(i, key, "bad-size", str(exc))
    out.extend(_partition_problems(items, good, by_id, prefix))
    return out


def _cycles(deps: dict[str, list[str]], by_id: dict[str, int], prefix: str) -> list[Problem]:
    out, state = [], {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for d in deps.get(n, []):
            if state.get(d) == 1:
                cyc = stack[stack.index(d):] + [d]
                out.append(Problem("cycle", f"{prefix}.config[{by_id[d]}]", d, "reference cycle: " + " -> ".join(cyc)))
            elif d not in state:
                visit(d, stack + [d])
        state[n] = 2

    for n in deps:
        if n not in state:
            visit(n, [n])
    return out


def _partition_problems(items, good, by_id, prefix) -> list[Problem]:
    """Numbers unique per device, explicit offsets that overlap, ptable sanity."""
    out = []
    per_dev: dict[str, list[tuple[int, dict]]] = {}
    for i, it in good:
        if it.get("type") == "partition" and isinstance(it.get("device"), str):
            per_dev.setdefault(it["device"], []).append((i, it))
    for dev, parts in per_dev.items():
        seen: dict[int, int] = {}
        spans = []
        for i, it in parts:
            n = it.get("number")
            n = int(n) if isinstance(n, str) and n.isdigit() else n
            if isinstance(n, int):
                if n in seen:
                    out.append(Problem("duplicate-partition-number", f"{prefix}.config[{i}].number", it["id"],
                                       f"partition number {n} on {dev!r} is also used by config[{seen[n]}]"))
                else:
                    seen[n] = i
            try:
                off = sizes.to_bytes(it["offset"]) if "offset" in it else None
                size = sizes.to_bytes(it["size"]) if "size" in it else None
            except sizes.SizeError:
                continue
            if off is not None and size is not None and it.get("flag") != "extended":
                spans.append((off, off + size, i, it))
        spans.sort(key=lambda s: s[0])
        for (a0, a1, ai, ait), (b0, b1, bi, bit) in zip(spans, spans[1:]):
            if b0 < a1:
                out.append(Problem("overlapping-partitions", f"{prefix}.config[{bi}].offset", bit["id"],
                                   f"partition at offset {sizes.human(b0)} overlaps {ait['id']!r} ({sizes.human(a0)}-{sizes.human(a1)})"))
        if dev in by_id:
            ptable = items[by_id[dev]].get("ptable")
            for i, it in parts:
                attrs = it.get("attrs")
                if isinstance(attrs, list) and attrs:
                    from blockprov.storage.layout import attr_bit

                    if ptable in ("msdos", "dos"):
                        out.append(Problem("attrs-needs-gpt", f"{prefix}.config[{i}].attrs", it["id"],
                                           f"GPT attributes need a gpt partition table, {dev!r} has {ptable}"))
                    for k, a in enumerate(attrs):
                        if attr_bit(a) is None:
                            out.append(Problem("bad-attr", f"{prefix}.config[{i}].attrs[{k}]", it["id"],
                                               f"{a!r} is not a GPT attribute (RequiredPartition, NoBlockIOProtocol, "
                                               "LegacyBIOSBootable, or GUID:48 to GUID:63)"))
                if it.get("flag") in ("extended", "logical") and ptable not in (None, "msdos", "dos"):
                    out.append(Problem("flag-needs-msdos", f"{prefix}.config[{i}].flag", it["id"],
                                       f"flag {it['flag']} needs an msdos partition table, {dev!r} has {ptable}"))
    return out


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
