"""NetConfig -> one ifupdown file, ``etc/network/interfaces.d/50-blockprov.cfg`` (pure).

Renames (an interface matched by MAC) become systemd ``.link`` files, which
udev applies whatever manages the network.
"""

from __future__ import annotations

import ipaddress

from blockprov.net import networkd
from blockprov.net.model import Iface, NetConfig

PATH = "etc/network/interfaces.d/50-blockprov.cfg"
OWNED = (PATH, f"{networkd.DIR}/{networkd.PREFIX}*.link")
BOND = {"mode": "bond-mode", "miimon": "bond-miimon", "xmit_hash_policy": "bond-xmit-hash-policy",
        "lacp_rate": "bond-lacp-rate"}


def _route_cmds(i: Iface) -> list[str]:
    lines = []
    for r in i.routes:
        fam = "-6 " if ":" in r.to else ""
        argv = f"ip {fam}route add {r.to}" + (f" via {r.via}" if r.via else f" dev {i.name}")
        argv += (f" metric {r.metric}" if r.metric is not None else "") + (f" table {r.table}" if r.table else "")
        argv += " scope link" if r.onlink_scope else ""
        lines += [f"    post-up {argv} || true", f"    pre-down {argv.replace(' add ', ' del ', 1)} || true"]
    for rule in i.rules:
        fam = "-6 " if rule.source and ":" in rule.source else ""
        argv = f"ip {fam}rule add" + (f" from {rule.source}" if rule.source else "") \
            + (f" to {rule.to}" if rule.to else "") + f" table {rule.table} priority {rule.priority}"
        lines += [f"    post-up {argv} || true", f"    pre-down {argv.replace(' add', ' del', 1)} || true"]
    return lines


def stanzas(i: Iface, cfg: NetConfig, first: bool) -> list[str]:
    out = [f"auto {i.name}" if i.on_boot else f"allow-hotplug {i.name}" if i.optional else f"# {i.name}: not on boot"]
    common = [f"    mtu {i.mtu}"] if i.mtu else []
    if i.kind == "vlan":
        common.append(f"    vlan-raw-device {i.link}")
    elif i.kind == "bond":
        common.append(f"    bond-slaves {' '.join(i.members) or 'none'}")
        common += [f"    {BOND[k]} {v}" for k, v in sorted(i.params.items())]
    elif i.kind == "bridge":
        common.append(f"    bridge_ports {' '.join(i.members) or 'none'}")
        if "stp" in i.params:
            common.append(f"    bridge_stp {'on' if i.params['stp'] else 'off'}")
        if "forward_delay" in i.params:
            common.append(f"    bridge_fd {i.params['forward_delay']}")
    dns, search = i.dns + (cfg.dns if first else []), i.search + (cfg.search if first else [])
    extra = ([f"    dns-nameservers {' '.join(dns)}"] if dns else []) + \
        ([f"    dns-search {' '.join(search)}"] if search else []) + _route_cmds(i)
    v4 = [a for a in i.addresses if ipaddress.ip_interface(a).version == 4]
    v6 = [a for a in i.addresses if ipaddress.ip_interface(a).version == 6]
    blocks = []
    if i.dhcp4:
        blocks.append([f"iface {i.name} inet dhcp"] + (
            [f"    metric {i.dhcp_metric}"] if i.dhcp_metric is not None else []))
    for n, a in enumerate(v4):
        blocks.append([f"iface {i.name} inet static", f"    address {a}"]
                      + ([f"    gateway {i.gateway4}"] if i.gateway4 and n == 0 else []))
    if i.dhcp6:
        blocks.append([f"iface {i.name} inet6 dhcp"] + (["    accept_ra 2"] if i.accept_ra else []))
    for n, a in enumerate(v6):
        blocks.append([f"iface {i.name} inet6 static", f"    address {a}"]
                      + ([f"    gateway {i.gateway6}"] if i.gateway6 and n == 0 else [])
                      + (["    accept_ra 0"] if i.accept_ra is False else []))
    if i.accept_ra and not i.dhcp6 and not v6:
        blocks.append([f"iface {i.name} inet6 auto"])
    if not blocks:
        blocks.append([f"iface {i.name} inet manual"])
    blocks[0] += common + extra
    for b in blocks[1:]:
        b += [f"    mtu {i.mtu}"] if i.mtu else []  # vlan, bond and bridge options once, in the first stanza
    for b in blocks:
        out += b
    return out


def render(cfg: NetConfig) -> dict[str, str]:
    lines = ["# Written by blockprov from the instance's network config; edits are overwritten.",
             "# /etc/network/interfaces must 'source /etc/network/interfaces.d/*' (Debian's default does)."]
    for n, i in enumerate(cfg.interfaces):
        lines += [""] + stanzas(i, cfg, n == 0)
    files = {PATH: "\n".join(lines) + "\n"}
    for i in cfg.interfaces:
        if i.mac and i.kind == "physical":
            files[f"{networkd.DIR}/{networkd.PREFIX}{i.name}.link"] = networkd.link_file(i)
    return files
