"""Datasources: where an instance's identity and data come from.

Each datasource module has ``NAME``, ``LOCAL`` (can be read before the network
is up) and ``find(ctx) -> SourceData | None``. ``find`` returns None when the
source is simply not there and raises SourceError when it is there but broken;
the search then goes on with the next source and the error is reported.
"""

from __future__ import annotations

import base64
import importlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from blockprov.paths import Paths

DEFAULT_LIST = ["NoCloud", "ConfigDrive", "Azure", "OpenStack", "None"]
MODULES = frozenset({"nocloud", "configdrive", "azure", "openstack", "none"})  # file names
NONE_IID = "iid-datasource-none"


from blockprov.sources.errors import SourceError  # noqa: E402 - re-exported: every source raises it


@dataclass
class SourceData:
    name: str
    instance_id: str
    dsmode: str = "local"  # local: apply before the network is up; net: only in the network stage
    metadata: dict = field(default_factory=dict)
    userdata: bytes | None = None
    vendordata: bytes | None = None
    network_config: dict | None = None
    network_format: str | None = None  # v1 | v2 | openstack | ovirt
    storage_config: dict | None = None
    cfg: dict = field(default_factory=dict)  # config contributed by the datasource itself
    files: list[dict] = field(default_factory=list)  # {"path", "content" (base64), "mode"}
    local_hostname: str | None = None
    region: str | None = None
    availability_zone: str | None = None
    public_keys: list[str] = field(default_factory=list)
    platform: str = ""
    subplatform: str = ""
    problems: list[str] = field(default_factory=list)  # non-fatal: bad optional parts

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("userdata", "vendordata"):
            d[k] = base64.b64encode(d[k]).decode() if d[k] is not None else None
        return d

    @classmethod
    def from_json(cls, d: dict) -> "SourceData":
        d = dict(d)
        for k in ("userdata", "vendordata"):
            d[k] = base64.b64decode(d[k]) if d.get(k) is not None else None
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


MAX_IID = 255


def sanitize(sd: SourceData) -> SourceData:
    """Fields of the shape the rest of the agent relies on, whatever the metadata held.

    A datasource's JSON may give a hostname as a mapping, a key list as a number or a file entry without
    text: such values are dropped with a problem that names them, never passed on to crash a module.
    The instance-id is required text of at most 255 characters (SourceError otherwise: the source is not
    usable, and the search goes on).
    """
    if not isinstance(sd.instance_id, str) or not sd.instance_id.strip():
        raise SourceError(f"{sd.name}: instance-id must be non-empty text")
    control = any(ord(c) < 32 for c in sd.instance_id)
    if len(sd.instance_id) > MAX_IID or control:
        raise SourceError(f"{sd.name}: instance-id of {len(sd.instance_id)} characters"
                          f"{' with control characters' if control else ''};"
                          f" at most {MAX_IID} printable characters are accepted")
    for key in ("local_hostname", "region", "availability_zone"):
        v = getattr(sd, key)
        if v is not None and not isinstance(v, str):
            sd.problems.append(f"{sd.name}: {key} is a {type(v).__name__}, not text; ignored")
            setattr(sd, key, None)
    if not isinstance(sd.public_keys, list) or not all(isinstance(k, str) for k in sd.public_keys):
        sd.problems.append(f"{sd.name}: public keys that are not text ignored")
        sd.public_keys = [k for k in sd.public_keys if isinstance(k, str)] if isinstance(sd.public_keys, list) else []
    files = []
    for i, f in enumerate(sd.files if isinstance(sd.files, list) else []):
        if isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("content"), str):
            files.append(f)
        else:
            sd.problems.append(f"{sd.name}: files[{i}] needs text path and content; skipped")
    sd.files = files
    for key in ("metadata", "cfg"):
        if not isinstance(getattr(sd, key), dict):
            sd.problems.append(f"{sd.name}: {key} is not a mapping; ignored")
            setattr(sd, key, {})
    return sd


def dscfg(cfg: dict, name: str) -> dict:
    """A datasource's settings: ``cfg["datasource"][name]`` when it is a mapping, else {}."""
    ds = cfg.get("datasource") or {}
    v = ds.get(name) if isinstance(ds, dict) else None
    return v if isinstance(v, dict) else {}


@dataclass
class Context:
    paths: Paths
    cfg: dict  # the system config (datasource settings live under cfg["datasource"][NAME])
    stage: str = "local"  # local | net

    def dscfg(self, name: str) -> dict:
        return dscfg(self.cfg, name)

    def cmdline(self) -> str:
        for p in (self.paths.inside("/proc/cmdline"), Path("/proc/cmdline")):
            try:
                return p.read_text()
            except OSError:
                continue
        return ""

    def dmi(self, key: str) -> str:
        """A DMI field; a fake tree under the root (tests) wins over the running system's."""
        for base in (self.paths.inside("/sys/class/dmi/id"), Path("/sys/class/dmi/id")):
            try:
                return (base / key).read_text().strip()
            except OSError:
                continue
        return ""


def _key(name: str) -> str:
    """``ConfigDrive``, ``config-drive`` and ``config_drive`` all name sources/configdrive.py."""
    return name.lower().replace("_", "").replace("-", "")


def source_module(name: str):
    if _key(name) not in MODULES:
        raise KeyError(name)
    return importlib.import_module(f"blockprov.sources.{_key(name)}")


def known(name: str) -> bool:
    return _key(name) in MODULES


def find(mod, ctx: Context) -> SourceData | None:
    """``mod.find``, then a ``storagedata_url`` from its config for the sources that accept one."""
    sd = mod.find(ctx)
    if sd is not None:
        sanitize(sd)
    if sd is not None and getattr(mod, "STORAGEDATA_URL", False):
        from blockprov.sources import http

        http.storagedata_from_url(sd, ctx.dscfg(mod.NAME))
    return sd


@dataclass
class SearchResult:
    found: SourceData | None
    tried: list[str]
    errors: list[str]


def search(ctx: Context, names: list[str]) -> SearchResult:
    """The first source in ``names`` that is present; local-capable ones only in the local stage."""
    tried, errors = [], []
    for name in names:
        if not known(name):
            errors.append(f"datasource_list: unknown datasource {name!r}")
            continue
        mod = source_module(name)
        if ctx.stage == "local" and not mod.LOCAL:
            continue
        tried.append(mod.NAME)
        try:
            found = find(mod, ctx)
        except SourceError as exc:
            errors.append(f"{mod.NAME}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one source's unreadable data never ends the search
            errors.append(f"{mod.NAME}: unreadable data ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})")
            continue
        if found is not None:
            return SearchResult(found, tried, errors)
    return SearchResult(None, tried, errors)
