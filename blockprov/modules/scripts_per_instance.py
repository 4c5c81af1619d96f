"""Run each script in var/lib/blockprov/scripts/per-instance once per instance (a semaphore per script)."""

from blockprov.modules._scripts import run_parts
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {}}  # reads no keys

META = ModuleMeta(
    "scripts_per_instance",
    frequency="always",
    description="run scripts in var/lib/blockprov/scripts/per-instance, once per instance",
    rerunnable=False,
    schema=SCHEMA,
)


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.scripts / "per-instance", each="per-instance")
