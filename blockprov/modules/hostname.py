"""hostname: set the hostname from config or metadata; manage /etc/hosts; Azure's hostname bounce.

Applied on a new instance, and on later boots only when the wanted value
changed since it was last applied (recorded in ``var/lib/blockprov/data/
set-hostname``): a name the admin set by hand survives reboots until the
metadata changes. The running system's hostname is set only when the root is
``/``; with a temp root only files change.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from blockprov.paths import atomic_write
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {
    "hostname": {"type": "string"}, "fqdn": {"type": "string"}, "prefer_fqdn_over_hostname": {"type": "boolean"},
    "preserve_hostname": {"type": "boolean"}, "manage_etc_hosts": {"enum": [True, False, "template", "localhost"]},
    "hostname_command": {"type": "string"},
    "datasource": {"type": "object", "properties": {"Azure": {"type": "object", "properties": {
        "set_hostname": {"type": "boolean"},
        "hostname_bounce": {"type": "object", "properties": {
            "interface": {"type": "string"}, "policy": {"enum": ["on", "off", "force", True, False]},
            "command": {"oneOf": [{"const": "builtin"}, {"type": "array", "minItems": 1, "items": {"type": "string"}}]},
            "hostname_command": {"type": "string"}}}}}}}}}

META = ModuleMeta(
    "hostname",
    frequency="always",
    description="set the hostname and /etc/hosts from config or metadata",
    rerunnable=True,
    schema=SCHEMA,
    datasource_inputs=("local_hostname",),
)
LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
BEGIN = "# BEGIN blockprov managed hosts: edits here are overwritten"
END = "# END blockprov managed hosts"


def wanted(cfg: dict, metadata_hostname: str | None) -> tuple[str, str] | None:
    """(hostname to set, fqdn) or None when nothing names one (pure)."""
    name = cfg.get("hostname")
    fqdn = cfg.get("fqdn")
    for key, v in (("hostname", name), ("fqdn", fqdn)):
        if v is not None and not isinstance(v, str):
            raise ValueError(f"$.{key}: must be a string")
    name = name or metadata_hostname
    if not name and not fqdn:
        return None
    fqdn = fqdn or (name if "." in (name or "") else None)
    short = (name or fqdn).split(".")[0]
    for label in ((fqdn or short).split(".")):
        if not LABEL.match(label):
            raise ValueError(f"$.hostname: {fqdn or short!r} is not a valid host name (label {label!r})")
    use = fqdn if cfg.get("prefer_fqdn_over_hostname") and fqdn else short
    return use, fqdn or short


def hosts_text(old: str, short: str, fqdn: str, mode) -> str:
    """/etc/hosts with one managed block naming this host; other lines untouched (pure)."""
    lines = old.splitlines()
    if BEGIN in lines and END in lines:
        i, j = lines.index(BEGIN), lines.index(END)
        lines = lines[:i] + lines[j + 1:]
    block = [BEGIN]
    names = f"{fqdn} {short}" if fqdn != short else short
    if mode is True and not any(re.match(r"^127\.0\.0\.1\s.*\blocalhost\b", ln) for ln in lines):
        block.append("127.0.0.1 localhost")
    block.append(f"127.0.1.1 {names}")
    if mode is True and not any(re.match(r"^::1\s", ln) for ln in lines):
        block.append("::1 localhost ip6-localhost ip6-loopback")
    block.append(END)
    return "\n".join(block + lines) + "\n"


def bounce_plan(cfg: dict, changed: bool) -> dict | None:
    """Azure's hostname bounce: {argv or "builtin", interface, hostname_command} or None (pure)."""
    az = ((cfg.get("datasource") or {}).get("Azure") or {}) if isinstance(cfg.get("datasource"), dict) else {}
    if not isinstance(az, dict) or az.get("set_hostname") is False:
        return None
    hb = az.get("hostname_bounce")
    if not isinstance(hb, dict):
        return None
    policy = str(hb.get("policy", "on")).lower()
    if policy not in ("on", "off", "force", "true", "false"):
        raise ValueError(f"$.datasource.Azure.hostname_bounce.policy: {policy!r} is not on, off or force")
    if policy in ("off", "false") or (policy in ("on", "true") and not changed):
        return None
    cmd = hb.get("command", "builtin")
    if cmd != "builtin" and not (isinstance(cmd, list) and cmd and all(isinstance(a, str) for a in cmd)):
        raise ValueError("$.datasource.Azure.hostname_bounce.command: 'builtin' or an argv list")
    return {"command": cmd, "interface": str(hb.get("interface", "eth0")),
            "hostname_command": hb.get("hostname_command", "hostname")}


def handle(ctx, args):
    cfg = {**ctx.cfg, **args}
    if cfg.get("preserve_hostname"):
        return "preserve_hostname: left as is"
    want = wanted(cfg, getattr(ctx.datasource, "local_hostname", None))
    if want is None:
        return ""
    name, fqdn = want
    state = ctx.paths.data / "set-hostname"
    try:
        last = json.loads(state.read_text())
    except (OSError, ValueError):
        last = None
    current = {"hostname": name, "fqdn": fqdn}
    changed = last != current
    if changed:
        atomic_write(ctx.paths.inside("/etc/hostname"), name + "\n")
        if Path(ctx.paths.root) == Path("/"):
            from blockprov.run import run

            run([str(cfg.get("hostname_command") or "hostname"), name], timeout=20)
    mode = cfg.get("manage_etc_hosts", False)
    if mode in (True, "localhost", "template"):
        p = ctx.paths.inside("/etc/hosts")
        try:
            old = p.read_text()
        except FileNotFoundError:
            old = ""
        new = hosts_text(old, name.split(".")[0], fqdn, True if mode is True else "localhost")
        if new != old:
            atomic_write(p, new)
    bounce = bounce_plan(cfg, changed)
    if bounce:
        from blockprov.run import run

        env = {"interface": bounce["interface"], "hostname": name}
        if bounce["command"] == "builtin":
            for updown in ("down", "up"):
                run(["ip", "link", "set", "dev", bounce["interface"], updown], timeout=60, env=env)
        else:
            run(bounce["command"], timeout=300, env=env)
    atomic_write(state, json.dumps(current) + "\n")
    if not changed:
        return f"{name}: unchanged since last applied"
    return f"set {name}" + (" (bounced " + bounce["interface"] + ")" if bounce else "")
