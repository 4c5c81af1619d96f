"""The one network model every input form is parsed into and every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass, field


class NetConfigError(ValueError):
    """Bad network config; the message starts with the JSON path."""


@dataclass
class Route:
    to: str  # CIDR; 0.0.0.0/0 or ::/0 for a default route
    via: str | None = None
    metric: int | None = None
    table: int | None = None
    onlink_scope: bool = False  # a subnet route copied into a policy table: no gateway, scope link


@dataclass
class Rule:
    table: int
    priority: int
    source: str | None = None  # address or CIDR ("from")
    to: str | None = None


@dataclass
class Iface:
    name: str
    kind: str = "physical"  # physical | vlan | bond | bridge
    mac: str | None = None  # physical: the MAC it is matched by (and renamed to ``name``, see ``renamed``)
    # False: a NIC matched by ``mac`` keeps the kernel's name; ``name`` is then only the config's id
    # (a v2 ethernet with ``match`` and no ``set-name``)
    renamed: bool = True
    macaddress: str | None = None  # the MAC the interface is given (bonds, bridges, VLANs, physical)
    mtu: int | None = None
    ipv6_mtu: int | None = None  # an IPv6 subnet's own MTU, when it differs from the link's
    on_boot: bool = True
    optional: bool = False
    wakeonlan: bool | None = None
    dhcp4: bool = False
    dhcp6: bool = False
    accept_ra: bool | None = None  # IPv6 router advertisements (SLAAC); None: the system's default
    # how a dynamic IPv6 subnet is configured when it is not plain DHCPv6: slaac (RAs only), stateless (RAs
    # for addresses, DHCPv6 for the rest), stateful (DHCPv6 for addresses); dhcp6 is set for all three
    ipv6_mode: str | None = None
    addresses: list[str] = field(default_factory=list)  # CIDR, host bits kept: 192.0.2.5/24
    gateway4: str | None = None
    gateway6: str | None = None
    routes: list[Route] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    dhcp_metric: int | None = None  # route metric of DHCP-learnt routes
    vlan_id: int | None = None
    link: str | None = None  # a vlan's parent
    members: list[str] = field(default_factory=list)  # a bond's or bridge's ports
    # bond or bridge parameters by their netplan names (net/params.py); bridge port settings as
    # {"path-cost": {port: n}, "port-priority": {port: n}}
    params: dict = field(default_factory=dict)

    @property
    def match_mac(self) -> str | None:
        """The Ethernet MAC a physical NIC is matched by (an InfiniBand NIC's 20-byte address is not: it is
        matched by name)."""
        return self.mac if self.kind == "physical" and self.mac and len(self.mac) == 17 else None


@dataclass
class NetConfig:
    interfaces: list[Iface]
    dns: list[str] = field(default_factory=list)  # global, not bound to one interface
    search: list[str] = field(default_factory=list)
    source: str = ""  # v1 | v2 | openstack | ovirt | fallback
    v2: dict | None = None  # the original v2 document: netplan gets it passed through
    warnings: list[str] = field(default_factory=list)  # "$.path: what was done instead" (rendered anyway)
    errors: list[str] = field(default_factory=list)  # "$.path: why this part was left out" (the rest rendered)

    def get(self, name: str) -> Iface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def dns_for(self, iface: Iface) -> tuple[list[str], list[str]]:
        """(nameservers, search domains) to write on ``iface`` for renderers without a global place for them
        (netplan; networkd's per-link DNS): its own, else (cloud-init's rule) the global ones when it has
        static addresses; the global ones also go on the first interface when no interface takes them, so
        none is lost."""
        if iface.dns or iface.search or not (self.dns or self.search):
            return iface.dns, iface.search
        takers = [i for i in self.interfaces if i.addresses and not (i.dns or i.search)]
        if iface in takers or not takers and self.interfaces and iface is self.interfaces[0]:
            return list(self.dns), list(self.search)
        return [], []
