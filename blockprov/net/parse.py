"""Network config in its four input forms -> NetConfig (pure).

Forms: cloud-init/curtin v1 (net/v1.py), v2 (net/v2.py), OpenStack's ``network_data.json``
(net/openstack.py) and oVirt-style NIC settings (net/ovirt.py). ``macs`` maps lower-case MAC addresses to
the interface names the target has; it names interfaces that the input only knows by MAC.

Never all-or-nothing: an item that cannot be read is an error naming its JSON path (``NetConfig.errors``) and
is left out; everything else is rendered. If the left-out part was the primary NIC (the first physical one of
the input), that NIC gets DHCP, so an instance is never left unreachable by one odd item. Only a document that
is not a network config at all raises NetConfigError.
"""

from __future__ import annotations

from blockprov.net import openstack, ovirt, v1, v2, values
from blockprov.net.model import Iface, NetConfig, NetConfigError

__all__ = ["NetConfigError", "detect", "fallback", "from_ovirt", "parse"]
FORMS = {"v1": v1.parse, "v2": v2.parse, "openstack": openstack.parse, "ovirt": ovirt.parse}
from_ovirt = ovirt.from_ovirt  # the engine's strict check of a definition's NICs


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
    fn = FORMS.get(form)
    if fn is None:
        raise NetConfigError(f"$: network config form {form!r} is not v1, v2, openstack or ovirt")
    macs = macs or {}
    try:
        cfg, physical = fn(doc, macs)
    except NetConfigError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # a value of a shape the parser does not expect: the documented error, so the caller falls back
        raise NetConfigError(f"$: malformed {form} network config ({type(exc).__name__}: {exc})") from None
    _check_references(cfg)
    if cfg.errors:
        _primary_falls_back(cfg, physical, macs)
    return cfg


def _check_references(cfg: NetConfig) -> None:
    """Duplicates and dangling references are errors of the referring item, which is left out (a VLAN on a
    missing link) or loses the missing port (a bond keeps the members that exist)."""
    seen: set[str] = set()
    kept = []
    for i in cfg.interfaces:
        if i.name in seen:
            cfg.errors.append(f"$: interface {i.name!r} is defined twice; the second definition is left out")
            continue
        seen.add(i.name)
        kept.append(i)
    cfg.interfaces = kept
    changed = True
    while changed:  # a VLAN on a bond that was left out goes too
        changed = False
        names = {i.name for i in cfg.interfaces}
        for i in list(cfg.interfaces):
            if i.link and i.link not in names:
                cfg.errors.append(f"$: {i.name}: its link {i.link!r} is not defined; {i.name} is left out")
                cfg.interfaces.remove(i)
                changed = True
            missing = [m for m in i.members if m not in names]
            if missing:
                cfg.errors.append(f"$: {i.name}: member(s) {', '.join(missing)} not defined; left out of it")
                i.members = [m for m in i.members if m in names]


def _primary_falls_back(cfg: NetConfig, physical: list[str], macs: dict[str, str]) -> None:
    """The input's first physical NIC was left out: it gets DHCP (named as the input or the machine names it)."""
    hint = next((p for p in physical if p), None)
    names = {i.name for i in cfg.interfaces}
    macs_kept = {i.mac for i in cfg.interfaces if i.mac}
    if hint is None:
        if cfg.interfaces:
            return
        name, mac = next(iter(sorted(macs.values())), None), None
    elif hint in names or hint.lower() in macs_kept:
        return
    else:
        mac = None
        try:
            mac = values.mac(hint, "$")
        except NetConfigError:
            pass
        name = (macs.get(mac) or f"eth-{mac.replace(':', '')[-6:]}") if mac else hint
        try:
            values.name(name, "$")
        except NetConfigError:
            name = next(iter(sorted(macs.values())), None)
            mac = None
    if name is None or name in names:
        return
    cfg.interfaces.insert(0, Iface(name, mac=mac, dhcp4=True))
    cfg.warnings.append(f"$: the primary NIC {name} could not be configured as given; it uses DHCP")


def fallback(names: list[str]) -> NetConfig:
    """DHCP on the first interface (by name) when no config names any: the instance must be reachable."""
    first = sorted(n for n in names if n != "lo")[:1]
    return NetConfig([Iface(n, dhcp4=True) for n in first], source="fallback")
