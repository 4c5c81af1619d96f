"""Network config in its four input forms -> NetConfig (pure).

Forms: cloud-init/curtin v1 (``config:`` list), v2 (netplan), OpenStack's
``network_data.json`` and oVirt-style NIC settings (``nics:``). ``macs`` maps
lower-case MAC addresses to the interface names the target has; it names
interfaces that the input only knows by MAC. Every error names its JSON path.
"""

from __future__ import annotations

import ipaddress

from blockprov.net.model import Iface, NetConfig, NetConfigError, Route

KINDS_V1 = ("physical", "vlan", "bond", "bridge", "nameserver", "route")
BOND_V1 = {"bond-mode": "mode", "bond-miimon": "miimon", "bond-xmit-hash-policy": "xmit_hash_policy",
           "bond-xmit_hash_policy": "xmit_hash_policy", "bond-lacp-rate": "lacp_rate"}
BOND_V2 = {"mode": "mode", "mii-monitor-interval": "miimon", "transmit-hash-policy": "xmit_hash_policy",
           "lacp-rate": "lacp_rate"}
BRIDGE_V1 = {"bridge_stp": "stp", "bridge_fd": "forward_delay"}
BRIDGE_V2 = {"stp": "stp", "forward-delay": "forward_delay"}


def detect(doc) -> str:
    """The form of a network config document (pure)."""
    if not isinstance(doc, dict):
        raise NetConfigError("$: a network config is a mapping")
    if "links" in doc or "networks" in doc:
        return "openstack"
    if "nics" in doc:
        return "ovirt"
    version = doc.get("version", 1)
    if version in (1, "1"):
        return "v1"
    if version in (2, "2"):
        return "v2"
    raise NetConfigError(f"$.version: {version!r} is not 1 or 2")


def parse(doc: dict, form: str | None = None, macs: dict[str, str] | None = None) -> NetConfig:
    form = form or detect(doc)
    fn = {"v1": from_v1, "v2": from_v2, "openstack": from_openstack, "ovirt": from_ovirt}.get(form)
    if fn is None:
        raise NetConfigError(f"$: network config form {form!r} is not v1, v2, openstack or ovirt")
    try:
        cfg = fn(doc, macs or {})
        _check_references(cfg)
    except NetConfigError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # a value of a shape the parser does not expect: the documented error, so the caller falls back
        raise NetConfigError(f"$: malformed {form} network config ({type(exc).__name__}: {exc})") from None
    return cfg


# -- helpers ------------------------------------------------------------------
def _seq(v, key: str) -> list:
    """A list-valued key (subnets, routes, networks, services...): absent is empty, anything else an error."""
    if v is None:
        return []
    if not isinstance(v, list):
        raise NetConfigError(f"{key}: must be a list, not {type(v).__name__}")
    return v


def _list(v, where: str) -> list:
    if v is None:
        return []
    if isinstance(v, str):
        return v.replace(",", " ").split()
    if not isinstance(v, list):
        raise NetConfigError(f"{where}: must be a list")
    return [str(x) for x in v]


def _ip(v, where: str) -> str:
    try:
        return str(ipaddress.ip_address(str(v)))
    except ValueError:
        raise NetConfigError(f"{where}: {v!r} is not an IP address") from None


def _prefixlen(netmask, where: str) -> int:
    """The prefix length of a dotted or IPv6-form netmask, or of a bare length ("64", as some clouds send
    for IPv6); a non-contiguous mask is an error."""
    if isinstance(netmask, int) and not isinstance(netmask, bool) or str(netmask).isdigit():
        if 0 <= int(netmask) <= 128:
            return int(netmask)
        raise NetConfigError(f"{where}: netmask {netmask!r} is not valid")
    try:
        mask = ipaddress.ip_address(str(netmask))
    except ValueError:
        raise NetConfigError(f"{where}: netmask {netmask!r} is not valid") from None
    bits = mask.max_prefixlen
    n = int(mask)
    length = bin(n).count("1")
    if n != ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1):
        raise NetConfigError(f"{where}: netmask {netmask!r} is not valid")
    return length


def _with_len(text: str, where: str, netmask, prefix) -> str:
    """``text`` with ``/len`` from the prefix or netmask when it has none (unchanged if neither is given)."""
    if "/" in text:
        return text
    if prefix is not None:
        return f"{text}/{prefix}"
    if netmask is not None:
        return f"{text}/{_prefixlen(netmask, where)}"
    return text


