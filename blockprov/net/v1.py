"""cloud-init/curtin network config v1 (``config:`` list) -> NetConfig (pure).

Each item is read on its own: an item that cannot be read is an error naming its JSON path and is left
out; the others are rendered (see net/parse.py for what the primary NIC then gets).
"""

from __future__ import annotations

import ipaddress

from blockprov.net import params, values
from blockprov.net.model import Iface, NetConfig, NetConfigError, Route

KINDS = ("physical", "infiniband", "vlan", "bond", "bridge", "nameserver", "route")
DHCP4 = ("dhcp", "dhcp4")
DHCP6 = ("dhcp6",)
STATIC = ("static", "static6")
# subnet types of v1 and network_data.json that configure IPv6 by router advertisements
RA = ("ipv6_slaac", "ipv6_dhcpv6-stateless", "ipv6_dhcpv6-stateful")


def parse(doc: dict, macs: dict[str, str]) -> tuple[NetConfig, list[str]]:
    """(config, names or MACs of the physical items in input order) from a v1 document."""
    items = doc.get("config")
    cfg = NetConfig([], source="v1")
    if items == "disabled":
        return cfg, []
    if not isinstance(items, list):
        raise NetConfigError("$.config: must be a list of network items")
    physical: list[str] = []
    routes: list[tuple[str, Route]] = []
    named_dns: list[tuple[str, dict]] = []
    for n, it in enumerate(items):
        where = f"$.config[{n}]"
        try:
            if not isinstance(it, dict) or it.get("type") not in KINDS:
                raise NetConfigError(f"{where}.type: one of {', '.join(KINDS)}")
            kind = it["type"]
            if kind in ("physical", "infiniband"):
                physical.append(it.get("name") or str(it.get("mac_address") or ""))
            if kind == "nameserver":
                if it.get("interface"):
                    named_dns.append((where, it))
                else:
                    cfg.dns += [values.ip(a, f"{where}.address") for a in values.words(it.get("address"),
                                                                                       f"{where}.address")]
                    cfg.search += values.words(it.get("search"), f"{where}.search")
                continue
            if kind == "route":
                gw = values.ip(it["gateway"], f"{where}.gateway") if it.get("gateway") else None
                routes.append((where, Route(values.network(it.get("destination", it.get("network")),
                                                           f"{where}.destination", it.get("netmask"),
                                                           it.get("prefix"), gw), gw,
                                            values.integer(it["metric"], f"{where}.metric")
                                            if it.get("metric") is not None else None)))
                continue
            cfg.interfaces.append(_iface(it, where, macs, cfg.warnings))
        except NetConfigError as exc:
            cfg.errors.append(str(exc))
    for where, it in named_dns:  # a nameserver item naming an interface belongs to that interface
        target = cfg.get(str(it["interface"]))
        if target is None:
            cfg.warnings.append(f"{where}.interface: {it['interface']!r} is not an interface here; "
                                "its nameservers are used for the whole system")
        try:
            dns = [values.ip(a, f"{where}.address") for a in values.words(it.get("address"), f"{where}.address")]
            search = values.words(it.get("search"), f"{where}.search")
        except NetConfigError as exc:
            cfg.errors.append(str(exc))
            continue
        (target.dns if target else cfg.dns).extend(dns)
        (target.search if target else cfg.search).extend(search)
    for where, r in routes:  # a global route goes to the interface whose subnet holds its gateway
        target = owner_of(cfg, r.via)
        if target is None:  # else where the default route of its family goes, else the first interface
            six = ":" in r.to
            target = next((i for i in cfg.interfaces if (i.gateway6 if six else i.gateway4)), None) \
                or (cfg.interfaces[0] if cfg.interfaces else None)
            if target is None:
                cfg.errors.append(f"{where}: route to {r.to}: no interface to put it on")
                continue
            cfg.warnings.append(f"{where}: route to {r.to} via {r.via}: no static subnet holds the gateway; "
                                f"kept on {target.name}")
        target.routes.append(r)
    return cfg, physical


