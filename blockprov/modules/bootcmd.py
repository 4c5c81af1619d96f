"""bootcmd: commands run early in every boot (init-network stage), each a string (run by sh) or an argv list."""

from blockprov.modules._commands import run_commands
from blockprov.modules._schema import COMMANDS

FREQUENCY = "always"
DESCRIPTION = "run bootcmd commands"
RERUNNABLE = False
SCHEMA = {"type": "object", "properties": {"bootcmd": COMMANDS}}


def handle(ctx, args):
    return run_commands(ctx, args.get("bootcmd", ctx.cfg.get("bootcmd")), "bootcmd")