def _iface_cidr(address, where: str, netmask=None, prefix=None) -> str:
    """'addr/len' from an address with or without /len plus a netmask or prefix (host bits kept)."""
    text = _with_len(str(address), where, netmask, prefix)
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise NetConfigError(f"{where}: {address!r} is not an address (with netmask or prefix)") from None
    if "/" not in text:
        raise NetConfigError(f"{where}: {address!r} needs a netmask or prefix")
    return iface.with_prefixlen


def _net(network, where: str, netmask=None, prefix=None) -> str:
    """A route destination as CIDR; 'default' and 0.0.0.0 with netmask 0 become the default route."""
    if network in ("default", None):
        return "0.0.0.0/0"
    text = _with_len(str(network), where, netmask, prefix)
    if "/" not in text:
        text += "/128" if ":" in text else "/32"  # a host route
    try:
        return ipaddress.ip_network(text, strict=False).with_prefixlen
    except ValueError:
        raise NetConfigError(f"{where}: {network!r} is not a network") from None


def _int(v, where: str, lo: int = 0, hi: int = 2**31) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).isdigit() or not lo <= int(v) <= hi:
        raise NetConfigError(f"{where}: {v!r} is not an integer in {lo}..{hi}")
    return int(v)


def _mac(v, where: str) -> str:
    text = str(v).lower()
    parts = text.split(":")
    if len(parts) not in (6, 20) or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts):
        raise NetConfigError(f"{where}: {v!r} is not a MAC address")
    return text


def _name(v, where: str) -> str:
    if not isinstance(v, str) or not v or len(v) > 15 or "/" in v or v.strip() != v or ":" in v:
        raise NetConfigError(f"{where}: {v!r} is not an interface name (1-15 characters, no '/', ':' or spaces)")
    return v


DHCP4 = ("dhcp", "dhcp4", "ipv4_dhcp")
DHCP6 = ("dhcp6", "ipv6_dhcp", "ipv6_dhcpv6-stateful")
RA = ("ipv6_slaac", "ipv6_dhcpv6-stateless")  # stateless: addresses by RA, other settings by DHCPv6


def _dynamic(iface: Iface, kind: str) -> bool:
    """Apply a DHCP/SLAAC subnet or network type (v1 and network_data.json share them); False if not one."""
    if kind in DHCP4:
        iface.dhcp4 = True
    elif kind in DHCP6:
        iface.dhcp6 = True
    elif kind in RA:
        iface.accept_ra = True
        iface.dhcp6 = iface.dhcp6 or kind == "ipv6_dhcpv6-stateless"
    else:
        return False
    return True


def _check_references(cfg: NetConfig) -> None:
    names = [i.name for i in cfg.interfaces]
    for i in cfg.interfaces:
        if names.count(i.name) > 1:
            raise NetConfigError(f"$: interface {i.name!r} is defined twice")
        for ref in ([i.link] if i.link else []) + i.members:
            if ref not in names:
                raise NetConfigError(f"$: {i.name}: refers to {ref!r}, which is not defined")


