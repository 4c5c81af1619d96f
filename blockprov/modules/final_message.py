"""final_message: one line at the end of the boot, to the console (stderr) and the output log.

Substitutions: $UPTIME, $TIMESTAMP, $DATASOURCE, $INSTANCE_ID, $VERSION.
"""

import string
import sys
import time
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {"final_message": {"type": "string"}}}

META = ModuleMeta(
    "final_message",
    frequency="always",
    description="print the final message",
    rerunnable=True,
    schema=SCHEMA,
)
DEFAULT = "blockprov $VERSION finished at $TIMESTAMP; datasource $DATASOURCE; up $UPTIME seconds"


def handle(ctx, args):
    from blockprov import __version__

    text = args.get("final_message", ctx.cfg.get("final_message")) or DEFAULT
    try:
        uptime = open("/proc/uptime").read().split()[0]
    except OSError:
        uptime = "?"
    msg = string.Template(str(text)).safe_substitute(
        UPTIME=uptime, TIMESTAMP=time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        DATASOURCE=getattr(ctx.datasource, "name", "none"), INSTANCE_ID=ctx.iid, VERSION=__version__)
    print(msg, file=sys.stderr)
    return msg
