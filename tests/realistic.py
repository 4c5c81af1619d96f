"""A realistic #cloud-config using every key issue 21 names, shared by the Debian-root boot test
(tests/boot/test_debian_root.py) and VM scenario 7: a jinja template (rendered with the instance-data) whose
cloud-config installs packages from a signed repository made by the test (tests/aptrepo.py), configures
chrony, makes users (one of them bad, one with ssh_import_id), writes files (one !!binary, one deferred),
runs commands (one entry bad). Each bad entry is named in the warnings; everything else has its effect."""
import base64
import hashlib

import yaml

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIVmTierKey0000000000000000000000000000000 admin@vm"
PACKAGES = [("blockprov-hello", "1.0"), ("blockprov-pinned", "1.0"), ("blockprov-pinned", "2.0")]
BLOB = bytes(range(256))
NAMED = ("$.users[1].ssh_import_id", "$.users[2]", "$.runcmd[1]", "no-such-package-xyz")
# every file the first boot writes and a second boot of the same instance must leave alone
FILES = ["/etc/apt/sources.list.d/blockprov-tests.list", "/etc/apt/keyrings/blockprov-tests.asc",
         "/etc/apt/apt.conf.d/94blockprov-config", "/etc/apt/sources.list", "/etc/chrony/chrony.conf",
         "/etc/passwd", "/etc/shadow", "/etc/group", "/var/lib/dpkg/status", "/etc/vm7/plain.txt",
         "/etc/vm7/blob.bin", "/etc/vm7/late.txt", "/home/alice/.ssh/authorized_keys", "/root/.ssh/authorized_keys",
         "/var/log/vm7-runcmd.log", "/etc/hostname"]


def user_data(key: str, repo_uri: str = "file:/srv/repo", logs: str = "/var/log") -> str:
    """``logs``: where bootcmd and runcmd write (commands run on the host when the root is a temp root)."""
    doc = {
        "hostname": "vm7",
        "users": [{"name": "alice", "shell": "/bin/bash", "ssh_authorized_keys": [KEY]},
                  {"name": "bob", "ssh_import_id": ["gh:bob"]},
                  {"name": "bad user!"}],
        "ssh_authorized_keys": [KEY],
        "disable_root": True,
        "chpasswd": {"expire": False, "users": [{"name": "alice", "password": "vm7-secret", "type": "text"}]},
        "write_files": [{"path": "/etc/vm7/plain.txt", "content": "hello\n"},
                        {"path": "/etc/vm7/late.txt", "content": "late\n", "owner": "alice:alice", "defer": True}],
        "bootcmd": [f"echo boot >> {logs}/vm7-bootcmd.log"],
        "runcmd": [f"echo run >> {logs}/vm7-runcmd.log", {"not": "a command"}],
        # only the test's own repository: sources.list holds no mirror (the machines have no internet)
        "apt": {"sources_list": "# no mirror: packages come from the test's signed repository\n",
                "sources": {"blockprov-tests": {"source": f"deb [signed-by=$KEY_FILE] {repo_uri} ./", "key": key}},
                "conf": 'APT::Install-Recommends "false";'},
        "package_update": True, "package_upgrade": True, "package_reboot_if_required": True,
        "packages": ["blockprov-hello", "no-such-package-xyz", ["blockprov-pinned", "1.0"]],
        "ntp": {"ntp_client": "chrony", "servers": ["192.0.2.123"]},
    }
    text = "## template: jinja\n#cloud-config\n" + yaml.safe_dump(doc, width=1000) \
        + "final_message: 'vm7 {{ v1.instance_id }} up'\n"
    blob = base64.b64encode(BLOB).decode()
    return text.replace("write_files:\n", f"write_files:\n- path: /etc/vm7/blob.bin\n  content: !!binary |\n"
                                          f"    {blob}\n", 1)


BLOB_SHA256 = hashlib.sha256(BLOB).hexdigest()
