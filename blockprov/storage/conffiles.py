"""The managed blocks of crypttab and mdadm.conf: pure text in, text out, as fstab.

blockprov owns only the lines between its markers (the same markers as in
fstab). A crypttab line outside the block for the same mapping name or the
same source device wins, as does an mdadm.conf ARRAY line outside the block
for the same array UUID: blockprov never adds a duplicate. The lines of a
stack the config still names but that is not up (its disk is missing, or it
is in conflict) are kept, as fstab keeps a waiting mount's line. Unchanged input
gives byte-identical output, so an idempotent run writes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from blockprov.storage.fstab import BEGIN, END, norm_spec, split


@dataclass
class CryptEntry:
    name: str
    source: str  # UUID=... of the LUKS header
    keyfile: str = "none"
    options: str = "luks"
    aliases: set[str] = field(default_factory=set)  # other specs of the same source device

    def line(self) -> str:
        return f"{self.name}\t{self.source}\t{self.keyfile}\t{self.options}"


def _fields(line: str) -> list[str] | None:
    s = line.strip()
    return None if not s or s.startswith("#") else s.split()


def _rebuild(text: str, block: list[str]) -> str:
    before, managed, after = split(text)
    if not block and not managed:
        return text
    head = "".join(before)
    if head and not head.endswith("\n"):
        head += "\n"
    body = BEGIN + "\n" + "".join(ln + "\n" for ln in block) + END + "\n" if block else ""
    return head + body + "".join(after)


def render_crypttab(text: str, entries: list[CryptEntry], held: frozenset[str] = frozenset()) -> str:
    """``held``: mapping names of config items that are not up now (waiting, conflict): their lines stay."""
    before, managed, after = split(text)
    foreign = [f for ln in before + after if (f := _fields(ln)) and len(f) >= 2]
    names = {f[0] for f in foreign}
    sources = {norm_spec(f[1]) for f in foreign}
    block, taken = [], set()
    for ln in managed:
        f = _fields(ln)
        if f and f[0] in held and f[0] not in names and not any(e.name == f[0] for e in entries):
            taken.add(f[0])
            block.append(ln.strip())
    for e in entries:
        if e.name in names or e.name in taken or {norm_spec(a) for a in e.aliases | {e.source}} & sources:
            continue
        taken.add(e.name)
        block.append(e.line())
    return _rebuild(text, block)


ARRAY_UUID = re.compile(r"\bUUID=([0-9a-fA-F:]+)")


def array_name(line: str) -> str | None:
    """The array's name in an ARRAY line: ``name=HOST:NAME`` or the device's base name."""
    f = _fields(line)
    if not f or f[0] != "ARRAY":
        return None
    m = re.search(r"\bname=(?:[^:\s]*:)?(\S+)", line)
    return m.group(1) if m else f[1].rsplit("/", 1)[-1] if len(f) > 1 else None


def render_mdadm_conf(text: str, arrays: list[str], held: frozenset[str] = frozenset()) -> str:
    """``arrays``: ARRAY lines as ``mdadm --detail --brief`` prints them; ``held``: names of the config's
    arrays that are not up now (waiting, conflict): their lines stay."""
    before, managed, after = split(text)
    seen = {m.group(1).lower() for ln in before + after
            if (f := _fields(ln)) and f[0] == "ARRAY" and (m := ARRAY_UUID.search(ln))}
    block = []
    for ln in managed:
        m = ARRAY_UUID.search(ln)
        if array_name(ln) in held and m is not None and m.group(1).lower() not in seen:
            seen.add(m.group(1).lower())
            block.append(ln.strip())
    for line in arrays:
        m = ARRAY_UUID.search(line)
        if m is None or m.group(1).lower() in seen:
            continue
        seen.add(m.group(1).lower())
        block.append(line.strip())
    return _rebuild(text, block)
