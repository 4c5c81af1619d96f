"""``blockprov channel serve|publish``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from blockprov.exits import EXIT_FAIL, EXIT_INVALID, EXIT_OK
from blockprov.paths import Paths


WAIT_FOR_INSTANCE = 300.0


def serve(paths: Paths, args) -> int:
    import time

    from blockprov.boot import instance
    from blockprov.channel.service import Service
    from blockprov.channel.settings import SettingsError, from_config

    # started by the socket during the boot, it waits for the instance (publishers' events wait in the socket)
    deadline = time.monotonic() + WAIT_FOR_INSTANCE
    while (sd := instance.cached(paths)) is None or instance.load_config(paths) is None:
        if time.monotonic() > deadline:
            print(f"blockprov channel: no instance after {WAIT_FOR_INSTANCE:.0f} s (the boot has not found a "
                  "datasource)", file=sys.stderr)
            return EXIT_FAIL
        time.sleep(1)
    from blockprov.boot import sysconfig

    try:
        # the system config as it is now (an administrator's drop-in applies at the next start, not the next
        # boot), else what the instance's merged config says (vendor-data from the engine)
        settings = from_config(sysconfig.load(paths)) or from_config(instance.load_config(paths) or {})
    except (SettingsError, sysconfig.ConfigError) as exc:
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
