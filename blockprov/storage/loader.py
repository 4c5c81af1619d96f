"""Read a storage config from a file or text in any of the accepted forms.

Accepted: ``storage: {version, config}`` (curtin style or a cloud-config that
holds ``storage:``), a bare ``{version, config}`` (storagedata style); YAML or
JSON. The result remembers the JSON path prefix so errors point into the
user's own document (``$.storage.config[3]`` or ``$.config[3]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class LoadError(Exception):
    """The input cannot be read as a storage config at all."""

    code = "load"

    def __init__(self, message: str, path: str = "$"):
        super().__init__(message)
        self.path = path  # the JSON path the problem is at, when known


@dataclass
class Loaded:
    storage: dict
    prefix: str  # JSON path of the storage mapping: "$.storage" or "$"
    source: str


def yaml_document(text: str, source: str = "<input>"):
    """YAML or JSON text as data; LoadError naming the source, line and column when it is neither."""
    return _document(text, source)[0]


def _document(text: str, source: str) -> tuple[object, bool]:
    """(the data, whether it was read as JSON, whose mapping keys are always strings)."""
    from blockprov.limits import LimitError, load_json, load_yaml

    if text.lstrip()[:1] == "{":
        # a JSON document is read as JSON: twenty times faster than PyYAML's constructor, and exact where YAML
        # 1.1 reads JSON differently (1e3 is a number in JSON, a string in YAML 1.1); YAML flow style falls through
        try:
            return load_json(text, source), True
        except LimitError as exc:
            raise LoadError(str(exc)) from None
        except ValueError:
            pass
    import yaml  # lazy: keep CLI start-up fast, and JSON input never needs it

    try:
        return load_yaml(text, source), False
    except LimitError as exc:
        raise LoadError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LoadError(f"{source}: not valid YAML or JSON{where}: {problem}") from None


def parse_text(text: str, source: str = "<input>") -> Loaded:
    doc, from_json = _document(text, source)
    return from_document(doc, source, keys_are_strings=from_json)


def from_document(doc: object, source: str = "<input>", keys_are_strings: bool = False) -> Loaded:
    from blockprov.limits import non_string_key

    bad = None if keys_are_strings else non_string_key(doc)
    if bad:
        raise LoadError(f"{source}: {bad}", bad.split(":", 1)[0])
    if not isinstance(doc, dict):
        raise LoadError(f"{source}: expected a mapping with 'storage:' or 'version'/'config', got {type(doc).__name__}")
    if "storage" in doc:
        storage = doc["storage"]
        if not isinstance(storage, dict):
            raise LoadError(f"{source}: $.storage must be a mapping with 'version' and 'config'")
        return Loaded(storage, "$.storage", source)
    if "config" in doc or "version" in doc:
        return Loaded(doc, "$", source)
    raise LoadError(f"{source}: no storage config found (expected 'storage:' or 'version'/'config' keys)")


def load_file(path: str | Path) -> Loaded:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise LoadError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    return parse_text(text, str(p))
