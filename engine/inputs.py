"""Reading the user's files (YAML or JSON) and the error that means "bad input: exit 2, nothing written"."""

from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """Bad input: exit 2, nothing written."""


def load_doc(path: str):
    """A YAML or JSON file as data (UsageError naming the file and position when it is neither)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    import yaml

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(f"{path}: not valid YAML or JSON{where}") from None
