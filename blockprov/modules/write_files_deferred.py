"""write_files entries with ``defer: true``, written in the final stage (after users and packages)."""

from blockprov.modules._files import write_all

FREQUENCY = "per-instance"
DESCRIPTION = "write deferred write_files entries"
RERUNNABLE = True
from blockprov.modules.write_files import RUN_SCHEMA, SCHEMA  # noqa: E402,F401 - the same key


def handle(ctx, args):
    return write_all(ctx.paths, args.get("write_files", ctx.cfg.get("write_files")), deferred=True)
