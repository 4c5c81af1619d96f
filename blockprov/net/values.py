"""Checked values of network configs: addresses, prefixes, MACs, interface names, integers (pure).

Every error is a NetConfigError whose message starts with the JSON path of the value.
"""

from __future__ import annotations

import ipaddress

from blockprov.net.model import NetConfigError


def seq(v, where: str) -> list:
    """A list-valued key (subnets, routes, networks, services...): absent is empty, anything else an error."""
    if v is None:
        return []
    if not isinstance(v, list):
        raise NetConfigError(f"{where}: must be a list, not {type(v).__name__}")
    return v


def words(v, where: str) -> list[str]:
    """A list given as a list or as one string of space- or comma-separated words."""
    if v is None:
        return []
    if isinstance(v, str):
        return v.replace(",", " ").split()
    if not isinstance(v, list):
        raise NetConfigError(f"{where}: must be a list")
    return [str(x) for x in v]


def ip(v, where: str) -> str:
    try:
        return str(ipaddress.ip_address(str(v).strip()))
    except ValueError:
        raise NetConfigError(f"{where}: {v!r} is not an IP address") from None


def prefixlen(netmask, where: str) -> int:
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


def _blank(v) -> bool:
    return v is None or isinstance(v, str) and not v.strip()


def with_len(text: str, where: str, netmask, prefix, default: bool) -> str:
    """``text`` with ``/len`` from the prefix or netmask when it has none; an empty netmask counts as none
    (OpenStack sends ``netmask: ""`` for IPv6). With ``default``, cloud-init's defaults: /24 for IPv4, /64
    for IPv6."""
    if "/" in text:
        return text
    if not _blank(prefix):
        return f"{text}/{prefixlen(prefix, where)}"
    if not _blank(netmask):
        return f"{text}/{prefixlen(netmask, where)}"
    if default:
        return f"{text}/{64 if ':' in text else 24}"
    return text


def iface_cidr(address, where: str, netmask=None, prefix=None) -> str:
    """'addr/len' from an address with or without /len plus a netmask or prefix (host bits kept)."""
    if _blank(address):
        raise NetConfigError(f"{where}: an address is needed")
    text = with_len(str(address).strip(), where, netmask, prefix, default=True)
    try:
        return ipaddress.ip_interface(text).with_prefixlen
    except ValueError:
        raise NetConfigError(f"{where}: {address!r} is not an address (with netmask or prefix)") from None


def network(dest, where: str, netmask=None, prefix=None, gateway: str | None = None, host: bool = False) -> str:
    """A route destination as CIDR. 'default' (or none) is the default route of the gateway's family; a
    destination without a length gets cloud-init's /24 (IPv4) or /64 (IPv6) (v1, network_data.json), or with
    ``host`` is a host route (netplan's reading of v2)."""
    if _blank(dest) or dest == "default":
        return "::/0" if gateway and ":" in gateway else "0.0.0.0/0"
    text = with_len(str(dest).strip(), where, netmask, prefix, default=not host)
    try:
        return ipaddress.ip_network(text, strict=False).with_prefixlen
    except ValueError:
        raise NetConfigError(f"{where}: {dest!r} is not a network") from None


def integer(v, where: str, lo: int = 0, hi: int = 2**31) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).strip().isdigit() \
            or not lo <= int(v) <= hi:
        raise NetConfigError(f"{where}: {v!r} is not an integer in {lo}..{hi}")
    return int(v)


def mac(v, where: str) -> str:
    text = str(v).strip().lower()
    parts = text.split(":")
    if len(parts) not in (6, 8, 20) or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p)
                                               for p in parts):
        raise NetConfigError(f"{where}: {v!r} is not a MAC address")
    return text


def name(v, where: str) -> str:
    if not isinstance(v, str) or not v or len(v) > 15 or "/" in v or v.strip() != v or ":" in v:
        raise NetConfigError(f"{where}: {v!r} is not an interface name (1-15 characters, no '/', ':' or spaces)")
    return v


def flag(v, where: str) -> bool:
    """A boolean as YAML or cloud-init write it (true, "true", "on", 1...)."""
    if isinstance(v, bool):
        return v
    if str(v).strip().lower() in ("1", "true", "yes", "on"):
        return True
    if str(v).strip().lower() in ("0", "false", "no", "off"):
        return False
    raise NetConfigError(f"{where}: {v!r} is not a boolean")
