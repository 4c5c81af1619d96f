"""ntp: time synchronisation with chrony or systemd-timesyncd, from ``ntp:``.

``ntp_client: auto`` (the default) takes the first client installed in the
target, in cloud-init's order for Debian: chrony, then systemd-timesyncd; with
neither, chrony is installed (apt, in the target). The client's config is
written (chrony: ``etc/chrony/chrony.conf``, the whole file as cloud-init
writes it; timesyncd: the drop-in
``etc/systemd/timesyncd.conf.d/blockprov.conf``), the service is enabled, and
on a running system (root ``/``) restarted so the servers apply now. No
``servers`` and no ``pools`` means ``0..3.debian.pool.ntp.org`` as pools.
``enabled: false`` does nothing. ``ntp`` and ``ntpdate`` are not carried out
(Debian 12 replaced them with ntpsec and chrony): a clear error.
"""

from __future__ import annotations
from blockprov.modules._meta import ModuleMeta


_HOSTS = {"type": "array", "items": {"type": "string", "minLength": 1, "pattern": r"^[^\s#]+$"}}
SCHEMA = {"type": "object", "properties": {"ntp": {"oneOf": [{"type": "null"}, {
    "type": "object", "additionalProperties": False, "properties": {
        "enabled": {"type": "boolean"},
        "ntp_client": {"enum": ["auto", "chrony", "systemd-timesyncd", "ntp", "ntpdate", "openntpd"]},
        "servers": _HOSTS, "pools": _HOSTS, "peers": _HOSTS, "allow": _HOSTS,
        "config": {"type": "object", "additionalProperties": False, "properties": {
            "confpath": {"type": "string", "pattern": "^/"}, "check_exe": {"type": "string"},
            "packages": {"type": "array", "items": {"type": "string"}}, "service_name": {"type": "string"},
            "template": {"type": "string"}}}}}]}}}

META = ModuleMeta(
    "ntp",
    frequency="per-instance",
    description="configure time synchronisation (chrony, systemd-timesyncd)",
    rerunnable=True,
    schema=SCHEMA,
)

CLIENTS = {
    "chrony": {"check_exe": ["/usr/sbin/chronyd"], "confpath": "/etc/chrony/chrony.conf",
               "packages": ["chrony"], "service_name": "chrony"},
    "systemd-timesyncd": {"check_exe": ["/lib/systemd/systemd-timesyncd", "/usr/lib/systemd/systemd-timesyncd"],
                          "confpath": "/etc/systemd/timesyncd.conf.d/blockprov.conf",
                          "packages": ["systemd-timesyncd"], "service_name": "systemd-timesyncd"},
}
PREFERRED = ["chrony", "systemd-timesyncd"]
CHRONY_TAIL = """
# NTP authentication keys
keyfile /etc/chrony/chrony.keys

# where chronyd keeps the measured rate of the clock
driftfile /var/lib/chrony/chrony.drift

# log files
logdir /var/log/chrony

# stop bad estimates upsetting the machine clock
maxupdateskew 100.0

# copy the system time to the real-time clock every 11 minutes
rtcsync

# step the clock (not slew) if it is off by more than a second, in the first three updates
makestep 1 3
"""


def default_pools() -> list[str]:
    return [f"{i}.debian.pool.ntp.org" for i in range(4)]


def chrony_conf(servers: list[str], pools: list[str], peers: list[str], allow: list[str]) -> str:
    """chrony.conf as cloud-init's Debian template renders it (pure)."""
    out = ["# written by blockprov from ntp: in the cloud-config; see chrony.conf(5)"]
    if pools:
        out += ["# pools", *(f"pool {p} iburst" for p in pools)]
    if servers:
        out += ["# servers", *(f"server {s} iburst" for s in servers)]
    out += [f"peer {p}" for p in peers] + [f"allow {a}" for a in allow]
    return "\n".join(out) + "\n" + CHRONY_TAIL


