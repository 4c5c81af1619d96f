"""Applying a storage v1 document with the engine, for the storage and disks modules."""

from __future__ import annotations

from blockprov.modules import StorageOutcome
from blockprov.storage.status import APPLIED_GOOD as GOOD
from blockprov.storage.status import BAD, WAITING


def check_document(paths, doc: dict, where: str, wrapped: bool):
    """(the loaded document, its errors as text); a valid one is remembered in the schema verdicts cache."""
    from blockprov.storage import loader, validate

    try:
        loaded = loader.from_document({"storage": doc} if wrapped else doc, where)
    except loader.LoadError as exc:
        return None, [str(exc)]
    probs = validate.validate(loaded.storage, loaded.prefix, paths.cache / "storage-schema-verdicts.json")
    return loaded, [str(p) for p in validate.errors(probs)]


def apply_document(ctx, doc: dict, where: str, wrapped: bool) -> str:
    """Validate (nothing applied on any error), apply, and summarise; raise naming every bad item."""
    from blockprov.storage.apply import apply
    from blockprov.storage.model import Model

    loaded, errs = check_document(ctx.paths, doc, where, wrapped)
    if loaded is None:
        raise ValueError(errs[0])
    if errs:
        raise ValueError(f"{where} is invalid, nothing applied: " + "; ".join(errs[:10]))
    model = Model.build(loaded.storage, loaded.prefix)
    report = apply(model, root=str(ctx.paths.root))
    by_id = {i.id: i for i in report.items}
    ctx.storage.add(StorageOutcome(
        done=[i.id for i in report.items if i.status == "done"],
        waiting=[i.id for i in report.items if i.status == WAITING],
        disks={i.device for i in report.items
               if i.type in ("disk", "device") and i.device and i.status not in BAD + (WAITING,)},
        settled={i.device for i in report.items if i.type in ("disk", "device") and i.device and i.status in GOOD
                 and all(by_id[d].status in GOOD for d in model.descendants(i.id) if d in by_id)}))
    counts = report.counts()
    bad = [f"{i.id} {i.status}: {i.reason}" for i in report.items if i.status in BAD]
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    if ctx.log:
        ctx.log(f"storage ({where}): {summary}")
    if bad:
        raise RuntimeError(f"{where}: " + "; ".join(bad))
    return f"{where}: {summary}"
