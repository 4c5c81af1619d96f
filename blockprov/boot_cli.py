"""The boot commands: init, modules, boot, single, clean, status, query, per, analyze, schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from blockprov.cli import EXIT_FAIL, EXIT_INVALID, EXIT_OK
from blockprov.paths import Paths

EXIT_DEGRADED = 2


def run(args) -> int:
    paths = Paths(Path(args.root))
    handler = globals()["cmd_" + args.cmd.replace("-", "_")]
    from blockprov.sysconfig import ConfigError

    try:
        return handler(paths, args)
    except ConfigError as exc:
        print(f"blockprov: invalid system config: {exc}", file=sys.stderr)
        return EXIT_INVALID


def _stages(paths: Paths, stages: list[str]) -> int:
    from blockprov.stages import run_stages

    results = run_stages(paths, stages)
    for r in results:
        for e in r.errors:
            print(f"{r.stage}: error: {e}", file=sys.stderr)
        for w in r.warnings:
            print(f"{r.stage}: warning: {w}", file=sys.stderr)
    return EXIT_FAIL if any(r.errors for r in results) else EXIT_OK


def cmd_init(paths: Paths, args) -> int:
    return _stages(paths, ["init-local" if args.local else "init-network"])


def cmd_modules(paths: Paths, args) -> int:
    if args.mode == "update":
        return _update(paths, args)
    return _stages(paths, [f"modules-{args.mode}"])


def _update(paths: Paths, args) -> int:
    """Re-run re-runnable modules whose inputs changed (a user-request event, on the cached data)."""
    from blockprov import instance, policy
    from blockprov.hotplug import update_policy
    from blockprov.stages import Runner
    from blockprov.updates import run_scope

    sd, cfg = instance.cached(paths), instance.load_config(paths)
    if sd is None or cfg is None:
        print("blockprov modules --mode update: no instance yet (run blockprov init first)", file=sys.stderr)
        return EXIT_FAIL
    try:
        pol = update_policy(paths, cfg)
    except policy.PolicyError as exc:
        print(f"blockprov: invalid config: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if not pol.allows("modules", "user-request") and not args.force:
        print("blockprov modules --mode update: updates.modules does not include user-request; nothing done "
              "(--force overrides)", file=sys.stderr)
        return EXIT_FAIL
    runner = Runner(paths)
    try:
        out = run_scope(runner, "modules", "update", sd, cfg)
    finally:
        runner.close()
    print(out.summary())
    for e in out.errors:
        print(f"error: {e}", file=sys.stderr)
    return EXIT_FAIL if out.errors else EXIT_OK


def cmd_boot(paths: Paths, args) -> int:
    from blockprov.stages import STAGES

    return _stages(paths, STAGES)


def cmd_single(paths: Paths, args) -> int:
    from blockprov import instance
    from blockprov.modules import known_modules
    from blockprov.stages import Runner, StageResult
    from blockprov.sysconfig import ModuleEntry, normalize_frequency

    name = args.name.replace("-", "_")
    if name not in known_modules():
        print(f"blockprov single: unknown module {args.name!r}", file=sys.stderr)
        return EXIT_INVALID
    freq = normalize_frequency(args.frequency, "--frequency") if args.frequency else None
    sd, cfg = instance.cached(paths), instance.load_config(paths)
    if sd is None or cfg is None:
        print("blockprov single: no instance yet (run blockprov init first)", file=sys.stderr)
        return EXIT_FAIL
    runner = Runner(paths)
    try:
        res = StageResult("single")
        outcome = runner.run_module("single", ModuleEntry(name, freq), sd, cfg, res)
    finally:
        runner.close()
    if outcome == "skipped":
        print(f"{name}: already ran ({freq or 'module default frequency'}); use --frequency always to force")
    for line in res.done:
        print(line)
    for w in res.warnings:
        print(f"{name}: warning: {w.removeprefix(name + ': ')}", file=sys.stderr)
    for e in res.errors:
        print(f"{name}: error: {e}", file=sys.stderr)
    return EXIT_FAIL if res.errors else EXIT_OK


def cmd_clean(paths: Paths, args) -> int:
    import shutil

    if paths.state.is_dir():
        for p in paths.state.iterdir():
            if p.name == "seed" and not args.seed:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    if paths.run.is_dir():
        shutil.rmtree(paths.run)
    if args.logs and paths.logs.is_dir():
        shutil.rmtree(paths.logs)
    return EXIT_OK


def cmd_status(paths: Paths, args) -> int:
    from blockprov import status

    st = status.wait(paths, args.timeout) if args.wait else status.read(paths)
    if args.json:
        print(json.dumps(st.to_json(), indent=1))
    else:
        print(f"status: {st.status}")
        if args.long:
            print(f"datasource: {st.datasource or '-'}")
            print(f"detail: {st.detail}")
            for e in st.errors:
                print(f"error: {e}")
            for w in st.warnings:
                print(f"warning: {w}")
    return st.exit_code


def cmd_query(paths: Paths, args) -> int:
    import os

    src = paths.instance_data_sensitive if os.access(paths.instance_data_sensitive, os.R_OK) else paths.instance_data
    try:
        data = json.loads(src.read_text())
    except (OSError, ValueError):
        print(f"blockprov query: no instance data at {paths.instance_data} (has init run?)", file=sys.stderr)
        return EXIT_FAIL
    if args.list_keys:
        print("\n".join(sorted(data if not args.key else _lookup(data, args.key) or {})))
        return EXIT_OK
    if not args.key:
        print(json.dumps(data, indent=1, sort_keys=True))
        return EXIT_OK
    val = _lookup(data, args.key)
    if val is _MISSING:
        print(f"blockprov query: no key {args.key!r}", file=sys.stderr)
        return EXIT_FAIL
    print(val if isinstance(val, str) else json.dumps(val, indent=1, sort_keys=True))
    return EXIT_OK


_MISSING = object()


def _lookup(data: dict, key: str):
    """Dotted keys; a key not at the top level is looked up under ``v1`` (``instance_id``)."""
    for base in (data, data.get("v1", {})):
        cur = base
        for part in key.split("."):
            if isinstance(cur, dict) and part in cur:
                cur = cur[part]
            elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
                cur = cur[int(part)]
            else:
                cur = _MISSING
                break
        if cur is not _MISSING:
            return cur
    return _MISSING


def cmd_per(paths: Paths, args) -> int:
    import subprocess

    from blockprov import instance, semaphores

    freq = {"once": "once", "instance": "per-instance", "always": "always"}[args.frequency]
    iid = instance.previous_iid(paths) or ""
    if freq == "per-instance" and not iid:
        print("blockprov per instance: no instance yet", file=sys.stderr)
        return EXIT_FAIL
    name = f"per-{args.frequency}-{args.name}"
    if semaphores.done(paths, iid, name, freq):
        return EXIT_OK
    if not args.command:
        print("blockprov per: no command given", file=sys.stderr)
        return EXIT_INVALID
    try:
        rc = subprocess.call(args.command)
    except OSError as exc:
        print(f"blockprov per: {args.command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    if rc == 0:
        semaphores.mark(paths, iid, name, freq)
    return rc


def cmd_analyze(paths: Paths, args) -> int:
    from blockprov import analyze

    boots = analyze.boots(paths)
    if not boots:
        print("no events recorded yet", file=sys.stderr)
        return EXIT_FAIL
    if args.action == "show":
        print(analyze.show(boots))
    elif args.action == "blame":
        print(analyze.blame(boots[-1]))
    else:
        Path(args.out).write_text(analyze.plot(boots[-1]))
        print(f"wrote {args.out}")
    return EXIT_OK


def cmd_schema(paths: Paths, args) -> int:
    """Every module's schema over one config file: all problems at once, each with its JSON path."""
    from blockprov import modules
    from blockprov.modules._schema import check

    if args.show:
        name = args.show.replace("-", "_")
        if name not in modules.known_modules():
            print(f"blockprov: unknown module {args.show!r}", file=sys.stderr)
            return EXIT_INVALID
        json.dump(modules.load(name).SCHEMA, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    import yaml

    from blockprov.limits import load_yaml

    try:
        cfg = load_yaml(Path(args.file).read_bytes(), args.file)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"blockprov: {args.file}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        print(f"blockprov: {args.file}: $: a cloud-config is a mapping", file=sys.stderr)
        return EXIT_INVALID
    owners: dict[int, tuple[str, dict]] = {}  # write_files_deferred shares write_files' schema
    for name in sorted(modules.known_modules()):
        schema = modules.load(name).SCHEMA
        owners.setdefault(id(schema), (name, schema))
    bad = sorted(f"{p} ({name})" for name, schema in owners.values() for p in check(schema, cfg, {}))
    for line in bad:
        print(f"{args.file}: {line}", file=sys.stderr)
    from blockprov.modules import _keys

    ignored = _keys.report(cfg)
    for line in ignored:
        print(f"{args.file}: warning: {line}", file=sys.stderr)
    if not bad:
        print(f"{args.file}: valid" + (f", but {len(ignored)} key(s) will not be acted on (see the warnings)"
                                       if ignored else ""))
    return EXIT_INVALID if bad else EXIT_OK
