"""Run each script in var/lib/blockprov/scripts/per-instance once per instance (a semaphore per script)."""

from blockprov.modules._scripts import run_parts

FREQUENCY = "always"
DESCRIPTION = "run scripts in var/lib/blockprov/scripts/per-instance, once per instance"
RERUNNABLE = False
SCHEMA = {"type": "object", "properties": {}}  # reads no keys


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.scripts / "per-instance", each="per-instance")
