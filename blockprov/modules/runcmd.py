"""runcmd: commands run once per instance, in the final stage by scripts_user (as cloud-init does).

The config stage writes them to ``instances/<iid>/scripts/runcmd``: strings as shell lines, argv lists
quoted. scripts_user then runs that script with the user-data scripts.
"""

import shlex

from blockprov.paths import atomic_write
from blockprov.modules._commands import ANY_LIST
from blockprov.modules._schema import COMMANDS
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {"runcmd": COMMANDS}}
RUN_SCHEMA = {"type": "object", "properties": {"runcmd": ANY_LIST}}  # entries checked one by one

META = ModuleMeta(
    "runcmd",
    frequency="per-instance",
    description="write runcmd commands as a script for scripts_user",
    rerunnable=False,
    schema=SCHEMA,
    run_schema=RUN_SCHEMA,
)


class RuncmdError(Exception):
    pass


def render(cmds) -> tuple[str, list[str]]:
    """(the script, the entries left out with their JSON paths) (pure)."""
    from blockprov.modules._commands import argv_of

    if not isinstance(cmds, list):
        raise RuncmdError("$.runcmd: must be a list of strings or argv lists")
    lines, bad = ["#!/bin/sh"], []
    for i, c in enumerate(cmds):
        try:
            cmd = argv_of(c, f"$.runcmd[{i}]")
        except ValueError as exc:
            bad.append(f"{exc}; left out")
            continue
        lines.append(cmd if isinstance(cmd, str) else shlex.join(cmd))
    return "\n".join(lines) + "\n", bad


def handle(ctx, args):
    from blockprov.modules import ModuleWarning

    cmds = args.get("runcmd", ctx.cfg.get("runcmd"))
    if cmds is None:
        return ""
    script, bad = render(cmds)
    atomic_write(ctx.paths.instance_dir(ctx.iid) / "scripts" / "runcmd", script, mode=0o700)
    if bad:
        raise ModuleWarning("; ".join(bad) + f" ({len(cmds) - len(bad)} command(s) written for scripts_user)")
    return f"{len(cmds)} command(s) for scripts_user"
