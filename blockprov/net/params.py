"""Bond and bridge parameters: one vocabulary (netplan's names), read from every input spelling and written
in each renderer's (pure).

Inputs: netplan v2 ``parameters`` (the canonical names), v1 ``params`` and top-level keys in any of the
spellings cloud-init's users write (``bond-miimon``, ``bond_miimon``, ``bond-xmit_hash_policy``), and
network_data.json's ``bond_*`` keys. Outputs: netplan ``parameters``, systemd-networkd ``[Bond]``/``[Bridge]``
keys (the primary port as ``PrimarySlave=`` on that port; bridge port cost and priority in the port's own
``[Bridge]`` section), ifupdown ``bond-*``/``bridge_*`` options.
"""

from __future__ import annotations

from blockprov.net import values
from blockprov.net.model import NetConfigError

# netplan name -> (value kind, networkd key, ifupdown option); kind: text, ms (milliseconds), s (seconds),
# int, bool, list (of addresses), port (the primary port's name)
BOND: dict[str, tuple[str, str | None, str]] = {
    "mode": ("text", "Mode", "bond-mode"),
    "lacp-rate": ("text", "LACPTransmitRate", "bond-lacp-rate"),
    "mii-monitor-interval": ("ms", "MIIMonitorSec", "bond-miimon"),
    "min-links": ("int", "MinLinks", "bond-min-links"),
    "transmit-hash-policy": ("text", "TransmitHashPolicy", "bond-xmit-hash-policy"),
    "ad-select": ("text", "AdSelect", "bond-ad-select"),
    "all-slaves-active": ("bool", "AllSlavesActive", "bond-all-slaves-active"),
    "arp-interval": ("ms", "ARPIntervalSec", "bond-arp-interval"),
    "arp-ip-targets": ("list", "ARPIPTargets", "bond-arp-ip-target"),
    "arp-validate": ("text", "ARPValidate", "bond-arp-validate"),
    "arp-all-targets": ("text", "ARPAllTargets", "bond-arp-all-targets"),
    "up-delay": ("ms", "UpDelaySec", "bond-updelay"),
    "down-delay": ("ms", "DownDelaySec", "bond-downdelay"),
    "fail-over-mac-policy": ("text", "FailOverMACPolicy", "bond-fail-over-mac"),
    "gratuitous-arp": ("int", "GratuitousARP", "bond-num-grat-arp"),
    "packets-per-slave": ("int", "PacketsPerSlave", "bond-packets-per-slave"),
    "primary-reselect-policy": ("text", "PrimaryReselectPolicy", "bond-primary-reselect"),
    "resend-igmp": ("int", "ResendIGMP", "bond-resend-igmp"),
    "learn-packet-interval": ("s", "LearnPacketIntervalSec", "bond-learn-packet-interval"),
    "primary": ("port", None, "bond-primary"),
}
BRIDGE: dict[str, tuple[str, str | None, str]] = {
    "ageing-time": ("s", "AgeingTimeSec", "bridge_ageing"),
    "priority": ("int", "Priority", "bridge_bridgeprio"),
    "forward-delay": ("s", "ForwardDelaySec", "bridge_fd"),
    "hello-time": ("s", "HelloTimeSec", "bridge_hello"),
    "max-age": ("s", "MaxAgeSec", "bridge_maxage"),
    "stp": ("bool", "STP", "bridge_stp"),
    "path-cost": ("ports", "Cost", "bridge_pathcost"),
    "port-priority": ("ports", "Priority", "bridge_portprio"),
}
# other names users write for the same parameter (after lower-casing and "_" -> "-")
ALIASES = {
    "bond-miimon": "mii-monitor-interval", "miimon": "mii-monitor-interval",
    "bond-xmit-hash-policy": "transmit-hash-policy", "xmit-hash-policy": "transmit-hash-policy",
    "bond-updelay": "up-delay", "updelay": "up-delay", "bond-downdelay": "down-delay", "downdelay": "down-delay",
    "bond-num-grat-arp": "gratuitous-arp", "num-grat-arp": "gratuitous-arp",
    "bond-fail-over-mac": "fail-over-mac-policy", "fail-over-mac": "fail-over-mac-policy",
    "bond-primary-reselect": "primary-reselect-policy", "primary-reselect": "primary-reselect-policy",
    "bond-arp-ip-target": "arp-ip-targets", "arp-ip-target": "arp-ip-targets",
    "all-members-active": "all-slaves-active", "packets-per-member": "packets-per-slave",
    "bridge-ageing": "ageing-time", "bridge-bridgeprio": "priority", "bridge-fd": "forward-delay",
    "bridge-hello": "hello-time", "bridge-maxage": "max-age", "bridge-stp": "stp",
    "bridge-pathcost": "path-cost", "bridge-portprio": "port-priority",
}
IGNORED = {"bridge-gcint", "bridge-maxwait", "bridge-waitport", "bond-slaves", "bond-master", "bond-links"}
MODES = {"0": "balance-rr", "1": "active-backup", "2": "balance-xor", "3": "broadcast", "4": "802.3ad",
         "5": "balance-tlb", "6": "balance-alb"}


