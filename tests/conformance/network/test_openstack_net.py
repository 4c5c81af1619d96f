"""cloud-init's network_data.json conversions (tests/unittests/sources/helpers/test_openstack.py and
sources/test_configdrive.py; facts in tests/fixtures/cloudinit-net/cases.json, "convert_net_json"): each
network_data.json with the MACs the machine has and the v1 config cloud-init converts it to.

blockprov reads network_data.json itself (net/openstack.py); the v1 config cloud-init expects is read by
blockprov's v1 parser, which tests/conformance/network/test_cloudinit_net.py holds to cloud-init's own
renders. Both are rendered as networkd files and read back into settings: they must be the same.
"""
import copy
import json
from pathlib import Path

import pytest

from blockprov.net import networkd, parse
from tests.conformance.network.settings import networkd_settings

# cloud-init's bond cases write placeholders ("xx:xx:xx:xx:xx:00", "x.x.x.x", "x.x.x.1"; its converter does not
# check them, blockprov does): each becomes one documentation value everywhere in a case
CASES = json.loads((Path(__file__).parents[2] / "fixtures/cloudinit-net/cases.json").read_text()
                   .replace("xx:xx:xx:xx:xx:", "02:00:00:00:00:").replace('"x.x.x.x"', '"192.0.2.10"')
                   .replace('"x.x.x.1"', '"192.0.2.1"'))["convert_net_json"]


def settings(cfg) -> dict:
    return networkd_settings({Path(k).name: v for k, v in networkd.render(cfg).items()
                              if k.endswith((".network", ".netdev", ".link"))}), sorted(cfg.dns)


def named_vlans(case: dict) -> dict:
    """docs/network.md N9: a VLAN link's own ``name`` is kept; cloud-init always writes <parent>.<vlan id>."""
    expected = copy.deepcopy(case["expected_v1"])
    for ln in case["network_json"]["links"]:
        if ln.get("type") == "vlan" and ln.get("name"):
            for it in expected["config"]:
                if it.get("type") == "vlan" and it.get("vlan_id") == ln["vlan_id"]:
                    it["name"] = ln["name"]
    return expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_network_data_means_what_cloud_init_converts_it_to(name):
    case = CASES[name]
    ours = parse.parse(case["network_json"], "openstack", case["known_macs"])
    want = parse.parse(named_vlans(case), "v1", case["known_macs"])
    assert not ours.errors and not want.errors, (ours.errors, want.errors)
    assert settings(ours) == settings(want)


@pytest.mark.parametrize("link_type", ["bridge", "cascading", "dvs", "ethernet", "hw_veb", "hyperv", "ovs", "phy",
                                       "tap", "vhostuser", "vif", None, "something-new"])
def test_every_physical_link_type_and_unknown_ones_are_physical_nics(link_type):
    """test_phy_types over cloud-init's KNOWN_PHYSICAL_TYPES; an unknown type is a NIC with a warning."""
    case = copy.deepcopy(CASES["test_openstack.test_phy_types"])
    case["network_json"]["links"][0]["type"] = link_type
    ours = parse.parse(case["network_json"], "openstack", case["known_macs"])
    assert settings(ours) == settings(parse.parse(case["expected_v1"], "v1", case["known_macs"]))
    assert bool(ours.warnings) == (link_type == "something-new")


DRIVE = json.loads((Path(__file__).parents[2] / "fixtures/cloudinit-net/cases.json").read_text())["configdrive"]


def eni_words(cfg) -> list[str]:
    from blockprov.net import eni

    return eni.render(cfg)[eni.PATH]


def test_names_come_from_the_machines_macs():
    """test_conversion_fills_names / test_convert_reads_system_prefers_name."""
    cfg = parse.parse(DRIVE["NETWORK_DATA"], "openstack", DRIVE["KNOWN_MACS"])
    assert {i.name for i in cfg.interfaces if i.kind == "physical"} == {"nic0", "enp0s1", "enp0s2"}
    macs = {**DRIVE["KNOWN_MACS"], "fa:16:3e:05:30:fe": "foonic1", "fa:16:3e:69:b0:58": "ens1"}
    cfg = parse.parse(DRIVE["NETWORK_DATA"], "openstack", macs)
    assert {i.name for i in cfg.interfaces if i.kind == "physical"} == {"nic0", "ens1", "enp0s2"}


def test_a_nic_no_name_and_no_known_mac_names_still_renders():
    """test_convert_raises_value_error_on_missing_name: cloud-init raises (no network at all); blockprov names
    the NIC after its MAC and matches it by MAC (docs/network.md N10)."""
    cfg = parse.parse(DRIVE["NETWORK_DATA"], "openstack", {"aa:aa:aa:aa:aa:00": "ens1"})
    assert not cfg.errors and len([i for i in cfg.interfaces if i.kind == "physical"]) == 3
    assert all(i.mac and i.name for i in cfg.interfaces)


def test_the_default_route_of_a_network_is_rendered():
    """test_conversion_with_route: NETWORK_DATA_2's default route via 2.2.2.9 reaches the ifupdown file."""
    cfg = parse.parse(DRIVE["NETWORK_DATA_2"], "openstack", DRIVE["KNOWN_MACS"])
    assert any(i.gateway4 == "2.2.2.9" for i in cfg.interfaces)
    assert "gateway 2.2.2.9" in eni_words(cfg)


def test_tap_links_are_nics():
    """test_conversion_with_tap."""
    cfg = parse.parse(DRIVE["NETWORK_DATA_3"], "openstack", DRIVE["KNOWN_MACS"])
    assert {i.name for i in cfg.interfaces if i.kind == "physical"} == {"foo1", "foo2"}


def test_nova_bond_with_vlans():
    """test_bond_conversion: NETWORK_DATA_BOND (an unnamed bond, two VLANs on it): the interfaces are the NICs'
    own names, bond0, bond0.602 and bond0.612; the link ids eth0/eth1 appear nowhere; the bond has its MAC."""
    cfg = parse.parse(DRIVE["NETWORK_DATA_BOND"], "openstack", DRIVE["KNOWN_MACS"])
    assert not cfg.errors, cfg.errors
    assert sorted(i.name for i in cfg.interfaces) == sorted(["oeth0", "oeth1", "bond0", "bond0.602", "bond0.612"])
    text = eni_words(cfg)
    words = text.split()
    assert "eth0" not in words and "eth1" not in words
    assert "auto oeth0" in text and "auto oeth1" in text and "auto bond0" in text
    bond_mac = next(ln["ethernet_mac_address"] for ln in DRIVE["NETWORK_DATA_BOND"]["links"] if ln["type"] == "bond")
    assert cfg.get("bond0").macaddress == bond_mac.lower()
    assert text.find(bond_mac.lower(), text.find("auto bond0")) > 0
    assert cfg.get("bond0").params["mode"] == "802.3ad"  # nova writes "4"


def test_nova_vlan_on_a_nic():
    """test_vlan: NETWORK_DATA_VLAN."""
    text = eni_words(parse.parse(DRIVE["NETWORK_DATA_VLAN"], "openstack", DRIVE["KNOWN_MACS"]))
    assert "iface enp0s1" in text and "address 10.0.1.5" in text and "auto enp0s1.602" in text
