"""network: render the instance's network config for what the target runs; bring changed interfaces up.

The config comes from the system config's ``network:`` (``{config: disabled}``
turns the module off), else from the datasource (NoCloud ``network-config``,
config drive / OpenStack ``network_data.json``), else DHCP on the first
physical interface. Like cloud-init, user-data cannot change the network.
Rendering is pure (blockprov.net); this module writes only files whose content
changed, removes blockprov's own files that the new config no longer needs,
and records what it rendered in ``var/lib/blockprov/data/network.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from blockprov.modules import ModuleWarning
from blockprov.paths import atomic_write, write_if_changed
from blockprov.modules._meta import ModuleMeta

RENDERERS = ("netplan", "eni", "networkd")
SCHEMA = {"type": "object", "properties": {"system_info": {"type": "object", "properties": {"network": {
    "type": "object", "additionalProperties": False, "properties": {
        "renderers": {"type": "array", "minItems": 1, "items": {"enum": list(RENDERERS)}},
        "bring_up": {"enum": ["auto", True, False]},
        "activator": {"enum": ["networkd", "eni", "netplan", "ip"]},
        "policy_routing": {"enum": ["auto", True, False]},
        "primary": {"type": "string", "minLength": 1}}}}},
    # the network config itself when the system config (or the event channel's config/set/network) gives
    # one: {config: disabled} or a v1/v2/network_data.json document, checked in full by net/parse.py
    "network": {"type": "object"}}}

META = ModuleMeta(
    "network",
    frequency="always",  # re-rendered every boot; unchanged files are not rewritten
    description="render network config (networkd, ifupdown or netplan) and bring changed interfaces up",
    rerunnable=True,
    schema=SCHEMA,
    scope="network",
    datasource_inputs=("network_config", "network_format"),
)
NETWORKD_ENABLED = ("etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
                    "etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
                    "etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service")


def available(root, name: str) -> bool:
    """Whether the target runs this renderer's backend (files only: works on a temp root)."""
    if name == "netplan":
        return any((root / p).exists() for p in ("usr/sbin/netplan", "usr/bin/netplan"))
    if name == "eni":
        return any((root / p).exists() for p in ("sbin/ifup", "usr/sbin/ifup")) \
            and (root / "etc/network/interfaces").exists()
    if name == "networkd":
        return any((root / p).exists() for p in NETWORKD_ENABLED)
    return False


def source(sys_cfg: dict, datasource) -> tuple[dict | None, str | None, str]:
    """(document, form, where) of the network config to use; (None, "disabled", ...) when turned off (pure)."""
    net = sys_cfg.get("network")
    if isinstance(net, dict) and net.get("config") == "disabled":
        return None, "disabled", "system config"
    if isinstance(net, dict) and net:
        return net, None, "system config"
    doc = getattr(datasource, "network_config", None)
    if doc is not None:
        return doc, getattr(datasource, "network_format", None), f"datasource {datasource.name}"
    return None, None, "fallback"


def render_for(paths, cfg: dict, doc, form, nics, renderer: str | None = None):
    """(renderer, NetConfig after policy routing, {relpath: text}) for the target (pure but for ``available``)."""
    from blockprov.net import eni, netplan, networkd, observe, parse, policy

    opts = ((cfg.get("system_info") or {}).get("network") or {})
    if form == "eni":
        raise ValueError("$.network: ENI text (meta-data network-interfaces) is not supported; use v1, v2 "
                         "or network_data.json")
    if form in ("v1", "v2") and isinstance(doc, dict) and isinstance(doc.get("network"), dict):
        doc = doc["network"]
    if doc is None:
        net = parse.fallback([n.name for n in nics if n.physical])
    else:
        try:
            net = parse.parse(doc, None if form in (None, "v1", "v2") else form, observe.macs(nics))
        except parse.NetConfigError as exc:  # not a network config at all: the instance still gets DHCP
            net = parse.fallback([n.name for n in nics if n.physical])
            net.errors.append(f"{exc}; DHCP on the first NIC instead")
    routed = policy.apply(net, opts.get("policy_routing", "auto"), opts.get("primary"))
    if renderer is None:
        order = opts.get("renderers") or list(RENDERERS)
        renderer = next((r for r in order if available(paths.root, r)), None)
    if renderer is None:
        return None, routed, {}
    if renderer == "netplan":
        files = netplan.render(routed, passthrough=routed is net)
    else:
        files = {"networkd": networkd.render, "eni": eni.render}[renderer](routed)
    return renderer, routed, files


