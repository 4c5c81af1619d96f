"""The after-boot commands: hotplug, refresh-metadata, apply, watch."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from blockprov.exits import EXIT_FAIL, EXIT_INVALID, EXIT_OK, EXIT_WAITING
from blockprov.paths import Paths, atomic_write

SUBSYSTEMS = ("block", "net")


def run(args) -> int:
    from blockprov.events.policy import PolicyError
    from blockprov.boot.sysconfig import ConfigError

    paths = Paths(Path(args.root))
    try:
        return COMMANDS[args.cmd](paths, args)
    except (ConfigError, PolicyError) as exc:
        print(f"blockprov: invalid config: {exc}", file=sys.stderr)
        return EXIT_INVALID


def _instance(paths: Paths, what: str):
    from blockprov.boot import instance

    sd, cfg = instance.cached(paths), instance.load_config(paths)
    if sd is None or cfg is None:
        print(f"blockprov {what}: no instance yet (run blockprov init first)", file=sys.stderr)
    return sd, cfg


# -- hotplug --------------------------------------------------------------------------
def cmd_hotplug(paths: Paths, args) -> int:
    return HOTPLUG[args.hotplug_cmd](paths, args)


def _set_override(paths: Paths, subsystem: str, on: bool) -> None:
    from blockprov.events.policy import overrides

    d = paths.state / "hotplug"
    data = overrides(paths)
    data[subsystem] = on
    atomic_write(d / "overrides.json", json.dumps(data, indent=1, sort_keys=True))
    marker = d / f"disabled-{subsystem}"  # read by the udev helper: no event is even queued
    if on:
        marker.unlink(missing_ok=True)
    else:
        atomic_write(marker, "")


def _systemd(*argv: str) -> None:
    """Start or stop the hotplug units on the running system (not on a temp root)."""
    import subprocess

    if os.path.isdir("/run/systemd/system"):
        r = subprocess.run(["systemctl", *argv], capture_output=True, text=True, check=False)
        if r.returncode:
            print(f"blockprov: systemctl {' '.join(argv)}: {r.stderr.strip()}", file=sys.stderr)


def hotplug_enable(paths: Paths, args) -> int:
    _set_override(paths, args.subsystem, True)
    if str(paths.root) == "/":
        _systemd("enable", "--now", "blockprov-hotplug.path")
    print(f"hotplug enabled for {args.subsystem}")
    return EXIT_OK


def hotplug_disable(paths: Paths, args) -> int:
    _set_override(paths, args.subsystem, False)
    print(f"hotplug disabled for {args.subsystem}")
    return EXIT_OK


def hotplug_status(paths: Paths, args) -> int:
    from blockprov.events import policy
    from blockprov.events import spool
    from blockprov.events.policy import overrides
    from blockprov.boot.reporting import read_events

    _sd, cfg = _instance(paths, "hotplug status")
    over = overrides(paths)
    pol = policy.parse(cfg or {}, over)
    recent = [e for e in read_events(paths) if "/hotplug/" in str(e.get("name", ""))][-args.last:]
    report = {"subsystems": {s: {"enabled": pol.hotplug_enabled(s),
                                 "why": ("blockprov hotplug " + ("enable" if over[s] else "disable")) if s in over
                                 else f"updates.{policy.SUBSYSTEM_SCOPE[s]} policy",
                                 "handlers": list(pol.hotplug.get(s, ()))} for s in SUBSYSTEMS},
              "queued": len(spool.pending(paths)), "recent": recent}
    if args.json:
        print(json.dumps(report, indent=1))
        return EXIT_OK
    for s, info in report["subsystems"].items():
        print(f"{s}: {'enabled' if info['enabled'] else 'disabled'} ({info['why']}); "
              f"handlers: {', '.join(info['handlers']) or '-'}")
    print(f"queued events: {report['queued']}")
    for e in recent:
        print(f"  {e.get('action', '?'):<7} {e.get('device', '?'):<16} {e.get('result')}: {e.get('description')}")
    return EXIT_OK


def hotplug_process(paths: Paths, args) -> int:
    from blockprov.events.hotplug import process

    return process(paths, args.linger)


def hotplug_handle(paths: Paths, args) -> int:
    """Queue one event by hand (as the udev helper would) and process the queue now."""
    from blockprov.events import spool
    from blockprov.events.hotplug import boot_finished, process

    props = {"ACTION": args.action, "SUBSYSTEM": args.subsystem}
    if args.subsystem == "net":
        props["INTERFACE"] = args.device
    else:
        dev = args.device if args.device.startswith("/dev/") else f"/dev/{args.device}"
        props.update(_udev_props(dev))
        props.setdefault("DEVNAME", dev)
        props.setdefault("DEVTYPE", "partition" if os.path.exists(
            f"/sys/class/block/{os.path.basename(dev)}/partition") else "disk")
    spool.enqueue(paths, props)
    if not boot_finished(paths):
        print("queued: the boot has not finished; the final stage processes the queue")
        return EXIT_OK
    return process(paths, linger=0)


def _udev_props(dev: str) -> dict[str, str]:
    """The udev database's properties of a block device (what the RUN helper would have seen)."""
    from blockprov.storage.probe import udev_view

    try:
        real = os.path.realpath(dev, strict=True)
    except OSError:
        return {}
    return udev_view(os.path.basename(real)).props


