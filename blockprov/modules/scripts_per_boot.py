"""Run the scripts in var/lib/blockprov/scripts/per-boot, every boot."""

from blockprov.modules._scripts import run_parts
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {}}  # reads no keys

META = ModuleMeta(
    "scripts_per_boot",
    frequency="always",
    description="run scripts in var/lib/blockprov/scripts/per-boot, every boot",
    rerunnable=False,
    schema=SCHEMA,
)


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.scripts / "per-boot")
