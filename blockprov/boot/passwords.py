"""Plain passwords are hashed (SHA-512 crypt) as soon as the config is merged, before anything is saved.

So config.json, instance-data*.json, logs and reports only ever hold hashes.
Hashing uses the C library's crypt(3) through Python's ``crypt`` module (in
Python 3.11, Debian 12's), else ``openssl passwd -6`` with the password on stdin
(never in argv). A password that cannot be hashed is never kept in plain text:
it becomes ``!`` (no password login) and the problem is reported.
"""

from __future__ import annotations

import copy

RANDOM = ("R", "RANDOM")


def is_hash(value: str) -> bool:
    return value.startswith(("$1$", "$5$", "$6$", "$y$", "$2b$", "$2y$", "!", "*"))


class HashError(Exception):
    """Neither crypt(3) nor openssl could hash the password."""


def _crypt():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PEP 594: gone in 3.13; openssl is the fallback
        try:
            import crypt
        except ImportError:
            return None
    return crypt


def _sha512(plain: str, salt: str | None) -> str:
    c = _crypt()
    if c is not None and "\n" not in plain:
        out = c.crypt(plain, f"$6${salt}" if salt else c.mksalt(c.METHOD_SHA512))
        if out and out.startswith("$6$"):
            return out
    from blockprov.run import run

    r = run(["openssl", "passwd", "-6", *(["-salt", salt] if salt else []), "-stdin"], input=plain + "\n",
            timeout=20, check=False)
    if r.returncode or not r.stdout.startswith("$6$"):
        raise HashError(f"openssl passwd exited {r.returncode}: {r.stderr.strip()[-120:]}")
    return r.stdout.strip()


def sha512(plain: str) -> str:
    return _sha512(plain, None)


def matches(hashed: str, plain: str) -> bool:
    """True when ``hashed`` (SHA-512 crypt) is the hash of ``plain``: re-hash with its salt and compare."""
    salt = _salt_of(hashed)
    try:
        return salt is not None and _sha512(plain, salt) == hashed
    except HashError:
        return False


def _salt_of(h: str) -> str | None:
    parts = h.split("$")
    return parts[2] if len(parts) >= 4 and parts[1] == "6" and not parts[2].startswith("rounds=") else None


def hashes_in(obj) -> list[str]:
    """Every SHA-512 crypt hash in a config (its earlier merge), to re-use for unchanged passwords."""
    if isinstance(obj, dict):
        return [h for v in obj.values() for h in hashes_in(v)]
    if isinstance(obj, list):
        return [h for v in obj for h in hashes_in(v)]
    if isinstance(obj, str):
        tail = obj.rpartition(":")[2] if not obj.startswith("$") else obj
        return [tail] if _salt_of(tail) else []
    return []


def sticky(previous: list[str], hasher=None):
    """A hasher that returns an earlier hash when it is the same password's.

    Hashes are salted, so without this every re-merge of an unchanged config
    (metadata refresh, reboot-time change detection) would look like a
    password change.
    """
    base = hasher or sha512

    def h(plain: str) -> str:
        return next((old for old in previous if matches(old, plain)), None) or base(plain)

    return h


def hash_config(cfg: dict, hasher=sha512, problems: list[str] | None = None) -> dict:
    """A copy of ``cfg`` with every plain password replaced by its hash (pure given ``hasher``). One that cannot
    be hashed becomes ``!`` (locked), and ``problems`` says so: the plain text is kept nowhere."""
    base = hasher

    def hasher(plain: str) -> str:  # noqa: F811 - the given hasher, made safe
        try:
            return base(plain)
        except Exception as exc:  # noqa: BLE001 - any failure: lock, report, go on
            if problems is not None:
                problems.append(f"a password could not be hashed ({exc}); that password is not set (locked)")
            return "!"

    out = copy.deepcopy(cfg)
    users = out.get("users")
    for u in [users] if isinstance(users, dict) else users if isinstance(users, list) else []:
        if not isinstance(u, dict):
            continue
        for key in ("passwd", "plain_text_passwd"):
            v = u.pop(key, None)
            if isinstance(v, str) and v:
                u["hashed_passwd"] = v if key == "passwd" and is_hash(v) else hasher(v)
    if isinstance(out.get("password"), str) and out["password"] not in RANDOM and not is_hash(out["password"]):
        out["password"] = hasher(out["password"])
    cp = out.get("chpasswd")
    if isinstance(cp, dict):
        lst = cp.get("list")
        if isinstance(lst, str):
            lst = lst.splitlines()
        if isinstance(lst, list):
            new = []
            for line in lst:
                user, sep, pw = str(line).partition(":")
                if sep and pw and pw not in RANDOM and not is_hash(pw):
                    pw = hasher(pw)
                new.append(f"{user}:{pw}" if sep else str(line))
            cp["list"] = new
        cp_users = cp.get("users")
        for u in cp_users if isinstance(cp_users, list) else []:
            if isinstance(u, dict) and isinstance(u.get("password"), str) and u.get("type", "hash") == "text":
                u["password"], u["type"] = hasher(u["password"]), "hash"
    return out
