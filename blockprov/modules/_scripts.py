"""Run every executable in a directory, in name order; a failing script does not stop the others."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from blockprov.modules import ModuleContext
from blockprov.run import run

TIMEOUT = 3600


def run_parts(ctx: ModuleContext, directory: Path, each: str | None = None, prefix: list[str] | None = None) -> str:
    """Run the executables of ``directory``. With ``each`` (once | per-instance) every script has its
    own semaphore keyed by name and content, so a script added later still runs once. ``prefix`` goes
    before each script's path in its argv (vendor_data.prefix: an interpreter or a wrapper)."""
    from blockprov.boot import semaphores

    if not directory.is_dir():
        return ""
    ran, failed = [], []
    for p in sorted(directory.iterdir()):
        if not p.is_file() or not os.access(p, os.X_OK):
            continue
        sem = None
        if each:
            sem = f"script-{directory.name}-{p.name}-{hashlib.sha256(p.read_bytes()).hexdigest()[:12]}"
            if semaphores.done(ctx.paths, ctx.iid, sem, each):
                continue
        res = run([*(prefix or []), str(p)], check=False, timeout=TIMEOUT, env={"INSTANCE_ID": ctx.iid})
        if ctx.log:
            ctx.log(f"{p}: exit {res.returncode}\n{res.stdout}{res.stderr}")
        (failed if res.returncode else ran).append(f"{p.name}" + (f" (exit {res.returncode})" if res.returncode else ""))
        if sem and not res.returncode:
            semaphores.mark(ctx.paths, ctx.iid, sem, each)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(ran) + len(failed)} scripts in {directory} failed: "
                           + ", ".join(failed))
    return f"ran {len(ran)} script(s) from {directory}" if ran else ""
