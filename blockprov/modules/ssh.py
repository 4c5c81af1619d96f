"""ssh: new host keys for a new instance (a cloned image must not share them).

``ssh_deletekeys`` (default true) removes ``etc/ssh/ssh_host_*_key*``;
``ssh_genkeytypes`` (default [rsa, ecdsa, ed25519]) are generated with
``ssh-keygen`` into the root's ``etc/ssh``.
"""

from __future__ import annotations

from blockprov.storage.run import run

FREQUENCY = "per-instance"
DESCRIPTION = "regenerate ssh host keys"
RERUNNABLE = False
TYPES = ("rsa", "ecdsa", "ed25519")
SCHEMA = {"type": "object", "properties": {
    "ssh_deletekeys": {"type": "boolean"},
    "ssh_genkeytypes": {"type": "array", "items": {"enum": ["rsa", "ecdsa", "ed25519"]}}}}


def handle(ctx, args):
    cfg = {**ctx.cfg, **args}
    d = ctx.paths.inside("/etc/ssh")
    if not d.is_dir():
        return "no etc/ssh in the target: nothing to do"
    types = cfg.get("ssh_genkeytypes", list(TYPES))
    if not isinstance(types, list) or any(t not in TYPES for t in types):
        raise ValueError(f"$.ssh_genkeytypes: a list of {', '.join(TYPES)}")
    removed = 0
    if cfg.get("ssh_deletekeys", True):
        for p in d.glob("ssh_host_*key*"):
            p.unlink()
            removed += 1
    made = []
    for t in types:
        key = d / f"ssh_host_{t}_key"
        if not key.exists():
            run(["ssh-keygen", "-q", "-t", t, "-N", "", "-C", f"root@{ctx.iid}", "-f", str(key)], timeout=120)
            made.append(t)
    return f"removed {removed} old key file(s), generated {', '.join(made) or 'none'}"
