"""Schema parity with curtin (issue 19): every key curtin's own schema accepts for every action type, with
values of every type and enum member it allows, is accepted by blockprov's schema. The facts are in
tests/fixtures/curtin-schema/facts.json (see its README)."""
import json
from pathlib import Path

import pytest

from blockprov.storage import validate

FACTS = json.loads((Path(__file__).parents[2] / "fixtures" / "curtin-schema" / "facts.json").read_text())

# string values for keys whose curtin schema has a pattern (what real configs put there)
STRINGS = {
    "uuid": "1d3b8a2e-0000-4000-8000-000000000001", "wwn": "0x5000c500a0b1c2d3", "size": "10G", "offset": "1M",
    "path": "/dev/vdb", "key": "passphrase", "keyfile": "/root/key", "device_id": "0.0.1544",
    "multipath": "mpatha", "partition_type": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "mountpoint": "/",
    "spec": "/dev/vdb1", "options": "defaults", "tcp_addr": "172.16.82.78", "tcp_port": "4420",
}
BY_TYPE = {("mount", "path"): "/srv", ("format", "label"): "data", ("dasd", "label"): "0X1544",
           ("zpool", "mountpoint"): "/", ("lvm_partition", "path"): "/dev/vg0/lv0"}


def samples(kind: str, key: str, sch: dict) -> list:
    if "enum" in sch:
        return list(sch["enum"])
    if "const" in sch:
        return [sch["const"]]
    if "oneOf" in sch and all("enum" in b for b in sch["oneOf"]):
        return [v for branch in sch["oneOf"] for v in branch["enum"]]
    if "oneOf" in sch and "type" not in sch:
        return [v for branch in sch["oneOf"] for v in samples(kind, key, branch)]
    types = sch.get("type", ["string"])
    types = [types] if isinstance(types, str) else types
    out = []
    for ty in types:
        if ty == "boolean":
            out += [True, False]
        elif ty in ("integer", "number"):
            out.append(sch.get("minimum", 1) if key != "number" else 1)
        elif ty == "string":
            if "oneOf" in sch:
                out += [v for b in sch["oneOf"] for v in samples(kind, key, {**b, "type": "string"})
                        if isinstance(v, str)]
            else:
                out.append(BY_TYPE.get((kind, key)) or STRINGS.get(key) or ("1" if "pattern" in sch else "x1"))
        elif ty == "array":
            out.append(["x1"])
        elif ty == "object":
            out.append({"a": "b"})
        elif ty == "null":
            out.append(None)
    return list(dict.fromkeys(json.dumps(v) for v in out)) and [json.loads(v) for v in
                                                                dict.fromkeys(json.dumps(v) for v in out)]


def base(kind: str) -> dict:
    item = {"id": "x0", "type": kind}
    for req in FACTS[kind]["required"]:
        if req not in item:
            item[req] = samples(kind, req, FACTS[kind]["properties"][req])[0]
    any_of = [alt for alt in FACTS[kind].get("anyOf") or [] if alt.get("required")]
    if any_of and not any(all(k in item for k in alt["required"]) for alt in any_of):
        k = any_of[0]["required"][0]
        item[k] = samples(kind, k, FACTS[kind]["properties"][k])[0]
    return item


# Deliberate differences (docs/storage-config.md): curtin's unanchored pattern "[0-9]" takes any text with a
# digit in it for freq and passno; blockprov writes them into fstab and takes one digit only.
STRICTER = {("mount", "freq"): "one digit", ("mount", "passno"): "one digit"}

CASES = [(kind, key, value) for kind, f in sorted(FACTS.items()) for key, sch in sorted(f["properties"].items())
         if key not in ("id", "type") for value in samples(kind, key, sch)]


@pytest.mark.parametrize("kind,key,value", CASES, ids=[f"{k}.{p}={json.dumps(v)}" for k, p, v in CASES])
def test_blockprov_accepts_what_curtin_accepts(kind, key, value):
    item = {**base(kind), key: value}
    probs = validate.schema_problems({"version": 1, "config": [item]}, "$")
    assert probs == [], [str(p) for p in probs]


@pytest.mark.parametrize("kind,key", sorted(STRICTER))
def test_deliberately_stricter_keys_are_refused_with_a_path(kind, key):
    item = {**base(kind), key: "2 extra"}  # curtin: accepted, and written into fstab as two fields
    probs = validate.schema_problems({"version": 1, "config": [item]}, "$")
    assert any(p.path == f"$.config[0].{key}" for p in probs)


def test_every_curtin_action_type_is_known():
    from blockprov.storage.model import REFS

    assert set(FACTS) <= set(REFS)
