"""Run each script in var/lib/blockprov/scripts/per-once once ever (a semaphore per script and content)."""

from blockprov.modules._scripts import run_parts
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {}}  # reads no keys

META = ModuleMeta(
    "scripts_per_once",
    frequency="always",
    description="run scripts in var/lib/blockprov/scripts/per-once, once ever",
    rerunnable=False,
    schema=SCHEMA,
)


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.scripts / "per-once", each="once")
