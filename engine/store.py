"""Where definitions and events live: SQLite (the embedded default) or PostgreSQL (several engine processes).

Every write appends to ``changes`` in the same transaction; its sequence
number is the instance's new ``version`` (so an ETag never repeats, even
after a delete and re-create). ``follow()`` tells a process about changes
made by any process: PostgreSQL by LISTEN/NOTIFY, SQLite by polling
``PRAGMA data_version`` (which moves when another connection commits).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Callable

CHANNEL = "blockprov_engine"
CHANGES_SINCE = "SELECT seq, kind, instance FROM changes WHERE seq > ? ORDER BY seq"  # what follow() reads
LISTENER = "blockprov-engine-listen"  # application_name of the LISTEN connections (pg_stat_activity)
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS changes (seq {serial}, kind TEXT NOT NULL, instance TEXT NOT NULL,
       at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, version BIGINT NOT NULL,
       created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS events (seq {serial}, instance TEXT NOT NULL, received DOUBLE PRECISION NOT NULL,
       name TEXT NOT NULL, event_type TEXT NOT NULL, event TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS events_by_instance ON events (instance, seq)",
]


class StoreError(OSError):
    """The database cannot be opened or used."""


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """The id exists already, or the caller's version is not the current one."""


@dataclass(frozen=True)
class Record:
    id: str
    version: int
    created: float
    updated: float
    doc: dict


@dataclass(frozen=True)
class Change:
    seq: int
    kind: str  # "instance" (created, replaced or deleted) or "event"
    instance: str


