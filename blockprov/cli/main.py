"""Command line entry point. Imports stay inside handlers so --help is instant."""

from __future__ import annotations

import argparse
import sys

from blockprov.exits import EXIT_FAIL


COMMANDS = ("storage", "demo", "init", "modules", "boot", "single", "clean", "status", "query", "collect-logs", "per",
            "analyze",
            "schema", "hotplug", "refresh-metadata", "apply", "watch", "channel")


class _Skipped:
    """Stands in for the parser of a command not on the command line: every call is a no-op."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


class _Only:
    """Subparsers that build only ``only``'s parser: each parser costs a few ms (gettext lookups), some 0.1 s
    for all of them in a slow VM, and the hotplug processor starts on a disk's arrival."""

    def __init__(self, sub, only: str | None):
        self.sub, self.only = sub, only

    def add_parser(self, name: str, **kwargs):
        return self.sub.add_parser(name, **kwargs) if self.only in (None, name) else _Skipped()


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``only``: a command) one with just that command."""
    p = argparse.ArgumentParser(prog="blockprov", description="Instance provisioning agent with a declarative storage engine.")
    p.add_argument("--version", action="version", version="blockprov 0.1.0")
    sub = _Only(p.add_subparsers(dest="cmd", required=True), only)
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
    pl.add_argument("--root", default="/", help="root whose storage journal says what was applied before (default /)")
    pl.add_argument("--json", action="store_true")
    ap = ss.add_parser("apply", help="make the disks match the config")
    ap.add_argument("file")
    ap.add_argument("--target", default=None, help="root for mount points and etc/fstab (default: --root)")
    ap.add_argument("--root", default="/", help="root for state files (var/lib/blockprov)")
    ap.add_argument("--dry-run", action="store_true", help="plan only; write nothing")
    ap.add_argument("--json", action="store_true")
    sub.add_parser("demo", help="apply a bundled example to loop-backed disks, twice, then clean up")

    def boot_cmd(name: str, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help)
        c.add_argument("--root", default="/", help="root for etc, var and run (default /)")
        return c

    c = boot_cmd("init", "find the datasource and set up the instance (network stage, or --local)")
    c.add_argument("--local", action="store_true", help="the local stage: before the network is up")
    c = boot_cmd("modules", "run the modules of a stage")
    c.add_argument("--mode", choices=["config", "final", "update"], required=True,
                   help="update: re-run the re-runnable modules whose inputs changed since they last ran")
    c.add_argument("--force", action="store_true", help="update: even if updates.modules excludes user-request")
    boot_cmd("boot", "all four stages in one process (init --local, init, modules config, modules final)")
    c = boot_cmd("single", "run one module now")
    c.add_argument("--name", required=True)
    c.add_argument("--frequency", help="per-instance, always or once (default: the module's)")
    c = boot_cmd("clean", "remove instance state so the next boot is a first boot")
    c.add_argument("--logs", action="store_true", help="also remove var/log/blockprov")
    c.add_argument("--seed", action="store_true", help="also remove seed directories")
    c.add_argument("--machine-id", action="store_true", help="write 'uninitialized' to etc/machine-id (a new one at boot)")
    c.add_argument("--configs", choices=["all", "network", "ssh_config"], action="append",
                   help="also remove the config files blockprov wrote (repeatable)")
    c.add_argument("--reboot", action="store_true", help="reboot afterwards (only when the root is /)")
    c = boot_cmd("status", "exit 0 done, 1 error (or not run), 2 degraded")
    c.add_argument("--wait", action="store_true", help="wait while a stage runs or is queued")
    c.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    c.add_argument("--long", action="store_true")
    c.add_argument("--format", choices=["tabular", "json", "yaml"], default="tabular")
    c.add_argument("--json", action="store_const", dest="format", const="json", help="same as --format json")
    c = boot_cmd("query", "print a key of instance-data.json (dotted: v1.instance_id, ds.meta_data.x)")
    c.add_argument("key", nargs="?")
    c.add_argument("--list-keys", action="store_true")
    c.add_argument("--all", action="store_true", help="all of instance-data (what no key prints)")
    c.add_argument("--format", help="a template: each {{ dotted.key }} is replaced by that value")
    c = boot_cmd("collect-logs", "a tarball of blockprov's logs and state, secrets redacted")
    c.add_argument("--tarfile", "-t", default="blockprov.tar.gz", help="where to write it (default ./blockprov.tar.gz)")
    c = boot_cmd("per", "run CMD once, once per instance, or always, under NAME (like cloud-init-per)")
    c.add_argument("frequency", choices=["once", "instance", "always"])
    c.add_argument("name")
    c.add_argument("command", nargs=argparse.REMAINDER)
    c = boot_cmd("analyze", "boot timings from the event log")
    c.add_argument("action", choices=["show", "blame", "plot"])
    c.add_argument("--out", default="boot.svg", help="plot: the SVG file to write")
    c = boot_cmd("schema", "check a cloud-config against every module's schema; exit 0 valid, 2 invalid")
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("file", nargs="?", help="user-data (#cloud-config) or a YAML config file")
    g.add_argument("-c", "--config-file", dest="config_file", metavar="FILE", help="the same, as cloud-init names it")
    g.add_argument("--show", metavar="MODULE", help="print a module's JSON Schema")
    c = boot_cmd("hotplug", "block and net hotplug: enable, disable, status, process the queue, handle an event")
    hs = c.add_subparsers(dest="hotplug_cmd", required=True)
    for name, text in (("enable", "handle this subsystem's events (overrides the update policy)"),
                       ("disable", "ignore this subsystem's events; the udev helper stops queueing them")):
        h = hs.add_parser(name, help=text)
        h.add_argument("--subsystem", choices=["block", "net"], required=True)
    h = hs.add_parser("status", help="what is enabled, what is queued, the last events handled")
    h.add_argument("--json", action="store_true")
    h.add_argument("--last", type=int, default=10, help="how many recent events to show")
    hp = hs.add_parser("process", help="handle the queued events (what the udev helper starts)")
    hp.add_argument("--linger", type=float, default=None, metavar="SECONDS",
                    help="then wait this long for more events (default: hotplug.linger, 300)")
    h = hs.add_parser("handle", help="queue one event by hand and process the queue")
    h.add_argument("--subsystem", choices=["block", "net"], required=True)
    h.add_argument("--action", choices=["add", "change", "remove"], required=True)
    h.add_argument("--device", required=True, help="/dev/NAME (block) or an interface name (net)")
    boot_cmd("refresh-metadata", "re-read the current datasource; update the cache and instance-data.json")
    c = boot_cmd("apply", "re-read the metadata and apply one scope now (a user-request event)")
    c.add_argument("scope", choices=["storage", "network"])
    c.add_argument("--no-refresh", action="store_true", help="use the cached metadata")
    c.add_argument("--force", action="store_true", help="even if updates.SCOPE excludes user-request")
    c = boot_cmd("watch", "long-poll change URLs and apply metadata changes (metadata-change events)")
    c.add_argument("--url", help="watch this URL instead of the configured ones")
    c.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    c = boot_cmd("channel", "the event channel to the management server (docs/event-channel.md)")
    cs = c.add_subparsers(dest="channel_cmd", required=True)
    h = cs.add_parser("serve", help="hold the connection, publish this instance's events, carry out what arrives")
    h.add_argument("--root", default=argparse.SUPPRESS, help="root for etc, var and run (default /)")
    h = cs.add_parser("publish", help="hand one event to the running service")
    h.add_argument("--root", default=argparse.SUPPRESS, help="root for etc, var and run (default /)")
    h.add_argument("channel", help="below the instance, e.g. hotplug/block")
    h.add_argument("--data", default="{}", help="a JSON object")
    return p


def main(argv: list[str] | None = None) -> int:
    import os

    # Whatever umask we were started with (000 from a careless wrapper), directories and files we create get
    # the modes we state: 022 is systemd's default, and secrets are created 0600 explicitly.
    os.umask(0o022)
    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith("-")), None)
    args = _parser(first if first in COMMANDS else None).parse_args(argv)
    if args.cmd == "storage":
        from blockprov.cli import storage as storage_cli

        return storage_cli.run(args)
    if args.cmd in ("init", "modules", "boot", "single", "clean", "status", "query", "collect-logs", "per", "analyze",
                    "schema"):
        from blockprov.cli import boot as boot_cli

        return boot_cli.run(args)
    if args.cmd in ("hotplug", "refresh-metadata", "apply", "watch"):
        from blockprov.cli import update as update_cli

        return update_cli.run(args)
    if args.cmd == "channel":
        from blockprov.cli import channel as channel_cli

        return channel_cli.run(args)
    if args.cmd == "demo":
        from blockprov.cli import demo

        return demo.main(main)  # demo runs commands through this entry point (passed: no import cycle)
    return EXIT_FAIL

