"""The ``blockprov storage`` commands: load, validate, plan, apply, print."""

from __future__ import annotations

import json
import sys

from blockprov.exits import EXIT_FAIL, EXIT_INVALID, EXIT_OK, EXIT_WAITING, emit


def load_valid(path: str, as_json: bool, verdicts=None):
    """(Model, problems) or (None, problems); problems already printed when invalid."""
    from blockprov.storage import loader, validate
    from blockprov.storage.model import Model

    try:
        loaded = loader.load_file(path)
    except loader.LoadError as exc:
        probs = [validate.Problem("load", exc.path, None, str(exc))]
        _print_problems(probs, as_json, valid=False)
        return None, probs
    probs = validate.validate(loaded.storage, loaded.prefix, verdicts)
    if validate.errors(probs):
        _print_problems(probs, as_json, valid=False)
        return None, probs
    return Model.build(loaded.storage, loaded.prefix), probs


def _print_problems(probs, as_json: bool, valid: bool) -> None:
    if as_json:
        emit({"valid": valid, "problems": [p.to_json() for p in probs]})
        return
    for p in probs:
        print(p, file=sys.stderr)


def exit_code(counts: dict[str, int]) -> int:
    from blockprov.storage.status import BAD, WAITING

    if any(counts.get(s) for s in BAD):
        return EXIT_FAIL
    if counts.get(WAITING):
        return EXIT_WAITING
    return EXIT_OK


def run(args) -> int:
    cmd = args.storage_cmd
    if cmd == "inventory":
        from blockprov.storage.probe import probe

        inv = probe()
        if args.json:
            from dataclasses import asdict

            from blockprov.storage.volume_id import answers

            doc = inv.to_json()
            for entry in doc["devices"]:  # what each disk answers to as a volume_id (or lun)
                entry["volume_ids"] = [asdict(a) for a in answers(inv.devices[entry["path"]])]
            print(json.dumps(doc, indent=2, sort_keys=True))
        else:
            for d in inv.devices.values():
                extra = " ".join(f"{k}={v}" for k, v in (("serial", d.serial), ("pt", d.ptable), ("fs", d.fstype),
                                                           ("label", d.label), ("uuid", d.fsuuid)) if v)
                print(f"{d.path:<20} {d.kind:<6} {d.size:>14} {extra}")
        return EXIT_OK
    verdicts = None
    if cmd == "apply":
        from pathlib import Path

        from blockprov.paths import Paths

        verdicts = Paths(Path(args.root)).cache / "storage-schema-verdicts.json"
    model, probs = load_valid(args.file, args.json, verdicts)
    if model is None:
        return EXIT_INVALID
    if cmd == "validate":
        if args.json:
            emit({"valid": True, "problems": [p.to_json() for p in probs]})
        else:
            for p in probs:
                print(p, file=sys.stderr)
            print(f"{args.file}: valid ({len(model.items)} items)")
        return EXIT_OK
    if cmd == "plan":
        from blockprov.storage import plan as planner
        from blockprov.storage.inventory import Inventory

        if args.blank_disks:
            inv = planner.blank_inventory(model)
        elif args.inventory:
            from blockprov.limits import load_json

            try:
                with open(args.inventory, "rb") as f:
                    data = load_json(f.read(), args.inventory)
                if not isinstance(data, dict):
                    raise ValueError(f"$: expected an object with 'devices', got {type(data).__name__}")
                inv = Inventory.from_json(data)
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                print(f"{args.inventory}: not a usable inventory: {exc}", file=sys.stderr)
                return EXIT_INVALID
        else:
            from blockprov.storage.probe import probe

            inv = probe(scope=lambda topo: planner.disks_needed(model, topo), lvm=planner.uses_lvm(model))
        opts = planner.Options(target=args.target)
        if not args.blank_disks:  # the journal: wipes already carried out, steps a killed run left unfinished
            from pathlib import Path

            from blockprov.paths import Paths
            from blockprov.storage.journal import Journal

            journal = Journal(Paths(Path(args.root)).storage_journal)
            opts.applied, opts.interrupted = journal.applied(inv), journal.interrupted()
        p = planner.plan(model, inv, opts)
        _show(model, p.items, p.steps, args.json)
        return exit_code(p.counts())
    if cmd == "apply":
        from blockprov.storage import apply as applier

        try:
            report = applier.apply(model, root=args.root, target=args.target, dry_run=args.dry_run,
                                   progress=None if args.json else sys.stderr)
        except applier.Unusable as exc:
            _print_problems(exc.problems, args.json, valid=False)
            return EXIT_INVALID
        _show(model, report.items, report.steps, args.json, report)
        return exit_code(report.counts())
    return EXIT_FAIL


def _show(model, items, steps, as_json: bool, report=None) -> None:
    from blockprov.storage import render

    if as_json:
        out = {"items": [i.to_json() for i in items], "steps": [s.to_json() for s in steps]}
        if report is not None:
            out["fstab_changed"] = report.fstab_changed
        emit(out)
        return
    print(render.tree(model, items))
    counts: dict[str, int] = {}
    for i in items:
        counts[i.status] = counts.get(i.status, 0) + 1
    n = len([s for s in steps if s.op != "fstab"])
    tail = ""
    if report is not None:
        tail = "; fstab updated" if report.fstab_changed else "; fstab unchanged"
    print(f"\n{len(items)} items: {render.summary(counts)}; {n} device step(s){tail}")
