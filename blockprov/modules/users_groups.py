"""users_groups: groups, users (and the default user), their sudo rules and ssh keys, with the real tools.

``groupadd``/``useradd``/``usermod`` run with ``--root`` so a temp root's own
passwd, shadow and group files change. Existing users keep their password and
get missing groups and keys added. Public keys from the datasource and the
top-level ``ssh_authorized_keys`` go to the default user, or to root when there
is none.
"""

from __future__ import annotations

from blockprov.modules import _accounts as acc
from blockprov.run import run
from blockprov.modules._schema import STRING_OR_STRINGS, STRINGS
from blockprov.modules._meta import ModuleMeta

USER_KEYS = {"name", "gecos", "groups", "primary_group", "sudo", "shell", "lock_passwd", "hashed_passwd", "passwd",
             "ssh_authorized_keys", "system", "uid", "homedir", "no_create_home", "inactive", "expiredate",
             "plain_text_passwd"}
# cloud-init user keys blockprov does not carry out: the user is made without them, with a warning naming the key
UNSUPPORTED = {"ssh_import_id": "needs the internet (Launchpad/GitHub key servers)",
               "ssh_redirect_user": "not supported", "snapuser": "snapd is not part of Debian images",
               "selinux_user": "Debian images do not run SELinux", "doas": "not supported",
               "create_groups": "groups are always created"}
_USER = {"oneOf": [{"type": "string"}, {"type": "object", "anyOf": [{"required": ["name"]}, {"required": ["snapuser"]}],
                                         "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1}, "gecos": {"type": "string"},
                   "groups": STRING_OR_STRINGS, "primary_group": {"type": "string"},
                   "sudo": {"oneOf": [{"type": "string"}, STRINGS, {"const": False}, {"type": "null"}]},
                   "shell": {"type": "string"}, "lock_passwd": {"type": "boolean"},
                   "hashed_passwd": {"type": "string"}, "passwd": {"type": "string"},
                   "plain_text_passwd": {"type": "string"}, "ssh_authorized_keys": STRING_OR_STRINGS,
                   "system": {"type": "boolean"}, "uid": {"type": "integer", "minimum": 0},
                   "homedir": {"type": "string"}, "no_create_home": {"type": "boolean"},
                   "inactive": {"type": ["string", "integer"]}, "expiredate": {"type": "string"},
                   # valid cloud-init, not carried out: a warning at boot and from `blockprov schema` (_keys.py)
                   **{k: {} for k in UNSUPPORTED}}}]}
SCHEMA = {"type": "object", "properties": {
    "users": {"oneOf": [{"type": "array", "items": _USER}, _USER]},
    "groups": {"oneOf": [{"type": "string"}, {"type": "object"},
                         {"type": "array", "items": {"oneOf": [{"type": "string"}, {
                             "type": "object", "minProperties": 1, "maxProperties": 1,
                             "additionalProperties": {"oneOf": [{"type": "string"}, STRINGS, {"type": "null"}]}}]}}]},
    "default_user": {"type": "object", "properties": {"name": {"type": "string"}}},
    "user": {"oneOf": [{"type": "string", "minLength": 1}, {"type": "object", "properties": {"name": {"type": "string"}}}]},
    "ssh_authorized_keys": STRING_OR_STRINGS,
    "disable_root": {"type": ["boolean", "integer", "string"]},
    "disable_root_opts": {"type": "string"}}}
# what the stage runner checks before running: each user is checked on its own by normalize_users, so one bad user
# never cancels the others (``blockprov schema`` still reports every bad user by its path with SCHEMA)
_ANY_USER = {"type": ["string", "object"]}
RUN_SCHEMA = {**SCHEMA, "properties": {**SCHEMA["properties"],
                                       "users": {"oneOf": [{"type": "array", "items": _ANY_USER}, _ANY_USER]}}}

META = ModuleMeta(
    "users_groups",
    frequency="per-instance",
    description="create groups and users, sudo rules and authorized keys",
    rerunnable=True,
    schema=SCHEMA,
    run_schema=RUN_SCHEMA,
    datasource_inputs=("public_keys",),
)


class UsersError(ValueError):
    pass


def normalize_users(cfg: dict, problems: list[str] | None = None) -> list[dict]:
    """The users list with ``default`` resolved and every entry a checked mapping (pure). With ``problems``, a bad
    user is left out and its error (JSON path first) added there, and an unsupported key is dropped with a note;
    without it, the first bad user raises."""
    if problems is None:
        collected: list[str] = []
        out = normalize_users(cfg, collected)
        errors = [p for p in collected if not p.startswith("warning: ")]
        if errors:
            raise UsersError(errors[0])
        return out
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
        try:
            user = _one_user(u, where, default, problems)
        except UsersError as exc:
            problems.append(str(exc))
            continue
        if user is not None:
            out.append({**user, "_where": where})
    return out


