"""Run a list of commands (strings through sh, lists as argv) with INSTANCE_ID set; all run, failures named."""

from __future__ import annotations

from blockprov.storage.run import run


def run_commands(ctx, cmds, key: str, timeout: float = 600) -> str:
    if cmds is None:
        return ""
    if not isinstance(cmds, list):
        raise ValueError(f"$.{key}: must be a list of strings or argv lists")
    failed = []
    for i, c in enumerate(cmds):
        if isinstance(c, str):
            argv = ["sh", "-c", c]
        elif isinstance(c, list) and any(isinstance(a, bool) for a in c):
            raise ValueError(f"$.{key}[{i}]: {c!r} holds a YAML boolean (true/false/yes/no); quote it")
        elif isinstance(c, list) and c and all(isinstance(a, (str, int, float)) for a in c):
            argv = [str(a) for a in c]
        else:
            raise ValueError(f"$.{key}[{i}]: a command is a string or a non-empty list of strings")
        res = run(argv, check=False, timeout=timeout, env={"INSTANCE_ID": ctx.iid})
        if ctx.log:
            ctx.log(f"{key}[{i}]: exit {res.returncode}\n{res.stdout}{res.stderr}")
        if res.returncode:
            failed.append(f"$.{key}[{i}] exited {res.returncode}: {res.stderr.strip()[-200:]}")
    if failed:
        raise RuntimeError("; ".join(failed))
    return f"ran {len(cmds)} command(s)"
