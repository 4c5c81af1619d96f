"""Run the scripts in var/lib/blockprov/scripts/per-boot, every boot."""

from blockprov.modules._scripts import run_parts

FREQUENCY = "always"
DESCRIPTION = "run scripts in var/lib/blockprov/scripts/per-boot, every boot"
RERUNNABLE = False


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.scripts / "per-boot")
