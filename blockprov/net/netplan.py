"""NetConfig -> ``etc/netplan/50-blockprov.yaml`` (pure). A v2 input that policy routing left alone passes through."""

from __future__ import annotations

from blockprov.net.model import Iface, NetConfig

PATH = "etc/netplan/50-blockprov.yaml"
OWNED = (PATH,)
SECTIONS = {"physical": "ethernets", "bond": "bonds", "bridge": "bridges", "vlan": "vlans"}
BOND = {"mode": "mode", "miimon": "mii-monitor-interval", "xmit_hash_policy": "transmit-hash-policy",
        "lacp_rate": "lacp-rate"}
BRIDGE = {"stp": "stp", "forward_delay": "forward-delay"}


def to_v2(cfg: NetConfig) -> dict:
    net: dict = {"version": 2}
    for n, i in enumerate(cfg.interfaces):
        net.setdefault(SECTIONS[i.kind], {})[i.name] = _entry(i, cfg, n == 0)
    return net


def _entry(i: Iface, cfg: NetConfig, first: bool) -> dict:
    e: dict = {}
    if i.mac and i.kind == "physical":
        e["match"] = {"macaddress": i.mac}
        e["set-name"] = i.name
    if i.kind == "vlan":
        e.update(id=i.vlan_id, link=i.link)
    if i.kind in ("bond", "bridge"):
        e["interfaces"] = list(i.members)
        table = BOND if i.kind == "bond" else BRIDGE
        if i.params:
            e["parameters"] = {table[k]: v for k, v in sorted(i.params.items())}
    if i.mtu:
        e["mtu"] = i.mtu
    e["dhcp4"] = i.dhcp4
    e["dhcp6"] = i.dhcp6
    if i.accept_ra is not None:
        e["accept-ra"] = i.accept_ra
    if i.dhcp_metric is not None and i.dhcp4:
        e["dhcp4-overrides"] = {"route-metric": i.dhcp_metric}
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
    dns = i.dns + (cfg.dns if first else [])
    search = i.search + (cfg.search if first else [])
    if dns or search:
        e["nameservers"] = {k: v for k, v in (("addresses", dns), ("search", search)) if v}
    if i.optional:
        e["optional"] = True
    if not i.on_boot:
        e["activation-mode"] = "manual"
    return e


def render(cfg: NetConfig, passthrough: bool) -> dict[str, str]:
    import yaml

    if passthrough and cfg.v2 is not None:  # keys sorted: the cached copy of the input does not keep their order
        body = yaml.safe_dump({"network": cfg.v2}, sort_keys=True, default_flow_style=False)
    else:
        body = yaml.safe_dump({"network": to_v2(cfg)}, sort_keys=False, default_flow_style=False)
    return {PATH: "# Written by blockprov from the instance's network config; edits are overwritten.\n" + body}

