"""Reporting events: start/finish of every stage and module, as JSON lines and optionally to webhooks.

Config (cloud-init's shape): ``reporting: {NAME: {type: webhook, endpoint: URL,
timeout: 2, retries: 2, headers: {NAME: VALUE}}}``. Webhook posts run on a background thread; at exit
the reporter waits at most ``deadline`` seconds (default 3) for them, so a dead
endpoint never holds the boot for long. Events left unsent are counted in the
output log.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from blockprov.paths import Paths

SUCCESS, WARN, FAIL = "SUCCESS", "WARN", "FAIL"


@dataclass
class Outcome:
    result: str = SUCCESS
    description: str = ""


class _Webhook:
    def __init__(self, endpoint: str, timeout: float, retries: int, headers: dict | None = None):
        self.endpoint, self.timeout, self.retries = endpoint, timeout, retries
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.q: queue.Queue = queue.Queue()
        self.sent = self.failed = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        import urllib3

        pool = urllib3.PoolManager(
            retries=urllib3.Retry(total=self.retries, backoff_factor=0.1, status_forcelist=(500, 502, 503, 504),
                                  allowed_methods=("POST",), raise_on_status=False),
            timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))
        while True:
            ev = self.q.get()
            if ev is None:
                return
            try:
                r = pool.request("POST", self.endpoint, body=json.dumps(ev).encode(), headers=self.headers)
                ok = 200 <= r.status < 300
            except urllib3.exceptions.HTTPError:
                ok = False
            if ok:
                self.sent += 1
            else:
                self.failed += 1

    def close(self, deadline: float) -> int:
        self.q.put(None)
        self.thread.join(max(0.0, deadline - time.monotonic()))
        return self.q.qsize() + (1 if self.thread.is_alive() else 0)


class Reporter:
    def __init__(self, paths: Paths, cfg: dict | None = None, log=None):
        self.paths = paths
        self.log = log
        self.hooks: list[_Webhook] = []
        self.channel = None  # a LocalPublisher when a reporting entry is of type event-channel
        self.deadline_s = 3.0
        self.configure(cfg or {})
        from blockprov.paths import open_log

        self._fh = open_log(paths.events_log)

    def configure(self, cfg: dict) -> None:
        rep = cfg.get("reporting") if isinstance(cfg.get("reporting"), dict) else {}
        known = {h.endpoint for h in self.hooks}
        for _name, r in rep.items():
            if isinstance(r, dict) and r.get("type") == "event-channel" and self.channel is None:
                from blockprov.channel.publish import LocalPublisher

                self.channel = LocalPublisher(self.paths)
            if isinstance(r, dict) and r.get("type") == "webhook" and isinstance(r.get("endpoint"), str):
                if r["endpoint"] not in known:
                    from blockprov.sources.http import headers_of

                    self.hooks.append(_Webhook(r["endpoint"], float(r.get("timeout", 2)), int(r.get("retries", 2)),
                                               headers_of(r)))
                if isinstance(r.get("deadline"), (int, float)):
                    self.deadline_s = float(r["deadline"])

    def emit(self, ev: dict) -> None:
        self._fh.write(json.dumps(ev, sort_keys=True) + "\n")
        self._fh.flush()
        for h in self.hooks:
            h.q.put(ev)
        if self.channel is not None:
            from blockprov.channel.message import event_suffix

            self.channel.publish(event_suffix(ev["name"]), ev)

    def start(self, name: str, description: str) -> float:
        t = time.time()
        self.emit({"name": name, "description": description, "event_type": "start", "origin": "blockprov",
                   "timestamp": t})
        return t

    def finish(self, name: str, description: str, result: str, started: float) -> None:
        t = time.time()
        self.emit({"name": name, "description": description, "event_type": "finish", "origin": "blockprov",
                   "timestamp": t, "result": result, "duration": round(t - started, 6)})

    @contextmanager
    def scope(self, name: str, description: str):
        started = self.start(name, description)
        out = Outcome(description=description)
        try:
            yield out
        except BaseException:
            self.finish(name, out.description, FAIL, started)
            raise
        self.finish(name, out.description, out.result, started)

    def close(self) -> None:
        deadline = time.monotonic() + self.deadline_s
        for h in self.hooks:
            left = h.close(deadline)
            if left and self.log:
                self.log(f"reporting: {h.endpoint}: {left} event(s) not sent within {self.deadline_s:g} s")
            if h.failed and self.log:
                self.log(f"reporting: {h.endpoint}: {h.failed} event(s) failed after retries")
        if self.channel is not None:
            self.channel.close()
        self._fh.close()


def read_events(paths: Paths) -> list[dict]:
    out = []
    try:
        with open(paths.events_log, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return out
