"""Multi-NIC policy routing: one default route in the main table, one routing table per other NIC.

Without it, a second NIC's default route either fights the first one's or is
dropped, and replies to traffic that came in on the second NIC leave through
the first (and are dropped by reverse-path filters). With it, each secondary
NIC with a static gateway gets table ``base_table + k`` holding its subnet and
default routes, and a rule ``from <its address> lookup <table>`` at priority
``base_priority + k``. Secondary DHCP NICs get a worse route metric so the
primary's default route wins.
"""

from __future__ import annotations

import copy
import ipaddress

from blockprov.net.model import NetConfig, NetConfigError, Route, Rule

BASE_TABLE = 100
BASE_PRIORITY = 1000


def apply(cfg: NetConfig, mode="auto", primary: str | None = None) -> NetConfig:
    """A copy of ``cfg`` with policy routing added (pure). mode: auto (2+ NICs with gateways), true, false."""
    if mode not in ("auto", True, False, "true", "false", "on", "off"):
        raise NetConfigError(f"$.system_info.network.policy_routing: {mode!r} is not auto, true or false")
    routed = [i for i in cfg.interfaces if i.gateway4 or i.gateway6 or i.dhcp4]
    if mode in (False, "false", "off") or (mode == "auto" and len(routed) < 2) or not routed:
        return cfg
    if primary is not None and cfg.get(primary) is None:
        raise NetConfigError(f"$.system_info.network.primary: {primary!r} is not an interface of the network config")
    primary = primary or routed[0].name
    out = copy.deepcopy(cfg)
    k = 0
    for iface in out.interfaces:
        if iface.name == primary or iface not in routed:
            continue
        k += 1
        if iface.dhcp4 and iface.dhcp_metric is None:
            iface.dhcp_metric = 100 * (k + 1)
        gateways = [g for g in (iface.gateway4, iface.gateway6) if g]
        if not gateways:
            continue
        table, prio = BASE_TABLE + k, BASE_PRIORITY + k
        for a in iface.addresses:
            net = ipaddress.ip_interface(a)
            gw = iface.gateway6 if net.version == 6 else iface.gateway4
            if gw is None:
                continue
            iface.routes.append(Route(net.network.with_prefixlen, None, None, table, onlink_scope=True))
            iface.routes.append(Route("::/0" if net.version == 6 else "0.0.0.0/0", gw, None, table))
            iface.rules.append(Rule(table, prio, source=str(net.ip)))
        iface.gateway4 = iface.gateway6 = None
    return out
