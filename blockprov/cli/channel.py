"""``blockprov channel serve|publish``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from blockprov.exits import EXIT_FAIL, EXIT_INVALID, EXIT_OK
from blockprov.paths import Paths


def serve(paths: Paths, args) -> int:
    from blockprov.boot import instance, sysconfig
    from blockprov.channel.service import Service
    from blockprov.channel.settings import SettingsError, from_config

    sd = instance.cached(paths)
    if sd is None:
        print("blockprov channel: no instance yet (the boot has not found a datasource)", file=sys.stderr)
        return EXIT_FAIL
    try:
        settings = from_config(instance.load_config(paths) or sysconfig.load(paths))
    except SettingsError as exc:
        print(f"blockprov channel: invalid config: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if settings is None:
        print("blockprov channel: no reporting entry of type event-channel; nothing to do")
        return EXIT_OK
    return Service(paths, settings, sd.instance_id).run()


def publish(paths: Paths, args) -> int:
    from blockprov.channel.publish import publish as send

    try:
        data = json.loads(args.data)
    except ValueError as exc:
        print(f"blockprov channel publish: --data is not JSON: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if not isinstance(data, dict):
        print("blockprov channel publish: --data must be a JSON object", file=sys.stderr)
        return EXIT_INVALID
    if not send(paths, args.channel, data):
        print("blockprov channel publish: the channel service is not running", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


COMMANDS = {"serve": serve, "publish": publish}


def run(args) -> int:
    return COMMANDS[args.channel_cmd](Paths(Path(args.root)), args)
