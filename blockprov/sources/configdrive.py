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


def find(ctx: Context) -> SourceData | None:
    for d in ctx.paths.seed("config_drive"):
        if (d / "openstack" / "latest" / "meta_data.json").is_file():
            files = media.read_dir(d)
            return build(files.get, str(d), NAME)
    if ctx.dscfg(NAME).get("search_devices", True):
        for dev in media.devices_with_label(LABELS):
            files = media.read_files(dev)
            if "/openstack/latest/meta_data.json" in files:
                return build(files.get, dev, NAME)
    return None


def vendordata_payload(obj) -> bytes | None:
    """What cloud-init takes from vendor_data.json: a string, or the ``cloud-init`` key of a mapping."""
    if isinstance(obj, dict):
        obj = obj.get("cloud-init")
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj.encode()
    if isinstance(obj, (dict, list)):
        return ("#cloud-config\n" + json.dumps(obj)).encode() if isinstance(obj, dict) else None
    return None


def build(get: Callable[[str], bytes | None], where: str, name: str, version: str = "latest") -> SourceData:
    """SourceData from OpenStack-layout files; ``get("/openstack/latest/x")`` returns bytes or None."""
    raw = get("/openstack/latest/meta_data.json")
    if raw is None:
        raise SourceError(f"{where}: no openstack/latest/meta_data.json")
    try:
        md = load_json(raw, f"{where}/openstack/latest/meta_data.json")
    except ValueError as exc:
        raise SourceError(f"{where}/openstack/latest/meta_data.json: invalid JSON: {exc}") from None
    if not isinstance(md, dict):
        raise SourceError(f"{where}/openstack/latest/meta_data.json: expected an object")
    iid = md.get("uuid") or md.get("instance-id")
    if not iid:
        raise SourceError(f"{where}/openstack/latest/meta_data.json: no uuid")
    meta = md.get("meta") if isinstance(md.get("meta"), dict) else {}
    sd = SourceData(name=name, instance_id=str(iid), metadata=md, platform="openstack", subplatform=where,
                    dsmode=str(meta.get("dsmode") or ("local" if name == NAME else "net")))
    sd.local_hostname = md.get("hostname") or md.get("name")
    sd.availability_zone = md.get("availability_zone")
    sd.region = md.get("region") or meta.get("region")
    keys = md.get("public_keys") or {}
    sd.public_keys = [str(v) for v in keys.values()] if isinstance(keys, dict) else \
        [str(k) for k in keys] if isinstance(keys, list) else []
    sd.userdata = get("/openstack/latest/user_data")
    vraw = get("/openstack/latest/vendor_data.json")
    if vraw is not None:
        try:
            sd.vendordata = vendordata_payload(load_json(vraw, f"{where}/openstack/latest/vendor_data.json"))
        except ValueError as exc:
            sd.problems.append(f"{where}/openstack/latest/vendor_data.json: invalid JSON: {exc}; ignored")
    nraw = get("/openstack/latest/network_data.json")
    if nraw is not None:
        try:
            sd.network_config = load_json(nraw, f"{where}/openstack/latest/network_data.json")
            sd.network_format = "openstack"
        except ValueError as exc:
            sd.problems.append(f"{where}/openstack/latest/network_data.json: invalid JSON: {exc}; ignored")
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
