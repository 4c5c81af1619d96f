"""The design's NIC flow over the event channel, end to end: a veth pair made here is a real net add event in a
real systemd-udevd; blockprov's rule queues it, the hotplug processor publishes it on hotplug/network with the
NIC's MAC, the engine (whose definition names that MAC) answers with config/set/network, and the instance
renders the network config. Nothing else renders it: the boot runs no network module."""
import json
import subprocess
import sys

from tests.boot.helpers import bp, isolated_cfg, until
from tests.boot.test_network import make_target
from tests.conftest import ROOT, need_root_tools
from tests.engine.conftest import Server

IID = "nic-1"
MAC = "02:b1:0c:00:00:41"


def test_a_hotplugged_nic_the_definition_names_gets_its_network_config_over_the_channel(tmp_path, udev):
    need_root_tools("ip")
    for name in ("bptc0", "bptc1"):
        subprocess.run(["ip", "link", "del", name], capture_output=True)
    srv = Server(str(tmp_path / "engine.db"))
    root = tmp_path / "root"
    agent = None
    try:
        doc = {"id": IID, "hostname": "nic1", "source_addresses": ["127.0.0.1"],
               "nics": [{"name": "bptc0", "mac": MAC, "boot_protocol": "static", "address": "10.78.0.5",
                         "prefix": 24}]}
        assert srv.req("POST", "/v1/instances", doc).status == 201
        make_target(root, "networkd")
        (root / "sys/class").mkdir(parents=True)
        (root / "sys/class/net").symlink_to("/sys/class/net")  # the target's NICs are this machine's
        isolated_cfg(root, "datasource_list: [OpenStack, None]\n"
                           f"datasource: {{OpenStack: {{metadata_urls: ['{srv.url}'], retries: 1}}}}\n"
                           f"reporting: {{mgmt: {{type: event-channel, endpoint: 'ws://127.0.0.1:{srv.port}/v1/channel',"
                           f" secret: '{srv.signature(IID)}'}}}}\n"
                           "init_local_modules: []\ninit_modules: []\nconfig_modules: []\nfinal_modules: []\n"
                           "system_info: {network: {bring_up: false}}\n", full=True)
        bp(root, "boot", check=True)
        assert not list((root / "etc/systemd/network").glob("*.network"))
        agent = subprocess.Popen([sys.executable, "-m", "blockprov", "channel", "serve", "--root", str(root)],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        until(lambda: json.loads(srv.req("GET", f"/v1/instances/{IID}").data)["status"]["channel"]["connected"],
              20, "the channel connection")
        udev.use(root, tmp_path / "no-disks")
        subprocess.run(["ip", "link", "add", "bptc0", "address", MAC, "type", "veth", "peer", "name", "bptc1"],
                       check=True)
        subprocess.run(["udevadm", "settle"], check=True)
        try:
            files = until(lambda: [p for p in (root / "etc/systemd/network").glob("*.network")
                                   if "10.78.0.5/24" in p.read_text()], 30, "the NIC's .network file")
        except AssertionError:
            log = root / "var/log/blockprov/output.log"
            raise AssertionError(f"engine events: {srv.req('GET', f'/events?instance={IID}').data.decode()[-3000:]}\n"
                                 f"log: {log.read_text()[-3000:] if log.exists() else '-'}") from None
        assert MAC in files[0].read_text() or "bptc0" in files[0].read_text()

        def net_events():
            evs = [e["event"] for e in json.loads(srv.req("GET", f"/events?instance={IID}").data)["events"]]
            return evs, [e for e in evs if e.get("channel") == f"/blockprov/{IID}/modules-config/network"]
        # the file is written before the module's finish event is sent and stored: wait for that too
        until(lambda: [e["event_type"] for e in net_events()[1]] == ["start", "finish"], 20,
              "the network module's finish event at the engine")
        evs, net = net_events()
        added = [e for e in evs if e["name"] == "hotplug/network" and e["data"].get("action") == "add"]
        assert {e["data"]["interface"]: e["data"]["mac"] for e in added}.get("bptc0") == MAC, added
        assert net[-1]["result"] == "SUCCESS", net
        assert "config from the event channel rendered for networkd" in net[-1]["description"], net
        layer = json.loads((root / f"var/lib/blockprov/instances/{IID}/channel-config.json").read_text())
        assert layer["network"]["config"][0]["mac_address"] == MAC
    finally:
        subprocess.run(["ip", "link", "del", "bptc0"], capture_output=True)
        if agent is not None:
            agent.terminate()
            out, _ = agent.communicate(timeout=10)
            assert "Traceback" not in out, out
        srv.close()
