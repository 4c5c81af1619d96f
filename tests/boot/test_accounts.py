"""hostname, users_groups, set_passwords and ssh against a temp root with its own account files,
changed by the real tools (useradd/groupadd/usermod/chpasswd --root, ssh-keygen)."""
import json
import shutil
import stat

import pytest

from tests.boot.helpers import account_files, bp, is_hash_of, isolated_cfg, nocloud_seed, reboot
from tests.conftest import need_root_tools

KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey1 alice@laptop"
KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey2 ops@bastion"


@pytest.fixture
def root(tmp_path):
    need_root_tools("useradd", "groupadd", "usermod", "chpasswd", "ssh-keygen", "openssl")
    r = tmp_path / "root"
    isolated_cfg(r, full=True)
    account_files(r)
    etc = r / "etc"
    (etc / "hosts").write_text("127.0.0.1 localhost\n10.0.0.5 db.internal db\n")
    (etc / "ssh").mkdir()
    (etc / "ssh/ssh_host_rsa_key").write_text("OLD IMAGE KEY\n")
    return r


def cc(obj):
    return "#cloud-config\n" + json.dumps(obj)


def passwd(root):
    return {l.split(":")[0]: l.split(":") for l in (root / "etc/passwd").read_text().splitlines()}


def shadow(root):
    return {l.split(":")[0]: l.split(":") for l in (root / "etc/shadow").read_text().splitlines()}


def test_users_groups_keys_sudo_and_passwords(root):
    ud = cc({"groups": ["admins", {"ops": ["alice"]}],
             "users": [{"name": "alice", "gecos": "Alice A", "groups": "admins, sudo", "shell": "/bin/bash",
                        "sudo": "ALL=(ALL) NOPASSWD:ALL", "ssh_authorized_keys": [KEY1], "lock_passwd": False,
                        "passwd": "alice-plain-pw"},
                       {"name": "svc", "system": True, "uid": 990},
                       {"name": "locked", "ssh_authorized_keys": KEY2}],
             "ssh_authorized_keys": [KEY2],
             "chpasswd": {"list": ["root:root-plain-pw"], "expire": False},
             "ssh_pwauth": False})
    nocloud_seed(root, "instance-id: i-1\npublic-keys: ['%s']\n" % KEY1, ud)
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    pw = passwd(root)
    assert pw["alice"][4] == "Alice A" and pw["alice"][6] == "/bin/bash" and pw["svc"][2] == "990"
    groups = {l.split(":")[0]: l.split(":")[3].split(",") for l in (root / "etc/group").read_text().splitlines()}
    assert "alice" in groups["admins"] and "alice" in groups["sudo"] and "alice" in groups["ops"]
    sh = shadow(root)
    assert sh["alice"][1].startswith("$6$") and sh["root"][1].startswith("$6$")
    assert sh["locked"][1].startswith("!")
    assert is_hash_of(sh["alice"][1], "alice-plain-pw")  # the hash is of the given password
    home = root / "home/alice"
    ak = home / ".ssh/authorized_keys"
    assert ak.read_text() == KEY1 + "\n"
    assert stat.S_IMODE(ak.stat().st_mode) == 0o600 and stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700
    assert ak.stat().st_uid == int(pw["alice"][2])
    assert (root / "home/locked/.ssh/authorized_keys").read_text() == KEY2 + "\n"
    # No default user: top-level keys and the datasource's keys go to root behind cloud-init's disable_root
    # refusal (disable_root defaults to true): a login as root prints who to log in as and exits 142.
    refusal = ('no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo \'Please login as the user '
               '\\"NONE\\" rather than the user \\"root\\".\';echo;sleep 10;exit 142"')
    assert (root / "root/.ssh/authorized_keys").read_text().splitlines() == [f"{refusal} {KEY2}", f"{refusal} {KEY1}"]
    sudoers = root / "etc/sudoers.d/90-blockprov-users"
    assert "alice ALL=(ALL) NOPASSWD:ALL" in sudoers.read_text() and stat.S_IMODE(sudoers.stat().st_mode) == 0o440
    assert (root / "etc/ssh/sshd_config.d/50-blockprov.conf").read_text().endswith("PasswordAuthentication no\n")
    for f in ("run/blockprov/instance-data.json", "run/blockprov/instance-data-sensitive.json",
              "var/lib/blockprov/instances/i-1/config.json", "var/log/blockprov/events.jsonl",
              "var/log/blockprov/output.log"):
        text = (root / f).read_text()
        assert "alice-plain-pw" not in text and "root-plain-pw" not in text, f
    # Re-run as on a new boot of the same instance: per-instance modules do nothing; forced, nothing doubles.
    before = (root / "etc/passwd").read_text(), ak.read_text()
    reboot(root)
    assert bp(root, "boot").returncode in (0, 3)
    assert bp(root, "single", "--name", "users_groups", "--frequency", "always").returncode == 0
    assert ((root / "etc/passwd").read_text(), ak.read_text()) == before


