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
    mac: str | None = None  # match on it (and rename to ``name``) when set
    mtu: int | None = None
    on_boot: bool = True
    optional: bool = False
    dhcp4: bool = False
    dhcp6: bool = False
    accept_ra: bool | None = None  # IPv6 router advertisements (SLAAC); None: the system's default
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
    params: dict = field(default_factory=dict)  # bond: mode, miimon, xmit_hash_policy, lacp_rate; bridge: stp, forward_delay


@dataclass
class NetConfig:
    interfaces: list[Iface]
    dns: list[str] = field(default_factory=list)  # global, not bound to one interface
    search: list[str] = field(default_factory=list)
    source: str = ""  # v1 | v2 | openstack | ovirt | fallback
    v2: dict | None = None  # the original v2 document: netplan gets it passed through

    def get(self, name: str) -> Iface | None:
        return next((i for i in self.interfaces if i.name == name), None)
