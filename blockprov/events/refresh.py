"""Re-reading the current datasource while the instance runs (``blockprov refresh-metadata``).

The same source that booted the instance is crawled again; when its data
differs, the cache (``instances/<iid>/datasource.json``), the merged
``config.json`` and ``run/blockprov/instance-data*.json`` are rewritten. An
unchanged source writes nothing but the mtime of ``instance-data.json`` (when
the metadata was last read). A different instance-id is refused: a new
instance is provisioned by a boot, not by a refresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field

from blockprov.boot import instance
from blockprov.paths import Paths
from blockprov.sources import SourceData

PARTS = {"metadata": ("metadata", "local_hostname", "public_keys", "files", "region", "availability_zone"),
         "userdata": ("userdata",), "vendordata": ("vendordata",), "cfg": ("cfg",),
         "network": ("network_config", "network_format"), "storage": ("storage_config",)}


class RefreshError(Exception):
    pass


@dataclass
class Refresh:
    changed: list[str] = field(default_factory=list)  # names from PARTS whose data differs
    sd: SourceData | None = None
    cfg: dict | None = None
    problems: list[str] = field(default_factory=list)  # a changed storage config that does not validate


def digests(sd: SourceData) -> dict[str, str]:
    """One digest per part of the data, to say what a refresh changed (pure)."""
    d = sd.to_json()
    return {part: hashlib.sha256(json.dumps([d.get(k) for k in keys], sort_keys=True, default=str).encode())
            .hexdigest()[:16] for part, keys in PARTS.items()}


def parsed(paths: Paths, sd: SourceData, sys_cfg: dict, online: bool = True):
    """(vendor-data, user-data) of ``sd`` parsed with what the shell gives: instance-data for jinja templates,
    and, ``online``, a fetcher for ``#include`` URLs (``#include-once`` content cached under the instance).
    Offline (init-local, before the network), includes wait for the network stage, which composes again."""
    from blockprov.boot import userdata
    from blockprov.boot.include_fetch import IncludeFetcher

    variables = instance.instance_data(sd, sys_cfg)
    fetch = IncludeFetcher(paths.instance_dir(sd.instance_id) / "urlcache") if online else None
    return (userdata.parse(sd.vendordata, "vendor-data", fetch, variables, offline=not online),
            userdata.parse(sd.userdata, "user-data", fetch, variables, offline=not online))


def _off(value) -> bool:
    """cloud-init's util.is_false: False or a false-meaning string."""
    return value is False or (isinstance(value, str) and value.strip().lower() in ("false", "0", "off", "no"))


def gated(sys_cfg: dict, vd, ud):
    """(vendor-data, user-data, notes) as cloud-init consumes them: system config ``allow_userdata: false``
    drops the user-data; ``vendor_data: {enabled: false}`` in the system config or in the user-data's
    cloud-config drops the vendor-data (its cloud-config and its scripts)."""
    from blockprov.boot.userdata import UserData

    notes = []
    if _off(sys_cfg.get("allow_userdata", True)):
        if ud.cloud_config or ud.scripts or ud.boothooks:
            notes.append("user-data ignored: allow_userdata is false in the system config")
        ud = UserData()
    vcfg = {**(sys_cfg.get("vendor_data") or {}), **(ud.cloud_config.get("vendor_data") or {})} \
        if isinstance(sys_cfg.get("vendor_data") or {}, dict) and isinstance(ud.cloud_config.get("vendor_data") or {},
                                                                             dict) else {}
    if _off(vcfg.get("enabled", True)):
        if vd.cloud_config or vd.scripts or vd.boothooks:
            notes.append("vendor-data ignored: vendor_data.enabled is false")
        vd = UserData()
    return vd, ud, notes


def compose(sys_cfg: dict, sd: SourceData, previous: dict | None = None, parsed=None,
            channel: dict | None = None) -> tuple[dict, list[str]]:
    """(merged config, problems): system < datasource < vendor-data < user-data < what the event channel set
    (``channel``: its layer, already hashed), passwords hashed.

    A password already hashed in ``previous`` keeps that hash, so an unchanged
    config merges to the same bytes.
    """
    from blockprov.boot import passwords
    from blockprov.boot import userdata
    from blockprov.boot.merge import merge_all

    vd, ud = parsed or (userdata.parse(sd.vendordata, "vendor-data"), userdata.parse(sd.userdata, "user-data"))
    problems = vd.problems + ud.problems
    vd, ud, notes = gated(sys_cfg, vd, ud)
    hasher = passwords.sticky(passwords.hashes_in(previous)) if previous else passwords.sha512
    cfg = passwords.hash_config(merge_all(sys_cfg, sd.cfg, vd.cloud_config, ud.cloud_config, channel or {}), hasher,
                                notes)
    return cfg, problems + notes


def refresh(paths: Paths, sys_cfg: dict | None = None) -> Refresh:
    from blockprov.boot import sysconfig
    from blockprov.sources import Context, SourceError, find, known, source_module

    old = instance.cached(paths)
    if old is None:
        raise RefreshError("no instance yet (blockprov init has not run)")
    if not known(old.name) or old.name == "None":
        raise RefreshError(f"datasource {old.name} has nothing to re-read")
    sys_cfg = sys_cfg if sys_cfg is not None else sysconfig.load(paths)
    ctx = Context(paths, sys_cfg, stage="net")
    try:
        new = find(source_module(old.name), ctx)
    except SourceError as exc:
        raise RefreshError(f"{old.name}: {exc}") from None
    if new is None:
        raise RefreshError(f"datasource {old.name} is no longer present")
    if new.instance_id != old.instance_id:
        raise RefreshError(f"{old.name} now says instance-id {new.instance_id!r} (was {old.instance_id!r}); "
                           "a new instance is set up by a boot, not by a refresh")
    before, after = digests(old), digests(new)
    changed = [p for p in PARTS if before[p] != after[p]]
    if not changed:
        with contextlib.suppress(OSError):
            os.utime(paths.instance_data)  # its mtime says when the metadata was last read (hotplug uses it)
        return Refresh([], old, instance.load_config(paths))
    from blockprov.channel.layer import layer

    cfg, _problems = compose(sys_cfg, new, instance.load_config(paths), parsed(paths, new, sys_cfg),
                             layer(paths, new.instance_id))
    instance.activate(paths, new)
    instance.save_config(paths, new.instance_id, cfg)
    instance.write_instance_data(paths, new, cfg)
    return Refresh(changed, new, cfg, check_storage(paths, new) if "storage" in changed else [])


def check_storage(paths: Paths, sd: SourceData) -> list[str]:
    """Validate changed storagedata now: its problems are told at once, and a valid document is remembered
    (``storage-schema-verdicts.json``), so the hotplug that usually follows skips the schema check."""
    from blockprov.modules._storage import check_document

    if not sd.storage_config:
        return []
    return check_document(paths, sd.storage_config, "storagedata", wrapped=False)[1]
