"""write_files: files from config (content, encoding, owner, permissions, append), confined to the root.

Entries with ``defer: true`` wait for the final stage (write_files_deferred), after users exist.
"""

from blockprov.modules._files import write_all

FREQUENCY = "per-instance"
DESCRIPTION = "write files listed under write_files"
RERUNNABLE = True


def handle(ctx, args):
    return write_all(ctx.paths, args.get("write_files", ctx.cfg.get("write_files")), deferred=False)
