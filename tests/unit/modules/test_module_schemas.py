"""Every module declares a JSON Schema; bad keys are named by JSON path; `blockprov schema` checks a file."""

import json
import subprocess
import sys

import jsonschema
import pytest

from blockprov import modules
from blockprov.modules import _schema
from blockprov.modules._meta import ModuleMeta

ALL = sorted(modules.known_modules())


@pytest.mark.parametrize("name", ALL)
def test_every_module_declares_one_record_with_a_valid_schema(name):
    """issue 22: one ModuleMeta per module, named as its file, and nothing declared beside it."""
    mod = modules.load(name)
    meta = mod.META
    assert isinstance(meta, ModuleMeta) and meta.id == name and meta.description
    jsonschema.Draft202012Validator.check_schema(meta.schema)
    assert meta.schema["type"] == "object" and isinstance(meta.schema["properties"], dict)
    if meta.run_schema is not None:
        jsonschema.Draft202012Validator.check_schema(meta.run_schema)
    assert meta.scope in (None, "storage", "network")
    assert not {"FREQUENCY", "DESCRIPTION", "RERUNNABLE", "SCOPE", "DATASOURCE_INPUTS"} & set(vars(mod))


def test_a_record_with_an_unknown_frequency_is_refused():
    with pytest.raises(ValueError, match="per-boot"):
        ModuleMeta("x", frequency="per-boot", description="x", rerunnable=False, schema={"type": "object"})


@pytest.mark.parametrize("doc, expected", [
    ({"users": [{"name": "ok"}, {"gecos": "x"}]}, "$.users[1]: 'name' is a required property"),
    ({"users": {"name": "a", "uid": -1}}, "$.users.uid: -1 is less than the minimum of 0"),
    ({"runcmd": [["ls", True]]}, "$.runcmd[0][1]: True is not of type 'string', 'number'"),
    ({"bootcmd": "echo hi"}, "$.bootcmd: 'echo hi' is not of type 'array'"),
    ({"ssh_genkeytypes": ["dsa"]}, "$.ssh_genkeytypes[0]: 'dsa' is not one of ['rsa', 'ecdsa', 'ed25519']"),
    ({"hostname": 7}, "$.hostname: 7 is not of type 'string'"),
])
def test_bad_keys_are_named_by_path(doc, expected):
    found = [p for n in ALL for p in _schema.check(modules.meta(n).schema, doc, {})]
    assert expected in found


def test_args_override_config_and_other_keys_are_ignored():
    schema = modules.meta("runcmd").schema
    assert _schema.check(schema, {"runcmd": [True], "hostname": 7}, {"runcmd": ["ok"]}) == []
    assert _schema.check(schema, {"runcmd": ["ok"]}, {"runcmd": [True]}) != []


def test_verdict_cache_skips_a_known_good_config(tmp_path):
    v = tmp_path / "verdicts.json"
    schema = modules.meta("hostname").schema
    assert _schema.check(schema, {"hostname": "a"}, {}, v) == []
    assert len(json.loads(v.read_text())["valid"]) == 1
    assert _schema.check(schema, {"hostname": 1}, {}, v) != []  # a bad one is never remembered
    assert len(json.loads(v.read_text())["valid"]) == 1


def _schema_cli(*args):
    return subprocess.run([sys.executable, "-m", "blockprov", "schema", *args], capture_output=True, text=True)


def test_schema_command(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("#cloud-config\nhostname: web1\nruncmd: [[ls, -l]]\n")
    r = _schema_cli(str(good))
    assert r.returncode == 0 and "valid" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("#cloud-config\nwrite_files: [{path: /a, encoding: rot13}]\nusers: [{name: a, uid: x}]\n")
    r = _schema_cli(str(bad))
    assert r.returncode == 2
    assert r.stderr.count("$.write_files[0].encoding") == 1  # write_files_deferred shares the schema
    assert "$.users[0].uid: 'x' is not of type 'integer' (users_groups)" in r.stderr
    (tmp_path / "list.yaml").write_text("- a\n")
    assert _schema_cli(str(tmp_path / "list.yaml")).returncode == 2
    shown = _schema_cli("--show", "ssh")
    assert shown.returncode == 0 and "ssh_genkeytypes" in json.loads(shown.stdout)["properties"]
    assert _schema_cli("--show", "nope").returncode == 2
