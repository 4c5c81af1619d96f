"""apt_configure: apt sources, keys, proxy, apt.conf snippets and debconf answers, from ``apt:``.

What is written (all inside the target root, nothing else touched):

- ``sources``: one ``etc/apt/sources.list.d/<filename>`` per file name (entries
  sharing a file name are joined in config order); a ``key`` (ASCII-armored)
  goes to ``etc/apt/keyrings/<name>.asc`` and the source is bound to it with
  ``signed-by`` (``$KEY_FILE`` in the source is that path; a source without
  ``signed-by`` gets it added), never to a global trust store.
- ``sources_list`` / ``primary`` / ``security``: ``etc/apt/sources.list``
  rendered (only when one of them is given and ``preserve_sources_list`` is
  not true); ``disable_suites`` comments out the lines of those suites.
- ``proxy``/``http_proxy``/``https_proxy``/``ftp_proxy``: ``etc/apt/apt.conf.d/90blockprov-aptproxy``
  (0600 when a proxy URL holds credentials); ``conf``: ``94blockprov-config``;
  ``apt_pipelining`` (top level): ``90blockprov-pipelining``. Removing the key
  removes the file.
- ``debconf_selections``: fed to ``debconf-set-selections`` in the target.

Substitutions in sources: ``$RELEASE`` (the target's VERSION_CODENAME),
``$MIRROR``/``$PRIMARY`` (the primary mirror), ``$SECURITY``, ``$KEY_FILE``.
An entry blockprov cannot carry out (``keyid`` without ``key``: that needs a
keyserver on the internet; ``ppa:``) is that entry's warning; the others apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from blockprov.modules._meta import ModuleMeta


_MIRROR = {"type": "array", "items": {"type": "object", "properties": {
    "arches": {"type": "array", "items": {"type": "string"}}, "uri": {"type": "string", "minLength": 1},
    "search": {"type": "array", "items": {"type": "string"}}, "search_dns": {"type": "boolean"},
    "keyid": {"type": "string"}, "key": {"type": "string"}}}}
_SOURCE = {"type": "object", "additionalProperties": False, "properties": {
    "source": {"type": "string"}, "key": {"type": "string"}, "keyid": {"type": "string"},
    "keyserver": {"type": "string"}, "filename": {"type": "string", "pattern": r"^[A-Za-z0-9_.:+-]+$"},
    "append": {"type": "boolean"}}}
APT = {"type": "object", "additionalProperties": False, "properties": {
    "preserve_sources_list": {"type": "boolean"},
    "disable_suites": {"type": "array", "items": {"type": "string"}},
    "primary": _MIRROR, "security": _MIRROR,
    "sources_list": {"type": "string"},
    "conf": {"type": "string"},
    "proxy": {"type": "string"}, "http_proxy": {"type": "string"}, "https_proxy": {"type": "string"},
    "ftp_proxy": {"type": "string"},
    "add_apt_repo_match": {"type": "string"},
    "debconf_selections": {"type": "object", "additionalProperties": {"type": "string"}},
    "sources": {"type": "object", "additionalProperties": _SOURCE}}}
SCHEMA = {"type": "object", "properties": {
    "apt": APT,
    "apt_pipelining": {"oneOf": [{"type": "boolean"}, {"type": "integer", "minimum": 0}, {"enum": ["os", "none",
                                                                                                      "unchanged"]}]}}}
# sources are checked one by one (a bad entry is that entry's warning)
RUN_SCHEMA = {"type": "object", "properties": {
    "apt": {**APT, "properties": {**APT["properties"], "sources": {"type": "object"}}},
    "apt_pipelining": SCHEMA["properties"]["apt_pipelining"]}}

META = ModuleMeta(
    "apt_configure",
    frequency="per-instance",
    description="configure apt sources, keys, proxy and debconf",
    rerunnable=True,
    schema=SCHEMA,
    run_schema=RUN_SCHEMA,
)

DEBIAN_PRIMARY = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
PROXY_FILE = "/etc/apt/apt.conf.d/90blockprov-aptproxy"
CONF_FILE = "/etc/apt/apt.conf.d/94blockprov-config"
PIPELINING_FILE = "/etc/apt/apt.conf.d/90blockprov-pipelining"
KEYRINGS = "/etc/apt/keyrings"


@dataclass
class AptPlan:
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # target path -> (content, mode)
    remove: list[str] = field(default_factory=list)  # our own files that the config no longer asks for
    debconf: str = ""
    warnings: list[str] = field(default_factory=list)


def _mirror(entries, default: str) -> str:
    """The uri of the first entry whose arches include "default" or none (blockprov does not probe ``search``)."""
    for e in entries or []:
        if isinstance(e, dict) and e.get("uri") and (not e.get("arches") or "default" in e["arches"]
                                                     or "amd64" in e["arches"]):
            return e["uri"]
    return default


def _substitute(text: str, subs: dict[str, str]) -> str:
    for k in sorted(subs, key=len, reverse=True):  # $MIRROR before $MIRRORS-like prefixes
        text = text.replace("$" + k, subs[k])
    return text


def _signed(line: str, keyfile: str) -> str:
    """A one-line source bound to ``keyfile`` with ``signed-by``, unless it names a keyring already."""
    m = re.match(r"^(\s*deb(?:-src)?)(\s+\[([^\]]*)\])?(\s+.*)$", line)
    if not m or "signed-by=" in (m.group(3) or ""):
        return line
    opts = (m.group(3) or "").strip()
    return f"{m.group(1)} [{(opts + ' ') if opts else ''}signed-by={keyfile}]{m.group(4)}"


def _disable(text: str, suites: list[str], subs: dict[str, str]) -> str:
    want = {_substitute(s, subs) for s in suites}
    out = []
    for line in text.splitlines():
        f = re.sub(r"\[[^\]]*\]", " ", line).split()
        if len(f) >= 3 and f[0] in ("deb", "deb-src") and f[2] in want:
            line = f"# suite disabled by blockprov: {line}"
        out.append(line)
    return "\n".join(out) + "\n"


def plan(cfg: dict, release: str, current_sources_list: str | None) -> AptPlan:
    """Every file ``apt:`` asks for, from the config and the target's release (pure)."""
    apt = cfg.get("apt") or {}
    p = AptPlan()
    primary = _mirror(apt.get("primary"), DEBIAN_PRIMARY)
    subs = {"RELEASE": release, "MIRROR": primary, "PRIMARY": primary,
            "SECURITY": _mirror(apt.get("security"), DEBIAN_SECURITY)}

    # sources.list itself: only when asked for, never by default
    wants_list = any(k in apt for k in ("sources_list", "primary", "security"))
    if wants_list and not apt.get("preserve_sources_list", False):
        tmpl = apt.get("sources_list") or ("deb $PRIMARY $RELEASE main\n"
                                           "deb $PRIMARY $RELEASE-updates main\n"
                                           "deb $SECURITY $RELEASE-security main\n")
        text = _substitute(tmpl, subs)
        if apt.get("disable_suites"):
            text = _disable(text, apt["disable_suites"], subs)
        p.files["/etc/apt/sources.list"] = ("## written by blockprov from apt: in the cloud-config\n" + text, 0o644)
    elif apt.get("disable_suites") and current_sources_list is not None:
        p.files["/etc/apt/sources.list"] = (_disable(current_sources_list, apt["disable_suites"], subs), 0o644)

    # sources.list.d and keyrings
    lists: dict[str, list[str]] = {}
    for name, ent in (apt.get("sources") or {}).items():
        where = f"$.apt.sources.{name}"
        if not isinstance(ent, dict):
            p.warnings.append(f"{where}: must be a mapping; left out")
            continue
        from blockprov.modules._schema import errors_of

        bad = errors_of(_SOURCE, ent, where)
        if bad:
            p.warnings.append("; ".join(bad) + "; left out")
            continue
        src = ent.get("source", "")
        if src.strip().startswith("ppa:"):
            p.warnings.append(f"{where}.source: {src!r}: PPAs (add-apt-repository, Ubuntu) are not supported "
                              "on Debian; left out")
            continue
        key = ent.get("key")
        if ent.get("keyid") and not key:
            p.warnings.append(f"{where}.keyid: fetching keys from a keyserver needs the internet and is not "
                              "done; give the ASCII-armored key as `key`; left out")
            continue
        stem = re.sub(r"\.(list|sources)$", "", ent.get("filename") or name)
        keyfile = f"{KEYRINGS}/{stem}.asc"
        if key is not None:
            if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in key:
                p.warnings.append(f"{where}.key: not an ASCII-armored public key (-----BEGIN PGP PUBLIC KEY "
                                  "BLOCK-----); left out")
                continue
            p.files[keyfile] = (key if key.endswith("\n") else key + "\n", 0o644)
        if not src:
            continue
        line = _substitute(src, {**subs, "KEY_FILE": keyfile})
        if key is not None:
            line = "\n".join(_signed(ln, keyfile) for ln in line.splitlines())
        fname = ent.get("filename") or name
        if not fname.endswith((".list", ".sources")):
            fname += ".list"
        if "/" in fname or fname.startswith("."):
            p.warnings.append(f"{where}.filename: {fname!r} is not a plain file name; left out")
            continue
        if ent.get("append", True) or fname not in lists:
            lists.setdefault(fname, []).append(line.rstrip("\n"))
        else:
            lists[fname] = [line.rstrip("\n")]
    for fname, lines in lists.items():
        p.files[f"/etc/apt/sources.list.d/{fname}"] = ("\n".join(lines) + "\n", 0o644)

    # apt.conf.d snippets: ours are removed when the config stops asking for them
    proxies = [(scheme, apt.get(key)) for scheme, key in (("http", "http_proxy"), ("https", "https_proxy"),
                                                          ("ftp", "ftp_proxy"))]
    if apt.get("proxy") and not apt.get("http_proxy"):
        proxies[0] = ("http", apt["proxy"])
    lines = [f'Acquire::{scheme}::Proxy "{url}";' for scheme, url in proxies if url]
    if lines:
        secret = any("@" in url for _, url in proxies if url)
        p.files[PROXY_FILE] = ("\n".join(lines) + "\n", 0o600 if secret else 0o644)
    else:
        p.remove.append(PROXY_FILE)
    if apt.get("conf"):
        p.files[CONF_FILE] = (apt["conf"] if apt["conf"].endswith("\n") else apt["conf"] + "\n", 0o644)
    else:
        p.remove.append(CONF_FILE)
    pipe = cfg.get("apt_pipelining", "os")
    if pipe in ("os", "unchanged", None):
        p.remove.append(PIPELINING_FILE)
    else:
        depth = 0 if pipe in (False, "none") else (3 if pipe is True else int(pipe))
        p.files[PIPELINING_FILE] = (f'Acquire::http::Pipeline-Depth "{depth}";\n', 0o644)
    sel = apt.get("debconf_selections") or {}
    p.debconf = "".join(v if v.endswith("\n") else v + "\n" for _, v in sorted(sel.items()))
    return p


