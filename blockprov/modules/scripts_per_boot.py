"""Run the scripts in var/lib/blockprov/scripts/per-boot, every boot."""

from blockprov.modules._scripts import run_parts

FREQUENCY = "always"
DESCRIPTION = "run scripts in var/lib/blockprov/scripts/per-boot, every boot"
RERUNNABLE = False
SCHEMA = {"type": "object", "properties": {}}  # reads no keys


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.scripts / "per-boot")
