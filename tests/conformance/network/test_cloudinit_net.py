"""cloud-init's network rendering cases (tests/unittests/net/network_configs.py), facts in
tests/fixtures/cloudinit-net/cases.json: each v1 or v2 input with the netplan, networkd and ifupdown files
cloud-init expects.

Oracles are the real tools: cloud-init's expected netplan YAML (or, for v2 input, the input itself, which
cloud-init passes to netplan unchanged) goes through ``netplan generate``; the networkd files it yields are read
by tests/conformance/network/settings.py into per-interface settings. blockprov's netplan output goes through
the same ``netplan generate``, and blockprov's own networkd files through the same reader: both must carry the
same settings. blockprov's ifupdown output and cloud-init's expected one are both read back with ``ifquery``.
Deliberate differences (docs/network.md) are applied to the expectation by ``differences()`` and each is
named there.
"""
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from blockprov.net import eni, netplan, networkd, parse
from tests.conformance.network.settings import NetplanRejected, eni_settings, netplan_generate, networkd_settings

CASES = json.loads((Path(__file__).parents[2] / "fixtures/cloudinit-net/cases.json").read_text())
NET = CASES["network_configs"]

pytestmark = pytest.mark.skipif(shutil.which("netplan") is None or shutil.which("ifquery") is None,
                                reason="netplan.io and ifupdown are not installed (scripts/install.sh installs them)")


def inputs():
    for name, case in sorted(NET.items()):
        for key in ("yaml", "yaml_v1", "yaml_v2"):
            if key in case:
                yield pytest.param(name, key, id=f"{name}-{key}")


def parsed(name: str, key: str):
    doc = yaml.safe_load(NET[name][key])
    doc = doc.get("network", doc)
    return doc, parse.parse(doc)


def expected_netplan(name: str, key: str, doc: dict) -> str | None:
    """What cloud-init hands netplan for this input: its expected netplan, or (v2) the input itself."""
    if str(doc.get("version")) == "2":
        return yaml.safe_dump({"network": doc})
    return NET[name].get("expected_netplan")


def has_netplan_oracle(name: str, key: str) -> bool:
    """cloud-init states a netplan expectation (v1), or hands the v2 input to netplan as it is and netplan takes it
    (one v2 input writes ``nameservers.addresses`` as a string, which netplan 0.106 rejects)."""
    doc = yaml.safe_load(NET[name][key])
    doc = doc.get("network", doc)
    if str(doc.get("version")) != "2":
        return "expected_netplan" in NET[name]
    return not any(isinstance((it.get("nameservers") or {}).get(k), str)
                   for section in ("ethernets", "bonds", "bridges", "vlans")
                   for it in (doc.get(section) or {}).values() for k in ("addresses", "search"))


@pytest.mark.parametrize("name,key", [p for p in inputs() if has_netplan_oracle(*p.values)])
def test_networkd_carries_what_cloud_init_gives_netplan(name, key, tmp_path):
    doc, cfg = parsed(name, key)
    want = networkd_settings(netplan_generate(expected_netplan(name, key, doc), tmp_path))
    got = networkd_settings({Path(k).name: v for k, v in networkd.render(cfg).items() if k.endswith(
        (".network", ".netdev", ".link"))})
    differences(doc, want, got, "networkd")
    assert got == want


@pytest.mark.parametrize("name,key", [p for p in inputs() if not has_netplan_oracle(*p.values)])
def test_inputs_without_a_netplan_oracle_render_the_same_settings_both_ways(name, key, tmp_path):
    """Where cloud-init states no netplan result (its ENI-only and sysconfig-only cases, and the v2 input netplan
    rejects): blockprov's netplan output is accepted by ``netplan generate`` and carries what its networkd output
    carries."""
    doc, cfg = parsed(name, key)
    assert not cfg.errors, cfg.errors
    via_netplan = networkd_settings(netplan_generate(netplan.render(cfg, passthrough=False)[netplan.PATH], tmp_path))
    ours = networkd_settings({Path(k).name: v for k, v in networkd.render(cfg).items()
                              if k.endswith((".network", ".netdev", ".link"))})
    assert ours == via_netplan


@pytest.mark.parametrize("name,key", [p for p in inputs() if "expected_netplan" in NET[p.values[0]]])
def test_netplan_output_means_what_cloud_inits_does(name, key, tmp_path):
    doc, cfg = parsed(name, key)
    ours = netplan.render(cfg, passthrough=True)[netplan.PATH]
    got = networkd_settings(netplan_generate(ours, tmp_path))
    want = networkd_settings(netplan_generate(NET[name]["expected_netplan"], tmp_path))
    differences(doc, want, got, "netplan")
    assert got == want


