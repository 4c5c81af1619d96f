"""netplan-style network config v2 -> NetConfig (pure).

Ids are netplan's: an ethernet's id names its interface only when nothing else does (``set-name``,
``match.name``, or the NIC the matched MAC belongs to). Bonds, bridges and VLANs refer to other entries by
id, whatever its length; the names they end up with are checked as kernel names.
"""

from __future__ import annotations

from blockprov.net import params, values
from blockprov.net.model import Iface, NetConfig, NetConfigError, Route, Rule
from blockprov.net.v1 import add_route

SECTIONS = (("ethernets", "physical"), ("bonds", "bond"), ("bridges", "bridge"), ("vlans", "vlan"))


def parse(doc: dict, macs: dict[str, str]) -> tuple[NetConfig, list[str]]:
    cfg = NetConfig([], source="v2", v2=doc)
    names: dict[str, str] = {}
    physical: list[str] = []
    for section, kind in SECTIONS:
        entries = doc.get(section) or {}
        if not isinstance(entries, dict):
            cfg.errors.append(f"$.{section}: must be a mapping of interface ids")
            continue
        for ident, it in entries.items():
            where = f"$.{section}.{ident}"
            if kind == "physical":
                physical.append(str(ident))
            try:
                iface = _entry(str(ident), it, kind, where, macs, cfg.warnings)
            except NetConfigError as exc:
                cfg.errors.append(str(exc))
                continue
            names[str(ident)] = iface.name
            cfg.interfaces.append(iface)
    for i in cfg.interfaces:  # links and members name v2 ids; the model names interfaces
        i.link = names.get(i.link, i.link) if i.link else None
        i.members = [names.get(m, m) for m in i.members]
        if "primary" in i.params:
            i.params["primary"] = names.get(i.params["primary"], i.params["primary"])
        for k in ("path-cost", "port-priority"):
            if k in i.params:
                i.params[k] = {names.get(p, p): v for p, v in i.params[k].items()}
    return cfg, physical


def _entry(ident: str, it, kind: str, where: str, macs: dict[str, str], warnings: list[str]) -> Iface:
    if not isinstance(it, dict):
        raise NetConfigError(f"{where}: must be a mapping")
    match = it.get("match") or {}
    if not isinstance(match, dict):
        raise NetConfigError(f"{where}.match: must be a mapping")
    mac = values.mac(match["macaddress"], f"{where}.match.macaddress") if match.get("macaddress") else None
    name = it.get("set-name") or match.get("name") or (macs.get(mac) if mac and kind == "physical" else None)
    renamed = True
    if name is None and kind == "physical" and mac is not None:
        # netplan matches it by MAC and leaves its name alone: the id only names the config entry
        name, renamed = ident, False
    iface = Iface(values.name(name or ident, f"{where}.set-name" if it.get("set-name") else where)
                  if renamed else ident, kind, mac=mac, renamed=renamed)
    if it.get("macaddress"):
        iface.macaddress = values.mac(it["macaddress"], f"{where}.macaddress")
    if it.get("mtu") is not None:
        iface.mtu = values.integer(it["mtu"], f"{where}.mtu", 68, 65535)
    if it.get("ipv6-mtu") is not None:
        iface.ipv6_mtu = values.integer(it["ipv6-mtu"], f"{where}.ipv6-mtu", 1280, 65535)
    iface.dhcp4 = values.flag(it.get("dhcp4", False), f"{where}.dhcp4")
    iface.dhcp6 = values.flag(it.get("dhcp6", False), f"{where}.dhcp6")
    if it.get("accept-ra") is not None:
        iface.accept_ra = values.flag(it["accept-ra"], f"{where}.accept-ra")
    if it.get("wakeonlan") is not None:
        iface.wakeonlan = values.flag(it["wakeonlan"], f"{where}.wakeonlan")
    iface.optional = values.flag(it.get("optional", False), f"{where}.optional")
    if it.get("activation-mode") in ("manual", "off"):
        iface.on_boot = False
    addrs = it.get("addresses") or []
    if isinstance(addrs, dict):  # netplan's {address: {label, lifetime}} form
        addrs = list(addrs)
    for n, a in enumerate(values.seq(addrs, f"{where}.addresses")):
        iface.addresses.append(values.iface_cidr(next(iter(a)) if isinstance(a, dict) else a,
                                                 f"{where}.addresses[{n}]"))
    if it.get("gateway4"):
        iface.gateway4 = values.ip(it["gateway4"], f"{where}.gateway4")
    if it.get("gateway6"):
        iface.gateway6 = values.ip(it["gateway6"], f"{where}.gateway6")
    for n, r in enumerate(values.seq(it.get("routes"), f"{where}.routes")):
        w = f"{where}.routes[{n}]"
        if not isinstance(r, dict) or "to" not in r:
            raise NetConfigError(f"{w}: a route needs 'to'")
        via = values.ip(r["via"], f"{w}.via") if r.get("via") else None
        add_route(iface, Route(values.network(r["to"], f"{w}.to", gateway=via, host=True), via,
                               values.integer(r["metric"], f"{w}.metric") if r.get("metric") is not None else None,
                               values.integer(r["table"], f"{w}.table", 1) if r.get("table") is not None else None))
    for n, r in enumerate(values.seq(it.get("routing-policy"), f"{where}.routing-policy")):
        w = f"{where}.routing-policy[{n}]"
        if not isinstance(r, dict) or "table" not in r:
            raise NetConfigError(f"{w}: a rule needs 'table'")
        iface.rules.append(Rule(values.integer(r["table"], f"{w}.table", 1),
                                values.integer(r.get("priority", 0), f"{w}.priority"),
                                str(r["from"]) if r.get("from") else None, str(r["to"]) if r.get("to") else None))
    ns = it.get("nameservers") or {}
    if not isinstance(ns, dict):
        raise NetConfigError(f"{where}.nameservers: must be a mapping")
    iface.dns = [values.ip(a, f"{where}.nameservers.addresses")
                 for a in values.words(ns.get("addresses"), f"{where}.nameservers.addresses")]
    iface.search = values.words(ns.get("search"), f"{where}.nameservers.search")
    overrides = it.get("dhcp4-overrides")
    if isinstance(overrides, dict) and overrides.get("route-metric") is not None:
        iface.dhcp_metric = values.integer(overrides["route-metric"], f"{where}.dhcp4-overrides.route-metric")
    if kind == "vlan":
        iface.vlan_id = values.integer(it.get("id"), f"{where}.id", 0, 4094)
        if not it.get("link"):
            raise NetConfigError(f"{where}.link: a VLAN needs the id of its link")
        iface.link = str(it["link"])
    elif kind in ("bond", "bridge"):
        iface.members = values.words(it.get("interfaces"), f"{where}.interfaces")
        raw = it.get("parameters") or {}
        if not isinstance(raw, dict):
            raise NetConfigError(f"{where}.parameters: must be a mapping")
        iface.params = params.read(raw, params.BOND if kind == "bond" else params.BRIDGE,
                                   f"{where}.parameters", warnings)
    return iface
