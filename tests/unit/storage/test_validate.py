"""One hand-written invalid config per check, each with its code and JSON path."""
import json
import glob

import pytest

from blockprov import verdicts as verdicts_mod
from blockprov.storage import loader, validate
from tests.conftest import CORPUS

DISK = {"id": "d0", "type": "disk", "serial": "s0", "ptable": "gpt"}
PART = {"id": "p1", "type": "partition", "device": "d0", "size": "1G"}
FMT = {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4"}


def problems(items, wrap=True):
    doc = {"storage": {"version": 1, "config": items}} if wrap else {"version": 1, "config": items}
    l = loader.from_document(doc)
    return validate.errors(validate.validate(l.storage, l.prefix))


@pytest.mark.parametrize("items,code,path,item_id", [
    ([DISK, {**PART, "size": "1Gfoo"}], "bad-size", "$.storage.config[1].size", "p1"),
    ([DISK, {**PART, "perserve": True}], "schema.additionalProperties", "$.storage.config[1]", "p1"),
    ([DISK, {**DISK}], "duplicate-id", "$.storage.config[1].id", "d0"),
    ([DISK, {**PART, "device": "nope"}], "dangling-ref", "$.storage.config[1].device", "p1"),
    ([DISK, PART, {**FMT, "volume": "d0"}, {"id": "m", "type": "mount", "device": "p1", "path": "/x"}],
     "wrong-ref-type", "$.storage.config[3].device", "m"),
    ([{"id": "a", "type": "raid", "name": "a", "raidlevel": 1, "devices": ["b", "c"]},
      {"id": "b", "type": "raid", "name": "b", "raidlevel": 1, "devices": ["a", "c"]},
      {**DISK, "id": "c"}], "cycle", None, None),
    ([{**DISK, "wipe": "superblock", "preserve": True}], "wipe-preserve", "$.storage.config[0].wipe", "d0"),
    ([DISK, {**DISK, "id": "d1", "serial": "s1"}, {**PART}, {**PART, "id": "p2", "device": "d1"},
      {"id": "r", "type": "raid", "name": "r", "raidlevel": 0, "devices": ["p1"], "spare_devices": ["p2"]}],
     "raid-spares", "$.storage.config[4].spare_devices", "r"),
    ([DISK, PART, {**FMT, "label": "a-label-far-too-long"}], "label-too-long", "$.storage.config[2].label", "f1"),
    ([DISK, PART, {**FMT, "fstype": "xfs", "label": "thirteenchars"}], "label-too-long", "$.storage.config[2].label", "f1"),
    ([DISK, {**PART, "offset": "1M", "size": "2G"}, {**PART, "id": "p2", "offset": "2G", "size": "1G"}],
     "overlapping-partitions", "$.storage.config[2].offset", "p2"),
    ([DISK, PART, FMT, {**PART, "id": "p2"}, {**FMT, "id": "f2", "volume": "p2"},
      {"id": "m1", "type": "mount", "device": "f1", "path": "/srv"},
      {"id": "m2", "type": "mount", "device": "f2", "path": "/srv/"}], "duplicate-mount", "$.storage.config[6].path", "m2"),
    ([DISK, {**PART, "number": 1}, {**PART, "id": "p2", "number": 1}], "duplicate-partition-number",
     "$.storage.config[2].number", "p2"),
    ([DISK, {**PART, "flag": "logical"}], "flag-needs-msdos", "$.storage.config[1].flag", "p1"),
    ([{"id": "x", "type": "floppy"}], "schema.enum", "$.storage.config[0].type", "x"),
    ([DISK, {**PART, "device": 3}], "schema.type", "$.storage.config[1].device", "p1"),
])
def test_each_check(items, code, path, item_id):
    probs = problems(items)
    hits = [p for p in probs if p.code == code]
    assert hits, probs
    if path:
        assert any(p.path == path and p.id == item_id for p in hits), hits


def test_bare_form_paths():
    probs = problems([DISK, {**PART, "size": "lots"}], wrap=False)
    assert [p.path for p in probs] == ["$.config[1].size"]


def test_version_and_shape():
    l = loader.from_document({"version": 3, "config": {}})
    codes = {p.code for p in validate.validate(l.storage, l.prefix)}
    assert {"schema.enum", "schema.type"} <= codes


def test_all_errors_collected():
    probs = problems([DISK, {**DISK}, {**PART, "device": "zz", "size": "x"}])
    assert {"duplicate-id", "dangling-ref", "bad-size"} <= {p.code for p in probs}


@pytest.mark.parametrize("path", sorted(glob.glob(str(CORPUS / "*.yaml"))), ids=lambda p: p.rsplit("/", 1)[-1])
def test_corpus_validates(path):
    l = loader.load_file(path)
    assert validate.errors(validate.validate(l.storage, l.prefix)) == []


def test_verdict_cache_remembers_only_valid_documents(tmp_path):
    verdicts = tmp_path / "verdicts.json"
    good = {"version": 1, "config": [DISK, PART, FMT]}
    assert validate.errors(validate.validate(good, "$", verdicts)) == []
    assert len(json.loads(verdicts.read_text())["valid"]) == 1
    bad = {"version": 1, "config": [DISK, {**PART, "perserve": True}]}
    assert validate.errors(validate.validate(bad, "$", verdicts))
    assert len(json.loads(verdicts.read_text())["valid"]) == 1
    # Remembered: the answer is the same with the jsonschema check skipped.
    assert validate.errors(validate.validate(good, "$", verdicts)) == []


def test_verdict_cache_cannot_hide_a_changed_document(tmp_path):
    verdicts = tmp_path / "verdicts.json"
    good = {"version": 1, "config": [DISK, PART]}
    validate.validate(good, "$", verdicts)
    changed = {"version": 1, "config": [DISK, {**PART, "perserve": True}]}
    assert [p.code for p in validate.errors(validate.validate(changed, "$", verdicts))] == ["schema.additionalProperties"]
    # A value whose text matches but whose type differs is a different document.
    import datetime
    as_date = {"version": 1, "config": [DISK, {**PART, "name": datetime.date(2020, 1, 1)}]}
    validate.validate({"version": 1, "config": [DISK, {**PART, "name": "datetime.date(2020, 1, 1)"}]}, "$", verdicts)
    assert validate.errors(validate.validate(as_date, "$", verdicts))


def test_verdict_cache_survives_garbage_and_stays_bounded(tmp_path):
    verdicts = tmp_path / "verdicts.json"
    verdicts.write_text("{not json")
    for n in range(verdicts_mod.KEPT + 5):
        assert validate.errors(validate.validate({"version": 1, "config": [{**DISK, "serial": f"s{n}"}]}, "$", verdicts)) == []
    assert len(json.loads(verdicts.read_text())["valid"]) == verdicts_mod.KEPT


def _corpus_items() -> list[dict]:
    import yaml

    out = []
    for f in sorted(glob.glob(f"{CORPUS}/*.yaml")):
        doc = yaml.safe_load(open(f))
        items = (doc.get("storage") or {}).get("config") if isinstance(doc, dict) else None
        out += [it for it in items or [] if isinstance(it, dict)]
    return out


MUTATIONS = [lambda it: {**it, "bogus_key": 1}, lambda it: {**it, "id": 7}, lambda it: {**it, "type": "nope"},
             lambda it: {**it, "preserve": "yes"}, lambda it: {k: v for k, v in it.items() if k != "id"},
             lambda it: {**it, "name": ["x"]}, lambda it: {**it, "size": {"a": 1}}, lambda it: it]


def test_the_compiled_gate_agrees_with_jsonschema_on_every_corpus_item_and_its_mutations():
    """The fast gate (one compiled validator per item type, picked by ``type``) must never accept what the
    schema rejects: checked item by item against jsonschema on the curtin corpus and mutated copies."""
    v = validate._validator()
    items = _corpus_items()
    assert len(items) > 50
    for it in items:
        for mutate in MUTATIONS:
            m = mutate(dict(it))
            doc = {"version": 1, "config": [m]}
            assert validate.schema_valid_fast(doc) == (not list(v.iter_errors(doc))), m
