"""cloud-init's ovf-env.xml cases (tests/unittests/sources/test_azure_helper.py TestOvfEnvXml, with the
document shape of test_azure.py's construct_ovf_env) and what cloud-init expects of each, against
blockprov.sources.azure.parse_ovf. Preprovisioned-VM fields (Azure's VM pools) are not read by blockprov:
docs/datasources.md says so."""
import base64

import pytest

from blockprov.sources import SourceError
from blockprov.sources.azure import parse_ovf

WA = "http://schemas.microsoft.com/windowsazure"


def ovf(*, hostname="test-host", username="test-user", password=None, custom_data=None, disable=None,
        public_keys=None) -> bytes:
    """An ovf-env.xml as Azure writes it (the same elements, order and namespaces as cloud-init's fixture)."""
    lpcs = ["<ns1:ConfigurationSetType>LinuxProvisioningConfiguration</ns1:ConfigurationSetType>"]
    if hostname is not None:
        lpcs.append(f"<ns1:HostName>{hostname}</ns1:HostName>")
    if username is not None:
        lpcs.append(f"<ns1:UserName>{username}</ns1:UserName>")
    if password is not None:
        lpcs.append(f"<ns1:UserPassword>{password}</ns1:UserPassword>")
    if custom_data is not None:
        lpcs.append(f"<ns1:CustomData>{base64.b64encode(custom_data.encode()).decode()}</ns1:CustomData>")
    if disable is not None:
        lpcs.append(f"<ns1:DisableSshPasswordAuthentication>{str(disable).lower()}"
                    "</ns1:DisableSshPasswordAuthentication>")
    if public_keys is not None:
        keys = "".join("<ns1:PublicKey>" + "".join(f"<ns1:{t}>{k[f]}</ns1:{t}>" for f, t in
                                                  (("fingerprint", "Fingerprint"), ("path", "Path"), ("value", "Value"))
                                                  if f in k) + "</ns1:PublicKey>" for k in public_keys)
        lpcs.append(f"<ns1:SSH><ns1:PublicKeys>{keys}</ns1:PublicKeys></ns1:SSH>")
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<ns0:Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" '
            'xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" '
            f'xmlns:ns1="{WA}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<ns1:ProvisioningSection><ns1:Version>1.0</ns1:Version><ns1:LinuxProvisioningConfigurationSet>"
            + "".join(lpcs) +
            "</ns1:LinuxProvisioningConfigurationSet></ns1:ProvisioningSection>"
            "<ns1:PlatformSettingsSection><ns1:Version>1.0</ns1:Version><ns1:PlatformSettings>"
            "<ns1:KmsServerHostname>kms.core.windows.net</ns1:KmsServerHostname>"
            "<ns1:ProvisionGuestAgent>false</ns1:ProvisionGuestAgent>"
            '<ns1:GuestAgentPackageName xsi:nil="true" /><ns1:PreprovisionedVMType xsi:nil="true" />'
            "</ns1:PlatformSettings></ns1:PlatformSettingsSection></ns0:Environment>").encode()


@pytest.mark.parametrize("doc,expected", [
    (ovf(), {"UserName": "test-user", "HostName": "test-host", "public_keys": []}),
    (ovf(username="other-user"), {"UserName": "other-user"}),
    (ovf(password="test-password"), {"UserPassword": "test-password"}),
    (ovf(password="a" * 72), {"UserPassword": "a" * 72}),  # cloud-init's MAX_PASSWORD_LENGTH
    (ovf(hostname="other-host"), {"HostName": "other-host"}),
    (ovf(public_keys=[]), {"public_keys": []}),
    (ovf(public_keys=[{"fingerprint": "fp1", "path": "path1", "value": ""}]),
     {"public_keys": [{"fingerprint": "fp1", "path": "path1", "value": ""}]}),
    (ovf(public_keys=[{"fingerprint": "fp1", "path": "path1", "value": ""},
                      {"fingerprint": "fp2", "path": "path2", "value": "somevalue"}]),
     {"public_keys": [{"fingerprint": "fp1", "path": "path1", "value": ""},
                      {"fingerprint": "fp2", "path": "path2", "value": "somevalue"}]}),
    (ovf(custom_data="foo"), {"CustomData": b"foo"}),
    (ovf(disable=True), {"DisableSshPasswordAuthentication": True}),
])
def test_valid_ovf_scenarios(doc, expected):
    got = parse_ovf(doc, "ovf-env.xml")
    assert {k: got.get(k) for k in expected} == expected
    assert got["warnings"] == []


def test_missing_password_is_no_password():
    assert not parse_ovf(ovf(password=""), "ovf-env.xml").get("UserPassword")


@pytest.mark.parametrize("doc,words", [
    (ovf(hostname=None), "HostName"),
    (ovf(password="a" * 73), "73 characters"),
    (ovf().replace(b"</ns1:ProvisioningSection>", b"</ns1:ProvisioningSection>"
                   b"<ns1:ProvisioningSection></ns1:ProvisioningSection>"), "2 ProvisioningSection"),
    (ovf().replace(b"<ns1:HostName>test-host</ns1:HostName>",
                   b"<ns1:HostName>test-host</ns1:HostName><ns1:HostName>test-host2</ns1:HostName>"), "2 HostName"),
    (b'<ns0:Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" '
     b'xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1"></ns0:Environment>', "no ProvisioningSection"),
    (b"", "not well-formed XML"),
    (b"<ns0:Environment", "not well-formed XML"),
])
def test_invalid_ovf_is_refused_with_the_reason(doc, words):
    with pytest.raises(SourceError, match=words):
        parse_ovf(doc, "ovf-env.xml")
