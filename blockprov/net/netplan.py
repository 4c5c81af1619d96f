"""NetConfig -> ``etc/netplan/50-blockprov.yaml`` (pure). A v2 input that policy routing left alone passes through."""

from __future__ import annotations

from blockprov.net import params
from blockprov.net.model import Iface, NetConfig

PATH = "etc/netplan/50-blockprov.yaml"
OWNED = (PATH,)
SECTIONS = {"physical": "ethernets", "bond": "bonds", "bridge": "bridges", "vlan": "vlans"}


def to_v2(cfg: NetConfig) -> dict:
    net: dict = {"version": 2}
    # sections in dependency order, as cloud-init writes them: netplan 0.106 reads a file again when an entry
    # refers to one further down, and a bridge read twice fails on its own path-cost
    for section in ("ethernets", "bonds", "bridges", "vlans"):
        for i in cfg.interfaces:
            if SECTIONS[i.kind] == section:
                net.setdefault(section, {})[i.name] = _entry(i, cfg)
    return net


def _entry(i: Iface, cfg: NetConfig) -> dict:
    e: dict = {}
    if i.match_mac:
        e["match"] = {"macaddress": i.match_mac}
        if i.renamed:
            e["set-name"] = i.name
    if i.macaddress:
        e["macaddress"] = i.macaddress
    if i.wakeonlan is not None:
        e["wakeonlan"] = i.wakeonlan
    if i.kind == "vlan":
        e.update(id=i.vlan_id, link=i.link)
    if i.kind in ("bond", "bridge"):
        e["interfaces"] = list(i.members)
        if i.params:
            e["parameters"] = params.netplan(i.params, params.BOND if i.kind == "bond" else params.BRIDGE)
    if i.mtu:
        e["mtu"] = i.mtu
    if i.ipv6_mtu:
        e["ipv6-mtu"] = i.ipv6_mtu
    e["dhcp4"] = i.dhcp4
    e["dhcp6"] = i.dhcp6
    if i.accept_ra is not None:
        e["accept-ra"] = i.accept_ra
    if i.dhcp_metric is not None and i.dhcp4:
        e["dhcp4-overrides"] = {"route-metric": i.dhcp_metric}
        if i.dhcp6:  # networkd has one metric for both: netplan wants them equal
            e["dhcp6-overrides"] = {"route-metric": i.dhcp_metric}
    if i.addresses:
        e["addresses"] = list(i.addresses)
    routes = [{"to": "default", "via": g} for g in (i.gateway4, i.gateway6) if g]
    for r in i.routes:
        d = {"to": "default" if r.to in ("0.0.0.0/0", "::/0") else r.to}
        if r.via:
            d["via"] = r.via
        if r.metric is not None:
            d["metric"] = r.metric
        if r.table:
            d["table"] = r.table
        if r.onlink_scope:
            d["scope"] = "link"
        routes.append(d)
    if routes:
        e["routes"] = routes
    if i.rules:
        e["routing-policy"] = [{k: v for k, v in (("from", r.source), ("to", r.to), ("table", r.table),
                                                   ("priority", r.priority)) if v is not None} for r in i.rules]
    dns, search = cfg.dns_for(i)
    if dns or search:
        e["nameservers"] = {k: v for k, v in (("addresses", dns), ("search", search)) if v}
    if i.optional:
        e["optional"] = True
    if not i.on_boot:
        e["activation-mode"] = "manual"
    return e


def render(cfg: NetConfig, passthrough: bool) -> dict[str, str]:
    import yaml

    if passthrough and cfg.v2 is not None and not cfg.errors:
        # keys sorted: the cached copy of the input does not keep their order
        body = yaml.safe_dump({"network": cfg.v2}, sort_keys=True, default_flow_style=False)
    else:
        body = yaml.safe_dump({"network": to_v2(cfg)}, sort_keys=False, default_flow_style=False)
    return {PATH: "# Written by blockprov from the instance's network config; edits are overwritten.\n" + body}
