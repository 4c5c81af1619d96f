"""Network config: every input form rendered by every renderer, compared with golden files.

Regenerate the goldens after a deliberate change with BLOCKPROV_UPDATE_GOLDEN=1
and review the diff. The netplan output is also checked by the real
``netplan generate`` and the ifupdown output by the real ``ifquery``.
"""

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from blockprov.net import eni, netplan, networkd, parse, policy
from blockprov.net.model import Iface, NetConfig, NetConfigError

HERE = Path(__file__).resolve().parents[2] / "fixtures" / "network"
CASES = sorted(p.name for p in HERE.iterdir() if p.is_dir())
MACS = {"fa:16:3e:00:00:01": "ens3"}  # the target's interfaces by MAC; fa:16:3e:00:00:02 is not there yet
UPDATE = os.environ.get("BLOCKPROV_UPDATE_GOLDEN") == "1"


def load(case: str) -> dict:
    f = next((HERE / case).glob("input.*"))
    return json.loads(f.read_text()) if f.suffix == ".json" else yaml.safe_load(f.read_text())


def rendered(case: str, renderer: str) -> dict[str, str]:
    net = parse.parse(load(case), macs=MACS)
    routed = policy.apply(net)
    if renderer == "netplan":
        return netplan.render(routed, passthrough=routed is net)
    return {"networkd": networkd.render, "eni": eni.render}[renderer](routed)


@pytest.mark.parametrize("renderer", ["networkd", "eni", "netplan"])
@pytest.mark.parametrize("case", CASES)
def test_golden(case, renderer):
    files = rendered(case, renderer)
    golden = HERE / case / renderer
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        for rel, text in files.items():
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden / rel).write_text(text)
    want = {p.relative_to(golden).as_posix(): p.read_text() for p in golden.rglob("*") if p.is_file()}
    assert sorted(files) == sorted(want)
    for rel in files:
        assert files[rel] == want[rel], rel


@pytest.mark.parametrize("case", CASES)
def test_netplan_output_is_accepted_by_netplan(case, tmp_path):
    exe = shutil.which("netplan")
    if exe is None:
        pytest.skip("netplan is not installed (scripts/install.sh installs netplan.io)")
    for rel, text in rendered(case, "netplan").items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
        (tmp_path / rel).chmod(0o600)
    r = subprocess.run([exe, "generate", "--root-dir", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "run/systemd/network").glob("10-netplan-*.network"))