# -- v1 -----------------------------------------------------------------------
def from_v1(doc: dict, macs: dict[str, str]) -> NetConfig:
    items = doc.get("config")
    if items == "disabled":
        return NetConfig([], source="v1")
    if not isinstance(items, list):
        raise NetConfigError("$.config: must be a list of network items")
    cfg = NetConfig([], source="v1")
    pending_routes = []
    for n, it in enumerate(items):
        where = f"$.config[{n}]"
        if not isinstance(it, dict) or it.get("type") not in KINDS_V1:
            raise NetConfigError(f"{where}.type: one of {', '.join(KINDS_V1)}")
        kind = it["type"]
        if kind == "nameserver":
            cfg.dns += [_ip(a, f"{where}.address") for a in _list(it.get("address"), f"{where}.address")]
            cfg.search += _list(it.get("search"), f"{where}.search")
            continue
        if kind == "route":
            pending_routes.append(Route(_net(it.get("destination", it.get("network")), f"{where}.destination",
                                             it.get("netmask"), it.get("prefix")),
                                        _ip(it["gateway"], f"{where}.gateway") if it.get("gateway") else None,
                                        _int(it["metric"], f"{where}.metric") if "metric" in it else None))
            continue
        mac = _mac(it["mac_address"], f"{where}.mac_address") if it.get("mac_address") else None
        name = it.get("name") or (macs.get(mac) if mac else None)
        iface = Iface(_name(name, f"{where}.name"), kind, mac=mac if kind == "physical" else None)
        if it.get("mtu") is not None:
            iface.mtu = _int(it["mtu"], f"{where}.mtu", 68, 65535)
        params = it.get("params") or {}
        if kind == "vlan":
            iface.vlan_id = _int(it.get("vlan_id"), f"{where}.vlan_id", 0, 4094)
            iface.link = _name(it.get("vlan_link"), f"{where}.vlan_link")
        elif kind == "bond":
            iface.members = [_name(m, f"{where}.bond_interfaces") for m in _list(it.get("bond_interfaces"),
                                                                                   f"{where}.bond_interfaces")]
            iface.params = {BOND_V1[k]: v for k, v in params.items() if k in BOND_V1}
            for k in ("bond-mode", "bond-miimon", "bond-xmit-hash-policy", "bond-lacp-rate"):
                if k in it:
                    iface.params[BOND_V1[k]] = it[k]
        elif kind == "bridge":
            iface.members = [_name(m, f"{where}.bridge_interfaces") for m in _list(it.get("bridge_interfaces"),
                                                                                     f"{where}.bridge_interfaces")]
            iface.params = {BRIDGE_V1[k]: v for k, v in params.items() if k in BRIDGE_V1}
        for s, sub in enumerate(_seq(it.get("subnets"), "subnets")):
            _v1_subnet(iface, sub, f"{where}.subnets[{s}]")
        if isinstance(it.get("accept-ra"), bool):
            iface.accept_ra = it["accept-ra"]
        cfg.interfaces.append(iface)
    if pending_routes:  # global routes go to the interface whose subnet holds the gateway
        for r in pending_routes:
            target = _owner_of(cfg, r.via)
            if target is None:
                raise NetConfigError(f"$.config: route to {r.to} via {r.via}: no interface has that gateway's subnet")
            target.routes.append(r)
    return cfg


def _v1_subnet(iface: Iface, sub, where: str) -> None:
    if not isinstance(sub, dict):
        raise NetConfigError(f"{where}: must be a mapping")
    t = sub.get("type")
    if sub.get("control") == "manual":
        iface.on_boot = False
    if t in ("static", "static6"):
        if "address" not in sub:
            raise NetConfigError(f"{where}.address: a static subnet needs an address")
        addrs = sub["address"] if isinstance(sub["address"], list) else [sub["address"]]
        for a in addrs:
            iface.addresses.append(_iface_cidr(a, f"{where}.address", sub.get("netmask"), sub.get("prefix")))
        if sub.get("gateway"):
            gw = _ip(sub["gateway"], f"{where}.gateway")
            if ":" in gw:
                iface.gateway6 = gw
            else:
                iface.gateway4 = gw
    elif t != "manual" and not _dynamic(iface, t):
        raise NetConfigError(f"{where}.type: {t!r} is not dhcp, dhcp4, dhcp6, static, static6, ipv6_slaac, "
                             "ipv6_dhcpv6-stateless, ipv6_dhcpv6-stateful or manual")
    iface.dns += [_ip(a, f"{where}.dns_nameservers") for a in _list(sub.get("dns_nameservers"),
                                                                     f"{where}.dns_nameservers")]
    iface.search += _list(sub.get("dns_search"), f"{where}.dns_search")
    for r, route in enumerate(_seq(sub.get("routes"), "routes")):
        w = f"{where}.routes[{r}]"
        if not isinstance(route, dict):
            raise NetConfigError(f"{w}: must be a mapping")
        iface.routes.append(Route(_net(route.get("network", route.get("destination")), f"{w}.network",
                                       route.get("netmask"), route.get("prefix")),
                                  _ip(route["gateway"], f"{w}.gateway") if route.get("gateway") else None,
                                  _int(route["metric"], f"{w}.metric") if "metric" in route else None))


def _owner_of(cfg: NetConfig, gateway: str | None) -> Iface | None:
    if gateway is None:
        return cfg.interfaces[0] if cfg.interfaces else None
    gw = ipaddress.ip_address(gateway)
    for i in cfg.interfaces:
        if any(gw in ipaddress.ip_interface(a).network for a in i.addresses):
            return i
    return None