# -- refresh-metadata, apply, watch -----------------------------------------------------------
def cmd_refresh_metadata(paths: Paths, args) -> int:
    from blockprov.events.refresh import RefreshError, refresh

    try:
        r = refresh(paths)
    except RefreshError as exc:
        print(f"blockprov refresh-metadata: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(f"changed: {', '.join(r.changed)}" if r.changed else "unchanged")
    for p in r.problems:
        print(f"blockprov refresh-metadata: storagedata is invalid, it will not be applied: {p}", file=sys.stderr)
    return EXIT_OK


def cmd_apply(paths: Paths, args) -> int:
    from blockprov.events.policy import update_policy
    from blockprov.events.refresh import RefreshError, refresh
    from blockprov.boot.stages import Runner
    from blockprov.events.updates import run_scope

    sd, cfg = _instance(paths, "apply")
    if sd is None:
        return EXIT_FAIL
    if not args.no_refresh:
        try:
            r = refresh(paths)
            sd, cfg = r.sd, r.cfg
            print(f"metadata: {'changed: ' + ', '.join(r.changed) if r.changed else 'unchanged'}")
        except RefreshError as exc:
            print(f"blockprov apply: metadata not re-read ({exc}); using the cached data", file=sys.stderr)
    pol = update_policy(paths, cfg)
    if not pol.allows(args.scope, "user-request") and not args.force:
        print(f"blockprov apply: updates.{args.scope} does not include user-request; nothing done "
              "(--force overrides)", file=sys.stderr)
        return EXIT_FAIL
    runner = Runner(paths)
    try:
        out = run_scope(runner, args.scope, "user-request", sd, cfg)
    finally:
        runner.close()
    print(out.summary())
    for e in out.errors:
        print(f"error: {e}", file=sys.stderr)
    if out.errors:
        return EXIT_FAIL
    return EXIT_WAITING if out.storage.waiting else EXIT_OK


def cmd_watch(paths: Paths, args) -> int:
    from blockprov.events.watch import watch

    return watch(paths, args.url, args.duration, log=lambda s: print(s, flush=True))


# the command names cli.py parses -> their functions (explicit: a reader finds each handler by its name)
HOTPLUG = {"enable": hotplug_enable, "disable": hotplug_disable, "status": hotplug_status,
           "process": hotplug_process, "handle": hotplug_handle}
COMMANDS = {"hotplug": cmd_hotplug, "refresh-metadata": cmd_refresh_metadata, "apply": cmd_apply,
            "watch": cmd_watch}
