"""Bringing changed interfaces up with what the target runs (the shell: commands only).

``networkd``: ``networkctl reload`` + ``reconfigure``; ``eni``: ``ifdown`` +
``ifup``; ``netplan``: ``netplan apply``; ``ip``: the static parts (MTU,
addresses, routes, rules) applied with ip(8) in the caller's network namespace,
for images without a network manager (and for tests in a namespace).
"""

from __future__ import annotations

from blockprov.net.model import Iface
from blockprov.run import run

ACTIVATORS = ("networkd", "eni", "netplan", "ip")


def commands(activator: str, changed: list[Iface]) -> list[list[str]]:
    """The argv lists that bring ``changed`` up (pure)."""
    names = [i.name for i in changed]
    if not names:
        return []
    if activator == "networkd":
        return [["networkctl", "reload"], ["networkctl", "reconfigure", *names]]
    if activator == "eni":
        out = []
        for n in names:
            out += [["ifdown", "--force", n], ["ifup", n]]
        return out
    if activator == "netplan":
        return [["netplan", "apply"]]
    if activator == "ip":
        out = []
        for i in changed:
            out.append(["ip", "link", "set", "dev", i.name, "up"] + (["mtu", str(i.mtu)] if i.mtu else []))
            for a in i.addresses:
                out.append(["ip", "addr", "replace", a, "dev", i.name])
            for fam, gw in (("-4", i.gateway4), ("-6", i.gateway6)):
                if gw:
                    out.append(["ip", fam, "route", "replace", "default", "via", gw, "dev", i.name])
            for r in i.routes:
                argv = ["ip", "-6" if ":" in r.to else "-4", "route", "replace", r.to]
                argv += ["via", r.via] if r.via else []
                argv += ["dev", i.name]
                argv += ["metric", str(r.metric)] if r.metric is not None else []
                argv += ["table", str(r.table)] if r.table else []
                argv += ["scope", "link"] if r.onlink_scope else []
                out.append(argv)
            for rule in i.rules:
                fam = "-6" if rule.source and ":" in rule.source else "-4"
                sel = (["from", rule.source] if rule.source else []) + (["to", rule.to] if rule.to else [])
                # delete first: ip rule add does not replace, and a re-run must not stack duplicates
                out.append(["ip", fam, "rule", "del", "priority", str(rule.priority)])
                out.append(["ip", fam, "rule", "add", *sel, "table", str(rule.table), "priority", str(rule.priority)])
        return out
    raise ValueError(f"$.system_info.network.activator: {activator!r} is not one of {', '.join(ACTIVATORS)}")


def bring_up(activator: str, changed: list[Iface]) -> list[str]:
    """Run the commands; return the failures (one line each). A rule delete that finds nothing is fine."""
    if activator == "networkd":
        return _networkd(changed)
    failed = []
    for argv in commands(activator, changed):
        tolerant = argv[:2] == ["ifdown", "--force"] or (argv[0] == "ip" and "del" in argv)
        r = run(argv, check=False, timeout=120)
        if r.returncode and not tolerant:
            failed.append(f"{' '.join(argv)}: exit {r.returncode}: {(r.stderr or r.stdout).strip()}")
    return failed


def _networkd(changed: list[Iface]) -> list[str]:
    """``networkctl reload`` creates new netdevs (bonds, VLANs: networkd configures them as they appear) and
    reconfigures links whose files changed; ``reconfigure`` then the links that exist. Without D-Bus (minimal
    images) networkctl cannot reach networkd: restarting the service does the same."""
    import os

    r = run(["networkctl", "reload"], check=False, timeout=120)
    if r.returncode and "bus" in (r.stderr + r.stdout).lower():
        r = run(["systemctl", "restart", "systemd-networkd.service"], check=False, timeout=120)
        return [] if r.returncode == 0 else [f"systemctl restart systemd-networkd.service: exit {r.returncode}: "
                                             f"{(r.stderr or r.stdout).strip()}"]
    if r.returncode:
        return [f"networkctl reload: exit {r.returncode}: {(r.stderr or r.stdout).strip()}"]
    present = [i.name for i in changed if os.path.exists(f"/sys/class/net/{i.name}")]
    if not present:
        return []
    r = run(["networkctl", "reconfigure", *present], check=False, timeout=120)
    return [] if r.returncode == 0 else [f"networkctl reconfigure {' '.join(present)}: exit {r.returncode}: "
                                         f"{(r.stderr or r.stdout).strip()}"]