def test_users_bad_input_is_named(root):
    nocloud_seed(root, "instance-id: i-1\n", cc({"users": [{"name": "ok"}, {"gecos": "no name"}]}))
    res = bp(root, "boot")
    # issue 21: errors per item: the bad user is named and left out, the good one is made
    assert res.returncode in (0, 3), res.stderr
    assert "$.users[1]: a user is a name or a mapping with name" in res.stderr
    assert "ok" in passwd(root)
    nocloud_seed(root, "instance-id: i-2\n", cc({"users": [{"name": "x", "shel": "/bin/sh"}]}))
    reboot(root)
    assert "$.users[0]: unknown keys ['shel']; user x is not made" in bp(root, "boot").stderr


def test_default_user_gets_keys_and_password(root):
    isolated_cfg(root, "default_user: {name: debian, groups: [sudo], sudo: 'ALL=(ALL) NOPASSWD:ALL', lock_passwd: true}\n",
                 full=True)
    nocloud_seed(root, "instance-id: i-1\npublic-keys: ['%s']\n" % KEY1, cc({"password": "def-pw"}))
    assert bp(root, "boot").returncode in (0, 3)
    assert (root / "home/debian/.ssh/authorized_keys").read_text() == KEY1 + "\n"
    assert shadow(root)["debian"][1].startswith("$6$")
    # root gets the key behind cloud-init's refusal naming the default user (disable_root defaults to true)
    assert (root / "root/.ssh/authorized_keys").read_text().splitlines() == [
        'no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo \'Please login as the user '
        '\\"debian\\" rather than the user \\"root\\".\';echo;sleep 10;exit 142" ' + KEY1]


