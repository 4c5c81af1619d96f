"""package_update_upgrade_install: ``package_update``, ``package_upgrade``, ``packages`` and
``package_reboot_if_required``, with apt-get inside the target root (modules/_apt.py).

Order, as cloud-init: the package index is updated when ``package_update``,
``package_upgrade`` or a non-empty ``packages`` asks for it; then ``apt-get
dist-upgrade``; then one ``apt-get install`` of every package. When that install
fails, each package is installed on its own, so one bad name (or version) is
that entry's warning and the others are installed. ``packages`` entries: a name,
``[name, version]`` (``name=version``), or ``{apt: [...]}`` (``snap:`` is
named and left out). Afterwards, with ``package_reboot_if_required`` and
``/var/run/reboot-required`` present in the target, the machine reboots once
the boot process has exited (power_state's mechanism; recorded, not run, on a
temp root).
"""

from __future__ import annotations
from blockprov.modules._meta import ModuleMeta


_PKG = {"oneOf": [{"type": "string", "minLength": 1},
                  {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "string", "minLength": 1}}]}
PACKAGES = {"type": "array", "items": {"oneOf": [
    _PKG, {"type": "object", "additionalProperties": False,
           "properties": {"apt": {"type": "array", "items": _PKG}, "snap": {"type": "array", "items": _PKG}}}]}}
SCHEMA = {"type": "object", "properties": {
    "packages": PACKAGES,
    "package_update": {"type": "boolean"}, "apt_update": {"type": "boolean"},
    "package_upgrade": {"type": "boolean"}, "apt_upgrade": {"type": "boolean"},
    "package_reboot_if_required": {"type": "boolean"}, "apt_reboot_if_required": {"type": "boolean"}}}
RUN_SCHEMA = {"type": "object", "properties": {**SCHEMA["properties"], "packages": {"type": "array"}}}

META = ModuleMeta(
    "package_update_upgrade_install",
    frequency="per-instance",
    description="update the package index, upgrade and install packages",
    rerunnable=True,
    schema=SCHEMA,
    run_schema=RUN_SCHEMA,
)
_NAME = r"^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?$"  # Debian policy 5.6.1, with an optional :arch


def wanted(entries) -> tuple[list[str], list[str]]:
    """(apt-get install arguments, warnings for entries left out) (pure)."""
    import re

    from blockprov.modules._schema import errors_of

    out, warns = [], []

    def one(e, where: str) -> None:
        bad = errors_of(_PKG, e, where)
        if bad:
            warns.append("; ".join(bad) + "; left out")
            return
        name, version = (e, None) if isinstance(e, str) else (e[0], e[1])
        if not re.match(_NAME, name) or (version is not None and not re.match(r"^[A-Za-z0-9.+~:-]+$", version)):
            warns.append(f"{where}: {e!r} is not a Debian package name (or version); left out")
            return
        out.append(name if version is None else f"{name}={version}")

    for i, e in enumerate(entries or []):
        if isinstance(e, dict):
            for j, sub in enumerate(e.get("apt") or []):
                one(sub, f"$.packages[{i}].apt[{j}]")
            if e.get("snap"):
                warns.append(f"$.packages[{i}].snap: snaps are not installed by blockprov; left out")
            extra = set(e) - {"apt", "snap"}
            if extra:
                warns.append(f"$.packages[{i}]: {sorted(extra)}: only apt (and snap) are package managers here; "
                             "left out")
        else:
            one(e, f"$.packages[{i}]")
    return out, warns


def _flag(cfg: dict, *names: str) -> bool:
    return any(cfg.get(n) is True for n in names)


def handle(ctx, args):
    from blockprov.modules import ModuleWarning
    from blockprov.modules._apt import AptError, apt_get

    cfg = {**ctx.cfg, **(args or {})}
    pkgs, warns = wanted(cfg.get("packages"))
    update = _flag(cfg, "package_update", "apt_update")
    upgrade = _flag(cfg, "package_upgrade", "apt_upgrade")
    reboot = _flag(cfg, "package_reboot_if_required", "apt_reboot_if_required")
    if not (pkgs or update or upgrade or warns):
        return ""
    done = []
    if update or upgrade or pkgs:
        apt_get(ctx, "update")  # without an index nothing below can work: a failure fails the module
        done.append("index updated")
    if upgrade:
        apt_get(ctx, "dist-upgrade")
        done.append("upgraded")
    if pkgs:
        try:
            apt_get(ctx, "install", "--", *pkgs)
            done.append(f"installed {' '.join(pkgs)}")
        except AptError:
            ok = []
            for p in pkgs:
                try:
                    apt_get(ctx, "install", "--", p)
                    ok.append(p)
                except AptError as exc:
                    i = pkgs.index(p)
                    warns.append(f"$.packages ({p}, entry {i + 1} of {len(pkgs)}): {exc}")
            if ok:
                done.append(f"installed {' '.join(ok)}")
    if reboot and ctx.paths.inside("/var/run/reboot-required").exists():
        from blockprov.modules.power_state import schedule

        done.append(schedule(ctx, {"mode": "reboot", "message": "package_reboot_if_required"}, True,
                             "var/run/reboot-required is present"))
    msg = "; ".join(done)
    if warns:
        raise ModuleWarning("; ".join(warns) + (f" ({msg})" if msg else ""))
    return msg
