"""Issue 18 items 3 and 9 at boot: hostile datasource contents fail only their own source (the search goes on,
status names the problem), never the boot, and never with a traceback."""
import json
import subprocess
import sys

import pytest

from tests.boot.helpers import bp, isolated_cfg, nocloud_seed


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    isolated_cfg(r, "datasource_list: [ConfigDrive, NoCloud, None]\n")
    return r


def config_drive(root, meta: bytes, **files: bytes):
    d = root / "var/lib/blockprov/seed/config_drive/openstack/latest"
    d.mkdir(parents=True)
    (d / "meta_data.json").write_bytes(meta)
    for name, data in files.items():
        (d / name).write_bytes(data)


def boot(root):
    res = subprocess.run([sys.executable, "-m", "blockprov", "boot", "--root", str(root)], capture_output=True,
                         text=True, timeout=120)
    assert "Traceback" not in res.stderr, res.stderr
    data = json.loads((root / "run/blockprov/instance-data.json").read_text())
    return res, data, bp(root, "status", "--long").stdout


DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000


def test_deep_json_in_meta_data_json_falls_back_to_the_next_source(root):
    config_drive(root, DEEP)
    nocloud_seed(root, "instance-id: i-next\n")
    res, data, status = boot(root)
    assert data["v1"]["datasource"] == "NoCloud" and data["v1"]["instance_id"] == "i-next"
    assert "ConfigDrive:" in status and "nested deeper than 64 levels" in status


def test_deep_json_in_nocloud_meta_data_and_storagedata(root):
    nocloud_seed(root, DEEP.decode())
    res, data, status = boot(root)
    assert data["v1"]["datasource"] == "None" and "nested deeper than 64 levels" in status
    root2 = root.parent / "root2"
    isolated_cfg(root2, "datasource_list: [NoCloud, None]\n")
    nocloud_seed(root2, "instance-id: i-sd\n", storagedata=DEEP.decode())
    res, data, status = boot(root2)
    assert data["v1"]["datasource"] == "NoCloud" and "nested deeper than 64 levels" in status


def test_deep_user_data_is_reported_and_the_boot_finishes(root):
    nocloud_seed(root, "instance-id: i-ud\n", "#cloud-config\nx: " + "[" * 60000 + "]" * 60000 + "\n")
    res, data, status = boot(root)
    assert data["v1"]["instance_id"] == "i-ud" and "nested deeper than 64 levels" in status
    st = json.loads((root / "run/blockprov/status.json").read_text())["v1"]
    assert st["stage"] is None  # finished, not left "running"


def test_an_instance_id_over_255_characters_is_refused_with_a_reason(root):
    config_drive(root, json.dumps({"uuid": "x" * 300}).encode())
    nocloud_seed(root, "instance-id: i-short\n")
    res, data, status = boot(root)
    assert data["v1"]["instance_id"] == "i-short" and "at most 255" in status


def test_ill_typed_metadata_fields_are_dropped_with_a_problem(root):
    meta = {"uuid": "cd-typed", "hostname": {"not": "text"}, "public_keys": {"k": 5},
            "files": [{"path": 7, "content_path": "/content/0000"}, {"path": "/etc/ok", "content_path": ["x"]}, "s"]}
    config_drive(root, json.dumps(meta).encode())
    res, data, status = boot(root)
    assert data["v1"]["instance_id"] == "cd-typed" and data["v1"]["local_hostname"] is None
    assert "local_hostname is a dict" in status and "files[0]: needs path and content_path" in status
