"""Fuzzing every parser of outside input (issue 18): mutations of a stored corpus plus structured inputs.

Each target is a pure function of bytes or data; a target may refuse its input only with its documented
error (LoadError, SourceError, NetConfigError, a problem list...), never with any other exception, a
RecursionError or a crash. Seeds: ``tests/fuzz/corpus/<target>/`` and the curtin corpus for storage.
Inputs that once crashed a target are kept in the corpus as regression cases. CI runs a short campaign
(``BLOCKPROV_FUZZ_EXAMPLES``, default 150 per target); ``BLOCKPROV_FUZZ_EXAMPLES=20000`` runs a long one.
"""
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CORPUS = Path(__file__).parent / "corpus"
CURTIN = Path(__file__).parents[1] / "fixtures" / "curtin-corpus"
N = int(os.environ.get("BLOCKPROV_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)

TOKENS = [b"{", b"}", b"[", b"]", b":", b"- ", b"\n", b"  ", b"&a ", b"*a", b"!!binary ", b"!!python/object ",
          b"\x00", b"\xff\xfe", b"---\n", b"'", b'"', b"\\", b"<", b"</", b"&amp;", b"<!ENTITY x SYSTEM 'file:///'>",
          b"--XXX\n", b"Content-Type: multipart/mixed; boundary=Z\n\n--Z\n", b"#cloud-config\n", b"\x1f\x8b",
          b"null", b"true", b"1e999", b"-1", b"99999999999999999999", b"%", b"@", b"\t", b"\r\n"]


def seeds(target: str) -> list[bytes]:
    d = CORPUS / target
    files = sorted(d.iterdir()) if d.is_dir() else []
    if target == "storage":
        files += sorted(CURTIN.glob("*.yaml"))[:40]
    return [f.read_bytes() for f in files]


@st.composite
def mutated(draw, target: str) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds(target))))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["insert", "delete", "dup", "flip", "truncate"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            tok = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8)))
            data[at:at] = tok * draw(st.integers(1, 200))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif op == "dup":
            data[at:at] = data[at:at + draw(st.integers(1, 256))] * draw(st.integers(1, 50))
        elif op == "flip" and data:
            i = min(at, len(data) - 1)
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[at:]
    return bytes(data)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.text(max_size=10)),
                           lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                  st.dictionaries(st.text(max_size=8), kids, max_size=4)),
                           max_leaves=30)


def _storage(raw: bytes) -> None:
    from blockprov.storage import loader, validate
    from blockprov.storage import plan as planner
    from blockprov.storage.model import Model

    try:
        loaded = loader.parse_text(raw.decode("utf-8", "replace"), "fuzz")
    except loader.LoadError:
        return
    probs = validate.validate(loaded.storage, loaded.prefix)
    if not validate.errors(probs):
        model = Model.build(loaded.storage, loaded.prefix)
        planner.plan(model, planner.blank_inventory(model))


@given(mutated("storage"))
@FUZZ
def test_storage_config(raw):
    _storage(raw)


@given(mutated("userdata"))
@FUZZ
def test_user_data_cloud_config_and_mime(raw):
    from blockprov.boot import userdata

    ud = userdata.parse(raw)
    assert isinstance(ud.cloud_config, dict)
    json.dumps(ud.to_json(), default=str)


@given(mutated("ovf"))
@FUZZ
def test_ovf_env_xml(raw):
    from blockprov.sources import SourceError
    from blockprov.sources.azure import parse_ovf

    try:
        parse_ovf(raw, "fuzz")
    except SourceError:
        pass


@given(mutated("metadata"))
@FUZZ
def test_meta_data(raw):
    from blockprov.sources import SourceError, media

    try:
        media.parse_structured("fuzz", raw)
    except SourceError:
        pass


@given(mutated("metadata"))
@FUZZ
def test_config_drive_tree(raw):
    """meta_data.json as a config drive gives it, through the whole datasource build and sanitising."""
    from blockprov.sources import SourceError, configdrive, sanitize

    files = {"/openstack/latest/meta_data.json": raw, "/openstack/content/0000": b"x",
             "/openstack/latest/network_data.json": raw, "/openstack/latest/vendor_data.json": raw}
    try:
        sanitize(configdrive.build(files.get, "fuzz", "ConfigDrive"))
    except SourceError:
        pass


@given(mutated("leases"))
@FUZZ
def test_dhcp_leases(raw):
    from blockprov.sources.azure import option_245

    got = option_245(raw.decode("latin-1"))
    assert got is None or got.count(".") == 3


def _network(doc) -> None:
    from blockprov.net.model import NetConfigError
    from blockprov.net.parse import parse

    if not isinstance(doc, dict):
        return
    if isinstance(doc.get("network"), dict):
        doc = doc["network"]
    try:
        parse(doc, None, {"eth0": "52:54:00:12:34:56"})
    except NetConfigError:
        pass


@given(mutated("network"))
@FUZZ
def test_network_config(raw):
    from blockprov.limits import load_yaml

    try:
        doc = load_yaml(raw, "fuzz")
    except Exception:  # noqa: BLE001 - not YAML: the loader's refusal, not the network parser's
        return
    _network(doc)


@given(st.dictionaries(st.sampled_from(["version", "config", "ethernets", "bonds", "vlans", "bridges", "links",
                                        "networks", "services", "network"]), json_values, max_size=5))
@FUZZ
def test_network_config_structured(doc):
    _network(doc)


@given(st.one_of(mutated("definition"), json_values.map(lambda v: json.dumps(v).encode())))
@FUZZ
def test_engine_definition_body(raw):
    from blockprov.limits import load_yaml
    from blockprov_engine import definition

    try:
        doc = load_yaml(raw, "fuzz")
    except Exception:  # noqa: BLE001 - a body that is not JSON/YAML is a 400 before validation
        return
    probs = definition.validate(doc)
    assert isinstance(probs, list)


@pytest.mark.parametrize("target", ["storage", "userdata", "ovf", "metadata", "leases", "network", "definition"])
def test_every_corpus_seed_is_handled(target):
    """The seeds themselves (and kept crash cases) go through their target unmutated."""
    fn = {"storage": _storage, "userdata": test_user_data_cloud_config_and_mime.hypothesis.inner_test,
          "ovf": test_ovf_env_xml.hypothesis.inner_test, "metadata": test_meta_data.hypothesis.inner_test,
          "leases": test_dhcp_leases.hypothesis.inner_test, "network": test_network_config.hypothesis.inner_test,
          "definition": test_engine_definition_body.hypothesis.inner_test}[target]
    for raw in seeds(target):
        fn(raw)
