"""Azure: ``ovf-env.xml`` from a seed directory or the provisioning CD.

From ``LinuxProvisioningConfigurationSet``: HostName, UserName, UserPassword
(hashed with SHA-512 crypt before it is kept anywhere), CustomData or UserData
(base64; when both are present CustomData is used, as cloud-init does, and a
warning says UserData was ignored), SSH PublicKeys (Fingerprint, Path, Value),
DisableSshPasswordAuthentication and ``dscfg`` (base64 YAML merged into the
``datasource: Azure`` config; its ``instance_id``, as blockprov-engine writes it,
is the instance id, else DMI's product UUID is). The wire-server endpoint comes from DHCP option
245 in a dhclient lease file. XML is parsed with defusedxml: entity tricks are
refused, not expanded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from pathlib import Path

from blockprov.sources import Context, SourceData, SourceError, media

NAME = "Azure"
LOCAL = True
ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
MAX_XML = 1 << 20
LEASE_GLOBS = ("var/lib/dhcp/dhclient*.leases", "var/lib/dhclient/*.lease*", "var/lib/dhcp/*.leases")
_OPT245 = re.compile(r"option\s+unknown-245\s+([^;]+);")


def find(ctx: Context) -> SourceData | None:
    dscfg = ctx.dscfg(NAME)
    for d in ctx.paths.seed("azure"):
        f = d / "ovf-env.xml"
        if f.is_file():
            return build(ctx, f.read_bytes(), str(f))
    if dscfg.get("search_devices") or ctx.dmi("chassis_asset_tag") == ASSET_TAG:
        for dev in media.devices_with_type(["udf", "iso9660"]):
            files = media.read_files(dev)
            if "/ovf-env.xml" in files:
                return build(ctx, files["/ovf-env.xml"], f"{dev}:/ovf-env.xml")
    return None


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SourceError(f"{what} is not valid base64") from None


WA = "http://schemas.microsoft.com/windowsazure"
MAX_PASSWORD = 72  # cloud-init's MAX_PASSWORD_LENGTH for an OS profile password
REDACTED = "REDACTED"  # what cloud-init writes over the password in the ovf-env.xml it keeps


def parse_ovf(raw: bytes, where: str) -> dict:
    """The provisioning fields of an ovf-env.xml as plain data (pure)."""
    import defusedxml.ElementTree as ET
    from defusedxml import DefusedXmlException

    if len(raw) > MAX_XML:
        raise SourceError(f"{where}: {len(raw)} bytes; an ovf-env.xml over {MAX_XML >> 10} KiB is refused")
    try:
        root = ET.fromstring(raw)
    except DefusedXmlException as exc:
        raise SourceError(f"{where}: refused unsafe XML ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        raise SourceError(f"{where}: not well-formed XML: {exc}") from None
    except (LookupError, ValueError, UnicodeError) as exc:  # an unknown or lying encoding declaration
        raise SourceError(f"{where}: unreadable XML: {exc}") from None

    def tag(e) -> str:
        return e.tag.rsplit("}", 1)[-1]

    def one(parent, name: str, required: bool):
        """The single ``wa:NAME`` child, as cloud-init's OvfEnvXml finds it: elements of another namespace do not
        count; two are an error; a required one missing is an error."""
        found = [e for e in parent if e.tag == f"{{{WA}}}{name}"]
        if len(found) > 1:
            raise SourceError(f"{where}: {len(found)} {name} elements; Azure gives one")
        if not found and required:
            raise SourceError(f"{where}: no {name} (in the {WA} namespace)")
        return found[0] if found else None

    section = one(root, "ProvisioningSection", True)
    lpcs = one(section, "LinuxProvisioningConfigurationSet", True)
    one(lpcs, "HostName", True)
    for name in ("UserName", "UserPassword", "CustomData", "UserData", "DisableSshPasswordAuthentication", "SSH"):
        one(lpcs, name, False)
    out: dict = {"public_keys": [], "warnings": []}
    for child in lpcs:
        if not child.tag.startswith(f"{{{WA}}}"):
            out["warnings"].append(f"{where}: {child.tag} is not in the {WA} namespace; ignored")
            continue
        name, text = tag(child), (child.text or "").strip()
        if name == "UserPassword" and len(text) > MAX_PASSWORD:
            raise SourceError(f"{where}: UserPassword is {len(text)} characters; Azure allows {MAX_PASSWORD}")
        if name in ("HostName", "UserName", "UserPassword"):
            out[name] = text
        elif name in ("CustomData", "UserData") and text:
            out[name] = _b64(text, f"{where}: {name}")
        elif name == "DisableSshPasswordAuthentication":
            out[name] = text.lower() == "true"
        elif name == "dscfg" and text:
            from blockprov.boot.userdata import load_yaml

            try:
                cfg = load_yaml(_b64(text, f"{where}: dscfg"))
            except SourceError:
                raise
            except Exception as exc:  # noqa: BLE001 - YAML errors of every kind
                raise SourceError(f"{where}: dscfg is not valid YAML: {' '.join(str(exc).split())[:200]}") from None
            if not isinstance(cfg, dict):
                raise SourceError(f"{where}: dscfg must be a YAML mapping")
            out["dscfg"] = cfg
        elif name == "SSH":
            for pk in child.iter():
                if tag(pk) != "PublicKey":
                    continue
                key = {tag(f): (f.text or "").strip() for f in pk}
                out["public_keys"].append({"fingerprint": key.get("Fingerprint", ""), "path": key.get("Path", ""),
                                           "value": key.get("Value", "")})
    if "CustomData" in out and "UserData" in out:
        out["warnings"].append(f"{where}: both CustomData and UserData given; using CustomData, UserData ignored")
    return out


def _dhclient_string(text: str) -> bytes:
    """A quoted dhclient lease value as bytes: ``\\ooo`` octal escapes, ``\\X`` for X, other characters as
    they are (dhclient writes printable ASCII); a character beyond one byte makes it unreadable (b"")."""
    import re

    out = bytearray()
    for m in re.finditer(r"\\([0-7]{1,3})|\\(.)|(.)", text, re.S):
        if m.group(1):
            out.append(int(m.group(1), 8) & 0xFF)
        else:
            c = m.group(2) or m.group(3)
            if ord(c) > 0xFF:
                return b""
            out.append(ord(c))
    return bytes(out)


def option_245(text: str) -> str | None:
    """The last ``option unknown-245`` of a dhclient lease file as a dotted address."""
    found = _OPT245.findall(text)
    if not found:
        return None
    val = found[-1].strip()
    if val.startswith('"'):
        raw = _dhclient_string(val.strip('"'))
    else:
        try:
            raw = bytes(int(x, 16) for x in val.split(":"))
        except ValueError:
            return None
    return ".".join(str(b) for b in raw) if len(raw) == 4 else None


def endpoint(ctx: Context) -> str | None:
    lease = ctx.dscfg(NAME).get("dhclient_lease_file")
    files = [ctx.paths.inside(lease)] if lease else sorted(
        p for g in LEASE_GLOBS for p in ctx.paths.root.glob(g))
    for f in files:
        try:
            ip = option_245(Path(f).read_text(errors="replace"))
        except OSError:
            continue
        if ip:
            return ip
    return None


def build(ctx: Context, raw: bytes, where: str) -> SourceData:
    ovf = parse_ovf(raw, where)
    given = (ovf.get("dscfg") or {}).get("instance_id")
    iid = str(given) if isinstance(given, (str, int)) and given != "" else \
        ctx.dmi("product_uuid").lower() or "azure-" + hashlib.sha256(raw).hexdigest()[:16]
    sd = SourceData(name=NAME, instance_id=iid, platform="azure", subplatform=where, problems=list(ovf["warnings"]))
    sd.local_hostname = ovf.get("HostName") or None
    sd.userdata = ovf.get("CustomData", ovf.get("UserData"))
    keys = [k["value"] for k in ovf["public_keys"] if k["value"]]
    sd.public_keys = keys
    sd.metadata = {"local-hostname": sd.local_hostname, "username": ovf.get("UserName"),
                   "public-keys": ovf["public_keys"], "endpoint": endpoint(ctx)}
    cfg: dict = {}
    if ovf.get("UserName"):
        user = {"name": ovf["UserName"], "groups": ["sudo"], "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": not ovf.get("UserPassword"), "ssh_authorized_keys": keys}
        if ovf.get("UserPassword") and ovf["UserPassword"] != REDACTED:  # REDACTED: cloud-init's own marker
            from blockprov.boot.passwords import sha512

            user["hashed_passwd"] = sha512(ovf["UserPassword"])
        cfg["users"] = [user]
    if "DisableSshPasswordAuthentication" in ovf:
        cfg["ssh_pwauth"] = not ovf["DisableSshPasswordAuthentication"]
    elif ovf.get("UserPassword"):
        cfg["ssh_pwauth"] = True  # as cloud-init: a password given without the flag is meant to log in with
    if sd.local_hostname:
        cfg["hostname"] = sd.local_hostname
    ds = dict(ovf.get("dscfg") or {})
    cfg["datasource"] = {NAME: ds}
    sd.cfg = cfg
    cmd = {**ctx.dscfg(NAME), **ds}.get("agent_command", "__builtin__")
    if isinstance(cmd, list) and cmd:
        from blockprov.run import run

        res = run([str(a) for a in cmd], check=False, timeout=300)
        if res.returncode != 0:
            sd.problems.append(f"agent_command {cmd} exited {res.returncode}: {res.stderr.strip()[-300:]}")
    return sd
