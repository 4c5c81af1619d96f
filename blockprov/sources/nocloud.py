"""NoCloud: a seed directory, a ``cidata`` labelled ISO9660/vfat device, or the kernel command line.

Files: ``meta-data`` (required, YAML or JSON; may be empty), ``user-data``,
``vendor-data``, ``network-config`` and ``storagedata`` (storage v1, YAML or
JSON). Kernel command line: ``ds=nocloud;s=SEED;i=IID;h=HOSTNAME`` where SEED
is a directory (``file://`` or a path) or an ``http(s)://`` URL ending in ``/``.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlparse

from blockprov.sources import Context, SourceData, SourceError, media

NAME = "NoCloud"
LOCAL = True
STORAGEDATA_URL = True  # seeds may take storagedata from an instance-local service
LABELS = ["cidata", "CIDATA"]
FILES = ("meta-data", "user-data", "vendor-data", "network-config", "storagedata")


def parse_cmdline(cmdline: str) -> dict | None:
    """{"s": seed, "i": iid, "h": hostname} from ``ds=nocloud[-net];k=v;...``; None when absent."""
    for tok in cmdline.split():
        if not tok.startswith("ds="):
            continue
        fields = tok[3:].split(";")
        if fields[0].lower() not in ("nocloud", "nocloud-net"):
            continue
        out = {"net": fields[0].lower() == "nocloud-net"}
        for f in fields[1:]:
            k, sep, v = f.partition("=")
            if sep:
                out[{"seedfrom": "s", "instance-id": "i", "local-hostname": "h"}.get(k, k)] = v
        return out
    return None


def find(ctx: Context) -> SourceData | None:
    dscfg = ctx.dscfg(NAME)
    cmd = parse_cmdline(ctx.cmdline()) or {}
    seed = cmd.get("s") or dscfg.get("seedfrom")
    if seed:
        files, where = _from_seed(ctx, seed)
        if files is not None:
            return build(files, where, cmd, default_dsmode="net" if where.startswith("http") else "local")
    for d in ctx.paths.seed("nocloud"):
        if (d / "meta-data").is_file():
            return build(media.read_dir(d), str(d), cmd)
    if dscfg.get("search_devices", True):
        for dev in media.devices_with_label(LABELS):
            files = media.read_files(dev)
            if "/meta-data" in files:
                return build(files, dev, cmd)
    return None


def _from_seed(ctx: Context, seed: str) -> tuple[dict | None, str]:
    u = urlparse(seed)
    if u.scheme in ("http", "https"):
        if ctx.stage == "local":
            return None, seed  # the network is not up yet: the network stage fetches it
        from blockprov.sources import http

        f = http.from_cfg(ctx.dscfg(NAME))
        pool = f.pool()
        base = seed if seed.endswith("/") else seed + "/"
        files = {}
        for name in FILES:
            body = f.get(pool, urljoin(base, name))
            if body is not None:
                files["/" + name] = body
        if "/meta-data" not in files:
            raise SourceError(f"{seed}: no meta-data")
        return files, seed
    path = ctx.paths.inside(u.path if u.scheme == "file" else seed)
    if (path / "meta-data").is_file():
        return media.read_dir(path), str(path)
    return None, str(path)


def build(files: dict[str, bytes], where: str, cmd: dict, default_dsmode: str = "local") -> SourceData:
    md = media.parse_structured(f"{where}/meta-data", files["/meta-data"])
    if cmd.get("i"):
        md["instance-id"] = cmd["i"]
    if cmd.get("h"):
        md["local-hostname"] = cmd["h"]
    iid = md.get("instance-id") or md.get("instance_id")
    if not iid or not isinstance(iid, (str, int)):
        raise SourceError(f"{where}/meta-data: no instance-id")
    sd = SourceData(name=NAME, instance_id=str(iid), metadata=md, platform="nocloud", subplatform=f"seed={where}",
                    dsmode=str(md.get("dsmode") or ("net" if cmd.get("net") else default_dsmode)))
    sd.userdata = files.get("/user-data")
    sd.vendordata = files.get("/vendor-data")
    sd.local_hostname = md.get("local-hostname") or md.get("hostname")
    keys = md.get("public-keys") or md.get("public_keys") or []
    sd.public_keys = [keys] if isinstance(keys, str) else [str(k) for k in keys] if isinstance(keys, list) else []
    if "/network-config" in files:
        try:
            net = media.parse_structured(f"{where}/network-config", files["/network-config"])
        except SourceError as exc:
            sd.problems.append(str(exc))
        else:
            net = net.get("network", net) if isinstance(net.get("network"), dict) else net
            sd.network_config = net
            sd.network_format = f"v{net.get('version', 1)}"
    elif isinstance(md.get("network-interfaces"), str):
        sd.network_config = {"eni": md["network-interfaces"]}
        sd.network_format = "eni"
    if "/storagedata" in files:
        try:
            sd.storage_config = media.parse_structured(f"{where}/storagedata", files["/storagedata"])
        except SourceError as exc:
            sd.problems.append(str(exc))
    return sd
