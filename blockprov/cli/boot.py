"""The boot commands: init, modules, boot, single, clean, status, query, per, analyze, schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from blockprov.exits import EXIT_DEGRADED, EXIT_FAIL, EXIT_INVALID, EXIT_OK
from blockprov.paths import Paths



def run(args) -> int:
    paths = Paths(Path(args.root))
    handler = COMMANDS[args.cmd]
    from blockprov.boot.sysconfig import ConfigError

    try:
        return handler(paths, args)
    except ConfigError as exc:
        print(f"blockprov: invalid system config: {exc}", file=sys.stderr)
        return EXIT_INVALID


def _stages(paths: Paths, stages: list[str]) -> int:
    from blockprov.boot.stages import run_stages

    results = run_stages(paths, stages)
    for r in results:
        for e in r.errors:
            print(f"{r.stage}: error: {e}", file=sys.stderr)
        for w in r.warnings:
            print(f"{r.stage}: warning: {w}", file=sys.stderr)
    if any(r.errors for r in results):
        return EXIT_FAIL
    return EXIT_DEGRADED if any(r.warnings for r in results) else EXIT_OK


def cmd_init(paths: Paths, args) -> int:
    return _stages(paths, ["init-local" if args.local else "init-network"])


def cmd_modules(paths: Paths, args) -> int:
    if args.mode == "update":
        return _update(paths, args)
    return _stages(paths, [f"modules-{args.mode}"])


def _update(paths: Paths, args) -> int:
    """Re-run re-runnable modules whose inputs changed (a user-request event, on the cached data)."""
    from blockprov.boot import instance
    from blockprov.events import policy
    from blockprov.events.policy import update_policy
    from blockprov.boot.stages import Runner
    from blockprov.events.updates import run_scope

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
    from blockprov.boot.stages import STAGES

    return _stages(paths, STAGES)


def cmd_single(paths: Paths, args) -> int:
    from blockprov.boot import instance
    from blockprov.modules import known_modules
    from blockprov.boot.stages import Runner, StageResult
    from blockprov.boot.sysconfig import ModuleEntry, normalize_frequency

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
    if outcome.state == "skipped":
        print(f"{name}: already ran ({freq or 'module default frequency'}); use --frequency always to force")
    for line in res.done:
        print(line)
    for w in res.warnings:
        print(f"{name}: warning: {w.removeprefix(name + ': ')}", file=sys.stderr)
    for e in res.errors:
        print(f"{name}: error: {e}", file=sys.stderr)
    if res.errors:
        return EXIT_FAIL
    return EXIT_DEGRADED if res.warnings else EXIT_OK


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
    if args.machine_id:  # systemd makes a new one at the next boot (as cloud-init clean --machine-id does)
        from blockprov.paths import atomic_write

        atomic_write(paths.inside("/etc/machine-id"), "uninitialized\n", mode=0o444)
    for what in args.configs or []:
        for rel in _our_configs(paths, what):
            rel.unlink()
    if args.reboot:
        if str(paths.root) != "/":
            print("blockprov clean: --reboot skipped: the root is not the running system", file=sys.stderr)
        else:
            from blockprov.run import run

            run(["systemctl", "reboot"], check=False, timeout=60)
    return EXIT_OK


def _our_configs(paths: Paths, what: str) -> list[Path]:
    """Config files blockprov wrote and owns: network files (all renderers), its sshd drop-in."""
    from blockprov.net import eni, netplan, networkd

    pats = []
    if what in ("all", "network"):
        pats += list(networkd.OWNED + eni.OWNED + netplan.OWNED)
    if what in ("all", "ssh_config"):
        pats.append("etc/ssh/sshd_config.d/50-blockprov.conf")
    return sorted({p for pat in pats for p in paths.root.glob(pat) if p.is_file() or p.is_symlink()})


def cmd_status(paths: Paths, args) -> int:
    from blockprov.boot import status

    st = status.wait(paths, args.timeout) if args.wait else status.read(paths)
    doc = st.to_json()
    if args.long or args.format != "tabular":
        doc.update(_boot_times(paths))
    if args.format == "json":
        print(json.dumps(doc, indent=1))
    elif args.format == "yaml":
        import yaml

        print(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False), end="")
    else:
        print(f"status: {st.status}")
        if args.long:
            print(f"datasource: {st.datasource or '-'}")
            print(f"last update: {doc.get('last_update') or '-'}")
            for stage, secs in doc.get("stages", {}).items():
                print(f"{stage}: {secs:.3f} s")
            print(f"detail: {st.detail}")
            for e in st.errors:
                print(f"error: {e}")
            for w in st.warnings:
                print(f"warning: {w}")
    return st.exit_code


def _boot_times(paths: Paths) -> dict:
    """When the status last changed and how long each stage of this boot took (the event log)."""
    import datetime

    out: dict = {}
    try:
        stamp = paths.status.stat().st_mtime
        out["last_update"] = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).isoformat(timespec="seconds")
    except OSError:
        out["last_update"] = None
    starts: dict[str, float] = {}
    stages: dict[str, float] = {}
    try:
        lines = paths.events_log.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        name, kind, ts = ev.get("name", ""), ev.get("event_type"), ev.get("timestamp")
        if "/" in name or not isinstance(ts, (int, float)):
            continue  # stage events only ("init-network"), not module ones ("init-network/storage")
        if kind == "start":
            starts[name] = ts
        elif kind == "finish" and name in starts:
            stages[name] = round(ts - starts[name], 3)
    out["stages"] = stages
    return out


def cmd_collect_logs(paths: Paths, args) -> int:
    """A tarball for a bug report: logs, status, events and instance state, secrets redacted (instance-data's
    sensitive copy and any key named like a password, hash, token or key are left out)."""
    import io
    import os
    import tarfile

    secret = ("passw", "hashed", "secret", "token", "private", "key_data", "chpasswd")

    def redact(obj):
        if isinstance(obj, dict):
            return {k: "REDACTED" if any(s in str(k).lower() for s in secret) else redact(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [redact(v) for v in obj]
        return obj

    files = [p for base in (paths.logs, paths.run, paths.state) if base.is_dir() for p in sorted(base.rglob("*"))
             if p.is_file() and not p.is_symlink()]
    fd = os.open(args.tarfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for p in files:
            rel = p.relative_to(paths.root).as_posix()
            if p == paths.instance_data_sensitive or "seed" in p.parts or p.name.endswith((".key", ".pem")):
                continue
            data = p.read_bytes()
            if p.suffix == ".json":
                try:
                    data = json.dumps(redact(json.loads(data)), indent=1).encode()
                except ValueError:
                    pass
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), 0o600, int(p.stat().st_mtime)
            tar.addfile(info, io.BytesIO(data))
    print(f"wrote {args.tarfile} ({len(files)} files considered)")
    return EXIT_OK


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
    if args.format:
        import re

        def value(m):
            v = _lookup(data, m.group(1))
            return "" if v is _MISSING else v if isinstance(v, str) else json.dumps(v, sort_keys=True)

        print(re.sub(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}", value, args.format))
        return EXIT_OK
    if args.all or not args.key:
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

    from blockprov.boot import instance

    from blockprov.boot import semaphores

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
    from blockprov.boot import analyze

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
        json.dump(modules.meta(name).schema, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    import yaml

    from blockprov.limits import load_yaml

    from blockprov.boot import userdata

    args.file = args.file or args.config_file
    try:
        raw = Path(args.file).read_bytes()
        kind = userdata.sniff(userdata.unwrap(raw))
        if kind is None:  # a plain YAML file (a system config): read as it is
            cfg = load_yaml(raw, args.file)
        else:  # user-data in any form the boot reads (#cloud-config, MIME, archive, gzip, !!binary...)
            ud = userdata.parse(raw, args.file, offline=True)
            fatal = [p for p in ud.problems if "cloud-config YAML" in p or "cloud-config must be" in p]
            for line in ud.problems:  # other parts (scripts, unknown types) are the boot's warnings too
                print(f"{args.file}: {'' if line in fatal else 'warning: '}{line}", file=sys.stderr)
            if fatal:
                return EXIT_INVALID
            cfg = ud.cloud_config
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
        schema = modules.meta(name).schema
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


# the command names cli.py parses -> their functions (explicit: a reader finds each handler by its name)
COMMANDS = {"init": cmd_init, "modules": cmd_modules, "boot": cmd_boot, "single": cmd_single, "clean": cmd_clean,
            "status": cmd_status, "collect-logs": cmd_collect_logs, "query": cmd_query, "per": cmd_per,
            "analyze": cmd_analyze, "schema": cmd_schema}
