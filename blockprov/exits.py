"""Exit codes and JSON output shared by every command module (a leaf: it imports nothing of blockprov)."""

from __future__ import annotations

import json
import sys

EXIT_OK, EXIT_FAIL, EXIT_INVALID, EXIT_WAITING = 0, 1, 2, 3
EXIT_DEGRADED = 3  # stage commands: everything ran, with warnings (2 is an invalid system config, as everywhere)


def emit(obj: object) -> None:
    """JSON on stdout: indented for a person at a terminal, compact otherwise (json's C encoder only runs
    without indent: 2.6 s -> 0.1 s for a 13,000-item plan piped to a program)."""
    text = json.dumps(obj, indent=2) if sys.stdout.isatty() else json.dumps(obj, separators=(",", ":"))
    sys.stdout.write(text + "\n")
