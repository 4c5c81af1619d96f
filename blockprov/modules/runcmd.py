"""runcmd: commands run once per instance, in the final stage by scripts_user (as cloud-init does).

The config stage writes them to ``instances/<iid>/scripts/runcmd``: strings as shell lines, argv lists
quoted. scripts_user then runs that script with the user-data scripts.
"""

import shlex

from blockprov.paths import atomic_write
from blockprov.modules._schema import COMMANDS

FREQUENCY = "per-instance"
DESCRIPTION = "write runcmd commands as a script for scripts_user"
RERUNNABLE = False
SCHEMA = {"type": "object", "properties": {"runcmd": COMMANDS}}


class RuncmdError(Exception):
    pass


def render(cmds) -> str:
    if not isinstance(cmds, list):
        raise RuncmdError("$.runcmd: must be a list of strings or argv lists")
    lines = ["#!/bin/sh"]
    for i, c in enumerate(cmds):
        if isinstance(c, str):
            lines.append(c)
        elif isinstance(c, list) and any(isinstance(a, bool) for a in c):
            raise RuncmdError(f"$.runcmd[{i}]: {c!r} holds a YAML boolean (true/false/yes/no); quote it")
        elif isinstance(c, list) and c and all(isinstance(a, (str, int, float)) for a in c):
            lines.append(shlex.join(str(a) for a in c))
        else:
            raise RuncmdError(f"$.runcmd[{i}]: a command is a string or a non-empty list of strings")
    return "\n".join(lines) + "\n"


def handle(ctx, args):
    cmds = args.get("runcmd", ctx.cfg.get("runcmd"))
    if cmds is None:
        return ""
    atomic_write(ctx.paths.instance_dir(ctx.iid) / "scripts" / "runcmd", render(cmds), mode=0o700)
    return f"{len(cmds)} command(s) for scripts_user"
