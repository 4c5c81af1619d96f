"""A stored definition as the files a datasource reads: OpenStack (config-2 and HTTP), NoCloud, Azure (pure).

Each renderer returns ``{"/path": bytes}`` (or the XML bytes for Azure). The
same functions serve the metadata service and build the seed images, so an
instance sees the same data whichever way it is given.
"""

from __future__ import annotations

import base64
import ipaddress
import json

GENKEYTYPES = ["rsa", "ecdsa", "ed25519"]
SUDO = "ALL=(ALL) NOPASSWD:ALL"


def file_bytes(f: dict) -> bytes:
    return base64.b64decode(f["content"]) if f.get("encoding") == "base64" else f["content"].encode()


def storagedata(storage: dict) -> bytes:
    return json.dumps(storage, sort_keys=True).encode()


def cloud_config(d: dict, files: bool = False, storage: bool = False) -> dict:
    """The generated cloud-config: users, timezone, host keys (and files/storage for forms without their own)."""
    cc: dict = {}
    users = []
    for u in d.get("users") or []:
        e: dict = {"name": u["name"], "lock_passwd": u.get("lock_password", "hashed_password" not in u)}
        if "hashed_password" in u:
            e["hashed_passwd"] = u["hashed_password"]
        if u.get("authorized_keys"):
            e["ssh_authorized_keys"] = list(u["authorized_keys"])
        if u.get("groups"):
            e["groups"] = list(u["groups"])
        if u.get("sudo"):
            e["sudo"] = SUDO
        if u["name"] != "root":
            e["shell"] = "/bin/bash"
        users.append(e)
    if users:
        cc["users"] = users
    if d.get("timezone"):
        cc["timezone"] = d["timezone"]
    if "regenerate_ssh_keys" in d:
        cc["ssh_deletekeys"] = bool(d["regenerate_ssh_keys"])
        if d["regenerate_ssh_keys"]:
            cc["ssh_genkeytypes"] = list(GENKEYTYPES)
    if files and d.get("files"):
        cc["write_files"] = [{"path": f["path"], "encoding": "b64",
                              "content": base64.b64encode(file_bytes(f)).decode()} for f in d["files"]]
    if storage and d.get("storage"):
        cc["storage"] = d["storage"]
    return cc


def user_data(d: dict, files: bool = False, storage: bool = False) -> bytes:
    """``#cloud-config`` alone, or MIME multipart with the custom user-data after it (so its keys win)."""
    text = "#cloud-config\n" + json.dumps(cloud_config(d, files, storage), indent=1, sort_keys=True) + "\n"
    custom = d.get("custom_user_data")
    if not custom:
        return text.encode()
    from email.charset import Charset
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    cs = Charset("utf-8")
    cs.body_encoding = None  # 8bit: the parts stay readable
    msg = MIMEMultipart(boundary="==blockprov-engine-part==")
    msg.attach(MIMEText(text, "cloud-config", cs))
    part = MIMEText(custom, "plain", cs)  # the agent (and cloud-init) look at the content for its type
    part.add_header("Content-Disposition", "attachment", filename="custom-user-data")
    msg.attach(part)
    return msg.as_bytes()


CHANNEL_ENTRY = "blockprov-channel"


def with_channel(d: dict, endpoint: str, secret: str) -> tuple[dict, str | None]:
    """(the definition with the event-channel reporting entry in its vendor-data, a warning or None): how an
    instance gets its channel endpoint and its own secret from its metadata or seed (pure). Vendor-data that is
    not cloud-config (a script, MIME) is left alone, with a warning."""
    import yaml

    entry = {"reporting": {CHANNEL_ENTRY: {"type": "event-channel", "endpoint": endpoint, "secret": secret}}}
    v = d.get("vendor_data")
    if v is None:
        base = {}
    elif isinstance(v, dict):
        base = v
    elif isinstance(v, str) and v.startswith("#cloud-config"):
        try:
            base = yaml.safe_load(v) or {}
        except yaml.YAMLError:
            base = None
    else:
        base = None
    if not isinstance(base, dict):
        return d, "vendor_data is not a cloud-config mapping: the event-channel entry is not added to it"
    reporting = {**(base.get("reporting") or {}), **entry["reporting"]}
    return {**d, "vendor_data": {**base, "reporting": reporting}}, None


def vendor_text(d: dict) -> bytes | None:
    v = d.get("vendor_data")
    if v is None:
        return None
    return v.encode() if isinstance(v, str) else ("#cloud-config\n" + json.dumps(v, sort_keys=True) + "\n").encode()


