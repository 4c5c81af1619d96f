"""storage: apply the storage config at boot with the storage engine.

The config is user-data's ``storage:`` (curtin style) if present, else the
datasource's storagedata. Partial apply is normal here: items whose disk is not
attached yet are ``waiting`` and left to hotplug; the module then succeeds and
says how many wait. Conflicts, refusals and failures fail the module (and the
boot's status), with the item ids and reasons.
"""

from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {"storage": {"type": "object"}}}  # checked in full by the engine

META = ModuleMeta(
    "storage",
    frequency="always",  # plan-driven and idempotent: a boot with nothing to do writes nothing
    description="apply the storage config (storagedata or user-data storage:)",
    rerunnable=True,
    schema=SCHEMA,
    scope="storage",
    datasource_inputs=("storage_config",),
)


def handle(ctx, args):
    from blockprov.modules._storage import apply_document

    doc = args.get("storage", ctx.cfg.get("storage"))
    if doc is not None:
        return apply_document(ctx, doc, "user-data storage", wrapped=True)
    doc = getattr(ctx.datasource, "storage_config", None)
    if doc is None:
        return ""
    return apply_document(ctx, doc, "storagedata", wrapped=False)