# large_v2's ENI expectation is large_v1's (it has the v1 input's global route, which the v2 input does not have):
# its v2 input is held to netplan instead
@pytest.mark.parametrize("name,key", [p for p in inputs() if "expected_eni_ip_cmd" in NET[p.values[0]]
                                      and p.values[0] != "large_v2"])
def test_ifupdown_output_means_what_cloud_inits_does(name, key, tmp_path):
    doc, cfg = parsed(name, key)
    ours = eni.render(cfg)[eni.PATH]
    got = eni_settings(ours, tmp_path)
    want = eni_settings(NET[name]["expected_eni_ip_cmd"], tmp_path)
    (tmp_path / "ours.eni").write_text(ours)
    up = subprocess.run(["ifup", "--no-act", "--force", "-i", str(tmp_path / "ours.eni"), "--all"],
                        capture_output=True, text=True)
    assert up.returncode == 0, up.stderr  # ifup itself would carry out every stanza
    differences(doc, want, got, "eni")
    assert got == want


# -- deliberate differences (docs/network.md, "Differences from cloud-init"), applied to the expectation ------------
def v1_items(doc: dict) -> list[dict]:
    return [it for it in doc.get("config") or [] if isinstance(it, dict)] if str(doc.get("version")) == "1" else []


def global_route_owner(doc: dict, dest: str, gw: str) -> str | None:
    """Where blockprov documents a v1 global route goes: the interface whose static subnet holds the gateway,
    else the first one with a static gateway of the route's family (computed here from the input alone)."""
    import ipaddress

    items = [it for it in v1_items(doc) if it.get("subnets")]
    for it in items:
        for s in it["subnets"]:
            addr = s.get("address")
            if addr and "/" in str(addr) and ipaddress.ip_address(gw) in ipaddress.ip_interface(addr).network:
                return it["name"]
    for it in items:
        for s in it["subnets"]:
            if s.get("gateway") and (":" in s["gateway"]) == (":" in gw):
                return it["name"]
    return None


def differences(doc: dict, want: dict, got: dict, renderer: str) -> None:
    from tests.conformance.network.settings import _route

    for it in v1_items(doc):
        name = it.get("name")
        if renderer != "eni" and any(s.get("control") == "manual" for s in it.get("subnets") or []) \
                and name in want:
            want[name].update(activation="manual", optional=True)  # N1: control: manual is kept
        if it.get("type") == "infiniband":
            if renderer == "eni":
                want.get(name, {}).pop("mac", None)  # N3: no hwaddress for an InfiniBand NIC
            else:
                assert name in got and name not in want  # N3: rendered, matched by name
                got.pop(name)
        if it.get("type") == "route" and renderer != "eni":
            owner = global_route_owner(doc, it["destination"], it["gateway"])  # N2: global routes kept
            want[owner]["routes"] = sorted(set(want[owner]["routes"]) | {
                _route(it["destination"], it["gateway"], it.get("metric"))}, key=str)
    if renderer == "eni" and str(doc.get("version")) == "2":
        for section in ("ethernets", "bonds", "bridges", "vlans"):
            for ident, it in (doc.get(section) or {}).items():
                name = it.get("set-name") or ident
                ns = it.get("nameservers") or {}
                if ns and not it.get("addresses") and name in want:  # N4: DNS without addresses kept
                    want[name]["dns"] = sorted({str(__import__("ipaddress").ip_address(a))
                                                for a in ns.get("addresses", [])}, key=str)
                    want[name]["domains"] = sorted(set(ns.get("search", [])))
                v6 = [a for a in it.get("addresses") or [] if ":" in str(a)]
                if not v6 and name in want and "inet6 static" in want[name]["methods"]:
                    want[name]["methods"].remove("inet6 static")  # N7: no address-less inet6 static stanza
                for r in it.get("routes") or []:  # N5: a v2 destination without a length is a host route
                    if "/" not in str(r["to"]) and r["to"] != "default" and name in want:
                        host = _route(r["to"], r.get("via"), r.get("metric"))
                        want[name]["routes"] = sorted({x for x in want[name]["routes"]
                                                       if x[1:] != host[1:]} | {host}, key=str)
    if renderer == "eni":
        for it in v1_items(doc):  # N6: accept-ra kept on a DHCPv6-stateful stanza
            if it.get("accept-ra") is not None and any(s.get("type") == "ipv6_dhcpv6-stateful"
                                                       for s in it.get("subnets") or []):
                want[it["name"]]["accept_ra"] = "1" if it["accept-ra"] else "0"
