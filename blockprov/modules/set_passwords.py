"""set_passwords: ``chpasswd`` lists (root's password included), the default user's ``password``, ``ssh_pwauth``.

Passwords arrive here already hashed (blockprov.boot.passwords hashes every plain
one when the config is merged) and are set with ``chpasswd --root -e``.
``RANDOM``/``R`` is not supported: blockprov never prints passwords.
``ssh_pwauth`` writes ``etc/ssh/sshd_config.d/50-blockprov.conf``.
"""

from __future__ import annotations

from blockprov.modules import _accounts as acc
from blockprov.boot.passwords import RANDOM, is_hash
from blockprov.paths import atomic_write
from blockprov.run import run
from blockprov.modules._schema import STRINGS
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {
    "chpasswd": {"type": "object", "properties": {
        "list": {"oneOf": [{"type": "string"}, STRINGS]},
        "users": {"type": "array", "items": {"type": "object", "required": ["name", "password"], "properties": {
            "name": {"type": "string"}, "password": {"type": "string"}, "type": {"enum": ["hash", "text", "RANDOM"]}}}},
        "expire": {"type": "boolean"}}},
    "password": {"type": "string"}, "user": {"oneOf": [{"type": "string"}, {"type": "object"}]},
    "default_user": {"type": "object"}, "ssh_pwauth": {"enum": [True, False, "unchanged", "yes", "no"]}}}

META = ModuleMeta(
    "set_passwords",
    frequency="per-instance",
    description="set passwords (chpasswd) and ssh password authentication",
    rerunnable=True,
    schema=SCHEMA,
)


def pairs(cfg: dict) -> list[tuple[str, str]]:
    """(user, hash) pairs from chpasswd.list, chpasswd.users and password (pure; hashes only)."""
    out = []
    cp = cfg.get("chpasswd") or {}
    if not isinstance(cp, dict):
        raise ValueError("$.chpasswd: must be a mapping")
    lst = cp.get("list") or []
    lst = lst.splitlines() if isinstance(lst, str) else lst
    for i, line in enumerate(lst):
        user, sep, pw = str(line).partition(":")
        if not sep or not user or not pw:
            raise ValueError(f"$.chpasswd.list[{i}]: expected user:password")
        out.append((user, pw, f"$.chpasswd.list[{i}]"))
    for i, u in enumerate(cp.get("users") or []):
        if not isinstance(u, dict) or not u.get("name") or not isinstance(u.get("password"), str):
            raise ValueError(f"$.chpasswd.users[{i}]: needs name and password")
        out.append((u["name"], u["password"], f"$.chpasswd.users[{i}]"))
    default = acc.default_user(cfg) or {}
    if isinstance(cfg.get("password"), str) and isinstance(default, dict) and default.get("name"):
        out.append((default["name"], cfg["password"], "$.password"))
    res = []
    for user, pw, where in out:
        if pw in RANDOM:
            raise ValueError(f"{where}: RANDOM passwords are not supported (blockprov never prints passwords)")
        if not is_hash(pw):
            raise ValueError(f"{where}: not hashed (internal error: plain passwords are hashed at merge)")
        res.append((user, pw))
    return res


def handle(ctx, args):
    cfg = {**ctx.cfg, **args}
    done = []
    ps = pairs(cfg)
    if ps:
        run(["chpasswd", "--root", str(ctx.paths.root), "--encrypted"],
            input="".join(f"{u}:{h}\n" for u, h in ps), timeout=60)
        done.append(f"passwords of {', '.join(u for u, _ in ps)}")
        cp = cfg.get("chpasswd") or {}
        if cp.get("expire", True):  # cloud-init's default: a password set from metadata is changed at first login
            for u, _ in ps:
                run(["chage", "--root", str(ctx.paths.root), "--lastday", "0", u], timeout=60)
    pw = cfg.get("ssh_pwauth")
    if pw is not None and pw != "unchanged":
        if not isinstance(pw, bool):
            raise ValueError("$.ssh_pwauth: true, false or unchanged")
        atomic_write(ctx.paths.inside("/etc/ssh/sshd_config.d/50-blockprov.conf"),
                     f"# Written by blockprov set_passwords (ssh_pwauth)\nPasswordAuthentication {'yes' if pw else 'no'}\n")
        done.append(f"ssh password authentication {'on' if pw else 'off'}")
    return "; ".join(done)
