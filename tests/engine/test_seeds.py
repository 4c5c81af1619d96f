"""Seeds round-trip: build-seed writes an ISO; the agent's own datasource readers read back the definition's data.

The images are read with the agent's pycdlib reader (no mount), then parsed by the
ConfigDrive, NoCloud and Azure datasources and merged as at boot.
"""
import base64
import json
import subprocess
import sys
from dataclasses import asdict

import pytest
import yaml

from blockprov.net.ovirt import from_ovirt
from blockprov.net.parse import parse as parse_net
from blockprov.paths import Paths
from blockprov.events.refresh import compose
from blockprov.sources import Context, azure, configdrive, media, nocloud
from tests.boot.helpers import is_hash_of
from tests.conftest import ROOT

DEF = ROOT / "tests" / "fixtures" / "engine" / "web1.yaml"
PASSWORD = "S3cret-pass"


def build(tmp_path, fmt: str, defn=DEF) -> tuple[bytes, str]:
    out = tmp_path / f"{fmt}.iso"
    r = subprocess.run([sys.executable, "-m", "blockprov_engine", "build-seed", "--definition", str(defn),
                        "--format", fmt, "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out, r.stderr


def read(img) -> dict:
    assert subprocess.run(["blkid", "-p", "-s", "TYPE", "-o", "value", str(img)], capture_output=True,
                          text=True).stdout.strip() == "iso9660"
    return media._read_iso(str(img))


def check_common(sd, cfg, defn, files_from_cfg: bool):
    """What every format must carry: id, hostname, users, keys, timezone, host keys, custom user-data, storage."""
    assert sd.instance_id == defn["id"]
    assert sd.local_hostname == defn["hostname"]
    users = {u["name"]: u for u in cfg["users"]}
    admin = users["admin"]
    assert is_hash_of(admin["hashed_passwd"], PASSWORD)
    assert PASSWORD not in json.dumps(cfg)
    assert admin["ssh_authorized_keys"] == defn["users"][0]["authorized_keys"]
    assert admin["sudo"] == "ALL=(ALL) NOPASSWD:ALL" and admin["lock_passwd"] is False
    assert cfg["timezone"] == "Europe/Prague"
    assert cfg["ssh_deletekeys"] is True and cfg["ssh_genkeytypes"] == ["rsa", "ecdsa", "ed25519"]
    assert cfg["runcmd"] == [["touch", "/tmp/custom-ran"]]  # the custom user-data part was merged after ours
    if files_from_cfg:
        got = {f["path"]: base64.b64decode(f["content"]) for f in cfg["write_files"]}
    else:
        got = {f["path"]: base64.b64decode(f["content"]) for f in sd.files}
    assert got == {"/etc/motd": b"hello from the engine\n"}


def expected_net(defn):
    return asdict(from_ovirt({"nics": defn["nics"], "dns_servers": defn["dns"]["servers"],
                              "dns_search": defn["dns"]["search"]}, {}))


def normalized(netcfg) -> dict:
    """Global vs per-interface DNS and the parser's source tag differ by form, not by meaning."""
    d = asdict(netcfg)
    d.pop("source")
    return d


def test_config2_round_trip(tmp_path):
    defn = yaml.safe_load(DEF.read_text())
    img, _ = build(tmp_path, "config-2")
    files = read(img)
    assert "/openstack/content/0000" in files and "/openstack/latest/network_data.json" in files
    sd = configdrive.build(files.get, str(img), configdrive.NAME)
    assert not sd.problems, sd.problems
    cfg, problems = compose({}, sd)
    assert not problems
    check_common(sd, cfg, defn, files_from_cfg=False)
    assert sd.storage_config == defn["storage"]
    exp = expected_net(defn)
    assert normalized(parse_net(sd.network_config, "openstack")) == {k: v for k, v in exp.items() if k != "source"}
    assert cfg["bootcmd"] == [[True]]  # vendor_data.json's cloud-init mapping


def test_nocloud_round_trip(tmp_path):
    defn = yaml.safe_load(DEF.read_text())
    img, _ = build(tmp_path, "nocloud")
    files = read(img)
    sd = nocloud.build(files, str(img), {})
    assert not sd.problems, sd.problems
    cfg, problems = compose({}, sd)
    assert not problems
    check_common(sd, cfg, defn, files_from_cfg=True)
    assert sd.storage_config == defn["storage"]
    assert normalized(parse_net(sd.network_config)) == {k: v for k, v in expected_net(defn).items() if k != "source"}
    assert cfg["bootcmd"] == [[True]]


def test_azure_round_trip(tmp_path):
    defn = yaml.safe_load(DEF.read_text())
    img, warnings = build(tmp_path, "azure")
    assert "NICs and DNS are not carried" in warnings and "vendor_data is not carried" in warnings
    files = read(img)
    ctx = Context(Paths(root=tmp_path / "root"), {})
    sd = azure.build(ctx, files["/ovf-env.xml"], str(img))
    assert not sd.problems, sd.problems
    cfg, problems = compose({}, sd)
    assert not problems
    check_common(sd, cfg, defn, files_from_cfg=True)
    assert sd.public_keys == defn["users"][0]["authorized_keys"]
    assert cfg["storage"] == defn["storage"]


def test_definition_without_extras_has_no_empty_documents(tmp_path):
    d = tmp_path / "min.yaml"
    d.write_text("id: min-1\nhostname: min\n")
    img, _ = build(tmp_path, "config-2", d)
    files = read(img)
    assert sorted(files) == ["/openstack/latest/meta_data.json", "/openstack/latest/network_data.json",
                             "/openstack/latest/user_data"]
    sd = configdrive.build(files.get, str(img), configdrive.NAME)
    cfg, _ = compose({}, sd)
    assert sd.instance_id == "min-1" and "users" not in cfg and sd.storage_config is None


@pytest.mark.parametrize("fmt", ["config-2", "nocloud", "azure"])
def test_build_seed_refuses_a_bad_definition_and_writes_nothing(tmp_path, fmt):
    d = tmp_path / "bad.yaml"
    d.write_text("hostname: x\nnics: [{name: eth0, boot_protocol: static, address: 300.1.1.1, prefix: 24}]\n")
    out = tmp_path / "x.iso"
    r = subprocess.run([sys.executable, "-m", "blockprov_engine", "build-seed", "--definition", str(d),
                        "--format", fmt, "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "$.nics[0].address" in r.stderr
    assert not out.exists()


def test_volumes_become_storagedata_with_volume_id_in_every_form(tmp_path):
    """issue 23: a definition's volumes, named by the cloud's ids, reach the agent as storage items that match
    the disk by volume_id (and a bad volume is named by its path, nothing built)."""
    from blockprov.storage.inventory import Device, Inventory
    from blockprov.storage.plan import match_disk

    defn = {"id": "vol-test", "hostname": "voltest", "volumes": [
        {"volume_id": "abcdef12-3456-7890-abcd-ef1234567890", "id": "data", "fstype": "ext4", "mount": "/srv/data"},
        {"volume_id": "vol-0123456789abcdef0", "ptable": "none", "fstype": "xfs"}]}
    f = tmp_path / "def.json"
    f.write_text(json.dumps(defn))
    for fmt, reader in (("config-2", lambda files, img: configdrive.build(files.get, str(img), "ConfigDrive")),
                        ("nocloud", lambda files, img: nocloud.build(files, str(img), {}))):
        img = tmp_path / f"{fmt}.iso"
        subprocess.run([sys.executable, "-m", "blockprov_engine", "build-seed", "--definition", str(f), "--format",
                        fmt, "-o", str(img)], check=True, capture_output=True)
        sd = reader(read(img), img)
        items = {i["id"]: i for i in sd.storage_config["config"]}
        assert items["data"] == {"id": "data", "type": "disk", "volume_id": defn["volumes"][0]["volume_id"],
                                 "ptable": "gpt"}
        assert items["data-mount"]["path"] == "/srv/data" and items["volume1-fs"]["volume"] == "volume1"
        # the OpenStack virtio-blk disk (serial cut to 20 bytes) is the one the item names
        inv = Inventory(devices={"/dev/vdb": Device("/dev/vdb", size=1 << 30, serial="abcdef12-3456-7890-a",
                                                    links=["/dev/disk/by-id/virtio-abcdef12-3456-7890-a"])})
        assert [d.path for d in match_disk(items["data"], inv)[0]] == ["/dev/vdb"]
    defn["volumes"].append({"volume_id": "x", "fstype": "ext4", "mount": "relative/path"})
    f.write_text(json.dumps(defn))
    r = subprocess.run([sys.executable, "-m", "blockprov_engine", "build-seed", "--definition", str(f), "--format",
                        "nocloud", "-o", str(tmp_path / "bad.iso")], capture_output=True, text=True)
    assert r.returncode == 2 and "$.volumes[2].mount" in r.stderr and not (tmp_path / "bad.iso").exists()