# -- v2 -----------------------------------------------------------------------
def from_v2(doc: dict, macs: dict[str, str]) -> NetConfig:
    cfg = NetConfig([], source="v2", v2=doc)
    for section, kind in (("ethernets", "physical"), ("bonds", "bond"), ("bridges", "bridge"), ("vlans", "vlan")):
        entries = doc.get(section) or {}
        if not isinstance(entries, dict):
            raise NetConfigError(f"$.{section}: must be a mapping of interface ids")
        for ident, it in entries.items():
            where = f"$.{section}.{ident}"
            if not isinstance(it, dict):
                raise NetConfigError(f"{where}: must be a mapping")
            match = it.get("match") or {}
            mac = _mac(match["macaddress"], f"{where}.match.macaddress") if match.get("macaddress") else None
            name = it.get("set-name") or match.get("name") or (macs.get(mac) if mac and kind == "physical" else None)
            iface = Iface(_name(name or ident, f"{where}.set-name"), kind, mac=mac)
            _v2_common(iface, it, where)
            if kind == "vlan":
                iface.vlan_id = _int(it.get("id"), f"{where}.id", 0, 4094)
                iface.link = _name(it.get("link"), f"{where}.link")
            elif kind in ("bond", "bridge"):
                iface.members = [_name(m, f"{where}.interfaces") for m in _list(it.get("interfaces"),
                                                                                  f"{where}.interfaces")]
                table = BOND_V2 if kind == "bond" else BRIDGE_V2
                iface.params = {table[k]: v for k, v in (it.get("parameters") or {}).items() if k in table}
            cfg.interfaces.append(iface)
    ids = {ident: _v2_name(doc, ident) for s in ("ethernets", "bonds", "bridges", "vlans")
           for ident in (doc.get(s) or {})}
    for i in cfg.interfaces:  # links and members name v2 ids; the model names interfaces
        i.link = ids.get(i.link, i.link) if i.link else None
        i.members = [ids.get(m, m) for m in i.members]
    return cfg


def _v2_name(doc: dict, ident: str) -> str:
    for s in ("ethernets", "bonds", "bridges", "vlans"):
        it = (doc.get(s) or {}).get(ident)
        if isinstance(it, dict):
            return it.get("set-name") or (it.get("match") or {}).get("name") or ident
    return ident


def _v2_common(iface: Iface, it: dict, where: str) -> None:
    if it.get("mtu") is not None:
        iface.mtu = _int(it["mtu"], f"{where}.mtu", 68, 65535)
    iface.dhcp4 = bool(it.get("dhcp4", False))
    iface.dhcp6 = bool(it.get("dhcp6", False))
    if "accept-ra" in it:
        iface.accept_ra = bool(it["accept-ra"])
    iface.optional = bool(it.get("optional", False))
    iface.addresses = [_iface_cidr(a, f"{where}.addresses[{n}]")
                       for n, a in enumerate(_seq(it.get("addresses"), "addresses"))]
    if it.get("gateway4"):
        iface.gateway4 = _ip(it["gateway4"], f"{where}.gateway4")
    if it.get("gateway6"):
        iface.gateway6 = _ip(it["gateway6"], f"{where}.gateway6")
    for n, r in enumerate(_seq(it.get("routes"), "routes")):
        w = f"{where}.routes[{n}]"
        if not isinstance(r, dict) or "to" not in r:
            raise NetConfigError(f"{w}: a route needs 'to'")
        to = "::/0" if r["to"] == "default" and ":" in str(r.get("via", "")) else r["to"]
        route = Route(_net(to, f"{w}.to"), _ip(r["via"], f"{w}.via") if r.get("via") else None,
                      _int(r["metric"], f"{w}.metric") if "metric" in r else None,
                      _int(r["table"], f"{w}.table", 1) if "table" in r else None)
        if route.to == "0.0.0.0/0" and route.via and route.metric is None and route.table is None \
                and not iface.gateway4:
            iface.gateway4 = route.via  # a plain default route is the gateway: policy routing moves it
        elif route.to == "::/0" and route.via and route.metric is None and route.table is None \
                and not iface.gateway6:
            iface.gateway6 = route.via
        else:
            iface.routes.append(route)
    from blockprov.net.model import Rule

    for n, r in enumerate(_seq(it.get("routing-policy"), "routing-policy")):
        w = f"{where}.routing-policy[{n}]"
        if not isinstance(r, dict) or "table" not in r:
            raise NetConfigError(f"{w}: a rule needs 'table'")
        iface.rules.append(Rule(_int(r["table"], f"{w}.table", 1), _int(r.get("priority", 0), f"{w}.priority"),
                                str(r["from"]) if r.get("from") else None, str(r["to"]) if r.get("to") else None))
    ns = it.get("nameservers") or {}
    iface.dns = [_ip(a, f"{where}.nameservers.addresses") for a in _list(ns.get("addresses"),
                                                                          f"{where}.nameservers.addresses")]
    iface.search = _list(ns.get("search"), f"{where}.nameservers.search")
    if isinstance(it.get("dhcp4-overrides"), dict) and "route-metric" in it["dhcp4-overrides"]:
        iface.dhcp_metric = _int(it["dhcp4-overrides"]["route-metric"], f"{where}.dhcp4-overrides.route-metric")


