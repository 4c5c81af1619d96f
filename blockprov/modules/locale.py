"""locale: generate the locale in the target's archive and make it the default (``LANG`` in etc/default/locale).

Generation uses ``localedef --prefix ROOT``, so a temp root gets its own
``usr/lib/locale/locale-archive``; the locale is also enabled in
``etc/locale.gen`` so a later ``locale-gen`` keeps it. ``locale: false``
leaves everything alone. ``C.UTF-8`` needs no generation.
"""

from __future__ import annotations

import re
from pathlib import Path

from blockprov.paths import atomic_write
from blockprov.run import run
from blockprov.modules._meta import ModuleMeta

SCHEMA = {"type": "object", "properties": {
    "locale": {"oneOf": [{"type": "string", "pattern": r"^[A-Za-z0-9_.@-]+$"}, {"const": False}]},
    "locale_configfile": {"type": "string", "pattern": "^/"}}}

META = ModuleMeta(
    "locale",
    frequency="per-instance",
    description="generate and set the system locale",
    rerunnable=True,
    schema=SCHEMA,
)
BUILTIN = ("C", "C.UTF-8", "C.utf8", "POSIX")


def supported(paths) -> dict[str, str]:
    """{locale: charset} from the target's usr/share/i18n/SUPPORTED (or the host's, which localedef reads)."""
    for f in (paths.inside("/usr/share/i18n/SUPPORTED"), Path("/usr/share/i18n/SUPPORTED")):
        try:
            lines = f.read_text().splitlines()
        except OSError:
            continue
        return dict(ln.split(None, 1) for ln in lines if len(ln.split()) == 2)
    return {}


def _archived(paths, name: str) -> bool:
    r = run(["localedef", "--prefix", str(paths.root), "--list-archive"], check=False, timeout=60)
    norm = name.replace("UTF-8", "utf8").replace("utf-8", "utf8")
    return norm in r.stdout.split() or name in r.stdout.split()


def handle(ctx, args):
    name = args.get("locale", ctx.cfg.get("locale"))
    if not name:
        return ""
    cfgfile = ctx.paths.inside(args.get("locale_configfile", ctx.cfg.get("locale_configfile", "/etc/default/locale")))
    done = []
    if name not in BUILTIN:
        known = supported(ctx.paths)
        if name not in known:
            raise ValueError(f"$.locale: {name!r} is not a supported locale (usr/share/i18n/SUPPORTED)")
        if not _archived(ctx.paths, name):
            source = name.split("@")[0].split(".")[0] + ("@" + name.split("@")[1] if "@" in name else "")
            (ctx.paths.root / "usr/lib/locale").mkdir(parents=True, exist_ok=True)
            run(["localedef", "--prefix", str(ctx.paths.root), "-i", source, "-f", known[name], name], timeout=300)
            done.append("generated")
        gen = ctx.paths.inside("/etc/locale.gen")
        text = gen.read_text() if gen.exists() else ""
        line = f"{name} {known[name]}"
        if not re.search(rf"^{re.escape(line)}\s*$", text, re.M):
            if re.search(rf"^#\s*{re.escape(line)}\s*$", text, re.M):
                text = re.sub(rf"^#\s*{re.escape(line)}\s*$", line, text, flags=re.M)
            else:
                text += ("" if not text or text.endswith("\n") else "\n") + line + "\n"
            atomic_write(gen, text)
            done.append("etc/locale.gen")
    old = cfgfile.read_text() if cfgfile.exists() else ""
    lines = [ln for ln in old.splitlines() if not ln.startswith("LANG=")]
    new = "\n".join([f"LANG={name}"] + lines) + "\n"
    if new != old:
        atomic_write(cfgfile, new)
        done.append(str(cfgfile.relative_to(ctx.paths.root)))
    return f"locale {name}" + (f" ({', '.join(done)})" if done else " (already set)")
