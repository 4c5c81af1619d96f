"""issue 20's proof: an OpenStack instance whose config drive's network_data.json has nova's bond shape (an
unnamed bond of two NICs given by MAC, a VLAN on the bond, IPv4 and IPv6 on the VLAN, DNS services in a network
and for the instance) boots a temp root with exit 0, and the rendered files carry every setting.

The rendered files are read back with tests/conformance/network/settings.py (networkd files as networkd keys
mean them; ifupdown files through ``ifquery``), not compared with blockprov's own expectations."""

import json
import shutil

import pytest

from tests.boot.helpers import bp, isolated_cfg
from tests.boot.media import make_iso
from tests.boot.test_network import make_target, ours
from tests.conformance.network.settings import eni_settings, networkd_settings

MAC0, MAC1, BOND_MAC, VLAN_MAC = "fa:16:3e:00:10:01", "fa:16:3e:00:10:02", "fa:16:3e:00:10:0b", "fa:16:3e:00:10:0c"
NETWORK_DATA = {
    "links": [
        {"id": "tap-a", "type": "phy", "ethernet_mac_address": MAC0, "mtu": 9000},
        {"id": "tap-b", "type": "phy", "ethernet_mac_address": MAC1, "mtu": 9000},
        {"id": "bond-x", "type": "bond", "bond_links": ["tap-a", "tap-b"], "bond_mode": "4", "bond_miimon": 100,
         "bond_xmit_hash_policy": "layer3+4", "ethernet_mac_address": BOND_MAC, "mtu": 9000},
        {"id": "vlan-x", "type": "vlan", "vlan_link": "bond-x", "vlan_id": 100, "vlan_mac_address": VLAN_MAC,
         "ethernet_mac_address": VLAN_MAC}],
    "networks": [
        {"id": "n4", "link": "vlan-x", "type": "ipv4", "ip_address": "203.0.113.10", "netmask": "255.255.255.0",
         "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "203.0.113.1"}],
         "services": [{"type": "dns", "address": "203.0.113.53"}]},
        {"id": "n6", "link": "vlan-x", "type": "ipv6", "ip_address": "2001:db8:10::10", "netmask": "",
         "gateway": "2001:db8:10::1", "dns_search": ["example.net"]}],
    "services": [{"type": "dns", "address": "198.51.100.53"}]}


def config_drive(tmp_path):
    md = {"uuid": "nova-bond-1", "hostname": "bonded", "name": "bonded"}
    return make_iso(tmp_path / "cd.iso", "config-2", {
        "/openstack/latest/meta_data.json": json.dumps(md).encode(),
        "/openstack/latest/network_data.json": json.dumps(NETWORK_DATA).encode()})


@pytest.mark.parametrize("renderer", ["networkd", "eni"])
def test_nova_bond_vlan_boots_and_every_setting_is_rendered(tmp_path, loops, renderer):
    root = tmp_path / "root"
    isolated_cfg(root, "datasource_list: [ConfigDrive, None]\ndatasource: {ConfigDrive: {search_devices: true}}\n",
                 full=True)
    make_target(root, renderer)
    for name, mac in (("ens3", MAC0), ("ens4", MAC1)):  # the NICs the instance has
        (root / f"sys/class/net/{name}/device").mkdir(parents=True)
        (root / f"sys/class/net/{name}/address").write_text(mac + "\n")
    loops.attach(config_drive(tmp_path))
    res = bp(root, "boot", timeout=180)
    assert res.returncode in (0, 3), res.stderr
    assert "left out" not in res.stderr, res.stderr
    files = ours(root)
    if renderer == "networkd":
        st = networkd_settings({k.rsplit("/", 1)[-1]: v for k, v in files.items()
                                if k.endswith((".network", ".netdev", ".link"))})
        assert st["bond0"]["kind"] == "bond" and st["bond0"]["mac"] == BOND_MAC and st["bond0"]["mtu"] == 9000
        assert st["bond0"]["bond"] == {"Mode": "802.3ad", "MIIMonitorSec": 100, "TransmitHashPolicy": "layer3+4"}
        assert st["bond0"]["vlans"] == ["bond0.100"]
        for nic, mac in (("ens3", MAC0), ("ens4", MAC1)):
            assert (st[nic]["master"], st[nic]["match_mac"], st[nic]["mtu"]) == ("bond0", mac, 9000)
        vlan = st["bond0.100"]
        assert (vlan["kind"], vlan["vlan_id"], vlan["mac"]) == ("vlan", 100, VLAN_MAC)
        assert vlan["addresses"] == ["2001:db8:10::10/64", "203.0.113.10/24"]
        assert vlan["routes"] == [("0.0.0.0/0", "203.0.113.1", None), ("::/0", "2001:db8:10::1", None)]
        assert vlan["dns"] == ["203.0.113.53"] and vlan["domains"] == ["example.net"]
        assert vlan["accept_ra"] is False  # a static IPv6 network, as cloud-init converts it
        assert "DNS=198.51.100.53" in files["etc/systemd/resolved.conf.d/50-blockprov.conf"]
    else:
        if shutil.which("ifquery") is None:
            pytest.skip("ifupdown is not installed (scripts/install.sh installs it)")
        text = files["etc/network/interfaces.d/50-blockprov.cfg"]
        st = eni_settings(text, tmp_path)
        assert st["bond0"]["bond"] == {"Mode": "802.3ad", "MIIMonitorSec": "100", "TransmitHashPolicy": "layer3+4"}
        assert st["bond0"]["mac"] == BOND_MAC and st["ens3"]["master"] == st["ens4"]["master"] == "bond0"
        vlan = st["bond0.100"]
        assert (vlan["link"], vlan["mac"]) == ("bond0", VLAN_MAC)
        assert vlan["addresses"] == ["2001:db8:10::10/64", "203.0.113.10/24"]
        assert vlan["routes"] == [("0.0.0.0/0", "203.0.113.1", None), ("::/0", "2001:db8:10::1", None)]
        assert vlan["dns"] == ["203.0.113.53"] and vlan["domains"] == ["example.net"]
        assert "iface lo inet loopback\n    dns-nameservers 198.51.100.53" in text  # system-wide, on lo
        for nic, mac in (("ens3", MAC0), ("ens4", MAC1)):  # renamed by MAC through .link files
            assert f"MACAddress={mac}" in files[f"etc/systemd/network/10-blockprov-{nic}.link"]
