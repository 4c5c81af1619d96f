"""The managed fstab block: pure text in, text out.

blockprov owns only the lines between its markers, keyed by mount point.
A line elsewhere in the file for the same mount point, or for the same device
(by UUID=, LABEL=, PARTUUID=, /dev/disk/by-* or node path), wins: blockprov
never adds a duplicate of it. When nothing changes the text comes back
byte-identical, so the caller can skip the write.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BEGIN = "# BEGIN blockprov managed block: edits here are overwritten"
END = "# END blockprov managed block"


class FstabError(ValueError):
    """A line that would not read back as the six fields it was made from: never written."""


_ESCAPES = {"\\": "\\134", " ": "\\040", "\t": "\\011", "\n": "\\012", "\r": "\\015"}


def escape(field: str) -> str:
    """A field as fstab(5) wants it: white space and backslashes as octal escapes (``\\040``), a leading
    ``#`` too (it would make the line a comment); libmount undoes them when it reads the file."""
    out = "".join(_ESCAPES.get(c, c) for c in field)
    return "\\043" + out[1:] if out.startswith("#") else out


def unescape(field: str) -> str:
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def checked_line(fields: list[str]) -> str:
    """The fstab line for six fields, or FstabError when it would not parse back to exactly them."""
    if len(fields) != 6 or any(not f for f in fields):
        raise FstabError(f"fstab entry needs six non-empty fields: {fields!r}")
    bad = [f for f in fields if any(ord(c) < 32 and c not in " \t\n\r" or ord(c) == 127 for c in f)]
    if bad:
        raise FstabError(f"fstab field with control characters: {bad[0]!r}")
    line = "\t".join(escape(f) for f in fields)
    if [unescape(f) for f in line.split()] != fields or "\n" in line:
        raise FstabError(f"fstab entry does not read back as written: {fields!r}")
    return line


@dataclass
class Entry:
    spec: str
    path: str
    fstype: str
    options: str = "defaults"
    freq: str = "0"
    passno: str = "0"
    aliases: set[str] = field(default_factory=set)  # every spec that names the same device

    def line(self) -> str:
        return checked_line([self.spec, self.path, self.fstype, self.options, self.freq, self.passno])


def norm_spec(spec: str) -> str:
    s = spec.strip()
    for key in ("UUID", "LABEL", "PARTUUID", "PARTLABEL"):
        if s.upper().startswith(key + "="):
            v = s[len(key) + 1:].strip('"')
            return f"{key}={v.lower() if 'UUID' in key else v}"
    for key, prefix in (("UUID", "/dev/disk/by-uuid/"), ("LABEL", "/dev/disk/by-label/"),
                        ("PARTUUID", "/dev/disk/by-partuuid/")):
        if s.startswith(prefix):
            v = s[len(prefix):]
            return f"{key}={v.lower() if 'UUID' in key else v}"
    return s


def _norm_path(p: str) -> str:
    return p if p == "none" else "/" + "/".join(x for x in p.split("/") if x)


def split(text: str) -> tuple[list[str], list[str], list[str]]:
    """(lines before the block, managed lines, lines after); markers dropped."""
    lines = text.splitlines(keepends=True)
    try:
        b = next(i for i, ln in enumerate(lines) if ln.rstrip("\n") == BEGIN)
        e = next(i for i in range(b + 1, len(lines)) if lines[i].rstrip("\n") == END)
    except StopIteration:
        return lines, [], []
    return lines[:b], lines[b + 1:e], lines[e + 1:]


def _fields(line: str) -> list[str] | None:
    s = line.strip()
    if not s or s.startswith("#"):
        return None
    f = [unescape(x) for x in s.split()]
    return f if len(f) >= 2 else None


def render(text: str, entries: list[Entry], held: set[str] = frozenset()) -> str:
    """New file text: foreign lines untouched, the block rebuilt from entries.

    ``held`` names mount points whose current managed line is kept, with
    ``nofail`` added (items that wait for their disk keep their entry, and a
    boot without the disk does not wait for it).
    """
    before, managed, after = split(text)
    foreign = [f for ln in before + after if (f := _fields(ln))]
    foreign_paths = {_norm_path(f[1]) for f in foreign if f[1] != "none"}
    foreign_specs = {norm_spec(f[0]) for f in foreign}
    block: list[str] = []
    taken: set[str] = set()
    for e in entries:
        path = _norm_path(e.path)
        specs = {norm_spec(a) for a in e.aliases | {e.spec}}
        if (path != "none" and path in foreign_paths) or specs & foreign_specs:
            continue
        key = path if path != "none" else norm_spec(e.spec)
        if key in taken:
            continue
        taken.add(key)
        block.append(e.line() + "\n")
    held_norm = {_norm_path(h) for h in held}
    for ln in managed:
        f = _fields(ln)
        if f and _norm_path(f[1]) in held_norm and _norm_path(f[1]) not in taken:
            block.append(_with_option(ln, "nofail"))  # its disk is absent: it must not hold up a boot
            taken.add(_norm_path(f[1]))
    if not block and not managed:
        return text
    head = "".join(before)
    if head and not head.endswith("\n"):
        head += "\n"
    out = head + (BEGIN + "\n" + "".join(block) + END + "\n" if block else "") + "".join(after)
    return out


def _with_option(line: str, option: str) -> str:
    f = line.rstrip("\n").split()
    if len(f) < 4 or option in f[3].split(","):
        return line if line.endswith("\n") else line + "\n"
    opts = f[3].split(",")
    f[3] = ",".join([o for o in opts if o != "defaults"] + [option])
    return "\t".join(f) + "\n"


def with_option(text: str, paths: set[str], option: str) -> str:
    """The managed lines for these mount points with ``option`` added (``nofail`` for detached disks)."""
    before, managed, after = split(text)
    want = {_norm_path(p) for p in paths}
    block = [(_with_option(ln, option) if (f := _fields(ln)) and _norm_path(f[1]) in want else ln)
             for ln in managed]
    if block == managed:
        return text
    head = "".join(before)
    return head + BEGIN + "\n" + "".join(block) + END + "\n" + "".join(after)


def managed_paths(text: str) -> dict[str, str]:
    """Mount point -> managed line, for reports and hotplug."""
    _b, managed, _a = split(text)
    return {_norm_path(f[1]): ln.rstrip("\n") for ln in managed if (f := _fields(ln))}