@pytest.mark.parametrize("case", CASES)
def test_eni_output_is_accepted_by_ifupdown(case, tmp_path):
    exe = shutil.which("ifquery")
    if exe is None:
        pytest.skip("ifupdown is not installed (scripts/install.sh installs it)")
    f = tmp_path / "interfaces"
    f.write_text(rendered(case, "eni")[eni.PATH])
    listed = subprocess.run([exe, "-i", str(f), "--list", "--allow", "auto"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    net = parse.parse(load(case), macs=MACS)
    assert [n for n in listed.stdout.split() if n != "lo"] == [i.name for i in net.interfaces if i.on_boot]
    for i in net.interfaces:
        q = subprocess.run([exe, "-i", str(f), i.name], capture_output=True, text=True)
        assert q.returncode == 0, (i.name, q.stderr)
        for a in i.addresses:
            if ipaddress.ip_interface(a).version == 4:
                assert f"address: {a.split('/')[0]}" in q.stdout


def test_openstack_names_by_mac_and_stable_names_for_unknown_nics():
    net = parse.parse(load("openstack"), macs=MACS)
    assert [(i.name, i.mac) for i in net.interfaces] == [("ens3", "fa:16:3e:00:00:01"),
                                                         ("eth-000002", "fa:16:3e:00:00:02")]
    assert net.interfaces[0].addresses == ["10.0.1.5/24", "2001:db8:1::5/64"]
    assert (net.interfaces[0].gateway4, net.interfaces[0].gateway6) == ("10.0.1.1", "2001:db8:1::1")
    assert net.dns == ["10.0.1.2", "2001:db8:1::2"]


def test_v2_passes_through_to_netplan_unless_policy_routing_changed_it():
    doc = load("v2-passthrough")
    assert yaml.safe_load(rendered("v2-passthrough", "netplan")[netplan.PATH]) == {"network": doc}
    doc["ethernets"]["nic1"].update(addresses=["10.1.0.10/24"], routes=[{"to": "default", "via": "10.1.0.1"}])
    net = parse.parse(doc)
    routed = policy.apply(net)
    out = yaml.safe_load(netplan.render(routed, passthrough=routed is net)[netplan.PATH])["network"]
    assert out["ethernets"]["stor0"]["routing-policy"] == [{"from": "10.1.0.10", "table": 101, "priority": 1001}]


def test_a_document_that_is_no_network_config_is_an_error():
    for doc, where in (({"version": 3}, "$.version: 3 is not 1 or 2"), (["eth0"], "$: a network config is a mapping"),
                       ({"config": "all"}, "$.config: must be a list")):
        with pytest.raises(NetConfigError) as e:
            parse.parse(doc)
        assert where in str(e.value)


@pytest.mark.parametrize("doc, where", [
    ({"config": [{"type": "wifi"}]}, "$.config[0].type: one of"),
    ({"config": [{"type": "physical", "name": "eth0", "subnets": [{"type": "static", "address": "10.0.0.300/24"}]}]},
     "$.config[0].subnets[0].address: '10.0.0.300/24' is not an address"),
    ({"config": [{"type": "physical", "name": "a-very-long-interface-name"}]}, "$.config[0].name:"),
    ({"config": [{"type": "vlan", "name": "v", "vlan_link": "eth9", "vlan_id": 5}]}, "its link 'eth9' is not defined"),
    ({"config": [{"type": "vlan", "name": "v", "vlan_link": "eth9", "vlan_id": 5000}]}, "$.config[0].vlan_id"),
    ({"version": 2, "ethernets": {"e": {"routes": [{"via": "10.0.0.1"}]}}}, "$.ethernets.e.routes[0]: a route needs 'to'"),
    ({"version": 2, "ethernets": {"e": {"match": {"macaddress": "zz"}}}}, "$.ethernets.e.match.macaddress"),
    ({"links": [{"id": "l", "name": "eth0"}], "networks": [{"link": "x", "type": "ipv4"}]}, "$.networks[0].link"),
    ({"nics": [{"name": "eth0", "boot_protocol": "bootp"}]}, "$.nics[0].boot_protocol: 'bootp'"),
    ({"nics": [{"name": "eth0", "boot_protocol": "static", "address": "10.0.0.2", "netmask": "255.0.255.0"}]},
     "$.nics[0].address: netmask '255.0.255.0' is not valid"),
    ({"nics": [{"name": "eth0"}], "dns_servers": ["dns.example"]}, "$.dns_servers: 'dns.example' is not an IP"),
])
def test_a_bad_item_is_an_error_naming_its_path_and_the_rest_is_kept(doc, where):
    net = parse.parse(doc)
    assert any(where in e for e in net.errors), net.errors


def test_one_bad_item_leaves_the_rest_and_the_primary_nic_gets_dhcp():
    """issue 20: never all-or-nothing. The primary NIC's own item is unreadable: it falls back to DHCP; the second
    NIC, a VLAN on it and the nameservers are rendered as given."""
    doc = {"version": 1, "config": [
        {"type": "physical", "name": "eth0", "mac_address": "52:54:00:00:00:01",
         "subnets": [{"type": "static", "address": "10.0.0.5/24", "gateway": "not-an-ip"}]},
        {"type": "physical", "name": "eth1", "subnets": [{"type": "static", "address": "10.1.0.5/24"}]},
        {"type": "vlan", "name": "eth1.7", "vlan_link": "eth1", "vlan_id": 7},
        {"type": "nameserver", "address": ["10.1.0.1"]}]}
    net = parse.parse(doc, macs={"52:54:00:00:00:01": "ens3"})
    assert net.errors == ["$.config[0].subnets[0].gateway: 'not-an-ip' is not an IP address"]
    assert [(i.name, i.dhcp4, i.addresses) for i in net.interfaces] == [
        ("eth0", True, []), ("eth1", False, ["10.1.0.5/24"]), ("eth1.7", False, [])]
    assert net.dns == ["10.1.0.1"] and any("primary NIC eth0" in w for w in net.warnings)
    for renderer in ("networkd", "eni", "netplan"):
        files = netplan.render(net, passthrough=False) if renderer == "netplan" else \
            {"networkd": networkd.render, "eni": eni.render}[renderer](net)
        assert files and any("eth1.7" in t for t in files.values())


def test_tolerant_inputs_clouds_send():
    """OpenStack ``netmask: ""`` for IPv6 (prefix /64), addresses without a netmask (cloud-init's /24, /64), a v2
    bond whose members are ids longer than an interface name, resolved through set-name, a route through a
    gateway on no subnet (kept, with a warning)."""
    net = parse.parse({"links": [{"id": "l0", "name": "eth0"}], "networks": [
        {"link": "l0", "type": "ipv6", "ip_address": "2001:db8::20", "netmask": ""},
        {"link": "l0", "type": "ipv4", "ip_address": "10.0.0.2"}]})
    assert not net.errors and net.interfaces[0].addresses == ["2001:db8::20/64", "10.0.0.2/24"]
    long_a, long_b = "enp0s31f6-uplink-a", "enp0s31f6-uplink-b"
    net = parse.parse({"version": 2, "ethernets": {
        long_a: {"match": {"macaddress": "52:54:00:00:00:0a"}, "set-name": "up0"},
        long_b: {"match": {"macaddress": "52:54:00:00:00:0b"}, "set-name": "up1"}},
        "bonds": {"bond0": {"interfaces": [long_a, long_b], "parameters": {"mode": "active-backup",
                                                                          "primary": long_a}}}})
    assert not net.errors, net.errors
    assert net.get("bond0").members == ["up0", "up1"] and net.get("bond0").params["primary"] == "up0"
    net = parse.parse({"version": 1, "config": [
        {"type": "physical", "name": "eth0", "subnets": [{"type": "static", "address": "10.0.0.2/24",
                                                          "gateway": "10.0.0.1"}]},
        {"type": "route", "destination": "172.16.0.0/12", "gateway": "192.168.99.1"}]})
    assert net.get("eth0").routes[0].to == "172.16.0.0/12" and "no static subnet holds the gateway" in net.warnings[0]


def test_policy_routing_needs_a_known_primary():
    net = parse.parse(load("v1-multi-nic"))
    with pytest.raises(NetConfigError, match="primary: 'eth7'"):
        policy.apply(net, primary="eth7")
    assert policy.apply(net, mode=False) is net
    other = policy.apply(net, primary="eth1")
    assert other.get("eth1").gateway4 == "198.51.100.1" and other.get("eth0").rules


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=6), st.data())
def test_policy_routing_one_main_default_and_a_table_each(has_v6, data):
    ifaces = []
    for k, v6 in enumerate(has_v6):
        i = Iface(f"eth{k}", addresses=[f"10.{k}.0.5/24"] + ([f"fd00:{k}::5/64"] if v6 else []),
                  gateway4=f"10.{k}.0.1", gateway6=f"fd00:{k}::1" if v6 else None)
        ifaces.append(i)
    primary = data.draw(st.sampled_from([None] + [i.name for i in ifaces]))
    out = policy.apply(NetConfig(ifaces), primary=primary)
    mains = [i.name for i in out.interfaces if i.gateway4]
    assert mains == [primary or "eth0"]
    prios = [{r.priority for r in i.rules} for i in out.interfaces if i.rules]
    assert all(len(p) == 1 for p in prios) and len({min(p) for p in prios}) == len(prios)  # one priority each
    for i in out.interfaces:
        if i.name in mains:
            assert not i.rules
        else:
            own = {r.table for r in i.rules}
            assert len(own) == 1 and len(i.rules) == (2 if i.gateway6 is None and has_v6[int(i.name[3:])] else 1)
            assert not (own & {r.table for j in out.interfaces if j is not i for r in j.rules})
            defaults = [r for r in i.routes if r.to in ("0.0.0.0/0", "::/0")]
            assert defaults and all(r.table in own for r in defaults)


