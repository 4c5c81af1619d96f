"""power_state: reboot, power off or halt after the final stage, with a delay, a message and a condition.

``condition`` is true (default), false, or a command (string for sh, or
argv) whose exit 0 means "go ahead". The action runs ``shutdown`` in a
detached process that first waits for the boot process to exit (at most
``timeout`` seconds, default 30), so the final stage is recorded before the
machine goes down. On a temp root (``--root`` not ``/``) nothing is ever shut
down: the decision and the argv are written to ``run/blockprov/power-state.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from blockprov.modules._schema import COMMAND
from blockprov.paths import atomic_write
from blockprov.modules._meta import ModuleMeta

MODES = {"reboot": "-r", "poweroff": "-P", "halt": "-H"}
SCHEMA = {"type": "object", "properties": {"power_state": {
    "type": "object", "required": ["mode"], "additionalProperties": False, "properties": {
        "mode": {"enum": list(MODES)},
        "delay": {"oneOf": [{"const": "now"}, {"type": "string", "pattern": r"^\+?[0-9]+$"},
                            {"type": "integer", "minimum": 0}]},
        "message": {"type": "string"},
        "timeout": {"type": "number", "minimum": 0},
        "condition": {"oneOf": [{"type": "boolean"}, COMMAND]}}}}}

META = ModuleMeta(
    "power_state",
    frequency="per-instance",
    description="reboot or power off after the final stage",
    rerunnable=False,
    schema=SCHEMA,
)


def shutdown_argv(spec: dict) -> list[str]:
    """shutdown's argv (pure). A delay is in minutes, as shutdown(8) takes it: "+5", 5 or "now"."""
    delay = spec.get("delay", "now")
    when = "now" if delay in ("now", 0, "0", "+0") else f"+{str(delay).lstrip('+')}"
    argv = ["shutdown", MODES[spec["mode"]], when]
    return argv + ([spec["message"]] if spec.get("message") else [])


def condition_met(cond) -> tuple[bool, str]:
    if cond in (None, True):
        return True, "condition true"
    if cond is False:
        return False, "condition false"
    from blockprov.run import run

    argv = ["sh", "-c", cond] if isinstance(cond, str) else [str(a) for a in cond]
    r = run(argv, check=False, timeout=120)
    return r.returncode == 0, f"condition {argv!r} exited {r.returncode}"


def handle(ctx, args):
    spec = args.get("power_state", ctx.cfg.get("power_state"))
    if not spec:
        return ""
    go, why = condition_met(spec.get("condition", True))
    return schedule(ctx, spec, go, why)


def schedule(ctx, spec: dict, go: bool, why: str) -> str:
    """Shut down as ``spec`` says once this process exits (recorded, not run, on a temp root). The packages
    module uses it too, for package_reboot_if_required."""
    argv = shutdown_argv(spec)
    if str(ctx.paths.root) != "/":
        atomic_write(ctx.paths.run / "power-state.json",
                     json.dumps({"mode": spec["mode"], "argv": argv, "go": go, "why": why}))
        return f"{spec['mode']}: {why}; temp root, recorded in run/blockprov/power-state.json, not run"
    if not go:
        return f"{spec['mode']} skipped: {why}"
    waiter = ("import os, sys, time\n"
              "pid, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])\n"
              "while time.monotonic() < deadline:\n"
              "    try: os.kill(pid, 0)\n"
              "    except OSError: break\n"
              "    time.sleep(0.2)\n"
              "os.execvp(sys.argv[3], sys.argv[3:])\n")
    subprocess.Popen([sys.executable, "-c", waiter, str(os.getpid()), str(float(spec.get("timeout", 30))), *argv],
                     start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, close_fds=True)
    return f"{spec['mode']}: {why}; {' '.join(argv)} once this process exits"
