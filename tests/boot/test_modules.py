"""Modules against a temp root, observed through the files they leave (and real disks for storage)."""
import base64
import gzip
import json
import os
import stat

import pytest

from tests.boot.helpers import bp, finished, isolated_cfg, nocloud_seed, reboot
from tests.host.helpers import blkid, mounted_at


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    isolated_cfg(r, full=True)
    (r / "etc").mkdir(parents=True, exist_ok=True)
    (r / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\napp:x:1234:1234::/home/app:/bin/sh\n")
    (r / "etc/group").write_text("root:x:0:\napp:x:1234:\nlogs:x:2345:\n")
    return r


def cloud_config(obj) -> str:
    return "#cloud-config\n" + json.dumps(obj)


def test_write_files(root):
    gz = base64.b64encode(gzip.compress(b"compressed\n")).decode()
    (root / "etc/motd").write_text("existing\n")
    nocloud_seed(root, "instance-id: i-1\n", cloud_config({"write_files": [
        {"path": "/etc/app/plain.conf", "content": "a=1\n", "permissions": "0640", "owner": "app:logs"},
        {"path": "/etc/app/b64.bin", "content": base64.b64encode(b"\x00\x01").decode(), "encoding": "b64"},
        {"path": "/etc/app/gz.txt", "content": gz, "encoding": "gz+b64"},
        {"path": "/etc/motd", "content": "appended\n", "append": True},
        {"path": "/../../escape.txt", "content": "confined\n"},
        {"path": "/home/app/late.txt", "content": "deferred\n", "defer": True, "owner": "app"},
    ]}))
    assert bp(root, "boot").returncode in (0, 3)
    plain = root / "etc/app/plain.conf"
    assert plain.read_text() == "a=1\n" and stat.S_IMODE(plain.stat().st_mode) == 0o640
    assert (plain.stat().st_uid, plain.stat().st_gid) == (1234, 2345)
    assert (root / "etc/app/b64.bin").read_bytes() == b"\x00\x01"
    assert (root / "etc/app/gz.txt").read_text() == "compressed\n"
    assert (root / "etc/motd").read_text() == "existing\nappended\n"
    assert (root / "escape.txt").read_text() == "confined\n"  # "/../../" cannot leave the root
    late = root / "home/app/late.txt"
    assert late.read_text() == "deferred\n" and late.stat().st_uid == 1234
    ev = {e["name"]: e for e in finished(root, "write_files") + finished(root, "write_files_deferred")}
    assert ev["init-network/config-write_files"]["result"] == "SUCCESS"
    assert ev["modules-final/config-write_files_deferred"]["result"] == "SUCCESS"
    reboot(root)
    bp(root, "boot", check=True)
    assert (root / "etc/motd").read_text() == "existing\nappended\n"  # per-instance: not appended again


def test_write_files_bad_entries_are_named_and_the_rest_is_written(root):
    """Entries that fail only when written (bad base64, unknown owner, bad mode) are named; the rest are written."""
    nocloud_seed(root, "instance-id: i-1\n", cloud_config({"write_files": [
        {"path": "/ok.txt", "content": "ok\n"},
        {"path": "/bad-b64", "content": "!!!", "encoding": "gz+b64"},
        {"path": "/bad-owner", "content": "x", "owner": "nobody-here"},
        {"path": "/bad-mode", "content": "x", "permissions": "rw-r--r--"},
    ]}))
    res = bp(root, "boot")
    assert res.returncode in (0, 3) and "write_files: warning" not in res.stdout  # a warning: the boot is degraded
    for where in ("$.write_files[1].content", "$.write_files[2].owner", "$.write_files[3].permissions"):
        assert where in res.stderr, where
    assert (root / "ok.txt").read_text() == "ok\n" and not (root / "bad-b64").exists()


def test_write_files_schema_errors_are_per_entry(root):
    """issue 21: an entry the schema refuses is that entry's error; the good ones are written."""
    nocloud_seed(root, "instance-id: i-1\n", cloud_config({"write_files": [
        {"path": "/ok.txt", "content": "ok\n"},
        {"path": "/bad-enc", "content": "x", "encoding": "rot13"},
        {"content": "no path"},
    ]}))
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert "$.write_files[1].encoding: 'rot13' is not one of" in res.stderr
    assert "$.write_files[2].path: required" in res.stderr
    assert (root / "ok.txt").read_text() == "ok\n" and not (root / "bad-enc").exists()


def test_bootcmd_every_boot_runcmd_once_per_instance(root):
    log = root / "cmd.log"
    nocloud_seed(root, "instance-id: i-1\n", cloud_config({
        "bootcmd": [f"echo boot $INSTANCE_ID >> {log}"],
        "runcmd": [f"echo run-str >> {log}", ["sh", "-c", f"echo 'run list; not split' >> {log}"]]}))
    bp(root, "boot", check=True)
    reboot(root)
    bp(root, "boot", check=True)
    assert log.read_text().splitlines() == ["boot i-1", "run-str", "run list; not split", "boot i-1"]
    script = (root / "var/lib/blockprov/instances/i-1/scripts/runcmd").read_text()
    assert script.startswith("#!/bin/sh\n") and "'echo '\"'\"'run list; not split'\"'\"' >>" in script


def test_bootcmd_and_runcmd_bad_entries_are_named_and_the_others_run(root):
    log = root / "cmd.log"
    nocloud_seed(root, "instance-id: i-1\n", cloud_config({
        "bootcmd": ["exit 7", ["echo", True], f"echo boot-ok >> {log}", ["no-such-program-here"]],
        "runcmd": [{"not": "a command"}, f"echo run-ok >> {log}", []]}))
    res = bp(root, "boot")
    assert res.returncode == 3, res.stderr  # degraded: everything ran that could
    assert "$.bootcmd[0] exited 7" in res.stderr
    assert "$.bootcmd[1]: ['echo', True] holds a YAML boolean" in res.stderr
    assert "$.bootcmd[3] exited 127" in res.stderr
    assert "$.runcmd[0]: a command is a string or a non-empty list of strings, not dict; left out" in res.stderr
    assert "$.runcmd[2]: a command is a string" in res.stderr
    assert log.read_text().splitlines() == ["boot-ok", "run-ok"]
    st = json.loads(bp(root, "status", "--format", "json").stdout)
    assert st["status"] == "degraded done" or "degraded" in json.dumps(st), st
    # the schema command still calls those entries invalid, with their paths
    ud = root / "ud.yaml"
    ud.write_text("#cloud-config\nruncmd: [{not: a command}]\n")
    res = bp(root, "schema", "--config-file", str(ud))
    assert res.returncode == 2 and "$.runcmd[0]" in res.stderr, res.stderr


def test_final_message(root):
    nocloud_seed(root, "instance-id: i-9\n", cloud_config({"final_message": "done $INSTANCE_ID via $DATASOURCE"}))
    res = bp(root, "boot", check=True)
    assert "done i-9 via NoCloud" in res.stderr
    assert "done i-9 via NoCloud" in (root / "var/log/blockprov/output.log").read_text()


def test_storage_module_applies_storagedata_at_boot_and_reboot_writes_nothing(root, loops):
    dev = loops.add("1G")
    storagedata = {"version": 1, "config": [
        {"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
        {"id": "p1", "type": "partition", "device": "d0", "size": "300M"},
        {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4", "label": "bootdata"},
        {"id": "m1", "type": "mount", "device": "f1", "path": "/srv/data"},
        {"id": "later", "type": "disk", "serial": "NOT-ATTACHED-YET", "ptable": "gpt"},
        {"id": "lp", "type": "partition", "device": "later", "size": "1G"}]}
    nocloud_seed(root, "instance-id: i-1\n", storagedata=json.dumps(storagedata))
    loops.mounts_under.append(root)
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    part = dev + "p1"
    assert blkid(part)["LABEL"] == "bootdata" and mounted_at(root / "srv/data") == part
    fstab = (root / "etc/fstab").read_text()
    assert f"UUID={blkid(part)['UUID']}\t/srv/data\text4\t" in fstab
    ev = finished(root, "config-storage")[-1]
    assert ev["result"] == "SUCCESS" and "2 waiting" in ev["description"] and "4 done" in ev["description"]
    before = os.stat(root / "etc/fstab").st_mtime_ns
    reboot(root)
    assert bp(root, "boot").returncode in (0, 3)
    assert os.stat(root / "etc/fstab").st_mtime_ns == before
    assert "4 ok" in finished(root, "config-storage")[-1]["description"]


def test_storage_module_invalid_config_writes_nothing(root, loops):
    dev = loops.add("256M")
    nocloud_seed(root, "instance-id: i-1\n", cloud_config({"storage": {"version": 1, "config": [
        {"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
        {"id": "p1", "type": "partition", "device": "nope", "size": "1G"}]}}))
    res = bp(root, "boot")
    assert res.returncode == 1 and "user-data storage is invalid" in res.stderr and "dangling-ref" in res.stderr
    assert "PTTYPE" not in blkid(dev) and not (root / "etc/fstab").exists()


def test_keys_blockprov_does_not_act_on_are_reported_not_silently_ignored(root):
    """issue 21: `snap` (not carried out), an unknown key and a key whose module no stage list runs are warnings
    at boot, in stderr and status; keys blockprov acts on are not reported."""
    (root / "etc/blockprov/blockprov.cfg.d/02-lists.cfg").write_text("config_modules: [runcmd]\n")
    nocloud_seed(root, "instance-id: i-1\n", "#cloud-config\nsnap: {commands: [x]}\nfrobnicate: 1\n"
                                             "runcmd: [[/bin/true]]\nwrite_files: []\ntimezone: UTC\n")
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert "$.snap: snaps is not carried out by blockprov" in res.stderr
    assert "$.frobnicate: unrecognized key, ignored" in res.stderr
    assert "$.timezone: read by timezone, which no stage list (init_modules, config_modules, ...) runs" in res.stderr
    assert "$.runcmd" not in res.stderr
    status = bp(root, "status", "--json").stdout
    assert "frobnicate" in status and "snap" in status


def test_write_files_binary_content_is_written_as_its_bytes(root):
    """issue 21: ``content: !!binary`` stored the Python repr of the bytes; now the file has the bytes (also with
    encoding gzip, as cloud-init users write a gzipped file)."""
    raw = bytes(range(256))
    gz = gzip.compress(b"hello gzip\n")
    ud = ("#cloud-config\nwrite_files:\n"
          f"  - path: /opt/blob.bin\n    content: !!binary |\n      {base64.b64encode(raw).decode()}\n"
          f"  - path: /opt/hello.txt\n    encoding: gzip\n    content: !!binary |\n      {base64.b64encode(gz).decode()}\n")
    nocloud_seed(root, "instance-id: i-1\n", ud)
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert (root / "opt/blob.bin").read_bytes() == raw
    assert (root / "opt/hello.txt").read_bytes() == b"hello gzip\n"


def test_one_bad_write_files_entry_leaves_the_others(root):
    """issue 21: errors per item: an entry with an unknown encoding and one with an unknown key are named by their
    paths; the good entries are written; the boot goes on (a warning)."""
    ud = ("#cloud-config\nwrite_files:\n  - {path: /opt/a.txt, content: a}\n"
          "  - {path: /opt/b.txt, content: b, encoding: rot13}\n"
          "  - {path: /opt/c.txt, content: c, colour: blue}\n  - {path: /opt/d.txt, content: d}\n")
    nocloud_seed(root, "instance-id: i-1\n", ud)
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert (root / "opt/a.txt").read_text() == "a" and (root / "opt/d.txt").read_text() == "d"
    assert not (root / "opt/b.txt").exists() and not (root / "opt/c.txt").exists()
    assert "$.write_files[1].encoding" in res.stderr and "$.write_files[2]" in res.stderr
