"""Run the vendor-data scripts, once per instance.

``vendor_data: {prefix: ...}`` (a string or a list of strings, as cloud-init
takes it) is put before each script's path in its argv; ``vendor_data:
{enabled: false}`` keeps vendor-data from being consumed at all (refresh.gated).
"""

from blockprov.modules._scripts import run_parts
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {"vendor_data": {
    "type": "object",
    "properties": {"enabled": {"type": ["boolean", "string"]},
                   "prefix": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}}}}

META = ModuleMeta(
    "scripts_vendor",
    frequency="per-instance",
    description="run vendor-data scripts, once per instance",
    rerunnable=False,
    schema=SCHEMA,
)


def handle(ctx, args):
    prefix = (ctx.cfg.get("vendor_data") or {}).get("prefix") or []
    prefix = [prefix] if isinstance(prefix, str) else [str(p) for p in prefix]
    return run_parts(ctx, ctx.paths.scripts / "vendor", prefix=prefix)
