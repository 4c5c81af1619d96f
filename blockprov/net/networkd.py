"""NetConfig -> systemd-networkd ``.link``, ``.netdev`` and ``.network`` files, plus resolved's global DNS (pure)."""

from __future__ import annotations

from blockprov.net.model import Iface, NetConfig

DIR = "etc/systemd/network"
PREFIX = "10-blockprov-"
RESOLVED = "etc/systemd/resolved.conf.d/50-blockprov.conf"
OWNED = (f"{DIR}/{PREFIX}*", RESOLVED)
HEADER = "# Written by blockprov from the instance's network config; edits are overwritten.\n"
BOND_KEYS = {"mode": "Mode", "miimon": "MIIMonitorSec", "xmit_hash_policy": "TransmitHashPolicy",
             "lacp_rate": "LACPTransmitRate"}
KINDS = {"vlan": "vlan", "bond": "bond", "bridge": "bridge"}


def _section(name: str, pairs: list[tuple[str, object]]) -> str:
    body = "".join(f"{k}={_value(v)}\n" for k, v in pairs if v is not None)
    return f"\n[{name}]\n{body}" if body or name in ("Match",) else ""


def _value(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def link_file(i: Iface) -> str:
    return HEADER + _section("Match", [("MACAddress", i.mac)]) + _section("Link", [("Name", i.name),
                                                                                 ("MTUBytes", i.mtu)])


def netdev_file(i: Iface) -> str:
    text = HEADER + _section("NetDev", [("Name", i.name), ("Kind", KINDS[i.kind]), ("MTUBytes", i.mtu)])
    if i.kind == "vlan":
        text += _section("VLAN", [("Id", i.vlan_id)])
    elif i.kind == "bond":
        pairs = [(BOND_KEYS[k], f"{v}ms" if k == "miimon" else v) for k, v in sorted(i.params.items())]
        text += _section("Bond", pairs)
    elif i.kind == "bridge":
        text += _section("Bridge", [("STP", i.params.get("stp")),
                                    ("ForwardDelaySec", i.params.get("forward_delay"))])
    return text


def network_file(i: Iface, cfg: NetConfig) -> str:
    dhcp = {(True, True): "yes", (True, False): "ipv4", (False, True): "ipv6"}.get((i.dhcp4, i.dhcp6), "no")
    link = [("MTUBytes", i.mtu if i.kind == "physical" and not i.mac else None),
            ("RequiredForOnline", "no" if i.optional else None),
            ("ActivationPolicy", None if i.on_boot else "manual")]
    net: list[tuple[str, object]] = [("DHCP", dhcp)]
    if i.accept_ra is not None:
        net.append(("IPv6AcceptRA", i.accept_ra))
    net += [("Address", a) for a in i.addresses]
    net += [("Gateway", g) for g in (i.gateway4, i.gateway6) if g]
    net += [("DNS", d) for d in i.dns]
    if i.search:
        net.append(("Domains", " ".join(i.search)))
    net += [("VLAN", c.name) for c in cfg.interfaces if c.kind == "vlan" and c.link == i.name]
    net += [(p.kind.capitalize(), p.name) for p in cfg.interfaces if p.kind in ("bond", "bridge") and i.name in p.members]
    text = HEADER + _section("Match", [("Name", i.name)]) + _section("Link", link) + _section("Network", net)
    for r in i.routes:
        text += _section("Route", [("Destination", r.to), ("Gateway", r.via), ("Metric", r.metric),
                                   ("Table", r.table), ("Scope", "link" if r.onlink_scope else None)])
    for rule in i.rules:
        text += _section("RoutingPolicyRule", [("From", rule.source), ("To", rule.to), ("Table", rule.table),
                                               ("Priority", rule.priority)])
    if i.dhcp_metric is not None and i.dhcp4:
        text += _section("DHCPv4", [("RouteMetric", i.dhcp_metric)])
    return text


def render(cfg: NetConfig) -> dict[str, str]:
    files = {}
    for i in cfg.interfaces:
        base = f"{DIR}/{PREFIX}{i.name}"
        if i.mac and i.kind == "physical":
            files[base + ".link"] = link_file(i)
        if i.kind in KINDS:
            files[base + ".netdev"] = netdev_file(i)
        files[base + ".network"] = network_file(i, cfg)
    if cfg.dns or cfg.search:
        files[RESOLVED] = HEADER + _section("Resolve", [("DNS", " ".join(cfg.dns) or None),
                                                        ("Domains", " ".join(cfg.search) or None)])
    return files
