"""Run external commands: argv lists only, a timeout always, output captured.

A thin wrapper over ``sh`` so every command the agent runs is logged the same
way and the report can carry its stderr.
"""

from __future__ import annotations

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


def run(argv: list[str], *, check: bool = True, timeout: float = 120, input: str | bytes | None = None) -> Result:
    import sh  # lazy: not needed for --help, validate or plan

    cmd = sh.Command(argv[0])
    kw = dict(_timeout=timeout, _ok_code=list(range(256)), _return_cmd=True, _decode_errors="replace")
    if input is not None:
        kw["_in"] = input
    try:
        proc = cmd(*argv[1:], **kw)
    except sh.CommandNotFound:
        res = Result(argv, 127, "", f"{argv[0]}: command not found")
    except sh.TimeoutException:
        res = Result(argv, 124, "", f"timed out after {timeout} s")
    else:
        res = Result(argv, proc.exit_code, proc.stdout.decode() if isinstance(proc.stdout, bytes) else str(proc),
                     proc.stderr.decode(errors="replace") if isinstance(proc.stderr, bytes) else proc.stderr)
    if check and res.returncode != 0:
        raise CommandError(res)
    return res
