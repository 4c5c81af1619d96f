"""Datasource parsers and the system config loader (pure or temp-dir only)."""
import base64
import json

import pytest

from blockprov.boot import sysconfig
from blockprov.paths import Paths
from blockprov.sources import SourceError, azure, configdrive, nocloud

OVF = """<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:wa="http://schemas.microsoft.com/windowsazure">
 <wa:ProvisioningSection><wa:Version>1.0</wa:Version>
  <wa:LinuxProvisioningConfigurationSet>
   <wa:ConfigurationSetType>LinuxProvisioningConfiguration</wa:ConfigurationSetType>
   <wa:HostName>az-host</wa:HostName>
   <wa:UserName>azureuser</wa:UserName>
   <wa:UserPassword>{password}</wa:UserPassword>
   <wa:DisableSshPasswordAuthentication>true</wa:DisableSshPasswordAuthentication>
   {data}
   <wa:SSH><wa:PublicKeys><wa:PublicKey>
     <wa:Fingerprint>6BE7A7C3C8A8F4B123CCA5D0C2F1BE4CA7B63ED7</wa:Fingerprint>
     <wa:Path>/home/azureuser/.ssh/authorized_keys</wa:Path>
     <wa:Value>ssh-ed25519 AAAAC3Nza azure@key</wa:Value>
   </wa:PublicKey></wa:PublicKeys></wa:SSH>
   <wa:dscfg>{dscfg}</wa:dscfg>
  </wa:LinuxProvisioningConfigurationSet>
 </wa:ProvisioningSection>
</Environment>
"""


def ovf(password="s3cret!", data=None, dscfg="hostname_bounce: {policy: force}\n"):
    data = data if data is not None else f"<wa:CustomData>{base64.b64encode(b'#cloud-config' + bytes([10]) + b'a: 1').decode()}</wa:CustomData>"
    return OVF.format(password=password, data=data, dscfg=base64.b64encode(dscfg.encode()).decode()).encode()


def test_azure_ovf_fields():
    o = azure.parse_ovf(ovf(), "ovf")
    assert o["HostName"] == "az-host" and o["UserName"] == "azureuser" and o["UserPassword"] == "s3cret!"
    assert o["CustomData"] == b"#cloud-config\na: 1" and o["DisableSshPasswordAuthentication"] is True
    assert o["public_keys"] == [{"fingerprint": "6BE7A7C3C8A8F4B123CCA5D0C2F1BE4CA7B63ED7",
                                 "path": "/home/azureuser/.ssh/authorized_keys", "value": "ssh-ed25519 AAAAC3Nza azure@key"}]
    assert o["dscfg"] == {"hostname_bounce": {"policy": "force"}} and o["warnings"] == []


def test_azure_customdata_wins_over_userdata_with_a_warning():
    both = "<wa:CustomData>I2Nsb3VkLWNvbmZpZw==</wa:CustomData><wa:UserData>I2Nsb3Vk</wa:UserData>"
    o = azure.parse_ovf(ovf(data=both), "ovf")
    assert o["CustomData"] == b"#cloud-config" and "using CustomData, UserData ignored" in o["warnings"][0]


@pytest.mark.parametrize("raw,message", [
    (ovf()[:300], "not well-formed XML"),
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>', "refused unsafe XML"),
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>', "refused unsafe XML"),
    (ovf(data="<wa:CustomData>!!notbase64</wa:CustomData>"), "CustomData is not valid base64"),
    (ovf(dscfg="a: [unclosed"), "dscfg is not valid YAML"),
    (b"<Environment/>", "no ProvisioningSection"),
    (b"<a>" + b"x" * (azure.MAX_XML + 1) + b"</a>", "is refused"),
])
def test_azure_bad_ovf_is_a_clear_error(raw, message):
    with pytest.raises(SourceError, match=message):
        azure.parse_ovf(raw, "ovf")


def test_azure_dhcp_option_245():
    lease = "lease {\n  option unknown-245 64:41:60:82;\n}\nlease {\n  option unknown-245 a8:3f:81:10;\n}\n"
    assert azure.option_245(lease) == "168.63.129.16"
    assert azure.option_245("lease { option unknown-245 64:41:60:82; }") == "100.65.96.130"
    assert azure.option_245('option unknown-245 "dA<\\202";') == "100.65.60.130"
    assert azure.option_245("nothing here") is None


