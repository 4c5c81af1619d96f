"""issue 21's CLI as cloud-init users know it: status --format and --long, query --all and --format, clean with
--machine-id and --configs, collect-logs with secrets redacted."""
import json
import os
import tarfile

import yaml

from tests.boot.helpers import bp, nocloud_seed

PASSWORD = "Very-Secret-pw-1"


def booted(root):
    (root / "etc/ssh").mkdir(parents=True, exist_ok=True)
    nocloud_seed(root, "instance-id: i-cli\nlocal-hostname: cli\n",
                 "#cloud-config\nchpasswd: {list: ['root:%s'], expire: false}\nssh_pwauth: true\n" % PASSWORD)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/group").write_text("root:x:0:\n")
    res = bp(root, "boot")
    assert res.returncode in (0, 1, 3), res.stderr
    return res


def test_status_formats_and_long(tmp_path):
    root = tmp_path / "root"
    booted(root)
    as_json = json.loads(bp(root, "status", "--format", "json").stdout)
    assert json.loads(bp(root, "status", "--json").stdout)["status"] == as_json["status"]
    assert yaml.safe_load(bp(root, "status", "--format", "yaml").stdout)["status"] == as_json["status"]
    assert as_json["last_update"] and set(as_json["stages"]) >= {"init-local", "init-network"}
    long = bp(root, "status", "--long").stdout
    assert "last update:" in long and "init-network:" in long and "datasource: NoCloud" in long


def test_query_all_and_format(tmp_path):
    root = tmp_path / "root"
    booted(root)
    everything = json.loads(bp(root, "query", "--all").stdout)
    assert everything["v1"]["instance_id"] == "i-cli"
    out = bp(root, "query", "--format", "id={{ v1.instance_id }} host={{v1.local_hostname}} none={{ v1.nope }}")
    assert out.stdout.strip() == "id=i-cli host=cli none="


def test_clean_machine_id_and_configs(tmp_path):
    root = tmp_path / "root"
    booted(root)
    assert (root / "etc/ssh/sshd_config.d/50-blockprov.conf").exists()
    (root / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    assert bp(root, "clean", "--machine-id", "--configs", "ssh_config", "--logs").returncode == 0
    assert (root / "etc/machine-id").read_text() == "uninitialized\n"
    assert not (root / "etc/ssh/sshd_config.d/50-blockprov.conf").exists()
    assert not (root / "var/log/blockprov").exists()


def test_collect_logs_redacts_secrets(tmp_path):
    root = tmp_path / "root"
    booted(root)
    out = tmp_path / "logs.tgz"
    assert bp(root, "collect-logs", "--tarfile", str(out)).returncode == 0
    assert os.stat(out).st_mode & 0o777 == 0o600
    with tarfile.open(out) as tar:
        names = tar.getnames()
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert any(n.endswith("output.log") for n in names) and any(n.endswith("instance-data.json") for n in names)
    assert not any(n.endswith("instance-data-sensitive.json") for n in names)
    assert PASSWORD.encode() not in blob and b"$6$" not in blob
