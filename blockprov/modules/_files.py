"""write_files entries: decode, confine to the root, owner from the root's own passwd/group."""

from __future__ import annotations

import base64
import binascii
import os

from blockprov.modules._accounts import owner_ids
from blockprov.limits import LimitError, gunzip
from blockprov.paths import Paths, write_if_changed

# one write_files entry (write_files and write_files_deferred share it; each entry is checked on its own here)
ENTRY_SCHEMA = {
    "type": "object", "required": ["path"], "additionalProperties": False,
    "properties": {"path": {"type": "string", "minLength": 1}, "content": {"type": ["string", "null"]},
                   "source": {"type": "object"},
                   "encoding": {"enum": ["b64", "base64", "gz", "gzip", "gz+b64", "gzip+base64", "gz+base64",
                                         "gzip+b64", "text/plain", ""]},
                   "owner": {"type": "string"}, "permissions": {"type": ["string", "integer"]},
                   "append": {"type": "boolean"}, "defer": {"type": "boolean"}}}

ENCODINGS = {"b64": ("b64",), "base64": ("b64",), "gz": ("gz",), "gzip": ("gz",), "gz+b64": ("b64", "gz"),
             "gzip+base64": ("b64", "gz"), "gz+base64": ("b64", "gz"), "gzip+b64": ("b64", "gz"),
             "text/plain": (), "": ()}


class EntryError(Exception):
    pass


def decode(content, encoding: str | None, where: str) -> bytes:
    steps = ENCODINGS.get(str(encoding or "").lower())
    if steps is None:
        raise EntryError(f"{where}.encoding: unknown encoding {encoding!r} (b64, gzip, gz+b64, text/plain)")
    data = content.encode() if isinstance(content, str) else bytes(content or b"")
    for s in steps:
        try:
            if s == "b64":
                data = base64.b64decode(b"".join(data.split()), validate=True)
            elif data[:2] != b"\x1f\x8b":
                raise OSError("no gzip header")
            else:
                data = gunzip(data, f"{where}.content")
        except LimitError as exc:
            raise EntryError(str(exc)) from None
        except (binascii.Error, ValueError, OSError, EOFError) as exc:
            raise EntryError(f"{where}.content: not valid {'base64' if s == 'b64' else 'gzip'}: {exc}") from None
    return data


def mode_of(value, where: str) -> int:
    if value is None:
        return 0o644
    try:
        m = int(value, 8) if isinstance(value, str) else int(value)
    except ValueError:
        raise EntryError(f"{where}.permissions: {value!r} is not an octal mode") from None
    if not 0 <= m <= 0o7777:
        raise EntryError(f"{where}.permissions: {value!r} is out of range")
    return m


def check_entry(entry: dict, where: str) -> None:
    """The entry against write_files' schema, on its own: the first problem with its JSON path."""
    import jsonschema


    err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(ENTRY_SCHEMA).iter_errors(entry))
    if err is not None:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        raise EntryError(f"{where}{path}: {err.message}")


def write_entry(paths: Paths, entry: dict, where: str) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"].strip():
        raise EntryError(f"{where}.path: required, a string")
    check_entry(entry, where)
    target = paths.confined(entry["path"])
    data = decode(entry.get("content", ""), entry.get("encoding"), where)
    mode = mode_of(entry.get("permissions"), where)
    ids = owner_ids(paths, entry.get("owner"))
    if ids is None:
        raise EntryError(f"{where}.owner: {entry['owner']!r} is not in the root's passwd/group")
    if entry.get("append"):
        try:
            old = b"" if target.is_symlink() else target.read_bytes()  # a link is replaced, never read through
        except FileNotFoundError:
            old = b""
        data = old + data
    write_if_changed(target, data, mode=mode)
    os.chown(target, *ids, follow_symlinks=False)
    return str(target)


def write_all(paths: Paths, entries, deferred: bool, key: str = "write_files") -> str:
    if entries is None:
        return ""
    if not isinstance(entries, list):
        raise EntryError(f"$.{key}: must be a list")
    done, errors = [], []
    for i, e in enumerate(entries):
        if bool(isinstance(e, dict) and e.get("defer")) != deferred:
            continue
        try:
            done.append(write_entry(paths, e, f"$.{key}[{i}]"))
        except EntryError as exc:
            errors.append(str(exc))
    if errors:  # the good entries are written; the bad ones are named (a warning: the boot is degraded)
        from blockprov.modules import ModuleWarning

        raise ModuleWarning("; ".join(errors) + (f" ({len(done)} other file(s) written)" if done else ""))
    return f"wrote {len(done)} file(s)" if done else ""
