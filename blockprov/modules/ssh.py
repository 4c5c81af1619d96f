"""ssh: new host keys for a new instance (a cloned image must not share them).

``ssh_deletekeys`` (default true) removes ``etc/ssh/ssh_host_*_key*``;
``ssh_keys`` (``rsa_private``, ``rsa_public``, ``rsa_certificate``, likewise
``ecdsa_``/``ed25519_``) are written as those host keys, as cloud-init does
(private keys 0600, the others 0644); ``ssh_genkeytypes`` (default [rsa, ecdsa,
ed25519]) are generated with ``ssh-keygen`` for the types still missing.
"""

from __future__ import annotations

from blockprov.run import run
from blockprov.modules._meta import ModuleMeta

TYPES = ("rsa", "ecdsa", "ed25519")
KEY_FILES = {"private": "ssh_host_{t}_key", "public": "ssh_host_{t}_key.pub", "certificate": "ssh_host_{t}_key-cert.pub"}
SCHEMA = {"type": "object", "properties": {
    "ssh_keys": {"type": "object", "additionalProperties": False, "properties": {
        f"{t}_{kind}": {"type": "string", "minLength": 1} for t in TYPES for kind in KEY_FILES}},
    "ssh_deletekeys": {"type": "boolean"},
    "ssh_genkeytypes": {"type": "array", "items": {"enum": ["rsa", "ecdsa", "ed25519"]}}}}

META = ModuleMeta(
    "ssh",
    frequency="per-instance",
    description="regenerate ssh host keys",
    rerunnable=False,
    schema=SCHEMA,
)


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
    from blockprov.paths import atomic_write

    given = []
    for name, text in sorted((cfg.get("ssh_keys") or {}).items()):
        t, _, kind = name.partition("_")
        if t in TYPES and kind in KEY_FILES:
            atomic_write(d / KEY_FILES[kind].format(t=t), text if text.endswith("\n") else text + "\n",
                         mode=0o600 if kind == "private" else 0o644)
            given.append(name)
    made = []
    for t in types:
        key = d / f"ssh_host_{t}_key"
        if not key.exists():
            run(["ssh-keygen", "-q", "-t", t, "-N", "", "-C", f"root@{ctx.iid}", "-f", str(key)], timeout=120)
            made.append(t)
    return (f"removed {removed} old key file(s), " + (f"wrote {', '.join(given)}, " if given else "")
            + f"generated {', '.join(made) or 'none'}")
