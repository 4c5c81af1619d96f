"""write_files: files from config (content, encoding, owner, permissions, append), confined to the root.

Entries with ``defer: true`` wait for the final stage (write_files_deferred), after users exist.
"""

from blockprov.modules._files import write_all

FREQUENCY = "per-instance"
DESCRIPTION = "write files listed under write_files"
RERUNNABLE = True
SCHEMA = {"type": "object", "properties": {"write_files": {"type": "array", "items": {
    "type": "object", "required": ["path"], "additionalProperties": False,
    "properties": {"path": {"type": "string", "minLength": 1}, "content": {"type": ["string", "null"]},
                   "source": {"type": "object"},
                   "encoding": {"enum": ["b64", "base64", "gz", "gzip", "gz+b64", "gzip+base64", "gz+base64",
                                         "gzip+b64", "text/plain", ""]},
                   "owner": {"type": "string"}, "permissions": {"type": ["string", "integer"]},
                   "append": {"type": "boolean"}, "defer": {"type": "boolean"}}}}}}
ENTRY_SCHEMA = SCHEMA["properties"]["write_files"]["items"]
# the runner only needs a list of mappings: each entry is checked on its own (_files.write_entry), so one bad entry
# never stops the others (``blockprov schema`` still names it with SCHEMA)
RUN_SCHEMA = {"type": "object", "properties": {"write_files": {"type": "array", "items": {"type": "object"}}}}


def handle(ctx, args):
    return write_all(ctx.paths, args.get("write_files", ctx.cfg.get("write_files")), deferred=False)
