"""The target root's account files: read passwd/group entries, write authorized_keys (pure reads)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from blockprov.paths import Paths, atomic_write


@dataclass
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


def accounts(paths: Paths) -> dict[str, Account]:
    out = {}
    try:
        for line in paths.inside("/etc/passwd").read_text().splitlines():
            f = line.split(":")
            if len(f) >= 7 and f[2].isdigit() and f[3].isdigit():
                out[f[0]] = Account(f[0], int(f[2]), int(f[3]), f[5], f[6])
    except FileNotFoundError:
        pass
    return out


@dataclass
class Group:
    name: str
    gid: int
    members: list[str]


def groups(paths: Paths) -> dict[str, Group]:
    out = {}
    try:
        for line in paths.inside("/etc/group").read_text().splitlines():
            f = line.split(":")
            if len(f) >= 4 and f[2].isdigit():
                out[f[0]] = Group(f[0], int(f[2]), [m for m in f[3].split(",") if m])
    except FileNotFoundError:
        pass
    return out


def owner_ids(paths: Paths, owner: str | None) -> tuple[int, int] | None:
    """(uid, gid) for ``user[:group]`` from the root's own account files (numbers pass through).

    Without a group, the user's primary group. None when a name is unknown there.
    """
    if not owner:
        return 0, 0
    user, _, group = owner.partition(":")
    acct = None if user.isdigit() else accounts(paths).get(user)
    uid = int(user) if user.isdigit() else acct.uid if acct else None
    if group:
        g = None if group.isdigit() else groups(paths).get(group)
        gid = int(group) if group.isdigit() else g.gid if g else None
    else:
        gid = acct.gid if acct else 0 if user.isdigit() else None
    if uid is None or gid is None:
        return None
    return uid, gid


def add_authorized_keys(paths: Paths, acct: Account, keys: list[str]) -> int:
    """Append keys not yet present; .ssh 0700 and the file 0600, owned by the user. Returns keys added."""
    home = paths.confined(acct.home or f"/home/{acct.name}")
    ssh = home / ".ssh"
    f = ssh / "authorized_keys"
    try:
        old = f.read_text()
    except FileNotFoundError:
        old = ""
    have = {ln.strip() for ln in old.splitlines()}
    new = [k.strip() for k in keys if k and k.strip() and k.strip() not in have]
    new = list(dict.fromkeys(new))  # the same key from metadata and from user-data is listed once
    ssh.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh, 0o700)
    os.chown(ssh, acct.uid, acct.gid)
    if new or not f.exists():
        text = old + ("" if not old or old.endswith("\n") else "\n") + "".join(k + "\n" for k in new)
        atomic_write(f, text, mode=0o600)
    os.chmod(f, 0o600)
    os.chown(f, acct.uid, acct.gid)
    return len(new)


def write_sudoers(paths: Paths, rules: dict[str, list[str]]) -> Path | None:
    if not rules:
        return None
    p = paths.inside("/etc/sudoers.d/90-blockprov-users")
    text = "# Written by blockprov users_groups\n" + "".join(
        f"{user} {rule}\n" for user, rs in sorted(rules.items()) for rule in rs)
    atomic_write(p, text, mode=0o440)
    os.chmod(p, 0o440)
    return p


def default_user(cfg: dict) -> dict | None:
    """The default user: ``default_user`` (or ``system_info.default_user``), renamed or extended by cloud-init's
    older ``user:`` key (a name, or a mapping), which oVirt sends as ``user: root`` (pure)."""
    d = cfg.get("default_user") or (cfg.get("system_info") or {}).get("default_user")
    d = dict(d) if isinstance(d, dict) else None
    u = cfg.get("user")
    if isinstance(u, str) and u:
        d = {**(d or {}), "name": u}
    elif isinstance(u, dict):
        d = {**(d or {}), **u}
    return d
