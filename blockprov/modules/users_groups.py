"""users_groups: groups, users (and the default user), their sudo rules and ssh keys, with the real tools.

``groupadd``/``useradd``/``usermod`` run with ``--root`` so a temp root's own
passwd, shadow and group files change. Existing users keep their password and
get missing groups and keys added. Public keys from the datasource and the
top-level ``ssh_authorized_keys`` go to the default user, or to root when there
is none.
"""

from __future__ import annotations

from blockprov.modules import _accounts as acc
from blockprov.storage.run import run
from blockprov.modules._schema import STRING_OR_STRINGS, STRINGS

FREQUENCY = "per-instance"
DESCRIPTION = "create groups and users, sudo rules and authorized keys"
RERUNNABLE = True
DATASOURCE_INPUTS = ("public_keys",)
USER_KEYS = {"name", "gecos", "groups", "primary_group", "sudo", "shell", "lock_passwd", "hashed_passwd", "passwd",
             "ssh_authorized_keys", "system", "uid", "homedir", "no_create_home", "inactive", "expiredate",
             "plain_text_passwd"}
_USER = {"oneOf": [{"type": "string"}, {"type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1}, "gecos": {"type": "string"},
                   "groups": STRING_OR_STRINGS, "primary_group": {"type": "string"},
                   "sudo": {"oneOf": [{"type": "string"}, STRINGS, {"const": False}, {"type": "null"}]},
                   "shell": {"type": "string"}, "lock_passwd": {"type": "boolean"},
                   "hashed_passwd": {"type": "string"}, "passwd": {"type": "string"},
                   "plain_text_passwd": {"type": "string"}, "ssh_authorized_keys": STRING_OR_STRINGS,
                   "system": {"type": "boolean"}, "uid": {"type": "integer", "minimum": 0},
                   "homedir": {"type": "string"}, "no_create_home": {"type": "boolean"},
                   "inactive": {"type": ["string", "integer"]}, "expiredate": {"type": "string"}}}]}
SCHEMA = {"type": "object", "properties": {
    "users": {"oneOf": [{"type": "array", "items": _USER}, _USER]},
    "groups": {"oneOf": [{"type": "string"}, {"type": "object"},
                         {"type": "array", "items": {"oneOf": [{"type": "string"}, {
                             "type": "object", "minProperties": 1, "maxProperties": 1,
                             "additionalProperties": {"oneOf": [{"type": "string"}, STRINGS, {"type": "null"}]}}]}}]},
    "default_user": {"type": "object", "properties": {"name": {"type": "string"}}},
    "user": {"oneOf": [{"type": "string", "minLength": 1}, {"type": "object", "properties": {"name": {"type": "string"}}}]},
    "ssh_authorized_keys": STRING_OR_STRINGS}}


class UsersError(ValueError):
    pass


def normalize_users(cfg: dict) -> list[dict]:
    """The users list with ``default`` resolved and every entry a checked mapping (pure)."""
    raw = cfg.get("users")
    default = acc.default_user(cfg)
    if raw is None:
        raw = ["default"] if default else []
    if isinstance(raw, (str, dict)):
        raw = [raw]
    if not isinstance(raw, list):
        raise UsersError("$.users: must be a list")
    out = []
    for i, u in enumerate(raw):
        where = f"$.users[{i}]"
        if u == "default":
            if not isinstance(default, dict) or not default.get("name"):
                continue
            u = {**default, "_default": True}
        elif isinstance(u, str):
            u = {"name": u}
        if not isinstance(u, dict) or not isinstance(u.get("name"), str) or not u["name"]:
            raise UsersError(f"{where}: a user is a name or a mapping with name")
        unknown = set(u) - USER_KEYS - {"_default"}
        if unknown:
            raise UsersError(f"{where}: unknown keys {sorted(unknown)}")
        groups = u.get("groups") or []
        if isinstance(groups, str):
            groups = [g.strip() for g in groups.split(",") if g.strip()]
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise UsersError(f"{where}.groups: a list or comma-separated string of group names")
        keys = u.get("ssh_authorized_keys") or []
        if isinstance(keys, str):
            keys = [keys]
        if "uid" in u and not (isinstance(u["uid"], int) and u["uid"] >= 0):
            raise UsersError(f"{where}.uid: a non-negative integer")
        sudo = u.get("sudo")
        if sudo not in (None, False) and not isinstance(sudo, (str, list)):
            raise UsersError(f"{where}.sudo: a rule string, a list of rules, or false")
        out.append({**u, "groups": groups, "ssh_authorized_keys": [str(k) for k in keys]})
    return out


