"""storage: apply the storage config at boot with the storage engine.

The config is user-data's ``storage:`` (curtin style) if present, else the
datasource's storagedata. Partial apply is normal here: items whose disk is not
attached yet are ``waiting`` and left to hotplug; the module then succeeds and
says how many wait. Conflicts, refusals and failures fail the module (and the
boot's status), with the item ids and reasons.
"""

FREQUENCY = "always"  # plan-driven and idempotent: a boot with nothing to do writes nothing
DESCRIPTION = "apply the storage config (storagedata or user-data storage:)"
RERUNNABLE = True
SCHEMA = {"type": "object", "properties": {"storage": {"type": "object"}}}  # checked in full by the engine
BAD = ("conflict", "refused", "error", "failed", "blocked", "unsupported")


def handle(ctx, args):
    from blockprov.storage import loader, validate
    from blockprov.storage.model import Model

    doc = args.get("storage", ctx.cfg.get("storage"))
    where = "user-data storage"
    if doc is None:
        doc, where = getattr(ctx.datasource, "storage_config", None), "storagedata"
    if doc is None:
        return ""
    try:
        loaded = loader.from_document({"storage": doc} if where.startswith("user-data") else doc, where)
    except loader.LoadError as exc:
        raise ValueError(str(exc)) from None
    probs = validate.validate(loaded.storage, loaded.prefix, ctx.paths.cache / "storage-schema-verdicts.json")
    errs = validate.errors(probs)
    if errs:
        raise ValueError(f"{where} is invalid, nothing applied: " + "; ".join(str(p) for p in errs[:10]))
    from blockprov.storage.apply import apply

    report = apply(Model.build(loaded.storage, loaded.prefix), root=str(ctx.paths.root))
    counts = report.counts()
    bad = [f"{i.id} {i.status}: {i.reason}" for i in report.items if i.status in BAD]
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    if ctx.log:
        ctx.log(f"storage ({where}): {summary}")
    if bad:
        raise RuntimeError(f"{where}: " + "; ".join(bad))
    return f"{where}: {summary}"
