"""OpenStack ``network_data.json`` -> NetConfig (pure), the way cloud-init's convert_net_json reads it.

Links: ``vlan`` and ``bond`` are what they say; every other type (phy, ovs, bridge, tap, vif, hyperv, null,
unknown ones) is a physical NIC, with a warning for types nova does not document. A bond without a name is
``bond0``, ``bond1``... in link order; a VLAN without one is ``<parent>.<vlan id>``. Networks: ``ipv4``/
``ipv6`` (static, with the network-level ``gateway``, routes, ``dns_search``), ``ipv4_dhcp``, ``ipv6_dhcp``,
``ipv6_slaac``, ``ipv6_dhcpv6-stateless``/``-stateful``; DNS services given in a network, in its routes, or for
the whole instance.
"""

from __future__ import annotations

from blockprov.net import params, values
from blockprov.net.model import Iface, NetConfig, NetConfigError
from blockprov.net.v1 import subnet

# link types nova documents as physical NICs (cloud-init's KNOWN_PHYSICAL_TYPES)
PHYSICAL = (None, "bridge", "cascading", "dvs", "ethernet", "hw_veb", "hyperv", "ovs", "phy", "tap", "vhostuser",
            "vif", "macvtap", "bgpovs")
NETWORK_TYPES = {"ipv4": "static", "static": "static", "ipv6": "static6", "static6": "static6",
                 "ipv4_dhcp": "dhcp4", "ipv6_dhcp": "dhcp6", "ipv6_slaac": "ipv6_slaac",
                 "ipv6_dhcpv6-stateless": "ipv6_dhcpv6-stateless", "ipv6_dhcpv6-stateful": "ipv6_dhcpv6-stateful"}


def parse(doc: dict, macs: dict[str, str]) -> tuple[NetConfig, list[str]]:
    cfg = NetConfig([], source="openstack")
    by_id: dict[str, Iface] = {}
    physical: list[str] = []
    bonds = 0
    links = doc.get("links") or []
    if not isinstance(links, list):
        raise NetConfigError("$.links: must be a list")
    pending: list[tuple[Iface, str, dict]] = []
    for n, ln in enumerate(links):
        where = f"$.links[{n}]"
        try:
            if not isinstance(ln, dict) or not ln.get("id"):
                raise NetConfigError(f"{where}.id: a link needs an id")
            t = ln.get("type")
            mac = values.mac(ln["ethernet_mac_address"], f"{where}.ethernet_mac_address") \
                if ln.get("ethernet_mac_address") else None
            if t == "bond":
                iface = Iface(ln.get("name") or f"bond{bonds}", "bond", macaddress=mac)
                bonds += 1
                raw = {k: v for k, v in ln.items() if str(k).startswith("bond_") and k != "bond_links"}
                iface.params = params.read(raw, params.BOND, where, cfg.warnings)
                iface.members = [str(m) for m in values.seq(ln.get("bond_links"), f"{where}.bond_links")]
            elif t == "vlan":
                vmac = ln.get("vlan_mac_address") or ln.get("ethernet_mac_address")
                iface = Iface(ln.get("name") or "", "vlan",
                              macaddress=values.mac(vmac, f"{where}.vlan_mac_address") if vmac else None)
                iface.vlan_id = values.integer(ln.get("vlan_id"), f"{where}.vlan_id", 0, 4094)
                iface.link = str(ln.get("vlan_link"))
            else:
                if t not in PHYSICAL:
                    cfg.warnings.append(f"{where}.type: link type {t!r} is not one nova documents; treated as a "
                                        "physical NIC, as cloud-init does")
                physical.append(ln.get("name") or mac or str(ln["id"]))
                name = ln.get("name") or (macs.get(mac) if mac else None)
                if not name:
                    if mac is None:
                        raise NetConfigError(f"{where}: a link needs a name or an ethernet_mac_address")
                    name = f"eth-{mac.replace(':', '')[-6:]}"  # matched by MAC; renamed to this stable name
                iface = Iface(name, "physical", mac=mac)
            if ln.get("mtu") is not None:
                iface.mtu = values.integer(ln["mtu"], f"{where}.mtu", 68, 65535)
            ext = ln.get("blockprov") if isinstance(ln.get("blockprov"), dict) else {}
            if ext.get("on_boot") is False:
                iface.on_boot = False
            if isinstance(ext.get("accept_ra"), bool):
                iface.accept_ra = ext["accept_ra"]
            by_id[str(ln["id"])] = iface
            pending.append((iface, where, ln))
        except NetConfigError as exc:
            cfg.errors.append(str(exc))
    for iface, where, _ln in pending:  # vlan_link and bond_links name link ids
        try:
            if iface.kind == "vlan":
                parent = by_id.get(iface.link or "")
                if parent is None:
                    raise NetConfigError(f"{where}.vlan_link: {iface.link!r} is not a link id")
                iface.link = parent.name
                iface.name = iface.name or f"{parent.name}.{iface.vlan_id}"
            iface.members = [by_id[m].name if m in by_id else m for m in iface.members]
            values.name(iface.name, f"{where}.name")
            cfg.interfaces.append(iface)
        except NetConfigError as exc:
            cfg.errors.append(str(exc))
    kept = {id(i) for i in cfg.interfaces}
    for n, net in enumerate(values.seq(doc.get("networks"), "$.networks")):
        where = f"$.networks[{n}]"
        try:
            if not isinstance(net, dict) or str(net.get("link")) not in by_id:
                raise NetConfigError(f"{where}.link: must name a link id")
            iface = by_id[str(net["link"])]
            if id(iface) not in kept:
                continue  # its link was left out (an error says why)
            _network(iface, net, where, cfg.warnings)
        except NetConfigError as exc:
            cfg.errors.append(str(exc))
    for s, svc in enumerate(values.seq(doc.get("services"), "$.services")):
        try:
            if isinstance(svc, dict) and svc.get("type") == "dns":
                cfg.dns.append(values.ip(svc.get("address"), f"$.services[{s}].address"))
        except NetConfigError as exc:
            cfg.errors.append(str(exc))
    ext = doc.get("blockprov") if isinstance(doc.get("blockprov"), dict) else {}
    cfg.search += values.words(ext.get("dns_search"), "$.blockprov.dns_search")
    return cfg, physical


