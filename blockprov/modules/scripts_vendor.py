"""Run the vendor-data scripts, once per instance."""

from blockprov.modules._scripts import run_parts

FREQUENCY = "per-instance"
DESCRIPTION = "run vendor-data scripts, once per instance"
RERUNNABLE = False
SCHEMA = {"type": "object", "properties": {}}  # reads no keys


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.scripts / "vendor")
