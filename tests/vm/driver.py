"""Guest side of the VM harness: run the commands the host writes to the 9p share.

Started at every boot by ``blockprov-vmtest.service`` (baked into the image)
as ``python3 /mnt/ctl/driver.py``; stdlib only, since it runs on the guest's
Debian python3. Protocol, all files written by rename so no side ever reads
half a file:

- at start: ``boot.json`` = {boot_id, uptime}: the host waits for a new boot_id;
- host: ``cmd/<n>.json`` = {argv, timeout, input, op}; one thread per command;
- guest: ``res/<n>.json`` = {rc, stdout, stderr, elapsed} (``rc`` 124 on timeout).

``op: await-hotplug`` is built in: it times, on the guest's monotonic clock,
from udev's first sight of a new disk with a given serial (its
``USEC_INITIALIZED``, CLOCK_MONOTONIC) to its mount point appearing in
mountinfo: the hotplug latency users feel. It writes ``res/<n>.started`` once
it has listed the disks already there, so the host plugs only after that.
"""

import json
import os
import subprocess
import threading
import time

CTL = os.path.dirname(os.path.abspath(__file__))
os.environ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def put(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.rename(tmp, path)


def run(cmd: dict) -> dict:
    start = time.monotonic()
    try:
        p = subprocess.run(cmd["argv"], input=cmd.get("input"), capture_output=True, text=True,
                           timeout=cmd.get("timeout", 300), env={**os.environ, **cmd.get("env", {})})
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = 124, str(exc.stdout or ""), f"timed out after {cmd.get('timeout')} s"
    except OSError as exc:
        rc, out, err = 127, "", str(exc)
    return {"rc": rc, "stdout": out, "stderr": err, "elapsed": time.monotonic() - start}


def serial_of(name: str) -> str:
    try:
        with open(f"/sys/class/block/{name}/serial") as f:
            return f.read().strip()
    except OSError:
        return ""


def udev_initialized(name: str) -> float | None:
    """When udev first processed the device (seconds, CLOCK_MONOTONIC), from its database."""
    try:
        with open(f"/sys/class/block/{name}/dev") as f:
            majmin = f.read().strip()
        with open(f"/run/udev/data/b{majmin}") as f:
            for line in f:
                if line.startswith("I:"):
                    return int(line[2:]) / 1e6
    except (OSError, ValueError):
        pass
    return None


def await_hotplug(cmd: dict, started) -> dict:
    serial, target, deadline = cmd["serial"], cmd["mountpoint"], time.monotonic() + cmd.get("timeout", 30)
    seen = {n for n in os.listdir("/sys/class/block")}
    started()
    appeared = mounted = None
    name = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if name is None:
            for n in os.listdir("/sys/class/block"):
                if n not in seen and serial_of(n) == serial:
                    name = n
        if name is not None and appeared is None:
            appeared = udev_initialized(name)
        if appeared is not None:
            with open("/proc/self/mountinfo") as f:
                if any(line.split()[4] == target for line in f):
                    mounted = now
                    break
        time.sleep(0.005)
    ok = mounted is not None
    return {"rc": 0 if ok else 1, "stdout": json.dumps({"device": name, "appeared": appeared, "mounted": mounted,
                                                        "latency": (mounted - appeared) if ok else None}),
            "stderr": "" if ok else f"{serial} at {target}: appeared={appeared}, not mounted in time", "elapsed": 0}


def handle(name: str) -> None:
    with open(os.path.join(CTL, "cmd", name)) as f:
        cmd = json.load(f)
    if cmd.get("op") == "await-hotplug":
        res = await_hotplug(cmd, lambda: put(os.path.join(CTL, "res", name[:-5] + ".started"), {}))
    else:
        res = run(cmd)
    put(os.path.join(CTL, "res", name), res)


def main() -> None:
    for d in ("cmd", "res"):
        os.makedirs(os.path.join(CTL, d), exist_ok=True)
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot_id = f.read().strip()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    # Commands from an earlier boot are never run again (a `systemctl reboot` would loop).
    started: set[str] = set(os.listdir(os.path.join(CTL, "cmd")))
    put(os.path.join(CTL, "boot.json"), {"boot_id": boot_id, "uptime": uptime})
    while True:
        try:
            names = sorted(os.listdir(os.path.join(CTL, "cmd")))
        except OSError:
            return  # the share is gone: the guest is shutting down
        for name in names:
            if name.endswith(".json") and name not in started:
                started.add(name)
                threading.Thread(target=handle, args=(name,), daemon=True).start()
        time.sleep(0.02)


if __name__ == "__main__":
    main()
