"""``blockprov watch``: long-poll change URLs and turn a change into a ``metadata-change`` event.

Each URL of ``update-handlers.watchurl`` is polled on its own thread: the
``datasource`` key means the datasource's change URL (``watch.url``, else
OpenStack's ``<metadata url>/openstack/latest/meta_data.json``). A poll sends
``If-None-Match`` with the last ETag and ``?wait=SECONDS`` so that a server
that supports it holds the request until something changes; a 304 (or the same
body) is no change. Servers without ETags are compared by body digest, every
``watch.interval`` seconds. A change re-reads the datasource and runs the
URL's handlers; built-in ones only when the update policy accepts
``metadata-change`` and only modules whose inputs changed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from blockprov.paths import Paths
from blockprov.boot.reporting import FAIL, SUCCESS, WARN

DEFAULTS = {"wait": 55, "interval": 10, "timeout": 10}


@dataclass
class Target:
    url: str
    handlers: tuple[str, ...]
    headers: dict | None = None  # the datasource's ``headers`` for its own change URL


@dataclass
class Poll:
    changed: bool
    etag: str | None
    digest: str | None


def settings(cfg: dict) -> dict:
    w = cfg.get("watch") if isinstance(cfg.get("watch"), dict) else {}
    out = dict(DEFAULTS)
    for k in DEFAULTS:
        v = w.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
            out[k] = v
    return out


def datasource_url(cfg: dict, sd) -> str | None:
    w = cfg.get("watch") if isinstance(cfg.get("watch"), dict) else {}
    if isinstance(w.get("url"), str) and w["url"]:
        return w["url"]
    base = (getattr(sd, "metadata", None) or {}).get("_metadata_url")
    return f"{base}/openstack/latest/meta_data.json" if base else None


def datasource_headers(cfg: dict, sd) -> dict:
    from blockprov.sources import dscfg
    from blockprov.sources.http import headers_of

    return headers_of(dscfg(cfg, getattr(sd, "name", "")))


def targets(pol, cfg: dict, sd) -> list[Target]:
    out = []
    for key, handlers in pol.watchurl.items():
        url = datasource_url(cfg, sd) if key == "datasource" else key
        if url:
            out.append(Target(url, handlers, datasource_headers(cfg, sd) if key == "datasource" else None))
    return out


def with_wait(url: str, wait: float) -> str:
    return url if not wait else f"{url}{'&' if '?' in url else '?'}wait={int(wait)}"


def poll(pool, url: str, last: Poll | None, wait: float, timeout: float, extra: dict | None = None) -> Poll:
    """One request; ``changed`` is False for the first answer (it is the baseline)."""
    import urllib3

    headers = dict(extra or {})
    if last and last.etag:
        headers["If-None-Match"] = last.etag
    r = pool.request("GET", with_wait(url, wait), headers=headers, preload_content=True,
                     timeout=urllib3.Timeout(connect=timeout, read=timeout + wait))
    if r.status == 304 and last is not None:
        return Poll(False, last.etag, last.digest)
    if r.status != 200:
        raise OSError(f"GET {url}: HTTP {r.status}")
    digest = hashlib.sha256(r.data).hexdigest()
    etag = r.headers.get("ETag")
    changed = last is not None and ((etag is not None and etag != last.etag) or digest != last.digest)
    return Poll(changed, etag, digest)


class Watcher:
    def __init__(self, paths: Paths, log=print):
        self.paths = paths
        self.log = log
        self.lock = threading.Lock()  # one change handled at a time
        self.stop = threading.Event()
        self.handled = 0

    def handle_change(self, target: Target) -> str:
        """Re-read the datasource and run the target's handlers; the reporting result."""
        from blockprov.events import policy
        from blockprov.events.policy import update_policy
        from blockprov.events.refresh import RefreshError, refresh
        from blockprov.boot.stages import Runner
        from blockprov.events.updates import run_executable, run_scope

        with self.lock:
            runner = Runner(self.paths)
            try:
                try:
                    r = refresh(self.paths, runner.cfg)
                except RefreshError as exc:
                    return self._report(runner, target, FAIL, f"refresh failed: {exc}")
                if not r.changed:
                    return self._report(runner, target, SUCCESS, "the datasource's data is unchanged")
                try:
                    pol = update_policy(self.paths, r.cfg)
                except policy.PolicyError as exc:
                    return self._report(runner, target, FAIL, str(exc))
                notes, result = [f"changed: {', '.join(r.changed)}"], SUCCESS
                for h in target.handlers:
                    if h.startswith("/"):
                        rc, output = run_executable(h, {"event_type": "metadata-change", "url": target.url,
                                                        "changed": r.changed, "instance_id": r.sd.instance_id},
                                                    {"BLOCKPROV_ROOT": str(self.paths.root),
                                                     "BLOCKPROV_INSTANCE_ID": r.sd.instance_id})
                        notes.append(f"{h}: exit {rc}" + (f": {output[-300:]}" if rc else ""))
                        result = FAIL if rc else result
                    elif not pol.allows(h, "metadata-change"):
                        notes.append(f"{h}: not run (updates.{h} does not include metadata-change)")
                    else:
                        out = run_scope(runner, h, "metadata-change", r.sd, r.cfg, only_changed=True)
                        notes.append(f"{h}: {out.summary()}")
                        result = FAIL if out.errors else WARN if out.warnings and result == SUCCESS else result
                return self._report(runner, target, result, "; ".join(notes))
            finally:
                runner.close()

    def _report(self, runner, target: Target, result: str, text: str) -> str:
        from blockprov.boot import instance

        sd = instance.cached(self.paths)
        runner.reporter.emit({"name": f"/blockprov/{sd.instance_id if sd else 'none'}/metadata-change",
                              "event_type": "finish", "origin": "blockprov", "timestamp": time.time(),
                              "result": result, "description": text, "url": target.url})
        self.log(f"watch {target.url}: {result}: {text}")
        self.handled += 1
        return result

    def run_target(self, target: Target, conf: dict, pool) -> None:
        last: Poll | None = None
        failures = 0
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                now = poll(pool, target.url, last, conf["wait"], conf["timeout"], target.headers)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - any network error: back off and poll again
                failures += 1
                delay = min(60.0, conf["interval"] * 2 ** min(failures, 6)) if conf["interval"] else 1.0
                self.log(f"watch {target.url}: {exc}; next try in {delay:g} s")
                self.stop.wait(delay)
                continue
            if now.changed:
                self.handle_change(target)
            last = now
            self.stop.wait(max(0.0, conf["interval"] - (time.monotonic() - started)))