def timesyncd_conf(servers: list[str], pools: list[str]) -> str:
    hosts = [*servers, *pools]
    return ("# written by blockprov from ntp: in the cloud-config; see timesyncd.conf(5)\n[Time]\n"
            + (f"NTP={' '.join(hosts)}\n" if hosts else ""))


def pick(requested: str, installed: set[str]) -> tuple[str, bool]:
    """(client, needs installing) (pure): an explicit client as asked; ``auto`` the first installed one in
    PREFERRED order, else the first of PREFERRED, to be installed."""
    if requested != "auto":
        return requested, requested not in installed
    for c in PREFERRED:
        if c in installed:
            return c, False
    return PREFERRED[0], True


def handle(ctx, args):
    from blockprov.modules import ModuleWarning
    from blockprov.modules._apt import apt_get
    from blockprov.paths import write_if_changed
    from blockprov.run import run

    if "ntp" in (args or {}):
        spec = args["ntp"]
    elif "ntp" in ctx.cfg:
        spec = ctx.cfg["ntp"]
    else:
        return ""
    spec = spec or {}  # "ntp:" alone: the defaults, as cloud-init takes it
    if spec.get("enabled", True) is False:
        return "ntp: enabled is false; nothing done"
    requested = spec.get("ntp_client", "auto")
    if requested not in ("auto", *CLIENTS):
        raise ValueError(f"$.ntp.ntp_client: {requested!r} is not carried out by blockprov; use chrony or "
                         "systemd-timesyncd")
    installed = {c for c, d in CLIENTS.items() if any(ctx.paths.inside(x).exists() for x in d["check_exe"])}
    client, install = pick(requested, installed)
    d = {**CLIENTS[client], **(spec.get("config") or {})}
    done = []
    if install:
        apt_get(ctx, "update")
        apt_get(ctx, "install", "--", *d["packages"])
        done.append(f"installed {' '.join(d['packages'])}")
    servers, pools = list(spec.get("servers") or []), list(spec.get("pools") or [])
    if not servers and not pools:
        pools = default_pools()
    warns = []
    if d.get("template"):
        from blockprov.boot import jinja_render

        try:
            text, w = jinja_render.render(d["template"].encode(), {
                "servers": servers, "pools": pools, "peers": spec.get("peers") or [],
                "allow": spec.get("allow") or []}, "$.ntp.config.template")
        except jinja_render.TemplateError as exc:
            raise ValueError(str(exc)) from None
        content = text.decode()
        warns += w
    elif client == "chrony":
        content = chrony_conf(servers, pools, spec.get("peers") or [], spec.get("allow") or [])
    else:
        content = timesyncd_conf(servers, pools)
        if spec.get("peers") or spec.get("allow"):
            warns.append("$.ntp: peers and allow are chrony's; systemd-timesyncd has neither; left out")
    if write_if_changed(ctx.paths.inside(d["confpath"]), content):
        done.append(f"{d['confpath']} written")
    svc = d["service_name"]
    live = str(ctx.paths.root) == "/"
    argv = ["systemctl", "enable", svc] if live else ["systemctl", f"--root={ctx.paths.root}", "enable", svc]
    r = run(argv, check=False, timeout=120)
    if r.returncode:
        warns.append(f"systemctl enable {svc} exited {r.returncode}: {r.stderr.strip()[-200:]}")
    if live:
        # during the boot the restart is queued (--no-block): a unit ordered after this stage would otherwise
        # wait for it, and it for the unit; ``blockprov single`` waits for the restart
        booting = ctx.stage in ("init-local", "init-network", "modules-config", "modules-final")
        r = run(["systemctl", "restart", *(["--no-block"] if booting else []), svc], check=False, timeout=120)
        if r.returncode:
            warns.append(f"systemctl restart {svc} exited {r.returncode}: {r.stderr.strip()[-200:]}")
        else:
            done.append(f"{svc} restart {'queued' if booting else 'done'}")
    msg = f"{client}: " + ("; ".join(done) or "already configured")
    if warns:
        raise ModuleWarning("; ".join(warns) + f" ({msg})")
    return msg