def _netmask4(nic: dict) -> str:
    if nic.get("netmask"):
        return nic["netmask"]
    return str(ipaddress.IPv4Network(f"0.0.0.0/{nic.get('prefix', 24)}").netmask)


def network_data(d: dict) -> dict:
    """OpenStack network_data.json; a ``blockprov`` object (on a link, and at the top) carries what it has no key
    for: ``on_boot``, ``accept_ra`` and ``dns_search``."""
    links, networks = [], []
    for nic in d.get("nics") or []:
        name = nic["name"]
        link = {"id": name, "name": name, "type": "phy"}
        if nic.get("mac"):
            link["ethernet_mac_address"] = nic["mac"].lower()
        if nic.get("mtu"):
            link["mtu"] = nic["mtu"]
        ext = {}
        if nic.get("on_boot") is False:
            ext["on_boot"] = False
        if nic.get("ipv6_boot_protocol") == "static":
            ext["accept_ra"] = False  # a static IPv6 address only, as oVirt means it
        if ext:
            link["blockprov"] = ext
        links.append(link)
        proto = nic.get("boot_protocol", "none")
        if proto == "dhcp":
            networks.append({"id": f"{name}-ipv4", "link": name, "type": "ipv4_dhcp"})
        elif proto == "static":
            n = {"id": f"{name}-ipv4", "link": name, "type": "ipv4", "ip_address": nic["address"],
                 "netmask": _netmask4(nic), "routes": []}
            if nic.get("gateway"):
                n["routes"].append({"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": nic["gateway"]})
            networks.append(n)
        proto6 = nic.get("ipv6_boot_protocol", "none")
        if proto6 in ("dhcp", "autoconf"):
            networks.append({"id": f"{name}-ipv6", "link": name,
                             "type": "ipv6_dhcp" if proto6 == "dhcp" else "ipv6_slaac"})
        elif proto6 == "static":
            n = {"id": f"{name}-ipv6", "link": name, "type": "ipv6", "ip_address": nic["ipv6_address"],
                 "netmask": str(ipaddress.IPv6Network(f"::/{nic.get('ipv6_prefix', 64)}").netmask), "routes": []}
            if nic.get("ipv6_gateway"):
                n["routes"].append({"network": "::", "netmask": "::", "gateway": nic["ipv6_gateway"]})
            networks.append(n)
    dns = d.get("dns") or {}
    out = {"links": links, "networks": networks,
           "services": [{"type": "dns", "address": a} for a in dns.get("servers") or []]}
    if dns.get("search"):
        out["blockprov"] = {"dns_search": list(dns["search"])}
    return out


def network_v1(d: dict) -> dict:
    """Network config v1 for NoCloud's ``network-config``."""
    cfg = []
    for nic in d.get("nics") or []:
        it: dict = {"type": "physical", "name": nic["name"], "subnets": []}
        if nic.get("mac"):
            it["mac_address"] = nic["mac"].lower()
        if nic.get("mtu"):
            it["mtu"] = nic["mtu"]
        subs = it["subnets"]
        proto, proto6 = nic.get("boot_protocol", "none"), nic.get("ipv6_boot_protocol", "none")
        if proto == "dhcp":
            subs.append({"type": "dhcp4"})
        elif proto == "static":
            s = {"type": "static", "address": nic["address"], "netmask": _netmask4(nic)}
            if nic.get("gateway"):
                s["gateway"] = nic["gateway"]
            subs.append(s)
        if proto6 in ("dhcp", "autoconf"):
            subs.append({"type": "dhcp6" if proto6 == "dhcp" else "ipv6_slaac"})
        elif proto6 == "static":
            s = {"type": "static6", "address": f"{nic['ipv6_address']}/{nic.get('ipv6_prefix', 64)}"}
            if nic.get("ipv6_gateway"):
                s["gateway"] = nic["ipv6_gateway"]
            subs.append(s)
        if proto6 in ("static", "dhcp"):  # as cloud-init's network_data.json conversion sets it
            it["accept-ra"] = proto6 == "dhcp"
        if nic.get("on_boot") is False:
            subs[:] = [{**s, "control": "manual"} for s in subs] or [{"type": "manual", "control": "manual"}]
        cfg.append(it)
    dns = d.get("dns") or {}
    if dns.get("servers") or dns.get("search"):
        cfg.append({"type": "nameserver", "address": list(dns.get("servers") or []),
                    "search": list(dns.get("search") or [])})
    return {"version": 1, "config": cfg}


