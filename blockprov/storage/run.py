"""Run external commands: argv lists only, a timeout always, output captured.

A thin wrapper over ``sh`` (1.14, as Debian 12 ships it, or 2.x) so every command the agent runs is logged the same
way and the report can carry its stderr. The time limit is enforced by
coreutils ``timeout`` rather than sh's ``_timeout``: the latter joins a polling
thread that adds 100 ms to every command, which made a first apply 1.7 s slower.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


class CommandError(Exception):
    def __init__(self, result: Result):
        self.result = result
        err = result.stderr.strip() or result.stdout.strip()
        super().__init__(f"{' '.join(result.argv)} exited {result.returncode}: {err[-2000:]}")


def run(argv: list[str], *, check: bool = True, timeout: float = 120, input: str | bytes | None = None,
        env: dict[str, str] | None = None) -> Result:
    """``env`` adds variables to the inherited environment (scripts get INSTANCE_ID this way)."""
    import sh  # lazy: not needed for --help, validate or plan

    if shutil.which(argv[0]) is None:
        res = Result(argv, 127, "", f"{argv[0]}: command not found")
        if check:
            raise CommandError(res)
        return res
    cmd = sh.Command("timeout")
    kw = dict(_ok_code=list(range(256)), _decode_errors="replace")
    if not sh.__version__.startswith("1."):
        kw["_return_cmd"] = True  # sh 2 returns str unless asked; sh 1 (Debian 12) always returns the command
    if input is not None:
        kw["_in"] = input
    if env:
        import os

        kw["_env"] = {**os.environ, **env}
    try:
        proc = cmd("--kill-after=5", f"{timeout:g}", *argv, **kw)
    except sh.CommandNotFound:
        res = Result(argv, 127, "", f"{argv[0]}: command not found")
    else:
        res = Result(argv, proc.exit_code, proc.stdout.decode() if isinstance(proc.stdout, bytes) else str(proc),
                     proc.stderr.decode(errors="replace") if isinstance(proc.stderr, bytes) else proc.stderr)
    if res.returncode in (124, 137) and not res.stderr.strip():
        res.stderr = f"timed out after {timeout:g} s"
    if check and res.returncode != 0:
        raise CommandError(res)
    return res
