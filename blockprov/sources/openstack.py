"""OpenStack metadata service over HTTP (the network stage only).

Probed only when DMI says OpenStack (product name or chassis asset tag) or the
config names ``metadata_urls``: on any other machine it costs no timeout.
"""

from __future__ import annotations

from blockprov.sources import Context, SourceData, SourceError
from blockprov.sources.configdrive import build

NAME = "OpenStack"
LOCAL = False
DEFAULT_URLS = ["http://169.254.169.254"]
DMI_PRODUCTS = ("OpenStack Nova", "OpenStack Compute")


def on_openstack(ctx: Context) -> bool:
    return ctx.dmi("product_name") in DMI_PRODUCTS or "OpenStackNova" in ctx.dmi("chassis_asset_tag")


def find(ctx: Context) -> SourceData | None:
    dscfg = ctx.dscfg(NAME)
    if not dscfg.get("metadata_urls") and not on_openstack(ctx):
        return None
    from blockprov.sources import http

    urls = dscfg.get("metadata_urls") or DEFAULT_URLS
    version = str(dscfg.get("storagedata_version") or "latest")
    fetch = http.from_cfg(dscfg)
    pool = fetch.pool()
    errors = []
    for base in urls:
        base = str(base).rstrip("/")
        try:
            if fetch.get(pool, f"{base}/openstack/latest/meta_data.json") is None:
                errors.append(f"{base}: no /openstack/latest/meta_data.json")
                continue
            cache: dict[str, bytes | None] = {}

            def get(path: str) -> bytes | None:
                if path not in cache:
                    cache[path] = fetch.get(pool, base + path)
                return cache[path]

            sd = build(get, base, NAME, version)
            sd.metadata["_metadata_url"] = base
            return sd
        except SourceError as exc:
            errors.append(str(exc))
    raise SourceError("; ".join(errors))
