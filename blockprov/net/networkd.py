"""NetConfig -> systemd-networkd ``.link``, ``.netdev`` and ``.network`` files, plus resolved's global DNS (pure)."""

from __future__ import annotations

from blockprov.net import params
from blockprov.net.model import Iface, NetConfig

DIR = "etc/systemd/network"
PREFIX = "10-blockprov-"
RESOLVED = "etc/systemd/resolved.conf.d/50-blockprov.conf"
OWNED = (f"{DIR}/{PREFIX}*", RESOLVED)
HEADER = "# Written by blockprov from the instance's network config; edits are overwritten.\n"
KINDS = {"vlan": "vlan", "bond": "bond", "bridge": "bridge"}


def _section(name: str, pairs: list[tuple[str, object]]) -> str:
    body = "".join(f"{k}={_value(v)}\n" for k, v in pairs if v is not None)
    return f"\n[{name}]\n{body}" if body or name in ("Match",) else ""


def _value(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def link_file(i: Iface) -> str:
    """udev's rename (and MTU, wake-on-LAN) of a NIC matched by MAC, applied whatever manages the network."""
    wol = None if i.wakeonlan is None else "magic" if i.wakeonlan else "off"
    return HEADER + _section("Match", [("MACAddress", i.match_mac)]) + \
        _section("Link", [("Name", i.name if i.renamed else None), ("MTUBytes", i.mtu), ("WakeOnLan", wol)])


def netdev_file(i: Iface) -> str:
    text = HEADER + _section("NetDev", [("Name", i.name), ("Kind", KINDS[i.kind]), ("MTUBytes", i.mtu),
                                        ("MACAddress", i.macaddress)])
    if i.kind == "vlan":
        text += _section("VLAN", [("Id", i.vlan_id)])
    elif i.kind == "bond":
        text += _section("Bond", params.networkd(i.params, params.BOND))
    elif i.kind == "bridge":
        text += _section("Bridge", params.networkd(i.params, params.BRIDGE))
    return text


def network_file(i: Iface, cfg: NetConfig) -> str:
    dhcp = {(True, True): "yes", (True, False): "ipv4", (False, True): "ipv6"}.get((i.dhcp4, i.dhcp6), "no")
    link = [("MTUBytes", i.mtu if i.kind != "physical" or not i.match_mac else None),
            ("MACAddress", i.macaddress if i.kind == "physical" else None),
            ("RequiredForOnline", "no" if i.optional or not i.on_boot else None),
            ("ActivationPolicy", None if i.on_boot else "manual")]
    net: list[tuple[str, object]] = [("DHCP", dhcp)]
    if i.accept_ra is not None:
        net.append(("IPv6AcceptRA", i.accept_ra))
    if i.ipv6_mtu:
        net.append(("IPv6MTUBytes", i.ipv6_mtu))
    net += [("Address", a) for a in i.addresses]
    net += [("Gateway", g) for g in (i.gateway4, i.gateway6) if g]
    dns, search = cfg.dns_for(i)
    net += [("DNS", d) for d in dns]
    if search:
        net.append(("Domains", " ".join(search)))
    net += [("VLAN", c.name) for c in cfg.interfaces if c.kind == "vlan" and c.link == i.name]
    masters = [p for p in cfg.interfaces if p.kind in ("bond", "bridge") and i.name in p.members]
    net += [(p.kind.capitalize(), p.name) for p in masters]
    net += [("PrimarySlave", True) for p in masters if p.kind == "bond" and p.params.get("primary") == i.name]
    match = [("MACAddress", i.match_mac), ("Name", i.name if i.renamed or not i.match_mac else None)]
    text = HEADER + _section("Match", match) + _section("Link", link) + _section("Network", net)
    for p in masters:
        if p.kind == "bridge":
            text += _section("Bridge", params.networkd_port(p.params, i.name))
    for r in i.routes:
        text += _section("Route", [("Destination", r.to), ("Gateway", r.via), ("Metric", r.metric),
                                   ("Table", r.table), ("Scope", "link" if r.onlink_scope else None)])
    for rule in i.rules:
        text += _section("RoutingPolicyRule", [("From", rule.source), ("To", rule.to), ("Table", rule.table),
                                               ("Priority", rule.priority)])
    if i.dhcp4 or i.dhcp6:
        # netplan's default (100), not networkd's (1024): the primary NIC's DHCP routes must win over the metrics
        # policy routing gives the others (200, 300...), whichever renderer wrote the files
        text += _section("DHCP", [("RouteMetric", i.dhcp_metric if i.dhcp_metric is not None else 100)])
    return text


def render(cfg: NetConfig) -> dict[str, str]:
    files = {}
    for i in cfg.interfaces:
        base = f"{DIR}/{PREFIX}{i.name}"
        if i.match_mac:
            files[base + ".link"] = link_file(i)
        if i.kind in KINDS:
            files[base + ".netdev"] = netdev_file(i)
        files[base + ".network"] = network_file(i, cfg)
    if cfg.dns or cfg.search:
        files[RESOLVED] = HEADER + _section("Resolve", [("DNS", " ".join(cfg.dns) or None),
                                                        ("Domains", " ".join(cfg.search) or None)])
    return files
