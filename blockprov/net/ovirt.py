"""oVirt-style NIC settings (``nics:``) -> NetConfig (pure), as oVirt's engine describes NICs."""

from __future__ import annotations

from blockprov.net import values
from blockprov.net.model import Iface, NetConfig, NetConfigError


def parse(doc: dict, macs: dict[str, str]) -> tuple[NetConfig, list[str]]:
    """``{nics: [{name, boot_protocol, ipv6_boot_protocol, address, netmask|prefix, gateway, ipv6_address,
    ipv6_prefix, ipv6_gateway, on_boot, mac, mtu}], dns_servers, dns_search}``."""
    cfg = NetConfig([], source="ovirt")
    nics = doc.get("nics")
    if not isinstance(nics, list):
        raise NetConfigError("$.nics: must be a list")
    physical = []
    for n, nic in enumerate(nics):
        where = f"$.nics[{n}]"
        try:
            if not isinstance(nic, dict):
                raise NetConfigError(f"{where}: must be a mapping")
            physical.append(nic.get("name") or str(nic.get("mac") or ""))
            cfg.interfaces.append(_nic(nic, where, macs))
        except NetConfigError as exc:
            cfg.errors.append(str(exc))
    try:
        cfg.dns = [values.ip(a, "$.dns_servers") for a in values.words(doc.get("dns_servers"), "$.dns_servers")]
        cfg.search = values.words(doc.get("dns_search"), "$.dns_search")
    except NetConfigError as exc:
        cfg.errors.append(str(exc))
    return cfg, physical


def _nic(nic: dict, where: str, macs: dict[str, str]) -> Iface:
    mac = values.mac(nic["mac"], f"{where}.mac") if nic.get("mac") else None
    iface = Iface(values.name(nic.get("name") or (macs.get(mac) if mac else None), f"{where}.name"), mac=mac)
    iface.on_boot = bool(nic.get("on_boot", True))
    if nic.get("mtu") is not None:
        iface.mtu = values.integer(nic["mtu"], f"{where}.mtu", 68, 65535)
    proto = nic.get("boot_protocol", "none")
    if proto == "dhcp":
        iface.dhcp4 = True
    elif proto == "static":
        iface.addresses.append(values.iface_cidr(nic.get("address"), f"{where}.address", nic.get("netmask"),
                                                 nic.get("prefix")))
        if nic.get("gateway"):
            iface.gateway4 = values.ip(nic["gateway"], f"{where}.gateway")
    elif proto != "none":
        raise NetConfigError(f"{where}.boot_protocol: {proto!r} is not static, dhcp or none")
    proto6 = nic.get("ipv6_boot_protocol", "none")
    if proto6 == "dhcp":  # as network_data.json's ipv6_dhcp reads (cloud-init: RAs on with DHCPv6)
        iface.dhcp6, iface.accept_ra = True, True
    elif proto6 == "autoconf":  # as ipv6_slaac reads
        iface.dhcp6, iface.ipv6_mode = True, "slaac"
    elif proto6 == "static":
        iface.addresses.append(values.iface_cidr(nic.get("ipv6_address"), f"{where}.ipv6_address",
                                                 None, nic.get("ipv6_prefix")))
        iface.accept_ra = False
        if nic.get("ipv6_gateway"):
            iface.gateway6 = values.ip(nic["ipv6_gateway"], f"{where}.ipv6_gateway")
    elif proto6 != "none":
        raise NetConfigError(f"{where}.ipv6_boot_protocol: {proto6!r} is not static, dhcp, autoconf or none")
    return iface


def from_ovirt(doc: dict, macs: dict[str, str] | None = None) -> NetConfig:
    """Strict: the engine checks a definition's NICs with this (any error raises)."""
    cfg, _physical = parse(doc, macs or {})
    if cfg.errors:
        raise NetConfigError(cfg.errors[0])
    return cfg
