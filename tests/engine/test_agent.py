"""The agent provisioned by the engine, end to end on a temp root with a real loop disk.

Once over HTTP (the OpenStack datasource pointed at `blockprov-engine serve`, the
instance chosen by the Blockprov-Instance-Id header, reporting events posted back
so the engine marks the instance initialized) and once from a config-2 ISO built
by `build-seed` and attached as a loop device.
"""
import json
import shutil
import subprocess
import sys

import pytest

from tests.boot.helpers import account_files, bp, is_hash_of, isolated_cfg, until
from tests.boot.test_network import make_target
from tests.conftest import need_root_tools
from tests.engine.conftest import Server

PASSWORD = "Engine-pass-42"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEngineE2eKey admin@mgmt"


def definition(iid: str, disk: str) -> dict:
    return {"id": iid, "hostname": "app1.example.com", "timezone": "Europe/Prague", "regenerate_ssh_keys": True,
            "dns": {"servers": ["192.0.2.53"], "search": ["example.com"]},
            "users": [{"name": "admin", "password": PASSWORD, "authorized_keys": [KEY], "sudo": True}],
            "nics": [{"name": "eth0", "boot_protocol": "static", "address": "192.0.2.10", "prefix": 24,
                      "gateway": "192.0.2.1"}],
            "files": [{"path": "/etc/motd.d/engine", "content": "provisioned by blockprov-engine\n"}],
            "storage": {"version": 1, "config": [
                {"id": "d1", "type": "disk", "path": disk, "ptable": "gpt"},
                {"id": "p1", "type": "partition", "device": "d1", "size": "100%"},
                {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4", "label": "enginedata"},
                {"id": "m1", "type": "mount", "device": "f1", "path": "/srv/data"}]}}


def make_root(tmp_path, cfg: str):
    root = tmp_path / "root"
    isolated_cfg(root, cfg, full=True)
    account_files(root)
    (root / "etc/ssh").mkdir(parents=True)
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    zone = root / "usr/share/zoneinfo/Europe"
    zone.mkdir(parents=True)
    shutil.copy("/usr/share/zoneinfo/Europe/Prague", zone / "Prague")
    make_target(root, "eni")
    return root


def check_provisioned(root, disk: str):
    assert (root / "etc/hostname").read_text().strip() == "app1"
    passwd = {ln.split(":")[0]: ln for ln in (root / "etc/passwd").read_text().splitlines()}
    assert "admin" in passwd and passwd["admin"].endswith(":/bin/bash")
    shadow = {ln.split(":")[0]: ln.split(":") for ln in (root / "etc/shadow").read_text().splitlines()}
    assert is_hash_of(shadow["admin"][1], PASSWORD)
    assert (root / "home/admin/.ssh/authorized_keys").read_text().splitlines() == [KEY]
    assert "admin ALL=(ALL) NOPASSWD:ALL" in "".join(p.read_text() for p in (root / "etc/sudoers.d").iterdir())
    assert (root / "etc/timezone").read_text() == "Europe/Prague\n"
    assert (root / "etc/ssh/ssh_host_ed25519_key.pub").exists()
    eni = (root / "etc/network/interfaces.d/50-blockprov.cfg").read_text()
    for line in ("iface eth0 inet static", "address 192.0.2.10/24", "gateway 192.0.2.1", "dns-nameservers 192.0.2.53",
                 "dns-search example.com"):
        assert line in eni, (line, eni)
    assert (root / "etc/motd.d/engine").read_text() == "provisioned by blockprov-engine\n"
    part = disk + "p1"
    blk = subprocess.run(["blkid", "-p", "-o", "export", part], capture_output=True, text=True).stdout
    assert "TYPE=ext4" in blk and "LABEL=enginedata" in blk
    src = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(root / "srv/data")], capture_output=True, text=True)
    assert src.stdout.strip() == part
    uuid = dict(ln.split("=", 1) for ln in blk.splitlines() if "=" in ln)["UUID"]
    assert f"UUID={uuid}\t/srv/data\text4\tdefaults\t0\t2" in (root / "etc/fstab").read_text().splitlines()
    for d in ("var/lib/blockprov", "var/log/blockprov", "run/blockprov"):
        for p in (root / d).rglob("*"):
            if p.is_file():
                assert PASSWORD.encode() not in p.read_bytes(), p


def test_agent_boots_from_the_engine_over_http_and_reports_back(tmp_path, loops):
    need_root_tools("mkfs.ext4", "useradd", "openssl")
    disk = loops.add("256M")
    srv = Server(str(tmp_path / "engine.db"))
    try:
        iid = "e2e-http"
        assert srv.req("POST", "/v1/instances", definition(iid, disk)).status == 201
        hdr = f"{{Blockprov-Instance-Id: {iid}, Blockprov-Instance-Id-Signature: {srv.signature(iid)}}}"
        root = make_root(tmp_path, "datasource_list: [OpenStack, None]\n"
                                   f"datasource: {{OpenStack: {{metadata_urls: ['{srv.url}'], retries: 1, "
                                   f"headers: {hdr}}}}}\n"
                                   f"reporting: {{engine: {{type: webhook, endpoint: '{srv.url}/events', "
                                   f"headers: {hdr}}}}}\n")
        res = bp(root, "boot", timeout=180)
        assert res.returncode == 0, res.stdout + res.stderr
        result = json.loads((root / "run/blockprov/result.json").read_text())["v1"]
        assert result["datasource"] == "OpenStack" and result["errors"] == [], result
        check_provisioned(root, disk)
        got = json.loads(srv.req("GET", f"/v1/instances/{iid}").data)
        assert got["status"]["initialized"] is True and got["status"]["result"] == "SUCCESS", got["status"]
        names = [e["event"]["name"] for e in json.loads(srv.req("GET", f"/events?instance={iid}").data)["events"]]
        assert names[0] == "init-local" and "modules-final" in names
    finally:
        srv.close()


