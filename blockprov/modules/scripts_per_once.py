"""Run each script in var/lib/blockprov/scripts/per-once once ever (a semaphore per script and content)."""

from blockprov.modules._scripts import run_parts

FREQUENCY = "always"
DESCRIPTION = "run scripts in var/lib/blockprov/scripts/per-once, once ever"
RERUNNABLE = False
SCHEMA = {"type": "object", "properties": {}}  # reads no keys


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.scripts / "per-once", each="once")
