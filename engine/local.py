"""``serve-local``: one instance's metadata from files on this machine, re-read when they change.

The storagedata file (and the definition file, when given) is checked every
100 ms; a change that has stood still for one check (so an editor or ``cat >``
is done writing) makes a new version, and watchers holding ``?wait=`` hear of
it at once. A file that becomes invalid keeps the last good version and says
why on stderr, and is read again at its next change. Writers that replace the
file by a rename are never seen half-written.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path

from blockprov_engine import render
from blockprov_engine.server import Entry

POLL = 0.1


class LocalSource:
    def __init__(self, storagedata: Path, definition: Path | None, instance_id: str | None):
        self.storagedata, self.definition, self.instance_id = storagedata, definition, instance_id
        self.entry: Entry | None = None
        self._stamp = None

    def _stat(self):
        return tuple((p.stat().st_mtime_ns, p.stat().st_size, p.stat().st_ino) if p.exists() else None
                     for p in (self.storagedata, self.definition) if p is not None)

    def _iid(self) -> str:
        if self.instance_id:
            return self.instance_id
        try:
            return Path("/etc/machine-id").read_text().strip() or "local"
        except OSError:
            return "local"

    def load(self) -> None:
        """Read the files into a new Entry; UsageError (exit 2) when they are invalid."""
        from blockprov.storage.loader import LoadError, load_file
        from blockprov_engine import definition
        from blockprov_engine.inputs import UsageError, load_doc

        self._stamp = self._stat()
        try:
            loaded = load_file(self.storagedata)  # both forms: storage: {...} or {version, config}
        except LoadError as exc:
            raise UsageError(str(exc)) from None
        storage = loaded.storage
        problems = definition.validate_storage(storage, loaded.prefix)
        if problems:
            raise UsageError("\n".join(f"{self.storagedata}: {p}" for p in problems))
        if self.definition is not None:
            from blockprov.boot.passwords import sha512

            doc = load_doc(str(self.definition))
            problems = definition.validate(doc)
            if problems:
                raise UsageError("\n".join(f"{self.definition}: {p}" for p in problems))
            doc = {**definition.stored(doc, sha512, self.instance_id), "storage": storage}
            rendered = None
        else:
            doc = {"id": self._iid(), "hostname": "localhost", "storage": storage}
            rendered = {"/openstack/latest/meta_data.json": json.dumps({"uuid": doc["id"]}).encode(),
                        "/openstack/latest/storagedata": render.storagedata(storage)}
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        self.entry = Entry(doc["id"], int(digest[:12], 16), doc, rendered)

    def attach(self, engine, app) -> None:
        async def watch(_app):
            async def loop():
                seen = self._stamp
                while True:
                    await asyncio.sleep(POLL)
                    now = self._stat()
                    if now == self._stamp:
                        continue
                    if now != seen:  # still changing: look again at the next check
                        seen = now
                        continue
                    old = self.entry
                    try:
                        self.load()  # records the stat it read under, so a later change is seen
                    except Exception as exc:  # noqa: BLE001 - keep serving the last good version
                        print(f"blockprov-engine: {exc}; still serving version {old.version}", file=sys.stderr,
                              flush=True)
                        continue
                    if self.entry.version != old.version:
                        engine.local = self.entry
                        engine.waiters.wake(("md", old.id))
            app["local-watch"] = asyncio.ensure_future(loop())

        async def stop(_app):
            app["local-watch"].cancel()

        app.on_startup.append(watch)
        app.on_cleanup.append(stop)
