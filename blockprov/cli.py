"""Command line entry point. Imports stay inside handlers so --help is instant."""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_FAIL, EXIT_INVALID, EXIT_WAITING = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="blockprov", description="Instance provisioning agent with a declarative storage engine.")
    p.add_argument("--version", action="version", version="blockprov 0.1.0")
    sub = p.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("storage", help="validate, plan and apply storage v1 configs")
    ss = st.add_subparsers(dest="storage_cmd", required=True)
    v = ss.add_parser("validate", help="check a config; exit 0 valid, 2 invalid")
    v.add_argument("file")
    v.add_argument("--json", action="store_true")
    inv = ss.add_parser("inventory", help="show the block devices as the planner sees them")
    inv.add_argument("--json", action="store_true")
    pl = ss.add_parser("plan", help="show what apply would do, without writing")
    pl.add_argument("file")
    g = pl.add_mutually_exclusive_group()
    g.add_argument("--inventory", metavar="INV.json", help="plan against a recorded inventory")
    g.add_argument("--blank-disks", action="store_true", help="as if every named disk existed, blank and large enough")
    pl.add_argument("--target", default="/", help="where mount points live (default /)")
    pl.add_argument("--json", action="store_true")
    ap = ss.add_parser("apply", help="make the disks match the config")
    ap.add_argument("file")
    ap.add_argument("--target", default=None, help="root for mount points and etc/fstab (default: --root)")
    ap.add_argument("--root", default="/", help="root for state files (var/lib/blockprov)")
    ap.add_argument("--dry-run", action="store_true", help="plan only; write nothing")
    ap.add_argument("--json", action="store_true")
    sub.add_parser("demo", help="apply a bundled example to loop-backed disks, twice, then clean up")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "storage":
        from blockprov import storage_cli

        return storage_cli.run(args)
    if args.cmd == "demo":
        from blockprov import demo

        return demo.main()
    return EXIT_FAIL


def emit(obj: object) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")
