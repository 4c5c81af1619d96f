"""Fetch ``#include`` / ``#include-once`` URLs of user-data (the imperative half of userdata.py).

http and https only, through sources/http.py (urllib3: timeouts, bounded retries
with backoff on 5xx and connection errors, a size limit). ``#include-once``
content is kept under the instance directory (0600 in a 0700 directory: it may
hold secrets) and read from there on later boots, never fetched again; plain
``#include`` is fetched on every boot that parses the user-data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SCHEMES = ("http://", "https://")
MAX_FETCHES = 32  # per parse: include loops and fan-out stop here


class IncludeError(Exception):
    """This URL gave no content; the include part names it and the rest of the user-data applies."""


class IncludeFetcher:
    def __init__(self, cache_dir: Path, timeout: float = 5.0, retries: int = 5, max_bytes: int = 16 << 20):
        from blockprov.sources.http import Fetch

        self.cache_dir = cache_dir
        self.fetch = Fetch(timeout=timeout, retries=retries, max_bytes=max_bytes)
        self.fetched = 0
        self._pool = None

    def cached(self, url: str) -> Path:
        return self.cache_dir / hashlib.sha256(url.encode()).hexdigest()

    def __call__(self, url: str, once: bool) -> bytes:
        from blockprov.paths import atomic_write, ensure_dir
        from blockprov.sources import SourceError

        if once:
            try:
                return self.cached(url).read_bytes()
            except FileNotFoundError:
                pass
        if not url.lower().startswith(SCHEMES):
            raise IncludeError(f"{url}: only http:// and https:// URLs are included")
        self.fetched += 1
        if self.fetched > MAX_FETCHES:
            raise IncludeError(f"{url}: more than {MAX_FETCHES} includes in one user-data; not fetched")
        if self._pool is None:
            self._pool = self.fetch.pool()
        try:
            body = self.fetch.get(self._pool, url)
        except SourceError as exc:
            raise IncludeError(str(exc)) from None
        if body is None:
            raise IncludeError(f"GET {url}: HTTP 404")
        if once:
            ensure_dir(self.cache_dir, 0o700)
            atomic_write(self.cached(url), body, mode=0o600)
        return body