def _network(iface: Iface, net: dict, where: str, warnings: list[str]) -> None:
    t = net.get("type", "")
    if t not in NETWORK_TYPES:
        raise NetConfigError(f"{where}.type: {t!r} is not " + ", ".join(NETWORK_TYPES))
    sub: dict = {"type": NETWORK_TYPES[t]}
    if sub["type"].startswith("static"):
        sub.update(address=net.get("ip_address"), netmask=net.get("netmask"), prefix=net.get("prefix"))
        if net.get("gateway"):
            sub["gateway"] = net["gateway"]
    routes = values.seq(net.get("routes"), f"{where}.routes")
    sub["routes"] = [{k: r.get(k) for k in ("network", "netmask", "gateway", "metric") if k in r}
                     for r in routes if isinstance(r, dict)]
    dns = [svc.get("address") for r in routes if isinstance(r, dict)
           for svc in values.seq(r.get("services"), f"{where}.routes[].services")
           if isinstance(svc, dict) and svc.get("type") == "dns"]
    dns += [svc.get("address") for svc in values.seq(net.get("services"), f"{where}.services")
            if isinstance(svc, dict) and svc.get("type") == "dns" and svc.get("address") not in dns]
    dns += values.words(net.get("dns_nameservers"), f"{where}.dns_nameservers")
    sub["dns_nameservers"] = dns
    sub["dns_search"] = net.get("dns_search")
    if net.get("mtu") is not None:
        sub["mtu"] = net["mtu"]
    subnet(iface, sub, where, warnings)
    if t in ("ipv6", "static6"):
        iface.accept_ra = False  # cloud-init: a static IPv6 network does not take router advertisements
    elif t in ("ipv6_dhcp", "ipv6_dhcpv6-stateful"):
        iface.accept_ra = True
