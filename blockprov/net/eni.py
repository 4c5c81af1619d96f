"""NetConfig -> one ifupdown file, ``etc/network/interfaces.d/50-blockprov.cfg`` (pure).

Renames (an interface matched by MAC) become systemd ``.link`` files, which
udev applies whatever manages the network.
"""

from __future__ import annotations

import ipaddress

from blockprov.net import networkd, params
from blockprov.net.model import Iface, NetConfig, Route

PATH = "etc/network/interfaces.d/50-blockprov.cfg"
OWNED = (PATH, f"{networkd.DIR}/{networkd.PREFIX}*.link")


def _route_cmd(i: Iface, r: Route) -> list[str]:
    fam = "-6 " if ":" in r.to else ""
    to = "default" if r.to in ("0.0.0.0/0", "::/0") else r.to
    argv = f"ip {fam}route add {to}" + (f" via {r.via}" if r.via else f" dev {i.name}")
    argv += (f" metric {r.metric}" if r.metric is not None else "") + (f" table {r.table}" if r.table else "")
    argv += " scope link" if r.onlink_scope else ""
    return [f"    post-up {argv} || true", f"    pre-down {argv.replace(' add ', ' del ', 1)} || true"]


def _rule_cmds(i: Iface) -> list[str]:
    lines = []
    for rule in i.rules:
        fam = "-6 " if rule.source and ":" in rule.source else ""
        argv = f"ip {fam}rule add" + (f" from {rule.source}" if rule.source else "") \
            + (f" to {rule.to}" if rule.to else "") + f" table {rule.table} priority {rule.priority}"
        lines += [f"    post-up {argv} || true", f"    pre-down {argv.replace(' add', ' del', 1)} || true"]
    return lines


def stanzas(i: Iface, cfg: NetConfig) -> list[str]:
    out = [f"auto {i.name}" if i.on_boot else f"allow-hotplug {i.name}" if i.optional else f"# {i.name}: not on boot"]
    common = ["    ethernet-wol g"] if i.wakeonlan else []
    if i.macaddress:
        common.append(f"    hwaddress {i.macaddress}")
    if i.kind == "vlan":
        common.append(f"    vlan-raw-device {i.link}")
    elif i.kind == "bond":
        common.append(f"    bond-slaves {' '.join(i.members) or 'none'}")
        common += [f"    {k} {v}" for k, v in params.eni(i.params, params.BOND)]
    elif i.kind == "bridge":
        common.append(f"    bridge_ports {' '.join(i.members) or 'none'}")
        common += [f"    {k} {v}" for k, v in params.eni(i.params, params.BRIDGE)]
    extra = ([f"    dns-nameservers {' '.join(i.dns)}"] if i.dns else []) + \
        ([f"    dns-search {' '.join(i.search)}"] if i.search else [])
    v4 = [a for a in i.addresses if ipaddress.ip_interface(a).version == 4]
    v6 = [a for a in i.addresses if ipaddress.ip_interface(a).version == 6]
    routes = [r for r in i.routes]
    if i.gateway4 and not v4:  # a default route with no static IPv4 stanza to carry "gateway"
        routes.insert(0, Route("0.0.0.0/0", i.gateway4))
    if i.gateway6 and not v6:  # likewise for IPv6 (cloud-init keeps it as a route command)
        routes.insert(0, Route("::/0", i.gateway6))
    route_lines = [line for r in routes for line in _route_cmd(i, r)] + _rule_cmds(i)
    ra = [] if i.accept_ra is None else [f"    accept_ra {1 if i.accept_ra else 0}"]
    mtu6 = [f"    mtu {i.ipv6_mtu}"] if i.ipv6_mtu else []
    blocks = []
    if i.dhcp4:
        blocks.append([f"iface {i.name} inet dhcp"] + (
            [f"    metric {i.dhcp_metric}"] if i.dhcp_metric is not None else []))
    for n, a in enumerate(v4):
        blocks.append([f"iface {i.name} inet static", f"    address {a}"]
                      + ([f"    gateway {i.gateway4}"] if i.gateway4 and n == 0 else []))
    if i.dhcp6 and i.ipv6_mode in ("slaac", "stateless"):  # addresses from RAs; DHCPv6 for the rest or not
        blocks.append([f"iface {i.name} inet6 auto", f"    dhcp {1 if i.ipv6_mode == 'stateless' else 0}"] + mtu6)
    elif i.dhcp6:
        blocks.append([f"iface {i.name} inet6 dhcp"] + ra + mtu6)
    for n, a in enumerate(v6):
        blocks.append([f"iface {i.name} inet6 static", f"    address {a}"]
                      + ([f"    gateway {i.gateway6}"] if i.gateway6 and n == 0 else []) + ra + mtu6)
    if i.accept_ra and not i.dhcp6 and not v6:
        blocks.append([f"iface {i.name} inet6 auto"] + mtu6)
    if not blocks:
        blocks.append([f"iface {i.name} inet manual"])
    blocks[0] += ([f"    mtu {i.mtu}"] if i.mtu else []) + common + extra + route_lines
    for b in blocks[1:]:
        if i.mtu and not b[0].split()[2] == "inet6":
            b += [f"    mtu {i.mtu}"]  # vlan, bond and bridge options once, in the first stanza
    for b in blocks:
        out += b
    return out


def _loopback(cfg: NetConfig) -> list[str]:
    """The system-wide nameservers on ``lo``, per family, as cloud-init writes them (resolvconf reads them)."""
    out = []
    for fam in ("inet", "inet6"):
        dns = [d for d in cfg.dns if (":" in d) == (fam == "inet6")]
        if dns or fam == "inet" and cfg.search:
            out += ["", f"iface lo {fam} loopback"] + ([f"    dns-nameservers {' '.join(dns)}"] if dns else []) \
                + ([f"    dns-search {' '.join(cfg.search)}"] if cfg.search else [])
    return out


def render(cfg: NetConfig) -> dict[str, str]:
    lines = ["# Written by blockprov from the instance's network config; edits are overwritten.",
             "# /etc/network/interfaces must 'source /etc/network/interfaces.d/*' (Debian's default does)."]
    lines += _loopback(cfg)
    for i in cfg.interfaces:
        lines += [""] + stanzas(i, cfg)
    files = {PATH: "\n".join(lines) + "\n"}
    for i in cfg.interfaces:
        if i.match_mac and i.renamed:
            files[f"{networkd.DIR}/{networkd.PREFIX}{i.name}.link"] = networkd.link_file(i)
    return files
