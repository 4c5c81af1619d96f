"""Issue 18, the input classes: nesting, alias expansion, fstab injection, decompression, clean errors.

Each class is exercised with generated inputs (hypothesis) and with the reported examples; outcomes are
checked against real tools where one exists (findmnt reads the fstab lines we write).
"""
import json
import resource
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockprov import limits

from blockprov.boot import userdata
from blockprov.storage import fstab, validate

# -- nesting ---------------------------------------------------------------------------------------------

trees = st.recursive(st.one_of(st.integers(), st.text(max_size=5), st.none()),
                     lambda kids: st.one_of(st.lists(kids, min_size=1, max_size=3),
                                            st.dictionaries(st.text("abc", min_size=1, max_size=3), kids,
                                                            min_size=1, max_size=3)),
                     max_leaves=40)


def depth(o) -> int:
    if isinstance(o, dict):
        return 1 + max((depth(v) for v in o.values()), default=0)
    if isinstance(o, list):
        return 1 + max((depth(v) for v in o), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(trees, st.sampled_from([True, False, None]), st.integers(1, 8))
def test_the_text_bound_never_underestimates_nesting(tree, flow, indent):
    text = yaml.safe_dump(tree, default_flow_style=flow, indent=max(2, indent))
    assert limits._yaml_depth_bound(text) >= depth(tree)
    assert limits._yaml_depth(text, yaml.SafeLoader, 10_000) == depth(tree)


def nested(kind: str, n: int) -> str:
    if kind == "flow-list":
        return "[" * n + "]" * n
    if kind == "flow-map":
        return "{a: " * n + "1" + "}" * n
    if kind == "block-list":
        return "".join("  " * i + "-\n" for i in range(n)) + "  " * n + "x\n"
    if kind == "block-map":
        return "".join("  " * i + "k:\n" for i in range(n)) + "  " * n + "x\n"
    if kind == "compact":
        return "- " * n + "x\n"
    if kind == "indentless":
        return "".join("  " * i + "k:\n" + "  " * i + "- " for i in range(n)) + "x\n"
    raise AssertionError(kind)


DEEP = [(k, n) for k in ("flow-list", "flow-map", "compact") for n in (65, 10_000, 60_000)] + \
       [(k, n) for k in ("block-list", "block-map", "indentless") for n in (65, 1_500)]  # (indentation grows as n^2)


@pytest.mark.parametrize("kind,n", DEEP)
def test_deep_yaml_is_refused_before_parsing(kind, n):
    text = nested(kind, n)
    try:
        limits.load_yaml(text, "doc")
    except limits.LimitError as exc:
        assert "doc: nested deeper than 64 levels" in str(exc)
    except yaml.YAMLError:
        pass  # not YAML at all is fine too; a crash or RecursionError is not
    else:
        raise AssertionError("accepted")


def test_shallow_documents_still_load():
    assert limits.load_yaml(nested("block-map", 30)) is not None
    assert limits.load_yaml("a: [1, {b: [2]}]\n") == {"a": [1, {"b": [2]}]}


def test_deep_user_data_is_a_problem_not_a_crash():
    ud = userdata.parse(("#cloud-config\nx: " + nested("flow-list", 60_000)).encode())
    assert ud.cloud_config == {} and "nested deeper than 64 levels" in ud.problems[0]


@pytest.mark.parametrize("n", [65, 5_000, 100_000])
def test_deep_json_is_refused(n):
    with pytest.raises(limits.LimitError):
        limits.load_json('{"a":' * n + "1" + "}" * n, "meta_data.json")


def run_cli(*args, mem=2 << 30, timeout=60):
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))

    return subprocess.run([sys.executable, "-m", "blockprov", *args], capture_output=True, text=True,
                          preexec_fn=cap, timeout=timeout)


@pytest.mark.parametrize("cmd", [("validate",), ("plan", "--blank-disks"), ("apply", "--dry-run")])
def test_deep_storage_config_exits_2_on_every_entry_point(tmp_path, cmd):
    f = tmp_path / "deep.yaml"
    f.write_text("storage:\n  version: 1\n  config: " + nested("flow-list", 60_000) + "\n")
    res = run_cli("storage", *cmd, str(f), *(["--root", str(tmp_path / "r")] if cmd[0] == "apply" else []))
    assert res.returncode == 2, res.stderr
    assert "nested deeper than 64 levels" in res.stdout + res.stderr and "Traceback" not in res.stderr