def normalize_groups(cfg: dict) -> dict[str, list[str]]:
    """{group: [members]} from a list of names, {group: members} items, or a comma-separated string (pure)."""
    raw = cfg.get("groups") or []
    if isinstance(raw, str):
        raw = [g.strip() for g in raw.split(",") if g.strip()]
    if isinstance(raw, dict):
        raw = [{k: v} for k, v in raw.items()]
    if not isinstance(raw, list):
        raise UsersError("$.groups: a list of names or {group: [members]}")
    out: dict[str, list[str]] = {}
    for i, g in enumerate(raw):
        if isinstance(g, str):
            out[g] = []
        elif isinstance(g, dict) and len(g) == 1:
            name, members = next(iter(g.items()))
            out[str(name)] = [members] if isinstance(members, str) else [str(m) for m in members or []]
        else:
            raise UsersError(f"$.groups[{i}]: a group name or {{group: [members]}}")
    return out


def handle(ctx, args):
    cfg = {**ctx.cfg, **args}
    root = str(ctx.paths.root)
    wanted_groups = normalize_groups(cfg)
    users = normalize_users(cfg)
    have_groups = acc.groups(ctx.paths)
    made = []
    for g in sorted(set(wanted_groups) | {g for u in users for g in u["groups"]}):
        if g not in have_groups:
            run(["groupadd", "--root", root, g], timeout=60)
            made.append(f"group {g}")
    have = acc.accounts(ctx.paths)
    sudo_rules: dict[str, list[str]] = {}
    for u in users:
        name = u["name"]
        if name not in have:
            argv = ["useradd", "--root", root]
            argv += ["--comment", u["gecos"]] if u.get("gecos") else []
            argv += ["--shell", u["shell"]] if u.get("shell") else []
            argv += ["--uid", str(u["uid"])] if "uid" in u else []
            argv += ["--home-dir", u["homedir"]] if u.get("homedir") else []
            argv += ["--gid", u["primary_group"]] if u.get("primary_group") else []
            argv += ["--system"] if u.get("system") else []
            argv += ["--no-create-home"] if u.get("no_create_home") or u.get("system") else ["--create-home"]
            argv += ["--groups", ",".join(u["groups"])] if u["groups"] else []
            run(argv + [name], timeout=60)
            if u.get("hashed_passwd") and u.get("lock_passwd") is False:
                # on stdin: a hash on a command line is in /proc/PID/cmdline for every local user to read
                run(["chpasswd", "--root", root, "--encrypted"], input=f"{name}:{u['hashed_passwd']}\n", timeout=60)
            made.append(f"user {name}")
        elif u["groups"]:
            run(["usermod", "--root", root, "--append", "--groups", ",".join(u["groups"]), name], timeout=60)
        if u.get("lock_passwd", True) and not u.get("system"):
            run(["usermod", "--root", root, "--lock", name], timeout=60)
        sudo = u.get("sudo")
        if sudo:
            sudo_rules[name] = [sudo] if isinstance(sudo, str) else [str(r) for r in sudo]
    for g, members in wanted_groups.items():
        for m in members:
            run(["usermod", "--root", root, "--append", "--groups", g, m], timeout=60)
    acc.write_sudoers(ctx.paths, sudo_rules)
    have = acc.accounts(ctx.paths)
    for u in users:
        if u["ssh_authorized_keys"]:
            acc.add_authorized_keys(ctx.paths, have[u["name"]], u["ssh_authorized_keys"])
    top = cfg.get("ssh_authorized_keys") or []
    top = [top] if isinstance(top, str) else list(top)
    top += list(getattr(ctx.datasource, "public_keys", []) or [])
    if top:
        default = next((u["name"] for u in users if u.get("_default")), None)
        owner = have.get(default) if default else have.get("root")
        if owner is None:
            raise UsersError("ssh_authorized_keys: no default user and no root account in the target")
        acc.add_authorized_keys(ctx.paths, owner, [str(k) for k in top])
    return ", ".join(made) or "nothing to create"