class Store:
    """The SQL both backends share; subclasses say how to connect, commit and follow."""

    param = "?"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self):
        self.lock = threading.Lock()  # one connection, used by one thread at a time
        try:
            self.conn = self._connect()
            with self.lock, self._tx() as cur:
                for stmt in SCHEMA:
                    cur.execute(stmt.format(serial=self.serial))
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, psycopg.Error: one clear message
            raise StoreError(f"{self.where()}: {' '.join(str(exc).split())}") from None

    def where(self) -> str:
        raise NotImplementedError

    # -- backend hooks --------------------------------------------------------
    def _connect(self):
        raise NotImplementedError

    def _tx(self):
        raise NotImplementedError

    def _notify(self, cur, seq: int) -> None:
        pass

    def follow(self, callback: Callable[[list[Change]], None], stop: threading.Event, since: int) -> None:
        raise NotImplementedError

    # -- shared SQL -------------------------------------------------------------
    def _q(self, sql: str) -> str:
        return sql.replace("?", self.param)

    def _change(self, cur, kind: str, iid: str) -> int:
        cur.execute(self._q("INSERT INTO changes (kind, instance, at) VALUES (?, ?, ?) RETURNING seq"),
                    (kind, iid, time.time()))
        seq = cur.fetchone()[0]
        self._notify(cur, seq)
        return seq

    @staticmethod
    def _record(row) -> Record:
        return Record(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def list(self) -> list[Record]:
        with self.lock, self._tx() as cur:
            cur.execute("SELECT id, version, created, updated, doc FROM instances ORDER BY id")
            return [self._record(r) for r in cur.fetchall()]

    def get(self, iid: str) -> Record | None:
        with self.lock, self._tx() as cur:
            cur.execute(self._q("SELECT id, version, created, updated, doc FROM instances WHERE id = ?"), (iid,))
            row = cur.fetchone()
        return self._record(row) if row else None

    def create(self, doc: dict) -> Record:
        now = time.time()
        with self.lock, self._tx() as cur:
            cur.execute(self._q("SELECT 1 FROM instances WHERE id = ?"), (doc["id"],))
            if cur.fetchone():
                raise Conflict(f"instance {doc['id']!r} exists already")
            seq = self._change(cur, "instance", doc["id"])
            cur.execute(self._q("INSERT INTO instances (id, version, created, updated, doc) VALUES (?, ?, ?, ?, ?)"),
                        (doc["id"], seq, now, now, json.dumps(doc, sort_keys=True)))
        return Record(doc["id"], seq, now, now, doc)

    def replace(self, iid: str, doc: dict, if_version: int | None = None) -> Record:
        now = time.time()
        with self.lock, self._tx() as cur:
            cur.execute(self._q("SELECT version, created FROM instances WHERE id = ?"), (iid,))
            row = cur.fetchone()
            if row is None:
                raise NotFound(iid)
            if if_version is not None and row[0] != if_version:
                raise Conflict(f"instance {iid!r} is at version {row[0]}, not {if_version}")
            seq = self._change(cur, "instance", iid)
            cur.execute(self._q("UPDATE instances SET version = ?, updated = ?, doc = ? WHERE id = ?"),
                        (seq, now, json.dumps(doc, sort_keys=True), iid))
        return Record(iid, seq, row[1], now, doc)

    def delete(self, iid: str) -> None:
        with self.lock, self._tx() as cur:
            cur.execute(self._q("DELETE FROM instances WHERE id = ?"), (iid,))
            if cur.rowcount == 0:
                raise NotFound(iid)
            self._change(cur, "instance", iid)

    def add_event(self, iid: str, event: dict) -> int:
        with self.lock, self._tx() as cur:
            cur.execute(self._q("INSERT INTO events (instance, received, name, event_type, event) "
                                "VALUES (?, ?, ?, ?, ?) RETURNING seq"),
                        (iid, time.time(), event["name"], event["event_type"], json.dumps(event, sort_keys=True)))
            seq = cur.fetchone()[0]
            self._change(cur, "event", iid)
        return seq

    def events(self, iid: str | None, since: int = 0, limit: int = 500) -> list[dict]:
        sql = "SELECT seq, instance, received, event FROM events WHERE seq > ?"
        args: list = [since]
        if iid is not None:
            sql += " AND instance = ?"
            args.append(iid)
        with self.lock, self._tx() as cur:
            cur.execute(self._q(sql + " ORDER BY seq LIMIT ?"), (*args, limit))
            rows = cur.fetchall()
        return [{"seq": r[0], "instance": r[1], "received": r[2], "event": json.loads(r[3])} for r in rows]

    def summary(self, iid: str, name: str, event_type: str) -> tuple[int, dict | None, dict | None]:
        """(number of events, the last one, the last one with this name and type) of an instance."""
        cols = "seq, instance, received, event"
        with self.lock, self._tx() as cur:
            cur.execute(self._q("SELECT COUNT(*) FROM events WHERE instance = ?"), (iid,))
            n = cur.fetchone()[0]
            cur.execute(self._q(f"SELECT {cols} FROM events WHERE instance = ? ORDER BY seq DESC LIMIT 1"), (iid,))
            last = cur.fetchone()
            cur.execute(self._q(f"SELECT {cols} FROM events WHERE instance = ? AND name = ? AND event_type = ? "
                                "ORDER BY seq DESC LIMIT 1"), (iid, name, event_type))
            match = cur.fetchone()

        def ev(r):
            return {"seq": r[0], "instance": r[1], "received": r[2], "event": json.loads(r[3])} if r else None
        return n, ev(last), ev(match)

    def last_change(self) -> int:
        with self.lock, self._tx() as cur:
            cur.execute("SELECT COALESCE(MAX(seq), 0) FROM changes")
            return cur.fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class SQLiteStore(Store):
    poll_interval = 0.03

    def __init__(self, path: str):
        self.path = path
        super().__init__()

    def where(self) -> str:
        return self.path

    def _connect(self):
        import sqlite3

        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _tx(self):
        return _SQLiteTx(self.conn)

    def follow(self, callback, stop, since):
        conn = self._connect()
        try:
            last = None
            while not stop.wait(self.poll_interval):
                dv = conn.execute("PRAGMA data_version").fetchone()[0]
                if dv == last:
                    continue
                last = dv
                rows = conn.execute(CHANGES_SINCE, (since,)).fetchall()
                if rows:
                    since = rows[-1][0]
                    callback([Change(*r) for r in rows])
        finally:
            conn.close()


class _SQLiteTx:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.cur = self.conn.cursor()
        self.cur.execute("BEGIN IMMEDIATE")
        return self.cur

    def __exit__(self, exc_type, *_):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        self.cur.close()


class PostgresStore(Store):
    param = "%s"
    serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

    def __init__(self, dsn: str):
        self.dsn = dsn
        super().__init__()

    def where(self) -> str:
        from urllib.parse import urlsplit

        u = urlsplit(self.dsn)
        return f"postgresql://{u.hostname or ''}{u.path}" if u.scheme else "postgresql"

    def _connect(self):
        import psycopg

        return psycopg.connect(self.dsn, autocommit=False, application_name="blockprov-engine")

    def _tx(self):
        if self.conn.closed or self.conn.broken:  # the server restarted or killed us: a fresh connection
            try:
                self.conn = self._connect()
            except Exception as exc:  # noqa: BLE001 - psycopg.OperationalError and friends
                raise StoreError(f"{self.where()}: {' '.join(str(exc).split())}") from None
        return _PgTx(self.conn)

    def _notify(self, cur, seq):
        cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(seq)))  # delivered at commit

    def follow(self, callback, stop, since):
        import psycopg

        while not stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, application_name=LISTENER) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    since = self._catch_up(conn, since, callback)  # what happened while not listening
                    while not stop.is_set():
                        got = False
                        for _n in conn.notifies(timeout=0.5, stop_after=1):
                            got = True
                        if got:
                            since = self._catch_up(conn, since, callback)
            except psycopg.OperationalError:
                stop.wait(1.0)  # the server went away: listen again when it is back

    def _catch_up(self, conn, since, callback) -> int:
        rows = conn.execute(self._q(CHANGES_SINCE), (since,)).fetchall()
        if rows:
            callback([Change(*r) for r in rows])
            return rows[-1][0]
        return since


class _PgTx:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.cur = self.conn.cursor()
        return self.cur

    def __exit__(self, exc_type, exc, _tb):
        import psycopg

        try:
            if exc_type:
                if not self.conn.broken:
                    self.conn.rollback()
            else:
                self.conn.commit()
        except psycopg.OperationalError as e:
            raise StoreError(f"postgresql: {' '.join(str(e).split())}") from None
        finally:
            self.cur.close()
        if isinstance(exc, psycopg.OperationalError):
            raise StoreError(f"postgresql: {' '.join(str(exc).split())}") from None


def open_store(url: str) -> Store:
    """``sqlite:///PATH`` (or a bare path) or ``postgresql://...`` (libpq URL or DSN)."""
    if url.startswith(("postgresql://", "postgres://")) or url.startswith("host=") or " dbname=" in f" {url}":
        return PostgresStore(url)
    return SQLiteStore(url.removeprefix("sqlite://") if url.startswith("sqlite:///") else url)