def openstack(d: dict) -> dict[str, bytes]:
    """The config-drive v2 tree (also what the HTTP service serves), keyed by path from the drive's root."""
    md: dict = {"uuid": d["id"], "name": d.get("name", d["hostname"]), "hostname": d["hostname"],
                "launch_index": 0, "meta": {}}
    out: dict[str, bytes] = {}
    if d.get("files"):
        md["files"] = []
        for n, f in enumerate(d["files"]):
            md["files"].append({"path": f["path"], "content_path": f"/content/{n:04d}"})
            out[f"/openstack/content/{n:04d}"] = file_bytes(f)
    out["/openstack/latest/meta_data.json"] = json.dumps(md, sort_keys=True).encode()
    out["/openstack/latest/user_data"] = user_data(d)
    if d.get("vendor_data") is not None:
        out["/openstack/latest/vendor_data.json"] = json.dumps({"cloud-init": d["vendor_data"]},
                                                               sort_keys=True).encode()
    out["/openstack/latest/network_data.json"] = json.dumps(network_data(d), sort_keys=True).encode()
    if d.get("storage"):
        out["/openstack/latest/storagedata"] = storagedata(d["storage"])
    return out


def nocloud(d: dict) -> dict[str, bytes]:
    """The NoCloud seed: meta-data, user-data (with the files as write_files), vendor-data, network-config, storagedata."""
    md = {"instance-id": d["id"], "local-hostname": d["hostname"]}
    out = {"/meta-data": json.dumps(md, sort_keys=True).encode(),
           "/user-data": user_data(d, files=True)}
    v = vendor_text(d)
    if v is not None:
        out["/vendor-data"] = v
    if d.get("nics") or d.get("dns"):
        out["/network-config"] = json.dumps(network_v1(d), sort_keys=True).encode()
    if d.get("storage"):
        out["/storagedata"] = storagedata(d["storage"])
    return out


def azure_warnings(d: dict) -> list[str]:
    out = []
    if d.get("nics") or d.get("dns"):
        out.append("azure: ovf-env.xml has no network settings; the NICs and DNS are not carried (Azure-style "
                   "hosts configure the first NIC by DHCP)")
    if d.get("vendor_data") is not None:
        out.append("azure: ovf-env.xml has no vendor-data; vendor_data is not carried")
    return out


def ovf_env(d: dict) -> bytes:
    """Azure's ovf-env.xml: the first user as UserName with its keys; everything else in CustomData."""
    from xml.etree.ElementTree import Element, SubElement, tostring

    wa = "http://schemas.microsoft.com/windowsazure"
    env = Element("Environment", {"xmlns": "http://schemas.dmtf.org/ovf/environment/1", "xmlns:wa": wa})
    prov = SubElement(env, "wa:ProvisioningSection")
    SubElement(prov, "wa:Version").text = "1.0"
    lp = SubElement(prov, "LinuxProvisioningConfigurationSet", {"xmlns": wa})
    SubElement(lp, "ConfigurationSetType").text = "LinuxProvisioningConfiguration"
    SubElement(lp, "HostName").text = d["hostname"]
    users = d.get("users") or []
    if users:
        first = users[0]
        SubElement(lp, "UserName").text = first["name"]
        SubElement(lp, "DisableSshPasswordAuthentication").text = "false" if "hashed_password" in first else "true"
        if first.get("authorized_keys"):
            keys = SubElement(SubElement(lp, "SSH"), "PublicKeys")
            home = "/root" if first["name"] == "root" else f"/home/{first['name']}"
            for k in first["authorized_keys"]:
                pk = SubElement(keys, "PublicKey")
                SubElement(pk, "Fingerprint").text = ""
                SubElement(pk, "Path").text = f"{home}/.ssh/authorized_keys"
                SubElement(pk, "Value").text = k
    SubElement(lp, "CustomData").text = base64.b64encode(user_data(d, files=True, storage=True)).decode()
    dscfg = f"instance_id: {json.dumps(d['id'])}\n"  # the Azure datasource config itself (YAML)
    SubElement(lp, "dscfg").text = base64.b64encode(dscfg.encode()).decode()
    plat = SubElement(env, "wa:PlatformSettingsSection")
    SubElement(SubElement(plat, "wa:PlatformSettings"), "wa:ProvisionGuestAgent").text = "false"
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(env)