def handle(ctx, args):
    import os

    from blockprov.modules import ModuleWarning
    from blockprov.modules._apt import in_target, os_release
    from blockprov.paths import write_if_changed
    from blockprov.run import run

    if "apt" not in ctx.cfg and "apt_pipelining" not in ctx.cfg:
        return ""
    release = os_release(ctx.paths).get("VERSION_CODENAME", "")
    current = ctx.paths.inside("/etc/apt/sources.list")
    p = plan(ctx.cfg, release, current.read_text() if current.is_file() else None)
    if not release and any("$RELEASE" in str(v) for v in (ctx.cfg.get("apt") or {}).values()):
        p.warnings.append("$RELEASE: the target's os-release has no VERSION_CODENAME; substituted as empty")
    written = []
    for path, (content, mode) in p.files.items():
        target = ctx.paths.inside(path)
        if target.parent.name == "keyrings":
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if write_if_changed(target, content, mode=mode):
            written.append(path)
    for path in p.remove:
        f = ctx.paths.inside(path)
        if f.exists():
            os.unlink(f)
            written.append(f"{path} (removed)")
    if p.debconf:
        r = run(in_target(ctx.paths, ["debconf-set-selections"]), check=False, input=p.debconf, timeout=120)
        if r.returncode:
            p.warnings.append(f"$.apt.debconf_selections: debconf-set-selections exited {r.returncode}: "
                              f"{r.stderr.strip()[-200:]}")
    msg = f"{len(written)} file(s) written" + (f": {', '.join(written)}" if written else "")
    if p.warnings:
        raise ModuleWarning("; ".join(p.warnings) + f" ({msg})")
    return msg