# -- OpenStack network_data.json ---------------------------------------------------
PHYSICAL_OS = ("phy", "ethernet", "vif", "ovs", "bridge", "tap", "hw_veb", "vhostuser", "dvs", "macvtap")


def from_openstack(doc: dict, macs: dict[str, str]) -> NetConfig:
    cfg = NetConfig([], source="openstack")
    by_id: dict[str, Iface] = {}
    links = doc.get("links") or []
    if not isinstance(links, list):
        raise NetConfigError("$.links: must be a list")
    for n, ln in enumerate(links):
        where = f"$.links[{n}]"
        if not isinstance(ln, dict) or not ln.get("id"):
            raise NetConfigError(f"{where}: a link needs an id")
        t = ln.get("type", "phy")
        mac = _mac(ln["ethernet_mac_address"], f"{where}.ethernet_mac_address") \
            if ln.get("ethernet_mac_address") else None
        if t == "vlan":
            kind = "vlan"
        elif t == "bond":
            kind = "bond"
        elif t in PHYSICAL_OS:
            kind = "physical"
        else:
            raise NetConfigError(f"{where}.type: link type {t!r} is not supported")
        name = ln.get("name") or (macs.get(mac) if mac and kind == "physical" else None)
        if kind == "vlan" and not name:
            name = None  # named after its parent below
        iface = Iface(name or "", kind, mac=mac if kind == "physical" else None)
        if ln.get("mtu") is not None:
            iface.mtu = _int(ln["mtu"], f"{where}.mtu", 68, 65535)
        if kind == "vlan":
            iface.vlan_id = _int(ln.get("vlan_id"), f"{where}.vlan_id", 0, 4094)
            iface.link = str(ln.get("vlan_link"))
        if kind == "bond":
            iface.members = [str(m) for m in ln.get("bond_links") or []]
            iface.params = {k: ln[f"bond_{k}"] for k in ("mode", "miimon", "xmit_hash_policy") if f"bond_{k}" in ln}
        if kind == "physical" and not name:
            if mac is None:
                raise NetConfigError(f"{where}: a link needs a name or an ethernet_mac_address")
            iface.name = f"eth-{mac.replace(':', '')[-6:]}"  # matched by MAC; renamed to this stable name
        ext = ln.get("blockprov") if isinstance(ln.get("blockprov"), dict) else {}
        if ext.get("on_boot") is False:
            iface.on_boot = False
        if isinstance(ext.get("accept_ra"), bool):
            iface.accept_ra = ext["accept_ra"]
        by_id[ln["id"]] = iface
        cfg.interfaces.append(iface)
    for i in cfg.interfaces:  # vlan_link and bond_links name link ids
        if i.kind == "vlan":
            parent = by_id.get(i.link)
            if parent is None:
                raise NetConfigError(f"$.links: vlan link refers to {i.link!r}, which is not a link id")
            i.link = parent.name
            i.name = i.name or f"{parent.name}.{i.vlan_id}"
        i.members = [by_id[m].name if m in by_id else m for m in i.members]
    for i in cfg.interfaces:
        _name(i.name, "$.links")
    for n, net in enumerate(_seq(doc.get("networks"), "networks")):
        where = f"$.networks[{n}]"
        if not isinstance(net, dict) or net.get("link") not in by_id:
            raise NetConfigError(f"{where}.link: must name a link id")
        iface = by_id[net["link"]]
        t = net.get("type", "")
        if t in ("ipv4", "ipv6"):
            iface.addresses.append(_iface_cidr(net.get("ip_address"), f"{where}.ip_address", net.get("netmask"),
                                               net.get("prefix")))
            for r, route in enumerate(_seq(net.get("routes"), "routes")):
                w = f"{where}.routes[{r}]"
                dest = _net(route.get("network"), f"{w}.network", route.get("netmask"))
                gw = _ip(route["gateway"], f"{w}.gateway") if route.get("gateway") else None
                if dest in ("0.0.0.0/0", "::/0") and gw:
                    if t == "ipv4":
                        iface.gateway4 = gw
                    else:
                        iface.gateway6 = gw
                else:
                    iface.routes.append(Route(dest, gw))
        elif not _dynamic(iface, t):
            raise NetConfigError(f"{where}.type: {t!r} is not ipv4, ipv6, ipv4_dhcp, ipv6_dhcp, ipv6_slaac, "
                                 "ipv6_dhcpv6-stateless or ipv6_dhcpv6-stateful")
        iface.dns += [_ip(a, f"{where}.dns_nameservers") for a in _list(net.get("dns_nameservers"),
                                                                         f"{where}.dns_nameservers")]
        for s, svc in enumerate(_seq(net.get("services"), "services")):
            if isinstance(svc, dict) and svc.get("type") == "dns":
                iface.dns.append(_ip(svc.get("address"), f"{where}.services[{s}].address"))
    for s, svc in enumerate(_seq(doc.get("services"), "services")):
        if isinstance(svc, dict) and svc.get("type") == "dns":
            cfg.dns.append(_ip(svc.get("address"), f"$.services[{s}].address"))
    ext = doc.get("blockprov") if isinstance(doc.get("blockprov"), dict) else {}
    cfg.search = _list(ext.get("dns_search"), "$.blockprov.dns_search")
    return cfg