def test_ipv6_netmask_as_a_bare_prefix_length():
    """oVirt's network_data.json gives IPv6 netmasks as "64"."""
    net = parse.parse({"links": [{"id": "l0", "name": "eth0"}], "networks": [
        {"link": "l0", "type": "ipv6", "ip_address": "2001:db8::20", "netmask": "64"},
        {"link": "l0", "type": "ipv4", "ip_address": "10.0.0.2", "netmask": 24}]})
    assert net.interfaces[0].addresses == ["2001:db8::20/64", "10.0.0.2/24"]
    bad = parse.parse({"links": [{"id": "l0", "name": "eth0"}],
                       "networks": [{"link": "l0", "type": "ipv4", "ip_address": "10.0.0.2", "netmask": "64"}]})
    assert any("is not an address" in e for e in bad.errors)


@pytest.mark.skipif(shutil.which("netplan") is None, reason="netplan.io is not installed (scripts/install.sh installs it)")
@pytest.mark.parametrize("case", CASES)
def test_networkd_and_netplan_outputs_carry_the_same_settings(case, tmp_path):
    """Not the goldens as the oracle: blockprov's netplan YAML goes through the real ``netplan generate`` and the
    networkd files it yields must carry what blockprov's own networkd files carry."""
    from tests.conformance.network.settings import netplan_generate, networkd_settings

    net = policy.apply(parse.parse(load(case), macs=MACS))
    ours = networkd_settings({Path(k).name: v for k, v in networkd.render(net).items()
                              if k.endswith((".network", ".netdev", ".link"))})
    via_netplan = networkd_settings(netplan_generate(netplan.render(net, passthrough=False)[netplan.PATH], tmp_path))
    assert ours == via_netplan