@pytest.mark.parametrize("fmt", ["config-2", "nocloud"])
def test_agent_boots_from_a_built_seed_on_a_device(tmp_path, loops, fmt):
    need_root_tools("mkfs.ext4", "useradd", "openssl")
    disk = loops.add("256M")
    d = tmp_path / "def.json"
    d.write_text(json.dumps(definition(f"e2e-{fmt}", disk)))
    iso = tmp_path / "seed.iso"
    r = subprocess.run([sys.executable, "-m", "blockprov_engine", "build-seed", "--definition", str(d),
                        "--format", fmt, "-o", str(iso)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    loops.attach(iso)
    name = "ConfigDrive" if fmt == "config-2" else "NoCloud"
    root = make_root(tmp_path, f"datasource_list: [{name}, None]\ndatasource: {{{name}: {{search_devices: true}}}}\n")
    res = bp(root, "boot", timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads((root / "run/blockprov/result.json").read_text())["v1"]
    assert result["datasource"] == name and result["errors"] == [] and result["warnings"] == [], result
    check_provisioned(root, disk)


def root_hash_is(root, plain: str) -> bool:
    h = next(line.split(":")[1] for line in (root / "etc/shadow").read_text().splitlines() if line.startswith("root:"))
    return is_hash_of(h, plain)


def test_management_push_through_the_engine(tmp_path, loops):
    """An operator changes a running instance's definition; `blockprov watch` long-polls the engine and applies
    only what changed: a root password reset re-runs set_passwords alone, a storage change partitions, formats
    and mounts a disk with no device event. The instance is chosen by its source address (127.0.0.1)."""
    need_root_tools("chpasswd", "useradd", "openssl", "mkfs.ext4")
    import time

    disk = loops.add("64M")
    srv = Server(str(tmp_path / "engine.db"))
    root = tmp_path / "root"
    account_files(root)
    (root / "home").mkdir()

    def custom(pw):
        return "#cloud-config\n" + json.dumps({
            "chpasswd": {"users": [{"name": "root", "password": pw, "type": "text"}], "expire": False},
            "users": [{"name": "alice", "groups": ["sudo"]}],
            "write_files": [{"path": "/etc/app.conf", "content": "setting=1\n"}]})

    doc = {"id": "push-1", "hostname": "push1", "source_addresses": ["127.0.0.1"], "custom_user_data": custom("first-secret")}
    watch = None
    try:
        assert srv.req("POST", "/v1/instances", doc).status == 201
        isolated_cfg(root, "datasource_list: [OpenStack, None]\n"
                           f"datasource: {{OpenStack: {{metadata_urls: ['{srv.url}'], retries: 1}}}}\n"
                           f"reporting: {{engine: {{type: webhook, endpoint: '{srv.url}/events'}}}}\n"
                           "init_local_modules: []\ninit_modules: [write_files, users_groups, storage]\n"
                           "config_modules: [set_passwords]\nfinal_modules: []\nwatch: {wait: 20, interval: 0.2}\n",
                     full=True)
        bp(root, "boot", check=True)
        assert root_hash_is(root, "first-secret")
        keep = {p: (root / p).stat().st_mtime_ns for p in ("etc/passwd", "etc/group", "etc/app.conf")}
        watch = subprocess.Popen([sys.executable, "-m", "blockprov", "watch", "--root", str(root), "--duration", "60"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)  # the watcher's first poll is its baseline

        def reports():
            evs = json.loads(srv.req("GET", "/events?instance=push-1").data)["events"]
            return [e["event"] for e in evs if e["event"]["name"] == "/blockprov/push-1/metadata-change"]

        assert srv.req("PUT", "/v1/instances/push-1", {**doc, "custom_user_data": custom("reset-by-operator")}).status == 200
        until(lambda: root_hash_is(root, "reset-by-operator"), 20, "the new root password")
        until(lambda: len(reports()) == 1, 10, "the metadata-change report at the engine")
        assert {p: (root / p).stat().st_mtime_ns for p in keep} == keep
        evs = [e["event"] for e in json.loads(srv.req("GET", "/events?instance=push-1").data)["events"]]
        ran = {e["name"].split("/config-")[1]: e["description"] for e in evs
               if e["name"].startswith("metadata-change/config-") and e["event_type"] == "finish"}
        assert not ran["set_passwords"].endswith("inputs unchanged")
        assert all(ran[m].endswith("inputs unchanged") for m in ("write_files", "users_groups")), ran
        assert "reset-by-operator" not in (root / "var/lib/blockprov/instance/config.json").read_text()

        storage = {"version": 1, "config": [
            {"id": "d", "type": "disk", "path": disk, "ptable": "gpt"},
            {"id": "p", "type": "partition", "device": "d", "size": "40M", "number": 1},
            {"id": "f", "type": "format", "volume": "p", "fstype": "ext4", "label": "pushed"},
            {"id": "m", "type": "mount", "device": "f", "path": "/pushed"}]}
        assert srv.req("PUT", "/v1/instances/push-1/storage", storage).status == 200
        until(lambda: len(reports()) == 2, 30, "the storage change to be applied and reported")
        assert reports()[-1]["result"] == "SUCCESS" and "changed: storage" in reports()[-1]["description"]
        assert subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(root / "pushed")], capture_output=True,
                              text=True).stdout.strip() == disk + "p1"
        assert root_hash_is(root, "reset-by-operator")
    finally:
        if watch is not None:
            watch.terminate()
            watch.communicate(timeout=10)
        srv.close()