def _owned(root) -> set:
    from blockprov.net import eni, netplan, networkd

    out = set()
    for pattern in networkd.OWNED + eni.OWNED + netplan.OWNED:
        out |= {p.relative_to(root).as_posix() for p in root.glob(pattern)}
    return out


def handle(ctx, args):
    from blockprov.boot import sysconfig
    from blockprov.net import observe

    from blockprov.channel.layer import layer

    cfg = {**ctx.cfg, **args}
    doc, form, where = source(sysconfig.load(ctx.paths), ctx.datasource)
    if form == "disabled":
        return "disabled by the system config (network: {config: disabled})"
    pushed = layer(ctx.paths, ctx.iid).get("network") if ctx.iid else None
    if isinstance(pushed, dict) and pushed:  # the management server's config/set/network: newer than metadata
        doc, form, where = pushed, None, "the event channel"
    nics = observe.interfaces(ctx.paths)
    renderer, net, files = render_for(ctx.paths, cfg, doc, form, nics)
    if renderer is None:
        raise ModuleWarning("no network renderer in the target (netplan, ifupdown with etc/network/interfaces, "
                            "or an enabled systemd-networkd); nothing written")
    root = ctx.paths.root
    written = []
    for rel, text in sorted(files.items()):
        if write_if_changed(root / rel, text, mode=0o600 if rel.startswith("etc/netplan/") else 0o644):
            written.append(rel)
    removed = sorted(_owned(root) - set(files))
    for rel in removed:
        (root / rel).unlink()
    state_file = ctx.paths.data / "network.json"
    try:
        old = json.loads(state_file.read_text())
    except (OSError, ValueError):
        old = {}
    now = {i.name: asdict(i) for i in net.interfaces}
    changed = [i for i in net.interfaces
               if old.get("interfaces", {}).get(i.name) != now[i.name] or old.get("renderer") != renderer]
    atomic_write(state_file, json.dumps({"renderer": renderer, "source": where, "interfaces": now,
                                         "files": sorted(files)}, indent=1))
    if renderer == "eni":
        main = root / "etc/network/interfaces"
        text = main.read_text() if main.exists() else ""
        if "interfaces.d" not in text:
            raise ModuleWarning(f"wrote {written or 'nothing'}, but etc/network/interfaces does not source "
                                "interfaces.d: ifupdown will not read it")
    msg = f"{net.source or 'network'} config from {where} rendered for {renderer}: " \
          f"{len(written)} written, {len(removed)} removed, {len(files) - len(written)} unchanged"
    up, failures = _bring_up(ctx, cfg, renderer, changed)
    problems = [f"left out: {e}" for e in net.errors] + [f"bring-up failed: {f}" for f in failures]
    notes = "".join(f"; {w}" for w in net.warnings)
    if problems:  # everything valid is rendered; what is not is named by its JSON path
        raise ModuleWarning(msg + notes + "; " + "; ".join(problems))
    return msg + notes + (f"; brought up {', '.join(up)}" if up else "")


def _bring_up(ctx, cfg, renderer, changed) -> tuple[list[str], list[str]]:
    """(names brought up, failures)."""
    from blockprov.net import activate

    opts = (cfg.get("system_info") or {}).get("network") or {}
    want = opts.get("bring_up", "auto")
    live = str(ctx.paths.root) == "/"
    activator = opts.get("activator", renderer)
    if want == "auto":
        want = live and ctx.stage != "init-local"  # init-local renders before the network starts
    if not want or not changed:
        return [], []
    if not live and activator != "ip":
        return [], [f"bring-up with {activator} skipped: the target is not the running system "
                    "(only the 'ip' activator acts on a temp root)"]
    return [i.name for i in changed], activate.bring_up(activator, changed)