def _iface(it: dict, where: str, macs: dict[str, str], warnings: list[str]) -> Iface:
    kind = "physical" if it["type"] == "infiniband" else it["type"]
    mac = values.mac(it["mac_address"], f"{where}.mac_address") if it.get("mac_address") else None
    name = it.get("name") or (macs.get(mac) if mac else None)
    iface = Iface(values.name(name, f"{where}.name"), kind)
    if kind == "physical":
        iface.mac = mac
    else:
        iface.macaddress = mac  # a bond's, bridge's or VLAN's own MAC
    if it.get("mtu") is not None:
        iface.mtu = values.integer(it["mtu"], f"{where}.mtu", 68, 65535)
    raw = dict(it.get("params") or {})
    if kind == "vlan":
        iface.vlan_id = values.integer(it.get("vlan_id"), f"{where}.vlan_id", 0, 4094)
        iface.link = values.name(it.get("vlan_link"), f"{where}.vlan_link")
    elif kind == "bond":
        iface.members = [values.name(m, f"{where}.bond_interfaces")
                         for m in values.words(it.get("bond_interfaces"), f"{where}.bond_interfaces")]
        raw.update({k: v for k, v in it.items() if str(k).startswith(("bond-", "bond_")) and k != "bond_interfaces"})
        iface.params = params.read(raw, params.BOND, f"{where}.params", warnings)
    elif kind == "bridge":
        iface.members = [values.name(m, f"{where}.bridge_interfaces")
                         for m in values.words(it.get("bridge_interfaces"), f"{where}.bridge_interfaces")]
        iface.params = params.read(raw, params.BRIDGE, f"{where}.params", warnings)
    for s, sub in enumerate(values.seq(it.get("subnets"), f"{where}.subnets")):
        subnet(iface, sub, f"{where}.subnets[{s}]", warnings)
    if it.get("accept-ra") is not None:
        iface.accept_ra = values.flag(it["accept-ra"], f"{where}.accept-ra")
    if it.get("wakeonlan") is not None:
        iface.wakeonlan = values.flag(it["wakeonlan"], f"{where}.wakeonlan")
    if it.get("optional") is not None:
        iface.optional = values.flag(it["optional"], f"{where}.optional")
    return iface


def subnet(iface: Iface, sub, where: str, warnings: list[str]) -> None:
    """One v1 subnet (also what network_data.json's networks become) onto its interface."""
    if not isinstance(sub, dict):
        raise NetConfigError(f"{where}: must be a mapping")
    t = sub.get("type")
    if sub.get("control") == "manual":
        iface.on_boot = False
    six = False
    if t in STATIC:
        if "address" not in sub:
            raise NetConfigError(f"{where}.address: a static subnet needs an address")
        addrs = sub["address"] if isinstance(sub["address"], list) else [sub["address"]]
        for a in addrs:
            cidr = values.iface_cidr(a, f"{where}.address", sub.get("netmask"), sub.get("prefix"))
            six = six or ":" in cidr
            iface.addresses.append(cidr)
        if sub.get("gateway"):
            gw = values.ip(sub["gateway"], f"{where}.gateway")
            if ":" in gw:
                iface.gateway6 = gw
            else:
                iface.gateway4 = gw
    elif t in DHCP4:
        iface.dhcp4 = True
    elif t in DHCP6:
        iface.dhcp6 = True
        six = True
    elif t in RA:
        six = True
        iface.dhcp6 = True  # as cloud-init renders them (netplan and networkd take RAs with DHCPv6 on)
        iface.ipv6_mode = t.removeprefix("ipv6_").removeprefix("dhcpv6-")  # ifupdown tells them apart
    elif t != "manual":
        raise NetConfigError(f"{where}.type: {t!r} is not dhcp, dhcp4, dhcp6, static, static6, ipv6_slaac, "
                             "ipv6_dhcpv6-stateless, ipv6_dhcpv6-stateful or manual")
    if sub.get("mtu") is not None:
        mtu = values.integer(sub["mtu"], f"{where}.mtu", 68, 65535)
        if six:
            iface.ipv6_mtu = mtu
        else:
            if iface.mtu is not None and iface.mtu != mtu:
                warnings.append(f"{where}.mtu: {mtu} (the IPv4 subnet's) replaces the interface's {iface.mtu}, "
                                "as cloud-init does")
            iface.mtu = mtu
    iface.dns += [values.ip(a, f"{where}.dns_nameservers")
                  for a in values.words(sub.get("dns_nameservers"), f"{where}.dns_nameservers")]
    iface.search += values.words(sub.get("dns_search"), f"{where}.dns_search")
    for r, route in enumerate(values.seq(sub.get("routes"), f"{where}.routes")):
        w = f"{where}.routes[{r}]"
        if not isinstance(route, dict):
            raise NetConfigError(f"{w}: must be a mapping")
        gw = values.ip(route["gateway"], f"{w}.gateway") if route.get("gateway") else None
        dest = values.network(route.get("network", route.get("destination")), f"{w}.network",
                              route.get("netmask"), route.get("prefix"), gw)
        metric = values.integer(route["metric"], f"{w}.metric") if route.get("metric") is not None else None
        add_route(iface, Route(dest, gw, metric))


def add_route(iface: Iface, r: Route) -> None:
    """A plain default route (no metric, no table) is the interface's gateway; anything else a route."""
    if r.to == "0.0.0.0/0" and r.via and r.metric is None and r.table is None and not iface.gateway4:
        iface.gateway4 = r.via
    elif r.to == "::/0" and r.via and r.metric is None and r.table is None and not iface.gateway6:
        iface.gateway6 = r.via
    else:
        iface.routes.append(r)


def owner_of(cfg: NetConfig, gateway: str | None) -> Iface | None:
    if gateway is None:
        return None
    gw = ipaddress.ip_address(gateway)
    for i in cfg.interfaces:
        if any(gw in ipaddress.ip_interface(a).network for a in i.addresses):
            return i
    return None
