"""ConfigDrive v2: a ``config-2`` labelled device or a seed directory in the OpenStack layout.

``openstack/latest/meta_data.json`` (required), ``user_data``,
``vendor_data.json``, ``network_data.json``, ``storagedata`` and the injected
files ``openstack/content/NNNN`` that ``meta_data.json`` lists under ``files``.
The same reader serves the OpenStack HTTP service (``openstack.py``).
"""

from __future__ import annotations

import base64
import json
from typing import Callable

from blockprov.limits import load_json
from blockprov.sources import Context, SourceData, SourceError, media

NAME = "ConfigDrive"
LOCAL = True
STORAGEDATA_URL = True  # seeds may take storagedata from an instance-local service
LABELS = ["config-2", "CONFIG-2"]


def folder(paths) -> str | None:
    """The metadata version folder to read: ``latest``, else the newest dated one (``2015-10-15``) that has a
    meta_data.json, as cloud-init picks it (some builders write no ``latest``)."""
    have = {p.split("/")[2] for p in paths if p.startswith("/openstack/") and p.endswith("/meta_data.json")
            and p.count("/") == 3}
    if "latest" in have:
        return "latest"
    dated = sorted(v for v in have if len(v) == 10 and v[4] == v[7] == "-" and v.replace("-", "").isdigit())
    return dated[-1] if dated else None


def find(ctx: Context) -> SourceData | None:
    for d in ctx.paths.seed("config_drive"):
        if (d / "openstack").is_dir():
            files = media.read_dir(d)
            version = folder(files)
            if version:
                return build(files.get, str(d), NAME, folder=version)
    if ctx.dscfg(NAME).get("search_devices", True):
        for dev in media.devices_with_label(LABELS):
            files = media.read_files(dev)
            version = folder(files)
            if version:
                return build(files.get, dev, NAME, folder=version)
    return None


def vendordata_payload(obj) -> bytes | None:
    """What cloud-init takes from vendor_data.json: a string, the ``cloud-init`` key of a mapping, or a list whose
    items are parts (strings, or mappings read as cloud-config), kept as a cloud-config-archive."""
    if isinstance(obj, dict):
        obj = obj.get("cloud-init")
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj.encode()
    if isinstance(obj, dict):
        return ("#cloud-config\n" + json.dumps(obj)).encode()
    if isinstance(obj, list):
        items = [i if isinstance(i, str) else {"content": "#cloud-config\n" + json.dumps(i)}
                 for i in obj if isinstance(i, (str, dict))]
        return ("#cloud-config-archive\n" + json.dumps(items)).encode() if items else None
    return None


def combined(payloads: list[bytes]) -> bytes | None:
    """vendor_data.json and vendor_data2.json together: one cloud-config-archive, the second after the first (so
    its keys win when merged), as cloud-init applies vendordata2 after vendordata."""
    parts = [p for p in payloads if p]
    if len(parts) < 2:
        return parts[0] if parts else None
    return ("#cloud-config-archive\n" + json.dumps([p.decode("utf-8", "replace") for p in parts])).encode()


def build(get: Callable[[str], bytes | None], where: str, name: str, version: str = "latest",
          folder: str = "latest") -> SourceData:
    """SourceData from OpenStack-layout files; ``get("/openstack/FOLDER/x")`` returns bytes or None (``version``:
    where storagedata is read)."""
    raw = get(f"/openstack/{folder}/meta_data.json")
    if raw is None:
        raise SourceError(f"{where}: no openstack/{folder}/meta_data.json")
    try:
        md = load_json(raw, f"{where}/openstack/{folder}/meta_data.json")
    except ValueError as exc:
        raise SourceError(f"{where}/openstack/{folder}/meta_data.json: invalid JSON: {exc}") from None
    if not isinstance(md, dict):
        raise SourceError(f"{where}/openstack/{folder}/meta_data.json: expected an object")
    iid = md.get("uuid") or md.get("instance-id")
    if not iid:
        raise SourceError(f"{where}/openstack/{folder}/meta_data.json: no uuid")
    meta = md.get("meta") if isinstance(md.get("meta"), dict) else {}
    sd = SourceData(name=name, instance_id=str(iid), metadata=md, platform="openstack", subplatform=where,
                    dsmode=str(meta.get("dsmode") or ("local" if name == NAME else "net")))
    sd.local_hostname = md.get("hostname") or md.get("name")
    sd.availability_zone = md.get("availability_zone")
    sd.region = md.get("region") or meta.get("region")
    keys = md.get("public_keys") or {}
    sd.public_keys = [str(v) for v in keys.values()] if isinstance(keys, dict) else \
        [str(k) for k in keys] if isinstance(keys, list) else []
    sd.userdata = get(f"/openstack/{folder}/user_data")
    vendor = []
    for fname in ("vendor_data.json", "vendor_data2.json"):
        vraw = get(f"/openstack/{folder}/{fname}")
        if vraw is not None:
            try:
                vendor.append(vendordata_payload(load_json(vraw, f"{where}/openstack/{folder}/{fname}")))
            except ValueError as exc:
                sd.problems.append(f"{where}/openstack/{folder}/{fname}: invalid JSON: {exc}; ignored")
    sd.vendordata = combined(vendor)
    nraw = get(f"/openstack/{folder}/network_data.json")
    if nraw is not None:
        try:
            sd.network_config = load_json(nraw, f"{where}/openstack/{folder}/network_data.json")
            sd.network_format = "openstack"
        except ValueError as exc:
            sd.problems.append(f"{where}/openstack/{folder}/network_data.json: invalid JSON: {exc}; ignored")
    sraw = get(f"/openstack/{version}/storagedata")
    if sraw is not None:
        try:
            sd.storage_config = media.parse_structured(f"{where}/openstack/{version}/storagedata", sraw)
        except SourceError as exc:
            sd.problems.append(str(exc))
    listed = md.get("files") or []
    if not isinstance(listed, list):
        sd.problems.append("meta_data.json files: not a list; skipped")
        listed = []
    for i, f in enumerate(listed):
        if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not isinstance(f.get("content_path"), str) \
                or not f["path"] or not f["content_path"]:
            sd.problems.append(f"meta_data.json files[{i}]: needs path and content_path; skipped")
            continue
        body = get("/openstack" + f["content_path"] if f["content_path"].startswith("/content/")
                   else f["content_path"])
        if body is None:
            sd.problems.append(f"meta_data.json files[{i}]: {f['content_path']} is missing; skipped")
            continue
        sd.files.append({"path": f["path"], "content": base64.b64encode(body).decode()})
    return sd