def alias_bomb() -> str:
    defs = ["&a0 [x, x, x, x, x, x, x, x, x]"]
    defs += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    props = "{" + ", ".join(f"k{i}: {d}" for i, d in enumerate(defs)) + "}"
    return ("version: 1\nconfig:\n- {id: d, type: disk, path: /dev/nonexistent-bp, ptable: gpt}\n"
            f"- {{id: z, type: zpool, pool: p, vdevs: [d], mountpoint: /, pool_properties: {props}}}\n")


@pytest.mark.parametrize("cmd", [("validate",), ("plan", "--blank-disks"), ("apply", "--dry-run")])
def test_alias_bomb_is_refused_within_bounded_memory(tmp_path, cmd):
    f = tmp_path / "bomb.yaml"
    f.write_text(alias_bomb())
    assert len(f.read_bytes()) < 1000
    res = run_cli("storage", *cmd, str(f), *(["--root", str(tmp_path / "r")] if cmd[0] == "apply" else []),
                  mem=1 << 30)
    assert res.returncode == 2, res.stderr
    assert "YAML aliases expand too far" in res.stdout + res.stderr
    assert not (tmp_path / "r/var/cache/blockprov").exists()  # nothing written, not even the verdict cache


# -- decompression ---------------------------------------------------------------------------------------

def test_one_decompression_limit_for_write_files_and_user_data():
    from blockprov.modules._files import EntryError, decode

    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = bomb.compress(bytes(64 << 20)) + bomb.flush()
    import base64

    with pytest.raises(EntryError, match="expands past"):
        decode(base64.b64encode(data).decode(), "gz+b64", "$.write_files[0]")
    ud = userdata.parse(data)
    assert ud.cloud_config == {} and any("expands past" in p for p in ud.problems)


# -- fstab -----------------------------------------------------------------------------------------------

field_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                     max_size=20).filter(lambda s: not any(ord(c) < 32 and c not in " \t\n" or ord(c) == 127
                                                           for c in s))


@pytest.mark.skipif(shutil.which("findmnt") is None, reason="findmnt (util-linux) not installed")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=field_text, path=field_text, options=field_text)
def test_fstab_lines_read_back_by_libmount_as_written(tmp_path, spec, path, options):
    path = "/" + path
    try:
        line = fstab.checked_line([spec, path, "ext4", options, "0", "2"])
    except fstab.FstabError:
        return  # refused is allowed; written-and-wrong is not
    f = tmp_path / "fstab"
    f.write_text("# head\n" + line + "\n")
    out = subprocess.run(["findmnt", "--tab-file", str(f), "-J", "-o", "SOURCE,TARGET,FSTYPE,OPTIONS"],
                         capture_output=True, text=True)
    got = json.loads(out.stdout)["filesystems"]
    assert len(got) == 1, line
    g = got[0]
    assert (g["source"], g["target"], g["fstype"], g["options"]) == (spec, path, "ext4", options)


def test_fstab_injection_through_path_is_escaped_or_refused():
    e = fstab.Entry("UUID=1", "/srv\nUUID=2 /etc ext4 defaults 0 0", "ext4")
    out = fstab.render("", [e])
    assert len([ln for ln in out.splitlines() if not ln.startswith("#")]) == 1
    with pytest.raises(fstab.FstabError):
        fstab.render("", [fstab.Entry("UUID=1", "/srv", "ext4", "defaults\x01")])


@pytest.mark.parametrize("key,value,code", [
    ("path", "/srv\n/etc", "schema.not"), ("path", "/srv\x00x", "schema.not"), ("options", "defaults x", "schema.not"),
    ("options", "ro\n", "schema.not"), ("passno", "1\n", "schema.oneOf"), ("freq", "x", "schema.oneOf"),
    ("spec", "LABEL=a\nb", "schema.not"), ("fstype", "ext4 x", "schema.not"),
    ("path", "/../../escape", "path-escapes"), ("path", "/" + "a" * 300, "path-component-too-long")])
