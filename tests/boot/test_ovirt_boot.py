"""A typical oVirt-provisioned instance, booted from a config drive built here, with the default module lists.

oVirt's engine writes a config-2 ISO: meta_data.json (uuid, hostname, keys, injected files), a cloud-config
user_data with ``user: root`` + a plain ``password``, ``ssh_pwauth`` and ``timezone``, and network_data.json
with the NIC's static IPv4 and IPv6 and the DNS servers. Every effect is read back from the temp root.
"""

import json
import os
import shutil

from tests.boot.helpers import bp, is_hash_of, isolated_cfg, reboot
from tests.boot.media import make_iso
from tests.boot.test_network import make_target

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOvirtAdminKeyForTests admin@ovirt-engine"
PASSWORD = "Ovirt-r00t-pass"


def config_drive(tmp_path):
    md = {"uuid": "5d1c8a0e-ovirt-vm1", "hostname": "vm1.example.com", "name": "vm1.example.com",
          "launch_index": "0", "availability_zone": "nova", "meta": {"dsmode": "local", "essential": "false"},
          "public_keys": {"0": KEY},
          "files": [{"path": "/etc/motd.d/ovirt", "content_path": "/content/0000"}]}
    ud = ("#cloud-config\n"
          "user: root\n"
          f"password: {PASSWORD}\n"
          "chpasswd: {expire: false}\n"
          "disable_root: 0\n"
          "ssh_pwauth: true\n"
          "timezone: Europe/Prague\n"
          f"ssh_authorized_keys: ['{KEY}']\n")
    net = {"links": [{"id": "eth0", "name": "eth0", "type": "vif", "ethernet_mac_address": "56:6f:1a:2b:00:01"}],
           "networks": [
               {"id": "n0", "link": "eth0", "type": "ipv4", "ip_address": "192.168.100.20",
                "netmask": "255.255.255.0", "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0",
                                                         "gateway": "192.168.100.1"}]},
               {"id": "n1", "link": "eth0", "type": "ipv6", "ip_address": "2001:db8:100::20", "netmask": "64",
                "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8:100::1"}]}],
           "services": [{"type": "dns", "address": "192.168.100.2"}, {"type": "dns", "address": "2001:db8:100::2"}]}
    return make_iso(tmp_path / "ovirt-cd.iso", "config-2", {
        "/openstack/latest/meta_data.json": json.dumps(md).encode(),
        "/openstack/latest/user_data": ud.encode(),
        "/openstack/latest/network_data.json": json.dumps(net).encode(),
        "/openstack/content/0000": b"Provisioned by oVirt\n"})


def make_root(tmp_path):
    root = tmp_path / "root"
    isolated_cfg(root, "datasource_list: [ConfigDrive, None]\ndatasource: {ConfigDrive: {search_devices: true}}\n",
                 full=True)
    etc = root / "etc"
    (etc / "ssh").mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "group").write_text("root:x:0:\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    (root / "root").mkdir(mode=0o700)
    zone = root / "usr/share/zoneinfo/Europe"
    zone.mkdir(parents=True)
    shutil.copy("/usr/share/zoneinfo/Europe/Prague", zone / "Prague")
    make_target(root, "eni")
    return root


def test_ovirt_config_drive_boot(tmp_path, loops):
    root = make_root(tmp_path)
    loops.attach(config_drive(tmp_path))
    res = bp(root, "boot", timeout=180)
    assert res.returncode in (0, 3), res.stderr
    # hostname
    assert (root / "etc/hostname").read_text().strip() == "vm1"
    # root password: hashed in shadow, never in plain anywhere blockprov wrote
    shadow = dict((ln.split(":")[0], ln.split(":")) for ln in (root / "etc/shadow").read_text().splitlines())
    assert is_hash_of(shadow["root"][1], PASSWORD)
    for d in ("var/lib/blockprov", "var/log/blockprov", "run/blockprov"):
        for p in (root / d).rglob("*"):
            if p.is_file():
                assert PASSWORD.encode() not in p.read_bytes(), p
    assert "PasswordAuthentication yes" in (root / "etc/ssh/sshd_config.d/50-blockprov.conf").read_text()
    # authorized key for root, private modes
    ak = root / "root/.ssh/authorized_keys"
    assert ak.read_text().splitlines() == [KEY]
    assert (os.stat(ak).st_mode & 0o777, os.stat(ak.parent).st_mode & 0o777) == (0o600, 0o700)
    # new host keys
    assert (root / "etc/ssh/ssh_host_ed25519_key.pub").exists()
    # timezone
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/Prague"
    assert (root / "etc/timezone").read_text() == "Europe/Prague\n"
    # static IPv4 + IPv6 NIC and DNS, for ifupdown (what the image has)
    eni = (root / "etc/network/interfaces.d/50-blockprov.cfg").read_text()
    for line in ("auto eth0", "iface eth0 inet static", "address 192.168.100.20/24", "gateway 192.168.100.1",
                 "iface eth0 inet6 static", "address 2001:db8:100::20/64", "gateway 2001:db8:100::1",
                 "iface lo inet loopback\n    dns-nameservers 192.168.100.2",
                 "iface lo inet6 loopback\n    dns-nameservers 2001:db8:100::2"):  # system-wide, as cloud-init writes
        assert line in eni, line
    assert (root / "etc/systemd/network/10-blockprov-eth0.link").read_text().count("56:6f:1a:2b:00:01") == 1
    # the injected file
    assert (root / "etc/motd.d/ovirt").read_text() == "Provisioned by oVirt\n"
    # the boot finished cleanly and a reboot changes none of it
    result = json.loads((root / "run/blockprov/result.json").read_text())["v1"]
    assert result["datasource"] == "ConfigDrive" and result["errors"] == [] and result["warnings"] == []
    watched = [root / p for p in ("etc/shadow", "etc/network/interfaces.d/50-blockprov.cfg", "etc/timezone",
                                  "root/.ssh/authorized_keys", "etc/ssh/ssh_host_ed25519_key.pub")]
    before = [p.stat().st_mtime_ns for p in watched]
    reboot(root)
    assert bp(root, "boot", timeout=180).returncode == 0
    assert [p.stat().st_mtime_ns for p in watched] == before
