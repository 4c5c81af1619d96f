"""Commands of bootcmd and runcmd: each entry is a string (run by sh) or an argv list.

Entries are checked one by one (``argv_of``): a bad entry is that entry's error,
named by its JSON path, and the others still run. bootcmd runs them here, each
in its own process with INSTANCE_ID set; runcmd writes them as one script.
"""

from __future__ import annotations

from blockprov.run import run

ANY_LIST = {"type": "array"}  # RUN_SCHEMA of a command list: entries are checked one by one here


def argv_of(c, path: str) -> list[str] | str:
    """The argv of an argv-list entry, the text of a string entry; ValueError naming ``path`` otherwise."""
    if isinstance(c, str):
        return c
    if isinstance(c, list) and any(isinstance(a, bool) for a in c):
        raise ValueError(f"{path}: {c!r} holds a YAML boolean (true/false/yes/no); quote it")
    if isinstance(c, list) and c and all(isinstance(a, (str, int, float)) for a in c):
        return [str(a) for a in c]
    raise ValueError(f"{path}: a command is a string or a non-empty list of strings, not {type(c).__name__}")


def run_commands(ctx, cmds, key: str, timeout: float = 600) -> str:
    from blockprov.modules import ModuleWarning

    if cmds is None:
        return ""
    if not isinstance(cmds, list):
        raise ValueError(f"$.{key}: must be a list of strings or argv lists")
    failed, ran = [], 0
    for i, c in enumerate(cmds):
        try:
            cmd = argv_of(c, f"$.{key}[{i}]")
        except ValueError as exc:
            failed.append(f"{exc}; not run")
            continue
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else cmd
        res = run(argv, check=False, timeout=timeout, env={"INSTANCE_ID": ctx.iid})  # 127/124: missing/too long
        ran += 1
        if ctx.log:
            ctx.log(f"{key}[{i}]: exit {res.returncode}\n{res.stdout}{res.stderr}")
        if res.returncode:
            failed.append(f"$.{key}[{i}] exited {res.returncode}: {res.stderr.strip()[-200:]}")
    if failed:
        raise ModuleWarning("; ".join(failed) + f" ({len(cmds) - len(failed)} of {len(cmds)} command(s) ok)")
    return f"ran {ran} command(s)"
