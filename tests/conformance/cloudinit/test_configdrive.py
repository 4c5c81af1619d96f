"""cloud-init's ConfigDrive v2 tree (tests/unittests/sources/test_configdrive.py, CFG_DRIVE_FILES_V2: ec2 and
openstack folders, dated versions, content files, vendor_data and vendor_data2, network_data) and what
cloud-init's tests expect read from it: as a seed directory, and as a config-2 ISO made by genisoimage on a
loop device (read by blockprov's own ISO reader, never our own writer)."""
import json
import shutil

import pytest

from blockprov.sources import SourceError, configdrive, media

PUBKEY = "ssh-rsa AAAAB3NzaC1....sIkJhq8wdX+4I3A4cYbYP ubuntu@server-460\n"
EC2_META = {"ami-id": "ami-00000001", "instance-id": "i-00000001", "local-hostname": "sm-foo-test.novalocal",
            "public-keys": {"0": {"openssh-key": PUBKEY}}, "reservation-id": "r-iru5qm4m"}
USER_DATA = b"#!/bin/sh\necho This is user data\n"
VENDOR_DATA = {"magic": ""}
VENDOR_DATA2 = {"static": ""}
OSTACK_META = {"availability_zone": "nova",
               "files": [{"content_path": "/content/0000", "path": "/etc/foo.cfg"},
                         {"content_path": "/content/0001", "path": "/etc/bar/bar.cfg"}],
               "hostname": "sm-foo-test.novalocal", "meta": {"dsmode": "local", "my-meta": "my-value"},
               "name": "sm-foo-test", "public_keys": {"mykey": PUBKEY},
               "uuid": "b0fa911b-69d4-4476-bbe2-1c92bff6535c"}
CONTENT_0 = b"This is contents of /etc/foo.cfg\n"
CONTENT_1 = b"# this is /etc/bar/bar.cfg\n"
NETWORK_DATA = {"services": [{"type": "dns", "address": "199.204.44.24"}, {"type": "dns", "address": "199.204.47.54"}],
                "links": [{"vif_id": "2ecc7709", "ethernet_mac_address": "fa:16:3e:69:b0:58", "type": "ovs",
                           "mtu": None, "id": "tap2ecc7709-b3"}],
                "networks": [{"link": "tap2ecc7709-b3", "type": "ipv4_dhcp", "network_id": "6d6357ac",
                              "id": "network0"}]}
TREE = {
    "ec2/2009-04-04/meta-data.json": json.dumps(EC2_META), "ec2/2009-04-04/user-data": USER_DATA,
    "ec2/latest/meta-data.json": json.dumps(EC2_META), "ec2/latest/user-data": USER_DATA,
    "openstack/2012-08-10/meta_data.json": json.dumps(OSTACK_META), "openstack/2012-08-10/user_data": USER_DATA,
    "openstack/content/0000": CONTENT_0, "openstack/content/0001": CONTENT_1,
    "openstack/latest/meta_data.json": json.dumps(OSTACK_META), "openstack/latest/user_data": USER_DATA,
    "openstack/latest/vendor_data.json": json.dumps(VENDOR_DATA),
    "openstack/latest/vendor_data2.json": json.dumps(VENDOR_DATA2),
    "openstack/latest/network_data.json": json.dumps(NETWORK_DATA),
    "openstack/2015-10-15/meta_data.json": json.dumps(OSTACK_META), "openstack/2015-10-15/user_data": USER_DATA,
    "openstack/2015-10-15/network_data.json": json.dumps(NETWORK_DATA),
    "openstack/2015-10-15/vendor_data.json": json.dumps(VENDOR_DATA),
    "openstack/2015-10-15/vendor_data2.json": json.dumps(VENDOR_DATA2),
}


def populate(d, tree):
    for name, data in tree.items():
        f = d / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data if isinstance(data, bytes) else data.encode())
    return d


def read(files: dict, where: str):
    return configdrive.build(files.get, where, configdrive.NAME, folder=configdrive.folder(files))


def check(sd):
    """What cloud-init's test_dir_valid / test_pubkeys_v2 assert, in blockprov's terms."""
    assert sd.instance_id == OSTACK_META["uuid"] and sd.local_hostname == OSTACK_META["hostname"]
    assert sd.userdata == USER_DATA
    assert sd.metadata["meta"] == {"dsmode": "local", "my-meta": "my-value"} and sd.dsmode == "local"
    assert sd.network_config == NETWORK_DATA and sd.network_format == "openstack"
    assert sd.public_keys == [PUBKEY]
    assert sd.platform == "openstack" and sd.availability_zone == "nova"
    # vendor_data{,2}.json hold no "cloud-init" key: no vendor-data, as cloud-init's vendordata_raw is None then
    assert sd.vendordata is None
    assert {f["path"]: f["content"] for f in sd.files} == {
        "/etc/foo.cfg": __import__("base64").b64encode(CONTENT_0).decode(),
        "/etc/bar/bar.cfg": __import__("base64").b64encode(CONTENT_1).decode()}


def test_dir_valid(tmp_path):
    check(read(media.read_dir(populate(tmp_path / "seed", TREE)), "seed"))


def test_extra_files_do_not_matter(tmp_path):
    tree = {**TREE, "myfoofile.txt": "myfoocontent", "openstack/latest/random-file.txt": "random-content"}
    check(read(media.read_dir(populate(tmp_path / "seed", tree)), "seed"))


def test_bad_json_metadata_is_refused(tmp_path):
    tree = {**TREE, **{f"openstack/{v}/meta_data.json": "non-json garbage {}"
                       for v in ("2012-08-10", "2015-10-15", "latest")}}
    with pytest.raises(SourceError, match="invalid JSON"):
        read(media.read_dir(populate(tmp_path / "seed", tree)), "seed")


def test_no_openstack_folder_is_no_config_drive(tmp_path):
    files = media.read_dir(populate(tmp_path / "seed", {"myfoofile.txt": "x", "content/foo": "foocontent"}))
    assert configdrive.folder(files) is None


@pytest.mark.skipif(shutil.which("genisoimage") is None, reason="genisoimage is not installed")
def test_genisoimage_config_2_image_on_a_loop_device(tmp_path, loops):
    from tests.boot.media import make_iso_genisoimage

    img = make_iso_genisoimage(tmp_path / "cd.iso", "config-2",
                               {"/" + k: (v if isinstance(v, bytes) else v.encode()) for k, v in TREE.items()}, tmp_path)
    dev = loops.attach(img)
    check(read(media.read_files(dev), dev))
