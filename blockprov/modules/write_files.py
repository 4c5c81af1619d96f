"""write_files: files from config (content, encoding, owner, permissions, append), confined to the root.

Entries with ``defer: true`` wait for the final stage (write_files_deferred), after users exist.
"""

from blockprov.modules._files import ENTRY_SCHEMA, write_all
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {"write_files": {"type": "array", "items": ENTRY_SCHEMA}}}
# the runner only needs a list of mappings: each entry is checked on its own (_files.write_entry), so one bad entry
# never stops the others (``blockprov schema`` still names it with SCHEMA)
RUN_SCHEMA = {"type": "object", "properties": {"write_files": {"type": "array", "items": {"type": "object"}}}}

META = ModuleMeta(
    "write_files",
    frequency="per-instance",
    description="write files listed under write_files",
    rerunnable=True,
    schema=SCHEMA,
    run_schema=RUN_SCHEMA,
)


def handle(ctx, args):
    return write_all(ctx.paths, args.get("write_files", ctx.cfg.get("write_files")), deferred=False)
