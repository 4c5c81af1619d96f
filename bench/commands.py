#!/usr/bin/env python3
"""Per-command cost of blockprov's runner (subprocess) beside the ``sh`` package, and each one's import time.

Usage: python3 bench/commands.py [N]  (needs ``pip install sh``). Each runs ``true`` N times (default 200) with
a timeout and captured output, as the agent runs every command; medians reported. Why it matters: a hotplug
runs 20 to 40 commands, so a few ms each is felt in its latency (docs/architecture.md, "Commands").
"""
import statistics
import subprocess
import sys
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def imported(module: str) -> float:
    """Import time in a fresh interpreter, minus the interpreter's own start."""
    def once(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t
    base = statistics.median(once("pass") for _ in range(7))
    return statistics.median(once(f"import {module}") for _ in range(7)) - base


def per_command(call) -> float:
    call()
    runs = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


from blockprov.run import run  # noqa: E402

ours = per_command(lambda: run(["true"], timeout=30))
try:
    import sh
except ImportError:
    sys.exit("pip install sh first")
peer = per_command(lambda: sh.true(_timeout=30))
bare = per_command(lambda: sh.true())
print(f"per command (true, output captured; median of {n}): blockprov.run with its timeout {ours * 1000:.2f} ms; "
      f"sh with _timeout {peer * 1000:.2f} ms, sh without a timeout {bare * 1000:.2f} ms")
print(f"import (fresh interpreter, start subtracted): blockprov.run {max(0.0, imported('blockprov.run')) * 1000:.1f} "
      f"ms, sh {imported('sh') * 1000:.1f} ms")