def _one_user(u, where: str, default, problems: list[str]) -> dict | None:
    """One user entry checked on its own (its schema, then its values); None for ``default`` without one."""
    if u == "default":
        if not isinstance(default, dict) or not default.get("name"):
            return None
        u = {**default, "_default": True}
    elif isinstance(u, str):
        u = {"name": u}
    if isinstance(u, dict) and "name" not in u and "snapuser" in u:
        problems.append(f"warning: {where}.snapuser: {UNSUPPORTED['snapuser']}; entry skipped")
        return None
    if not isinstance(u, dict) or not isinstance(u.get("name"), str) or not u["name"]:
        raise UsersError(f"{where}: a user is a name or a mapping with name")
    for key in sorted(set(u) & set(UNSUPPORTED)):
        problems.append(f"warning: {where}.{key}: {UNSUPPORTED[key]}; user {u['name']} is made without it")
    u = {k: v for k, v in u.items() if k not in UNSUPPORTED}
    unknown = set(u) - USER_KEYS - {"_default"}
    if unknown:
        raise UsersError(f"{where}: unknown keys {sorted(unknown)}; user {u['name']} is not made")
    _check_user_schema({k: v for k, v in u.items() if k != "_default"}, where)
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
    return {**u, "groups": groups, "ssh_authorized_keys": [str(k) for k in keys]}


def _check_user_schema(u: dict, where: str) -> None:
    import jsonschema

    err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(_USER["oneOf"][1]).iter_errors(u))
    if err is not None:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        raise UsersError(f"{where}{path}: {err.message}; user {u.get('name')} is not made")


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
    from blockprov.modules import ModuleWarning

    cfg = {**ctx.cfg, **args}
    root = str(ctx.paths.root)
    wanted_groups = normalize_groups(cfg)
    problems: list[str] = []
    users = normalize_users(cfg, problems)
    have_groups = acc.groups(ctx.paths)
    made = []
    for g in sorted(set(wanted_groups) | {g for u in users for g in u["groups"]}):
        if g not in have_groups:
            run(["groupadd", "--root", root, g], timeout=60)
            made.append(f"group {g}")
    have = acc.accounts(ctx.paths)
    sudo_rules: dict[str, list[str]] = {}
    for u in users:
        try:
            _make_user(ctx, root, u, have, made, sudo_rules)
        except Exception as exc:  # noqa: BLE001 - one user's failure never stops the others
            problems.append(f"{u.get('_where', '$.users')}: {exc}; user {u['name']} is not (fully) made")
    for g, members in wanted_groups.items():
        for m in members:
            try:
                run(["usermod", "--root", root, "--append", "--groups", g, m], timeout=60)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"$.groups.{g}: {m}: {exc}")
    acc.write_sudoers(ctx.paths, sudo_rules)
    have = acc.accounts(ctx.paths)
    for u in users:
        if u["ssh_authorized_keys"] and u["name"] in have:
            acc.add_authorized_keys(ctx.paths, have[u["name"]], u["ssh_authorized_keys"])
    top = cfg.get("ssh_authorized_keys") or []
    top = [str(k) for k in ([top] if isinstance(top, str) else list(top))]
    top += [str(k) for k in getattr(ctx.datasource, "public_keys", []) or []]
    if top:
        _instance_keys(ctx, cfg, users, have, top, problems)
    summary = ", ".join(made) or "nothing to create"
    if problems:
        raise ModuleWarning(summary + "; " + "; ".join(p.removeprefix("warning: ") for p in problems))
    return summary


DISABLE_ROOT_OPTS = ('no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo \'Please login as the '
                     'user \\"$USER\\" rather than the user \\"$DISABLE_USER\\".\';echo;sleep 10;exit 142"')


def _instance_keys(ctx, cfg: dict, users: list[dict], have: dict, keys: list[str], problems: list[str]) -> None:
    """The instance's keys (top-level ``ssh_authorized_keys`` and the datasource's) as cloud-init places them: for
    the default user; for root too, behind ``disable_root_opts`` (a refusal naming the default user) unless
    ``disable_root: false``."""
    default = next((u["name"] for u in users if u.get("_default")), None)
    if default and default in have:
        acc.add_authorized_keys(ctx.paths, have[default], keys)
    root = have.get("root")
    if root is None:
        if not default:
            problems.append("$.ssh_authorized_keys: no default user and no root account in the target")
        return
    disable = cfg.get("disable_root", True)
    disable = disable if isinstance(disable, bool) else str(disable).lower() not in ("0", "false", "no", "off")
    if disable and default != "root":
        opts = str(cfg.get("disable_root_opts") or DISABLE_ROOT_OPTS)
        opts = opts.replace("$USER", default or "NONE").replace("$DISABLE_USER", "root")
        acc.add_authorized_keys(ctx.paths, root, [f"{opts} {k}" for k in keys])
    elif not disable or default == "root":
        acc.add_authorized_keys(ctx.paths, root, keys)


def _make_user(ctx, root: str, u: dict, have: dict, made: list[str], sudo_rules: dict) -> None:
    """useradd (or usermod for an existing user), lock, sudo rules: one user's commands."""
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