def test_nocloud_cmdline():
    assert nocloud.parse_cmdline("ro quiet ds=nocloud;s=file:///seed/;i=iid-9;h=host9 console=ttyS0") == \
        {"net": False, "s": "file:///seed/", "i": "iid-9", "h": "host9"}
    assert nocloud.parse_cmdline("ds=nocloud-net;s=http://10.0.0.1/x/")["net"] is True
    assert nocloud.parse_cmdline("ds=configdrive root=/dev/vda") is None


def test_nocloud_build_overrides_and_errors():
    sd = nocloud.build({"/meta-data": b"instance-id: a\nlocal-hostname: x\n", "/network-config": b"version: 2\nethernets: {}\n",
                        "/storagedata": b"version: 1\nconfig: []\n"}, "seed", {"h": "from-cmdline"})
    assert (sd.instance_id, sd.local_hostname, sd.network_format) == ("a", "from-cmdline", "v2")
    assert sd.storage_config == {"version": 1, "config": []}
    with pytest.raises(SourceError, match="no instance-id"):
        nocloud.build({"/meta-data": b"{}"}, "seed", {})
    with pytest.raises(SourceError, match="meta-data: neither JSON nor valid YAML"):
        nocloud.build({"/meta-data": b"a: [b"}, "seed", {})
    bad_net = nocloud.build({"/meta-data": b"instance-id: a", "/network-config": b"[unclosed"}, "seed", {})
    assert "network-config" in bad_net.problems[0] and bad_net.network_config is None


def test_configdrive_layout():
    files = {"/openstack/latest/meta_data.json": json.dumps({
        "uuid": "u-1", "hostname": "cd-host", "availability_zone": "nova", "public_keys": {"k": "ssh-rsa AAA k"},
        "files": [{"path": "/etc/injected.conf", "content_path": "/content/0000"}, {"path": "/x"}]}).encode(),
        "/openstack/content/0000": b"hello\n",
        "/openstack/latest/vendor_data.json": json.dumps({"cloud-init": "#cloud-config\nv: 1\n"}).encode(),
        "/openstack/latest/network_data.json": b"{\"links\": []}",
        "/openstack/latest/storagedata": b"{\"version\": 1, \"config\": []}"}
    sd = configdrive.build(files.get, "cd", "ConfigDrive")
    assert (sd.instance_id, sd.local_hostname, sd.availability_zone) == ("u-1", "cd-host", "nova")
    assert sd.public_keys == ["ssh-rsa AAA k"] and sd.vendordata == b"#cloud-config\nv: 1\n"
    assert sd.network_format == "openstack" and sd.storage_config == {"version": 1, "config": []}
    assert sd.files == [{"path": "/etc/injected.conf", "content": base64.b64encode(b"hello\n").decode()}]
    assert "needs path and content_path" in sd.problems[0]
    with pytest.raises(SourceError, match="invalid JSON"):
        configdrive.build({"/openstack/latest/meta_data.json": b"{trunc"}.get, "cd", "ConfigDrive")


def write_cfg(tmp_path, text, name=None):
    paths = Paths(tmp_path)
    p = paths.sysconfig_d / name if name else paths.sysconfig
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return paths


def test_sysconfig_merges_dropins_in_order(tmp_path):
    write_cfg(tmp_path, "datasource_list: [NoCloud]\nfinal_modules: [scripts_user]\n")
    write_cfg(tmp_path, "datasource_list: [ConfigDrive, None]\n", "20-b.cfg")
    write_cfg(tmp_path, "datasource_list: [Azure]\n", "10-a.cfg")
    cfg = sysconfig.load(Paths(tmp_path))
    assert cfg["datasource_list"] == ["ConfigDrive", "None"] and cfg["final_modules"] == ["scripts_user"]


