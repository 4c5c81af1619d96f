"""Reading the user's files (YAML or JSON) and the error that means "bad input: exit 2, nothing written"."""

from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """Bad input: exit 2, nothing written."""


def load_doc(path: str):
    """A YAML or JSON file as data (UsageError naming the file and position when it is neither)."""
    from blockprov.storage.loader import LoadError, yaml_document

    try:
        return yaml_document(Path(path).read_text(encoding="utf-8"), path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    except LoadError as exc:
        raise UsageError(str(exc)) from None
