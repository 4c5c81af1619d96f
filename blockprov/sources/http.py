"""HTTP GET for metadata services: urllib3 with bounded retries, backoff and timeouts.

Retries go to 5xx answers and connection errors only; a 404 is an answer
("this file does not exist"), not a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from blockprov.sources.errors import SourceError


@dataclass
class Fetch:
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.2
    max_bytes: int = 16 << 20
    headers: dict | None = None

    def pool(self):
        import urllib3

        retry = urllib3.Retry(total=self.retries, connect=self.retries, read=self.retries,
                              status=self.retries, backoff_factor=self.backoff,
                              status_forcelist=(500, 502, 503, 504), allowed_methods=("GET",),
                              raise_on_status=False)
        return urllib3.PoolManager(retries=retry, timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                                   headers=self.headers or {})

    def get(self, pool, url: str) -> bytes | None:
        """Body of ``url``; None on 404; SourceError on anything else that is not 200."""
        import urllib3

        try:
            resp = pool.request("GET", url, preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise SourceError(f"GET {url}: {exc}") from None
        try:
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise SourceError(f"GET {url}: HTTP {resp.status}")
            body = resp.read(self.max_bytes + 1)
            if len(body) > self.max_bytes:
                raise SourceError(f"GET {url}: more than {self.max_bytes >> 20} MiB")
            return body
        except urllib3.exceptions.HTTPError as exc:
            raise SourceError(f"GET {url}: {exc}") from None
        finally:
            resp.release_conn()


def headers_of(cfg: dict) -> dict[str, str]:
    """A config's ``headers`` mapping (extra request headers, e.g. ``Blockprov-Instance-Id``); others ignored."""
    h = cfg.get("headers")
    return {str(k): str(v) for k, v in h.items() if isinstance(v, (str, int))} if isinstance(h, dict) else {}


def from_cfg(dscfg: dict, **defaults) -> Fetch:
    f = Fetch(**defaults)
    for key, attr in (("timeout", "timeout"), ("retries", "retries"), ("backoff", "backoff")):
        if isinstance(dscfg.get(key), (int, float)) and not isinstance(dscfg.get(key), bool):
            setattr(f, attr, dscfg[key])
    f.headers = headers_of(dscfg) or None
    return f


def storagedata_from_url(sd, dscfg: dict) -> None:
    """``storagedata_url`` in a seed datasource's config: storagedata from an instance-local service.

    The seed's identity and other documents stay; the storage config is the
    URL's (a 404 means none). When the service cannot be reached the seed's own
    storagedata is kept and a problem says so: a boot never waits on it.
    """
    url = dscfg.get("storagedata_url")
    if not isinstance(url, str) or not url:
        return
    from blockprov.sources import media

    f = from_cfg(dscfg, retries=2, backoff=0.1, timeout=3.0)
    try:
        raw = f.get(f.pool(), url)
        sd.storage_config = None if raw is None else media.parse_structured(url, raw)
    except SourceError as exc:
        sd.problems.append(f"storagedata_url: {exc}; the seed's storagedata is used")