def canonical(key: str, table: dict) -> str | None:
    """The netplan name of a parameter however it is spelled, or None when it is not one of ``table``'s."""
    k = str(key).strip().lower().replace("_", "-")
    k = ALIASES.get(k, k)
    if k in table:
        return k
    for prefix in ("bond-", "bridge-"):
        if k.startswith(prefix):
            rest = ALIASES.get(k[len(prefix):], k[len(prefix):])
            if rest in table:
                return rest
    return None


def read(raw: dict, table: dict, where: str, warnings: list[str], ports: list[str] | None = None) -> dict:
    """Parameters in any spelling -> {netplan name: checked value}; unknown ones are warnings, not errors."""
    out: dict = {}
    for key, v in raw.items():
        w = f"{where}.{key}"
        name = canonical(key, table)
        if name is None:
            if str(key).lower().replace("_", "-") not in IGNORED:
                warnings.append(f"{w}: not a {'bond' if table is BOND else 'bridge'} parameter blockprov knows; "
                                "ignored")
            continue
        kind = table[name][0]
        if kind == "ms" or kind == "s" or kind == "int":
            out[name] = values.integer(v, w)
        elif kind == "bool":
            out[name] = values.flag(v, w)
        elif kind == "list":
            out[name] = [values.ip(a, w) for a in values.words(v, w)]
        elif kind == "ports":
            out[name] = _ports(v, w)
        elif name == "mode":
            out[name] = MODES.get(str(v).strip(), str(v).strip())
        else:
            out[name] = str(v).strip()
    return out


def _ports(v, where: str) -> dict[str, int]:
    """Per-port values: netplan's {port: n}, or v1's ["eth0 50", "eth1 75"] / "eth0 50"."""
    if isinstance(v, dict):
        return {str(p): values.integer(n, f"{where}.{p}") for p, n in v.items()}
    out = {}
    for item in ([v] if isinstance(v, str) else values.seq(v, where)):
        parts = str(item).split()
        if len(parts) != 2:
            raise NetConfigError(f"{where}: {item!r} is not 'PORT VALUE'")
        out[parts[0]] = values.integer(parts[1], where)
    return out


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return " ".join(str(x) for x in v)
    return str(v)


def netplan(params: dict, table: dict) -> dict:
    return {k: v for k, v in sorted(params.items()) if k in table}


def networkd(params: dict, table: dict) -> list[tuple[str, str]]:
    """The netdev's [Bond]/[Bridge] keys (not the primary port nor per-port values: those go to the ports)."""
    out = []
    for k, v in params.items():
        kind, key, _eni = table.get(k, (None, None, None))
        if key is None or kind in ("port", "ports"):
            continue
        out.append((key, f"{v}ms" if kind == "ms" else _text(v)))
    return out


def networkd_port(params: dict, port: str) -> list[tuple[str, str]]:
    """A bridge port's own [Bridge] keys."""
    return [(BRIDGE[k][1], str(params[k][port])) for k in ("path-cost", "port-priority")
            if port in params.get(k, {})]


def eni(params: dict, table: dict) -> list[tuple[str, str]]:
    out = []
    for k, v in sorted(params.items()):
        kind, _key, option = table.get(k, (None, None, None))
        if option is None:
            continue
        if kind == "ports":
            out += [(option, f"{p} {n}") for p, n in sorted(v.items())]
        elif kind == "bool" and table is BRIDGE:
            out.append((option, "on" if v else "off"))
        else:
            out.append((option, _text(v)))
    return out