# -- oVirt-style NIC settings --------------------------------------------------------
def from_ovirt(doc: dict, macs: dict[str, str]) -> NetConfig:
    """``{nics: [{name, boot_protocol, ipv6_boot_protocol, address, netmask|prefix, gateway, ipv6_address,
    ipv6_prefix, ipv6_gateway, on_boot, mac}], dns_servers, dns_search}``, as oVirt's engine describes NICs."""
    cfg = NetConfig([], source="ovirt")
    nics = doc.get("nics")
    if not isinstance(nics, list):
        raise NetConfigError("$.nics: must be a list")
    for n, nic in enumerate(nics):
        where = f"$.nics[{n}]"
        if not isinstance(nic, dict):
            raise NetConfigError(f"{where}: must be a mapping")
        mac = _mac(nic["mac"], f"{where}.mac") if nic.get("mac") else None
        iface = Iface(_name(nic.get("name") or (macs.get(mac) if mac else None), f"{where}.name"), mac=mac)
        iface.on_boot = bool(nic.get("on_boot", True))
        if nic.get("mtu") is not None:
            iface.mtu = _int(nic["mtu"], f"{where}.mtu", 68, 65535)
        proto = nic.get("boot_protocol", "none")
        if proto == "dhcp":
            iface.dhcp4 = True
        elif proto == "static":
            iface.addresses.append(_iface_cidr(nic.get("address"), f"{where}.address", nic.get("netmask"),
                                               nic.get("prefix")))
            if nic.get("gateway"):
                iface.gateway4 = _ip(nic["gateway"], f"{where}.gateway")
        elif proto != "none":
            raise NetConfigError(f"{where}.boot_protocol: {proto!r} is not static, dhcp or none")
        proto6 = nic.get("ipv6_boot_protocol", "none")
        if proto6 == "dhcp":
            iface.dhcp6 = True
        elif proto6 == "autoconf":
            iface.accept_ra = True
        elif proto6 == "static":
            iface.addresses.append(_iface_cidr(nic.get("ipv6_address"), f"{where}.ipv6_address",
                                               None, nic.get("ipv6_prefix")))
            iface.accept_ra = False
            if nic.get("ipv6_gateway"):
                iface.gateway6 = _ip(nic["ipv6_gateway"], f"{where}.ipv6_gateway")
        elif proto6 != "none":
            raise NetConfigError(f"{where}.ipv6_boot_protocol: {proto6!r} is not static, dhcp, autoconf or none")
        cfg.interfaces.append(iface)
    cfg.dns = [_ip(a, "$.dns_servers") for a in _list(doc.get("dns_servers"), "$.dns_servers")]
    cfg.search = _list(doc.get("dns_search"), "$.dns_search")
    return cfg


def fallback(names: list[str]) -> NetConfig:
    """DHCP on the first interface (by name) when no config names any: the instance must be reachable."""
    first = sorted(n for n in names if n != "lo")[:1]
    return NetConfig([Iface(n, dhcp4=True) for n in first], source="fallback")