def watch(paths: Paths, url: str | None = None, duration: float | None = None, log=print) -> int:
    """Poll until stopped (or for ``duration`` seconds); 1 when there is nothing to watch."""
    import urllib3

    from blockprov.boot import instance
    from blockprov.events.policy import update_policy

    sd, cfg = instance.cached(paths), instance.load_config(paths)
    if sd is None or cfg is None:
        log("blockprov watch: no instance yet (run blockprov init first)")
        return 1
    pol = update_policy(paths, cfg)
    tgts = [Target(url, pol.watchurl["datasource"], datasource_headers(cfg, sd))] if url else targets(pol, cfg, sd)
    if not tgts:
        log("blockprov watch: nothing to watch (no watch.url, no update-handlers.watchurl URL, and the "
            f"datasource {sd.name} has no change URL)")
        return 1
    conf = settings(cfg)
    w = Watcher(paths, log)
    pool = urllib3.PoolManager(retries=urllib3.Retry(total=2, backoff_factor=0.2, allowed_methods=("GET",),
                                                     status_forcelist=(502, 503, 504), raise_on_status=False))
    threads = [threading.Thread(target=w.run_target, args=(t, conf, pool), daemon=True) for t in tgts]
    for t in threads:
        t.start()
    for t in tgts:
        log(f"watching {t.url} for {', '.join(t.handlers)}")
    try:
        w.stop.wait(duration)
    except KeyboardInterrupt:
        pass
    w.stop.set()
    return 0
