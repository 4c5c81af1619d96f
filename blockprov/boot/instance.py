"""The current instance: its directory, cached datasource data, instance-data.json.

Everything is JSON (never pickle). ``var/lib/blockprov/instance`` links to
``instances/<iid>``; ``data/instance-id`` and ``data/previous-instance-id``
say whether this boot is a new instance.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from blockprov.paths import Paths, atomic_write
from blockprov.sources import SourceData

SECRET_KEYS = {"passwd", "password", "hashed_passwd", "plain_text_passwd", "chpasswd", "userpassword",
               "admin_pass", "adminpass", "security-credentials", "random_seed", "key", "keyfile", "token",
               "ssh_keys", "secret"}
REDACTED = "REDACTED for non-root user"


def read_text(p: Path) -> str | None:
    try:
        return p.read_text().strip()
    except OSError:
        return None


def previous_iid(paths: Paths) -> str | None:
    return read_text(paths.data / "instance-id") or None


def activate(paths: Paths, sd: SourceData) -> bool:
    """Make ``sd`` the current instance; True when its instance-id differs from the last boot's."""
    idir = paths.instance_dir(sd.instance_id)
    paths.prepare()
    idir.mkdir(parents=True, exist_ok=True)
    os.chmod(idir, 0o700)
    # raw user-data, admin_pass, password hashes: root's alone from the moment the file exists
    atomic_write(idir / "datasource.json", json.dumps(sd.to_json(), indent=1, sort_keys=True), mode=0o600)
    prev = previous_iid(paths)
    new = prev != sd.instance_id
    if new:
        atomic_write(paths.data / "previous-instance-id", (prev or "") + "\n")
        atomic_write(paths.data / "instance-id", sd.instance_id + "\n")
    link = paths.instance_link
    want = os.path.relpath(idir, link.parent)
    if not link.is_symlink() or os.readlink(link) != want:
        tmp = link.with_name(".instance.tmp")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(want, tmp)
        os.replace(tmp, link)
    return new


def cached(paths: Paths) -> SourceData | None:
    try:
        return SourceData.from_json(json.loads((paths.instance_link / "datasource.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def save_config(paths: Paths, iid: str, cfg: dict) -> None:
    atomic_write(paths.instance_dir(iid) / "config.json", json.dumps(cfg, indent=1, sort_keys=True, default=str),
                 mode=0o600)


def load_config(paths: Paths) -> dict | None:
    try:
        return json.loads((paths.instance_link / "config.json").read_text())
    except (OSError, ValueError):
        return None


def redact(obj, path: str = "", found: list | None = None):
    """A copy with secret-looking keys replaced; ``found`` collects their JSON paths."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            p = f"{path}/{k}"
            if str(k).lower() in SECRET_KEYS and v not in (None, "", [], {}):
                out[k] = REDACTED
                if found is not None:
                    found.append(p)
            else:
                out[k] = redact(v, p, found)
        return out
    if isinstance(obj, list):
        return [redact(v, f"{path}/{i}", found) for i, v in enumerate(obj)]
    return obj


def instance_data(sd: SourceData, cfg: dict) -> dict:
    """instance-data.json's content; ``v1`` carries cloud-init's standard keys in both spellings (``instance_id``
    and ``instance-id``), so its users' jinja templates and ``query`` calls find them."""
    import base64
    import os

    ud = sd.userdata
    v1 = {"datasource": sd.name, "instance_id": sd.instance_id, "local_hostname": sd.local_hostname,
          "region": sd.region, "availability_zone": sd.availability_zone, "public_ssh_keys": sd.public_keys,
          "platform": sd.platform, "subplatform": sd.subplatform, "dsmode": sd.dsmode,
          "cloud_name": sd.platform or sd.name.lower(), "cloud_id": sd.platform or sd.name.lower(),
          "machine": os.uname().machine, "kernel_release": os.uname().release}
    for key in ("instance_id", "local_hostname", "availability_zone", "cloud_name"):
        v1[key.replace("_", "-")] = v1[key]
    return {
        "v1": v1,
        "ds": {"meta_data": sd.metadata, "network_config": sd.network_config, "network_format": sd.network_format,
               "storage_config": sd.storage_config,
               "user_data": base64.b64encode(ud).decode() if ud else None},
        "merged_cfg": cfg,
    }


def write_instance_data(paths: Paths, sd: SourceData, cfg: dict) -> None:
    full = instance_data(sd, cfg)
    secret: list[str] = []
    public = redact(full, "", secret)
    public["ds"]["user_data"] = REDACTED if sd.userdata else None
    if sd.userdata:
        secret.append("/ds/user_data")
    public["sensitive_keys"] = sorted(secret)
    full["sensitive_keys"] = sorted(secret)
    atomic_write(paths.instance_data_sensitive, json.dumps(full, indent=1, sort_keys=True, default=str), mode=0o600)
    atomic_write(paths.instance_data, json.dumps(public, indent=1, sort_keys=True, default=str), mode=0o644)
