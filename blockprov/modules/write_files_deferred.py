"""write_files entries with ``defer: true``, written in the final stage (after users and packages)."""

from blockprov.modules._files import write_all
from blockprov.modules._meta import ModuleMeta
from blockprov.modules.write_files import RUN_SCHEMA, SCHEMA  # the same key as write_files

META = ModuleMeta(
    "write_files_deferred",
    frequency="per-instance",
    description="write deferred write_files entries",
    rerunnable=True,
    schema=SCHEMA,
    run_schema=RUN_SCHEMA,
)


def handle(ctx, args):
    return write_all(ctx.paths, args.get("write_files", ctx.cfg.get("write_files")), deferred=True)
