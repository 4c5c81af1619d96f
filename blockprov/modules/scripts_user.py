"""Run the user-data scripts (``#!`` parts) of this instance."""

from blockprov.modules._scripts import run_parts

FREQUENCY = "per-instance"
DESCRIPTION = "run user-data scripts of this instance"
RERUNNABLE = False
SCHEMA = {"type": "object", "properties": {}}  # reads no keys


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.instance_dir(ctx.iid) / "scripts")
