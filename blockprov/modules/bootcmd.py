"""bootcmd: commands run early in every boot (init-network stage), each a string (run by sh) or an argv list.

Every entry runs, whatever an earlier one did; a bad entry or a non-zero exit is
that entry's warning (the boot is degraded), named by its JSON path.
"""

from blockprov.modules._commands import ANY_LIST, run_commands
from blockprov.modules._schema import COMMANDS
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {"bootcmd": COMMANDS}}
RUN_SCHEMA = {"type": "object", "properties": {"bootcmd": ANY_LIST}}

META = ModuleMeta(
    "bootcmd",
    frequency="always",
    description="run bootcmd commands",
    rerunnable=False,
    schema=SCHEMA,
    run_schema=RUN_SCHEMA,
)


def handle(ctx, args):
    return run_commands(ctx, args.get("bootcmd", ctx.cfg.get("bootcmd")), "bootcmd")
