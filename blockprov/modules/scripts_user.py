"""Run the user-data scripts (``#!`` parts) of this instance."""

from blockprov.modules._scripts import run_parts
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {}}  # reads no keys

META = ModuleMeta(
    "scripts_user",
    frequency="per-instance",
    description="run user-data scripts of this instance",
    rerunnable=False,
    schema=SCHEMA,
)


def handle(ctx, args):
    return run_parts(ctx, ctx.paths.instance_dir(ctx.iid) / "scripts")