def test_system_wide_nameservers_go_where_cloud_init_puts_them_and_none_is_lost():
    """cloud-init's rule: on each interface with static addresses and no DNS of its own; docs/network.md N8: when
    no interface qualifies (all DHCP), on the first one, and for networkd also in resolved.conf."""
    static = parse.parse({"version": 1, "config": [
        {"type": "physical", "name": "eth0", "subnets": [{"type": "static", "address": "10.0.0.2/24"}]},
        {"type": "physical", "name": "eth1", "subnets": [{"type": "static", "address": "10.1.0.2/24",
                                                          "dns_nameservers": ["10.1.0.1"]}]},
        {"type": "nameserver", "address": ["9.9.9.9"], "search": ["example.org"]}]})
    assert static.dns_for(static.get("eth0")) == (["9.9.9.9"], ["example.org"])
    assert static.dns_for(static.get("eth1")) == (["10.1.0.1"], [])
    dhcp = parse.parse({"version": 1, "config": [
        {"type": "physical", "name": "eth0", "subnets": [{"type": "dhcp"}]},
        {"type": "physical", "name": "eth1", "subnets": [{"type": "dhcp"}]},
        {"type": "nameserver", "address": ["9.9.9.9"]}]})
    assert dhcp.dns_for(dhcp.get("eth0")) == (["9.9.9.9"], []) and dhcp.dns_for(dhcp.get("eth1")) == ([], [])
    files = networkd.render(dhcp)
    assert "DNS=9.9.9.9" in files[networkd.RESOLVED] and "DNS=9.9.9.9" in files[f"{networkd.DIR}/{networkd.PREFIX}eth0.network"]
    assert "dns-nameservers 9.9.9.9" in eni.render(dhcp)[eni.PATH].split("auto eth0")[0]  # on lo