def test_sysconfig_is_kept_parsed_until_a_file_changes(tmp_path):
    paths = write_cfg(tmp_path, "datasource_list: [NoCloud]\n")
    paths.run.mkdir(parents=True)
    assert sysconfig.load(paths)["datasource_list"] == ["NoCloud"]
    cache = paths.run / "sysconfig.json"
    assert cache.exists() and oct(cache.stat().st_mode & 0o777) == "0o600"
    kept = cache.read_text()
    assert sysconfig.load(paths)["datasource_list"] == ["NoCloud"] and cache.read_text() == kept
    marked = json.loads(kept)
    marked["cfg"]["datasource_list"] = ["FromTheCache"]  # same stamp: the file is what load returns
    cache.write_text(json.dumps(marked))
    assert sysconfig.load(paths)["datasource_list"] == ["FromTheCache"]
    write_cfg(tmp_path, "datasource_list: [Azure]\n", "10-a.cfg")  # a new drop-in
    assert sysconfig.load(paths)["datasource_list"] == ["Azure"]
    write_cfg(tmp_path, "datasource_list: [ConfigDrive]\n", "10-a.cfg")  # same size, new mtime
    assert sysconfig.load(paths)["datasource_list"] == ["ConfigDrive"]
    (paths.sysconfig_d / "10-a.cfg").unlink()
    assert sysconfig.load(paths)["datasource_list"] == ["NoCloud"]
    write_cfg(tmp_path, "datasource_list: [NoCloud]\nwhen: 2026-11-22\n", "20-date.cfg")  # no JSON form
    assert str(sysconfig.load(paths)["when"]) == "2026-11-22"
    assert "2026" not in cache.read_text()
    write_cfg(tmp_path, "final_modules: [no_such_module]\n", "30-bad.cfg")
    with pytest.raises(sysconfig.ConfigError):
        sysconfig.load(paths)


def test_module_entry_forms(tmp_path):
    cfg = {"final_modules": ["scripts_user", ["scripts_per_boot", "once-per-instance"],
                             {"name": "scripts-vendor", "frequency": "always", "args": {"x": 1}}]}
    ents = sysconfig.module_entries(cfg, "modules-final")
    assert [(e.name, e.frequency, e.args) for e in ents] == [
        ("scripts_user", None, {}), ("scripts_per_boot", "per-instance", {}), ("scripts_vendor", "always", {"x": 1})]


@pytest.mark.parametrize("text,message", [
    ("final_modules: [no_such_module]\n", r"\$.final_modules\[0\]: unknown module 'no_such_module'"),
    ("init_modules: [[scripts_user, sometimes]]\n", r"\$.init_modules\[0\]: unknown frequency 'sometimes'"),
    ("config_modules: [{name: scripts_user, when: x}]\n", r"unknown keys \['when'\]"),
    ("config_modules: [42]\n", "a module entry is a name"),
    ("a: [unclosed\n", "blockprov.cfg: invalid YAML"),
    ("- just a list\n", "must be a YAML mapping"),
])
def test_sysconfig_errors_name_the_place(tmp_path, text, message):
    with pytest.raises(sysconfig.ConfigError, match=message):
        sysconfig.load(write_cfg(tmp_path, text))


@pytest.mark.parametrize("change,message", [
    (("<wa:HostName>az-host</wa:HostName>", ""), "no HostName"),
    (("<wa:HostName>az-host</wa:HostName>", "<wa:HostName>a</wa:HostName><wa:HostName>b</wa:HostName>"),
     "2 HostName elements"),
    (("</wa:ProvisioningSection>", "</wa:ProvisioningSection><wa:ProvisioningSection/>"),
     "2 ProvisioningSection elements"),
    (("<wa:HostName>az-host</wa:HostName>", '<x:HostName xmlns:x="urn:other">az-host</x:HostName>'), "no HostName"),
])
def test_azure_ovf_validation_as_cloud_init_does_it(change, message):
    """cloud-init's OvfEnvXml: one ProvisioningSection, HostName required and single, only the windowsazure
    namespace counts."""
    raw = ovf().decode().replace(*change).encode()
    with pytest.raises(SourceError, match=message):
        azure.parse_ovf(raw, "ovf")


def test_azure_password_rules_as_cloud_init(tmp_path):
    """Over 72 characters is refused; REDACTED (cloud-init's marker in a kept ovf-env.xml) is never set as the
    password; a password without DisableSshPasswordAuthentication turns password logins on."""
    with pytest.raises(SourceError, match="UserPassword is 73 characters"):
        azure.parse_ovf(ovf(password="x" * 73), "ovf")
    no_flag = ovf().decode().replace(
        "<wa:DisableSshPasswordAuthentication>true</wa:DisableSshPasswordAuthentication>", "").encode()
    from blockprov.paths import Paths
    from blockprov.sources import Context

    ctx = Context(Paths(root=tmp_path), {})
    sd = azure.build(ctx, no_flag, "ovf")
    assert sd.cfg["ssh_pwauth"] is True and sd.cfg["users"][0]["hashed_passwd"].startswith("$6$")
    sd = azure.build(ctx, ovf(password="REDACTED"), "ovf")
    assert "hashed_passwd" not in sd.cfg["users"][0] and sd.cfg["users"][0]["lock_passwd"] is False
    assert sd.cfg["ssh_pwauth"] is False  # the flag says so
