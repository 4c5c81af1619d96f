"""``blockprov status``: done, running, error, degraded or not run, from status.json and result.json.

``--wait`` waits while a stage holds the boot lock or systemd still has a
blockprov unit queued or starting; it never waits for a boot that is not
going to happen, so a machine without a datasource (or without blockprov
units) answers at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field

from blockprov.paths import Paths

EXIT = {"done": 0, "running": 0, "error": 1, "not run": 1, "degraded done": 2}


@dataclass
class Status:
    status: str
    datasource: str | None = None
    detail: str = ""
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stage: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]

    def to_json(self) -> dict:
        d = asdict(self)
        d["exit_code"] = self.exit_code
        return d


def _load(p) -> dict | None:
    try:
        d = json.loads(p.read_text())
        return d.get("v1") if isinstance(d, dict) else None
    except (OSError, ValueError):
        return None


def lock_held(paths: Paths) -> bool:
    try:
        fd = os.open(paths.boot_lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def systemd_pending(paths: Paths) -> bool:
    """A blockprov unit queued or activating (only on the real root of a systemd machine)."""
    if str(paths.root) != "/" or not os.path.isdir("/run/systemd/system"):
        return False
    from blockprov.run import run

    jobs = run(["systemctl", "list-jobs", "--no-legend", "--plain"], check=False, timeout=10).stdout
    if "blockprov" in jobs:
        return True
    st = run(["systemctl", "show", "-p", "ActiveState", "--value", "blockprov-local.service", "blockprov.service",
              "blockprov-config.service", "blockprov-final.service", "blockprov-boot.service"],
             check=False, timeout=10).stdout
    return "activating" in st


def read(paths: Paths) -> Status:
    res = _load(paths.result)
    st = _load(paths.status) or {}
    if res is not None:
        errors, warnings = res.get("errors") or [], res.get("warnings") or []
        ds = res.get("datasource")
        status = "error" if errors else "degraded done" if warnings else "done"
        detail = "no datasource found; ran with None" if ds in (None, "None") else f"datasource {ds}"
        return Status(status, ds, detail, errors, warnings)
    started = [s for s in ("init-local", "init-network", "modules-config", "modules-final") if isinstance(st.get(s), dict)]
    if not started:
        return Status("not run", detail="no stage has run in this boot")
    errors = [e for s in started for e in st[s].get("errors") or []]
    warnings = [w for s in started for w in st[s].get("warnings") or []]
    if st.get("stage") or lock_held(paths):
        return Status("running", st.get("datasource"), f"stage {st.get('stage') or started[-1]} running",
                      errors, warnings, st.get("stage"))
    if errors:
        return Status("error", st.get("datasource"), f"stopped after {started[-1]}", errors, warnings)
    return Status("running", st.get("datasource"), f"{started[-1]} finished; waiting for the next stage",
                  errors, warnings, started[-1])


def wait(paths: Paths, timeout: float | None = None, poll: float = 0.1) -> Status:
    end = time.monotonic() + timeout if timeout else None
    while True:
        st = read(paths)
        if st.status not in ("running", "not run"):
            return st
        busy = lock_held(paths) or systemd_pending(paths)
        if not busy:
            if st.status == "running":
                # Stages ran and none is running or queued: nothing will finish this boot.
                st.detail += "; no stage is running or queued, so this boot will not finish"
                st.status = "error"
            return st
        if end is not None and time.monotonic() >= end:
            st.detail += f"; gave up waiting after {timeout:g} s"
            return st
        time.sleep(poll)
