"""After boot without device events: watch, refresh-metadata, apply, modules --mode update,
hotplug enable/disable/status, custom handlers, and net hotplug through the real udevd."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.boot.helpers import bp, isolated_cfg, until
from tests.boot.test_network import make_target
from tests.conftest import ROOT, need_root_tools
from tests.udev.metadata import Metadata
from tests.udev.test_hotplug import blkid, storagedata

WATCH_FAST = "watch: {wait: 20, interval: 0.2}\n"


def cc(obj) -> str:
    return "#cloud-config\n" + json.dumps(obj)


def events(root: Path) -> list[dict]:
    p = root / "var/log/blockprov/events.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


class Watch:
    def __init__(self, root: Path, md: Metadata):
        self.md = md
        self.proc = subprocess.Popen([sys.executable, "-m", "blockprov", "watch", "--root", str(root),
                                      "--duration", "60"], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        until(lambda: any("wait=" in r for r in md.requests), 15, "the first long-poll")

    def stop(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return out


@pytest.fixture
def md():
    m = Metadata()
    yield m
    m.close()


def test_watch_applies_a_storagedata_change_without_a_device_event(tmp_path, loops, md):
    dev = loops.add("64M")
    md.set("storagedata", storagedata())
    root = tmp_path / "root"
    isolated_cfg(root, md.dscfg() + "init_local_modules: []\ninit_modules: [storage]\nconfig_modules: []\nfinal_modules: []\n" + WATCH_FAST,
                 full=True)
    bp(root, "boot", check=True)
    w = Watch(root, md)
    try:
        md.set("storagedata", "version: 1\nconfig:\n"
               f"  - {{id: d, type: disk, path: {dev}, ptable: gpt}}\n"
               "  - {id: p, type: partition, device: d, size: 40M, number: 1}\n"
               "  - {id: f, type: format, volume: p, fstype: ext4, label: watched}\n"
               "  - {id: m, type: mount, device: f, path: /watched}\n")
        until(lambda: [e for e in events(root) if e["name"] == "/blockprov/hp-1/metadata-change"], 20,
              "the storagedata change to be applied and reported")
    finally:
        out = w.stop()
    assert blkid(dev + "p1", "LABEL") == "watched", out
    assert subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(root / "watched")], capture_output=True,
                          text=True).stdout.strip() == dev + "p1"
    ch = [e for e in events(root) if e["name"] == "/blockprov/hp-1/metadata-change"]
    assert ch and ch[-1]["result"] == "SUCCESS" and "changed: storage" in ch[-1]["description"], ch
    assert not (root / "run/blockprov/hotplug/queue").exists()  # no device event was involved


def test_refresh_metadata_and_apply_storage(tmp_path, loops, md):
    dev = loops.add("64M")
    md.set("storagedata", storagedata())
    root = tmp_path / "root"
    isolated_cfg(root, md.dscfg() + "init_local_modules: []\ninit_modules: [storage]\nconfig_modules: []\n"
                 "final_modules: []\n", full=True)
    bp(root, "boot", check=True)
    before = (root / "run/blockprov/instance-data.json").read_bytes()
    assert bp(root, "refresh-metadata", check=True).stdout.strip() == "unchanged"
    assert (root / "run/blockprov/instance-data.json").read_bytes() == before
    md.set("storagedata", f"version: 1\nconfig:\n  - {{id: d, type: disk, path: {dev}}}\n"
                          "  - {id: f, type: format, volume: d, fstype: ext4, lable: applied}\n")
    res = bp(root, "refresh-metadata", check=True)  # the refresh worked; the config it brought is bad
    assert res.stdout.strip() == "changed: storage"
    assert "storagedata is invalid" in res.stderr and "$.config[1] [f]" in res.stderr, res.stderr
    md.set("storagedata", f"version: 1\nconfig:\n  - {{id: d, type: disk, path: {dev}}}\n"
                          "  - {id: f, type: format, volume: d, fstype: ext4, label: applied}\n")
    verdicts = root / "var/cache/blockprov/storage-schema-verdicts.json"
    known = json.loads(verdicts.read_text())["valid"] if verdicts.exists() else []
    res = bp(root, "refresh-metadata", check=True)
    assert res.stdout.strip() == "changed: storage" and res.stderr == ""
    assert len(json.loads(verdicts.read_text())["valid"]) == len(known) + 1  # remembered for the apply
    data = json.loads((root / "run/blockprov/instance-data.json").read_text())
    assert data["ds"]["storage_config"]["config"][0]["path"] == dev
    assert blkid(dev, "TYPE") == ""  # refreshed, not applied
    res = bp(root, "apply", "storage", "--no-refresh")
    assert res.returncode == 0 and blkid(dev, "LABEL") == "applied", res.stdout + res.stderr
    md.set("user_data", cc({"updates": {"storage": "never"}}))  # the operator freezes storage
    res = bp(root, "apply", "storage")
    assert res.returncode == 1 and "does not include user-request" in res.stderr
    assert "metadata: changed: userdata" in res.stdout
    before = (root / "run/blockprov/instance-data.json").read_bytes()
    md.set("meta_data.json", json.dumps({"uuid": "someone-else"}))
    res = bp(root, "refresh-metadata")
    assert res.returncode == 1 and "instance-id 'someone-else'" in res.stderr
    assert (root / "run/blockprov/instance-data.json").read_bytes() == before


def test_bad_update_policy_is_refused_with_its_path(tmp_path, md):
    root = tmp_path / "root"
    isolated_cfg(root, md.dscfg() + "init_local_modules: []\ninit_modules: []\nconfig_modules: []\nfinal_modules: []\n"
                 "updates: {network: {when: [boot, hotplg]}}\n", full=True)
    res = bp(root, "boot")
    assert "$.updates.network.when[1]: unknown event 'hotplg'" in res.stderr
    res = bp(root, "apply", "network", "--no-refresh")
    assert res.returncode == 2 and "$.updates.network.when[1]" in res.stderr


def test_hotplug_enable_disable_status(tmp_path, md):
    root = tmp_path / "root"
    isolated_cfg(root, md.dscfg() + "init_local_modules: []\ninit_modules: []\nconfig_modules: []\nfinal_modules: []\n", full=True)
    bp(root, "boot", check=True)
    st = json.loads(bp(root, "hotplug", "status", "--json", check=True).stdout)
    assert st["subsystems"]["block"]["enabled"] and not st["subsystems"]["net"]["enabled"]
    bp(root, "hotplug", "enable", "--subsystem", "net", check=True)
    bp(root, "hotplug", "disable", "--subsystem", "block", check=True)
    st = json.loads(bp(root, "hotplug", "status", "--json", check=True).stdout)
    assert st["subsystems"]["net"] == {"enabled": True, "why": "blockprov hotplug enable",
                                       "handlers": ["network", "modules"]}
    assert not st["subsystems"]["block"]["enabled"]
    assert (root / "var/lib/blockprov/hotplug/disabled-block").exists()  # the udev helper queues nothing
    res = bp(root, "hotplug", "handle", "--subsystem", "block", "--action", "add", "--device", "/dev/null-disk")
    assert res.returncode == 0
    ev = [e for e in events(root) if e["name"] == "/blockprov/hp-1/hotplug/block"]
    assert ev[-1]["description"] == "ignored: hotplug is off for block"


def test_custom_handler_gets_the_event_as_env_and_json(tmp_path, md):
    root = tmp_path / "root"
    handler = tmp_path / "handler.sh"
    handler.write_text(f"#!/bin/sh\necho \"$ACTION $DEVNAME $BLOCKPROV_EVENT\" > {tmp_path}/env.txt\n"
                       f"cat > {tmp_path}/stdin.json\n")
    handler.chmod(0o755)
    isolated_cfg(root, md.dscfg() + "init_local_modules: []\ninit_modules: []\nconfig_modules: []\nfinal_modules: []\n"
                 f"update-handlers: {{hotplug: {{block: ['{handler}']}}}}\n", full=True)
    bp(root, "boot", check=True)
    bp(root, "hotplug", "handle", "--subsystem", "block", "--action", "remove", "--device", "/dev/vdz", check=True)
    assert (tmp_path / "env.txt").read_text() == "remove /dev/vdz hotplug\n"
    got = json.loads((tmp_path / "stdin.json").read_text())
    assert got["event_type"] == "hotplug" and got["device"] == "/dev/vdz" and got["instance_id"] == "hp-1"


def test_net_add_renders_the_refreshed_network_config(tmp_path, udev, md):
    need_root_tools("ip")
    for name in ("bpth0", "bpth1"):
        subprocess.run(["ip", "link", "del", name], capture_output=True)
    root = tmp_path / "root"
    make_target(root, "networkd")
    (root / "sys/class").mkdir(parents=True)
    (root / "sys/class/net").symlink_to("/sys/class/net")  # the target's NICs are this machine's
    mac = "02:b1:0c:00:00:01"
    md.set("user_data", cc({"updates": {"network": {"when": ["boot", "hotplug"]}}}))
    md.set("network_data.json", json.dumps({"links": [{"id": "other", "type": "phy",
                                                       "ethernet_mac_address": "02:b1:0c:00:00:99"}],
                                            "networks": [{"id": "n0", "type": "ipv4_dhcp", "link": "other"}]}))
    isolated_cfg(root, md.dscfg() + "init_local_modules: []\ninit_modules: [network]\nconfig_modules: []\n"
                 "final_modules: []\nsystem_info: {network: {bring_up: false}}\n", full=True)
    bp(root, "boot", check=True)
    assert not list((root / "etc/systemd/network").glob("*bpth0*"))
    udev.use(root, tmp_path / "no-disks")
    md.set("network_data.json", json.dumps({
        "links": [{"id": "hot", "type": "phy", "ethernet_mac_address": mac}],
        "networks": [{"id": "n1", "type": "ipv4", "link": "hot", "ip_address": "10.77.0.5",
                      "netmask": "255.255.255.0"}]}))
    try:
        subprocess.run(["ip", "link", "add", "bpth0", "address", mac, "type", "veth", "peer", "name", "bpth1"],
                       check=True)
        subprocess.run(["udevadm", "settle"], check=True)
        files = until(lambda: [p for p in (root / "etc/systemd/network").glob("*.network")
                               if "10.77.0.5/24" in p.read_text()], 20, "the new interface's .network file")
    finally:
        subprocess.run(["ip", "link", "del", "bpth0"], capture_output=True)
    assert "bpth0" in files[0].name or "02:b1:0c:00:00:01" in files[0].read_text()
    rep = {e["device"]: e for e in events(root) if e["name"] == "/blockprov/hp-1/hotplug/net" and e["action"] == "add"}
    assert "network: ran network" in rep["bpth0"]["description"]
    assert rep["bpth1"]["description"] == "not in the network config; nothing done"