def test_ssh_host_keys_regenerated_once_per_instance(root):
    nocloud_seed(root, "instance-id: i-1\n", cc({"ssh_genkeytypes": ["ed25519"]}))
    assert bp(root, "boot").returncode in (0, 3)
    keys = sorted(p.name for p in (root / "etc/ssh").glob("ssh_host_*"))
    assert keys == ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]  # the image's old key is gone
    first = (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text()
    reboot(root)
    bp(root, "boot", check=True)
    assert (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text() == first
    nocloud_seed(root, "instance-id: i-2\n", cc({"ssh_genkeytypes": ["ed25519"]}))
    reboot(root)
    bp(root, "boot", check=True)
    assert (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text() != first
    nocloud_seed(root, "instance-id: i-3\n", cc({"ssh_genkeytypes": ["dsa"]}))
    reboot(root)
    assert "$.ssh_genkeytypes" in bp(root, "boot").stderr


def test_ssh_host_keys_given_in_user_data_as_cloud_inits_example(root):
    """cloud-init's doc/examples/cloud-config-ssh-keys.txt: its rsa host key pair is written (private 0600,
    public 0644) and kept; the types it does not give are generated (ssh-keygen reads them back)."""
    import stat
    import subprocess

    from tests.conformance.cloudinit.test_examples import EXAMPLES

    example = (EXAMPLES / "cloud-config-ssh-keys.txt").read_text()
    nocloud_seed(root, "instance-id: i-1\n", example)
    bp(root, "boot", check=True)
    d = root / "etc/ssh"
    import yaml

    given = yaml.safe_load(example)["ssh_keys"]
    assert (d / "ssh_host_rsa_key").read_text() == given["rsa_private"].rstrip("\n") + "\n"
    assert stat.S_IMODE((d / "ssh_host_rsa_key").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "ssh_host_rsa_key.pub").stat().st_mode) == 0o644
    assert (d / "ssh_host_rsa_key.pub").read_text().split()[:2] == given["rsa_public"].split()[:2]
    for t in ("ecdsa", "ed25519"):  # the types not given are generated, and are real keys
        pub = subprocess.run(["ssh-keygen", "-y", "-f", str(d / f"ssh_host_{t}_key")], capture_output=True,
                             text=True, check=True).stdout.split()[:2]
        assert pub == (d / f"ssh_host_{t}_key.pub").read_text().split()[:2]


def test_hostname_admin_change_survives_until_metadata_changes(root):
    nocloud_seed(root, "instance-id: i-1\nlocal-hostname: web-1\n", cc({"fqdn": "web-1.example.net", "manage_etc_hosts": True}))
    bp(root, "boot", check=True)
    assert (root / "etc/hostname").read_text() == "web-1\n"
    hosts = (root / "etc/hosts").read_text()
    assert "127.0.1.1 web-1.example.net web-1" in hosts and "10.0.0.5 db.internal db" in hosts
    starts = [l.split()[0] for l in hosts.splitlines() if l and not l.startswith("#")]
    assert starts.count("127.0.0.1") == 1 and starts.count("::1") == 1  # 127.0.0.1 kept, ::1 added once
    (root / "etc/hostname").write_text("admin-choice\n")
    reboot(root)
    bp(root, "boot", check=True)
    assert (root / "etc/hostname").read_text() == "admin-choice\n"
    assert (root / "etc/hosts").read_text() == hosts  # byte-identical
    nocloud_seed(root, "instance-id: i-1\nlocal-hostname: web-2\n", cc({"prefer_fqdn_over_hostname": True,
                                                                        "fqdn": "web-2.example.net"}))
    reboot(root)
    bp(root, "boot", check=True)
    assert (root / "etc/hostname").read_text() == "web-2.example.net\n"


def test_preserve_hostname_and_bad_names(root):
    nocloud_seed(root, "instance-id: i-1\nlocal-hostname: h1\n", cc({"preserve_hostname": True}))
    bp(root, "boot", check=True)
    assert not (root / "etc/hostname").exists()
    nocloud_seed(root, "instance-id: i-2\n", cc({"hostname": "bad_name!"}))
    reboot(root)
    res = bp(root, "boot")
    assert res.returncode == 1 and "'bad_name!' is not a valid host name" in res.stderr


def test_azure_hostname_bounce_policies(root):
    log = root / "bounce.log"
    cmd = ["sh", "-c", f"echo \"$interface $hostname\" >> {log}"]
    d = root / "var/lib/blockprov/seed/azure"
    d.mkdir(parents=True)
    from tests.unit.sources.test_sources import ovf
    (d / "ovf-env.xml").write_bytes(ovf(password="", dscfg=json.dumps(
        {"hostname_bounce": {"interface": "eth7", "policy": "on", "command": cmd}})))
    bp(root, "boot", check=True)
    assert log.read_text() == "eth7 az-host\n"
    reboot(root)
    bp(root, "boot", check=True)
    assert log.read_text() == "eth7 az-host\n"  # on: only when the name changed
    (d / "ovf-env.xml").write_bytes(ovf(password="", dscfg=json.dumps(
        {"set_hostname": False, "hostname_bounce": {"interface": "eth7", "policy": "force", "command": cmd}})))
    shutil.rmtree(root / "var/lib/blockprov/instances")
    reboot(root)
    bp(root, "boot", check=True)
    assert log.read_text() == "eth7 az-host\n"  # set_hostname false: no bounce even with force
    (d / "ovf-env.xml").write_bytes(ovf(password="", dscfg=json.dumps(
        {"hostname_bounce": {"interface": "eth7", "policy": "force", "command": cmd}})))
    reboot(root)
    bp(root, "boot", check=True)
    assert log.read_text() == "eth7 az-host\neth7 az-host\n"  # force: every time hostname runs


def test_disable_root_false_gives_root_the_keys_and_one_bad_user_leaves_the_others(root):
    """issue 21: disable_root: false puts the instance's keys in root's file as they are; a user with a bad key
    (an unknown one, and ssh_import_id, which blockprov does not carry out) is an error or a warning for that user
    alone: the other users are made, and so is the one whose only problem is ssh_import_id."""
    ud = "#cloud-config\n" + json.dumps({
        "disable_root": False,
        "users": [{"name": "bob", "ssh_import_id": ["gh:bob"]}, {"name": "bad", "frobnicate": 1},
                  {"name": "carol", "uid": "not-a-number"}, {"name": "dave"}],
        "ssh_authorized_keys": [KEY2]})
    nocloud_seed(root, "instance-id: i-1\n", ud)
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    pw = passwd(root)
    assert "bob" in pw and "dave" in pw and "bad" not in pw and "carol" not in pw
    assert "$.users[0].ssh_import_id: needs the internet" in res.stderr
    assert "$.users[1]: unknown keys ['frobnicate']" in res.stderr and "$.users[2].uid" in res.stderr
    assert (root / "root/.ssh/authorized_keys").read_text().splitlines() == [KEY2]
