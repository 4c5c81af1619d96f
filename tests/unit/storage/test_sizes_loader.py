import pytest

from blockprov.storage import loader, sizes


@pytest.mark.parametrize("text,expected", [
    (1048576, 1048576), ("512M", 512 << 20), ("1.5G", 3 << 29), ("10GiB", 10 << 30), ("1GB", 1 << 30),
    ("4096B", 4096), ("2097152", 2097152), (" 3 G ", 3 << 30), ("1T", 1 << 40), ("8MB", 8 << 20),
])
def test_sizes(text, expected):
    assert sizes.to_bytes(text) == expected


@pytest.mark.parametrize("bad", ["1Gfoo", "G", "", "-1", "1.2.3G", "12 X", "0x10", True, None, [], "1e3", "101%", "0%"])
def test_bad_sizes(bad):
    with pytest.raises(sizes.SizeError):
        sizes.parse(bad)


def test_percent():
    assert sizes.to_bytes("50%", 1000) == 500
    assert sizes.parse("100%").resolve(None) is None


def test_schema_pattern_agrees_with_parser():
    import re
    pat = re.compile(sizes.SCHEMA_PATTERN)
    for s in ["1G", "1.5GiB", "100%", "7B", "12"]:
        assert pat.match(s)
    for s in ["1Gfoo", "G", "1..2"]:
        assert not pat.match(s)


def test_forms(tmp_path):
    bare = loader.parse_text('{"version": 1, "config": []}')
    assert bare.prefix == "$"
    curtin = loader.parse_text("storage:\n  version: 1\n  config: []\n")
    assert curtin.prefix == "$.storage"
    cc = loader.parse_text("#cloud-config\nhostname: x\nstorage: {version: 1, config: []}\n")
    assert cc.storage == {"version": 1, "config": []}


@pytest.mark.parametrize("raw,needle", [
    (b"\xff\xfe\x00bad", "not UTF-8"), (b"storage: [", "not valid YAML"), (b"- 1\n- 2\n", "expected a mapping"),
    (b"hostname: x\n", "no storage config"), (b"storage: 3\n", "must be a mapping"),
])
def test_load_errors(tmp_path, raw, needle):
    f = tmp_path / "c.yaml"
    f.write_bytes(raw)
    with pytest.raises(loader.LoadError, match=needle):
        loader.load_file(f)


def test_missing_file(tmp_path):
    with pytest.raises(loader.LoadError, match="cannot read"):
        loader.load_file(tmp_path / "nope.yaml")


def test_a_json_document_is_read_as_json_and_yaml_flow_style_still_loads():
    from blockprov.storage import loader

    got = loader.parse_text('{"version": 1, "config": [{"id": "d", "type": "disk", "serial": 1e3}]}')
    assert got.storage["config"][0]["serial"] == 1000.0  # JSON's number; YAML 1.1 would read the text "1e3"
    flow = loader.parse_text("{version: 1, config: [{id: d, type: disk, serial: abc}]}")  # YAML, not JSON
    assert flow.storage["config"][0]["serial"] == "abc"
    with pytest.raises(loader.LoadError, match="nested deeper than 64"):
        loader.parse_text('{"version": 1, "config": ' + "[" * 80 + "]" * 80 + "}")
