"""timezone: ``etc/localtime`` -> ``/usr/share/zoneinfo/<zone>`` and ``etc/timezone``, from ``timezone:``.

The zone must exist in the target's own zoneinfo (a temp root is checked
against itself, not the host). Files already right are not touched, so an
unchanged zone writes nothing on a re-run.
"""

from __future__ import annotations

import os

from blockprov.paths import write_if_changed
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {"timezone": {
    "type": "string", "pattern": r"^(?!.*\.\.)[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$"}}}

META = ModuleMeta(
    "timezone",
    frequency="per-instance",
    description="set the time zone",
    rerunnable=True,
    schema=SCHEMA,
)


def handle(ctx, args):
    tz = args.get("timezone", ctx.cfg.get("timezone"))
    if not tz:
        return ""
    zone = ctx.paths.inside(f"/usr/share/zoneinfo/{tz}")
    if not zone.is_file():
        raise ValueError(f"$.timezone: {tz!r} is not a time zone in the target (no usr/share/zoneinfo/{tz})")
    link = ctx.paths.inside("/etc/localtime")
    want = f"/usr/share/zoneinfo/{tz}"
    changed = []
    if not (link.is_symlink() and os.readlink(link) == want):
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(".localtime.blockprov")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(want)
        os.replace(tmp, link)
        changed.append("etc/localtime")
    if write_if_changed(ctx.paths.inside("/etc/timezone"), tz + "\n"):
        changed.append("etc/timezone")
    return f"time zone {tz}" + (f" ({', '.join(changed)} written)" if changed else " (already set)")