def test_mount_fields_that_would_corrupt_fstab_are_invalid(key, value, code):
    items = [{"id": "d", "type": "disk", "path": "/dev/x", "ptable": "gpt"},
             {"id": "p", "type": "partition", "device": "d", "size": "1G"},
             {"id": "f", "type": "format", "volume": "p", "fstype": "ext4"},
             {"id": "m", "type": "mount", "device": "f", "path": "/srv", key: value}]
    probs = validate.errors(validate.validate({"version": 1, "config": items}, "$.storage"))
    assert any(p.code == code and p.path == f"$.storage.config[3].{key}" and p.id == "m" for p in probs), probs


# -- clean errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["1", "2020-01-01", "null", "true", "1.5"])
def test_non_text_yaml_keys_exit_2_with_their_path(tmp_path, key):
    f = tmp_path / "c.yaml"
    f.write_text(f"storage:\n  version: 1\n  config:\n  - {{id: d, type: disk, path: /dev/x, {key}: v}}\n")
    for cmd in (("validate",), ("apply", "--dry-run", "--root", str(tmp_path / "r"))):
        res = run_cli("storage", cmd[0], str(f), *cmd[1:], "--json")
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        probs = json.loads(res.stdout)["problems"]
        assert probs[0]["path"] == "$.storage.config[0]" and "is not text" in probs[0]["message"]


@pytest.mark.parametrize("body", ["[1, 2]", '"x"', "{\"devices\": 3}", "{" * 5000])
def test_unusable_inventory_files_exit_2(tmp_path, body):
    c = tmp_path / "c.yaml"
    c.write_text("version: 1\nconfig: [{id: d, type: disk, path: /dev/x}]\n")
    inv = tmp_path / "inv.json"
    inv.write_text(body)
    res = run_cli("storage", "plan", str(c), "--inventory", str(inv))
    assert res.returncode == 2 and "not a usable inventory" in res.stderr and "Traceback" not in res.stderr


# -- fuzzing the validator and planner with structured documents -------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 1 << 40), st.text(max_size=12),
                    st.sampled_from(["1G", "100%", "-1", "0", "gpt", "msdos", "ext4", "/srv", "none", "d0", "p1"]))
ITEM_KEYS = ["id", "type", "device", "volume", "path", "size", "offset", "number", "ptable", "fstype", "label",
             "uuid", "wipe", "preserve", "flag", "devices", "spare_devices", "raidlevel", "volgroup", "name",
             "options", "spec", "freq", "passno", "serial", "wwn", "resize", "grub_device", "partition_type"]
items = st.dictionaries(st.sampled_from(ITEM_KEYS), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=8)
typed = st.builds(lambda d, t, i: {**d, "type": t, "id": i}, items,
                  st.sampled_from(["disk", "partition", "format", "mount", "raid", "lvm_volgroup", "lvm_partition",
                                   "dm_crypt", "bcache", "zpool", "zfs", "device", "bogus"]),
                  st.sampled_from(["d0", "d1", "p1", "p2", "f1", "m1", "r0", "v0"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(typed, items, scalars), max_size=8), st.sampled_from([1, 2, 3, "1"]))
def test_validate_and_plan_never_raise(config, version):
    from blockprov.storage import plan as planner
    from blockprov.storage.model import Model

    doc = {"version": version, "config": config}
    probs = validate.validate(doc, "$")
    for p in probs:
        assert p.path.startswith("$") and p.message
    if not validate.errors(probs):
        model = Model.build(doc, "$")
        planner.plan(model, planner.blank_inventory(model))


def test_an_invalid_config_never_writes_the_verdict_cache(tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text("version: 1\nconfig:\n- {id: d, type: disk, path: /dev/x}\n- {id: d, type: disk, path: /dev/y}\n")
    res = run_cli("storage", "apply", "--dry-run", str(f), "--root", str(tmp_path / "r"))
    assert res.returncode == 2 and "duplicate-id" in res.stderr
    assert not (tmp_path / "r/var/cache/blockprov/storage-schema-verdicts.json").exists()
