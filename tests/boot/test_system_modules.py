"""timezone, locale, phone_home, power_state and cloud-init's disk keys on temp roots, read back from the files
(and, for the disk keys, real loop disks) they leave."""

import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse

import pytest

from tests.boot.helpers import bp, finished, isolated_cfg, nocloud_seed, reboot
from tests.host.helpers import blkid, mounted_at




def cc(obj) -> str:
    return "#cloud-config\n" + json.dumps(obj)


def log(root) -> str:
    return (root / "var/log/blockprov/output.log").read_text()


def setup(tmp_path, modules: str, stage: str = "init_modules"):
    r = tmp_path / "root"
    isolated_cfg(r, f"init_local_modules: []\ninit_modules: []\nconfig_modules: []\nfinal_modules: []\n"
                    f"{stage}: [{modules}]\n", full=True)
    return r


# -- timezone -------------------------------------------------------------------
def test_timezone_links_localtime_and_reruns_change_nothing(tmp_path):
    root = setup(tmp_path, "timezone")
    zi = root / "usr/share/zoneinfo/Europe"
    zi.mkdir(parents=True)
    shutil.copy("/usr/share/zoneinfo/Europe/Berlin", zi / "Berlin")
    nocloud_seed(root, "instance-id: i-1\n", cc({"timezone": "Europe/Berlin"}))
    bp(root, "boot", check=True)
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/Berlin"
    assert (root / "etc/timezone").read_text() == "Europe/Berlin\n"
    before = os.lstat(root / "etc/localtime").st_mtime_ns, os.stat(root / "etc/timezone").st_mtime_ns
    bp(root, "single", "--name", "timezone", "--frequency", "always", check=True)
    assert log(root).splitlines()[-1].endswith("time zone Europe/Berlin (already set)")
    assert (os.lstat(root / "etc/localtime").st_mtime_ns, os.stat(root / "etc/timezone").st_mtime_ns) == before


def test_timezone_bad_input(tmp_path):
    root = setup(tmp_path, "timezone")
    nocloud_seed(root, "instance-id: i-1\n", cc({"timezone": "Mars/Olympus"}))
    res = bp(root, "boot")
    assert res.returncode == 1 and "$.timezone: 'Mars/Olympus' is not a time zone in the target" in res.stderr
    nocloud_seed(root, "instance-id: i-2\n", cc({"timezone": "../../etc/shadow"}))
    reboot(root)
    res = bp(root, "boot")
    assert "timezone: invalid config, not run: $.timezone: '../../etc/shadow' does not match" in res.stderr
    assert not (root / "etc/localtime").exists() and not (root / "etc/timezone").exists()


# -- locale ---------------------------------------------------------------------
def test_locale_generated_in_the_target_and_set(tmp_path):
    if shutil.which("localedef") is None or not os.path.exists("/usr/share/i18n/locales/de_DE"):
        pytest.skip("localedef or the locales package's de_DE source is missing")
    root = setup(tmp_path, "locale")
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/locale").write_text("LANG=C.UTF-8\nLC_TIME=C\n")
    (root / "etc/locale.gen").write_text("# de_DE.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n")
    nocloud_seed(root, "instance-id: i-1\n", cc({"locale": "de_DE.UTF-8"}))
    bp(root, "boot", check=True)
    archive = subprocess.run(["localedef", "--prefix", str(root), "--list-archive"], capture_output=True, text=True)
    assert "de_DE.utf8" in archive.stdout.split()
    assert (root / "etc/default/locale").read_text() == "LANG=de_DE.UTF-8\nLC_TIME=C\n"
    assert (root / "etc/locale.gen").read_text() == "de_DE.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n"
    bp(root, "single", "--name", "locale", "--frequency", "always", check=True)
    assert log(root).splitlines()[-1].endswith("locale de_DE.UTF-8 (already set)")


def test_locale_bad_input(tmp_path):
    root = setup(tmp_path, "locale")
    nocloud_seed(root, "instance-id: i-1\n", cc({"locale": "xx_YY.UTF-8"}))
    res = bp(root, "boot")
    assert res.returncode == 1 and "$.locale: 'xx_YY.UTF-8' is not a supported locale" in res.stderr
    assert not (root / "etc/default/locale").exists()


# -- phone_home -----------------------------------------------------------------
class Receiver:
    """A real HTTP server on 127.0.0.1 that fails the first ``fail`` POSTs with 503."""

    def __init__(self, fail: int):
        self.fail, self.posts, self.tries = fail, [], 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.tries += 1
                if outer.tries <= outer.fail:
                    self.send_response(503)
                else:
                    outer.posts.append((self.path, urllib.parse.parse_qs(body.decode())))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_phone_home_posts_after_retries(tmp_path):
    root = setup(tmp_path, "phone_home", "final_modules")
    (root / "etc/ssh").mkdir(parents=True)
    (root / "etc/ssh/ssh_host_ed25519_key.pub").write_text("ssh-ed25519 AAAAC3Nza host\n")
    rx = Receiver(fail=2)
    try:
        nocloud_seed(root, "instance-id: i-77\nlocal-hostname: web1.example.com\n",
                     cc({"phone_home": {"url": rx.url + "/ready/$INSTANCE_ID", "post": "all", "tries": 5}}))
        bp(root, "boot", check=True)
        reboot(root)
        bp(root, "boot", check=True)  # per-instance: a reboot does not phone home again
    finally:
        rx.close()
    assert rx.tries == 3 and len(rx.posts) == 1
    path, form = rx.posts[0]
    assert path == "/ready/i-77"
    assert form["instance_id"] == ["i-77"] and form["hostname"] == ["web1"] and form["fqdn"] == ["web1.example.com"]
    assert form["pub_key_ed25519"] == ["ssh-ed25519 AAAAC3Nza host"] and form["pub_key_rsa"] == ["N/A"]


def test_phone_home_gives_up_after_its_tries_with_a_warning(tmp_path):
    root = setup(tmp_path, "phone_home", "final_modules")
    rx = Receiver(fail=100)
    try:
        nocloud_seed(root, "instance-id: i-1\n", cc({"phone_home": {"url": rx.url + "/x", "tries": 3,
                                                                    "post": ["instance_id"]}}))
        t0 = time.monotonic()
        res = bp(root, "boot")
        took = time.monotonic() - t0
    finally:
        rx.close()
    assert res.returncode in (0, 3) and "phone_home" in res.stderr and "gave up after 3 tries" in res.stderr
    assert rx.tries == 3 and took < 15
    assert finished(root, "config-phone_home")[-1]["result"] == "WARN"


def test_phone_home_bad_input(tmp_path):
    root = setup(tmp_path, "phone_home", "final_modules")
    nocloud_seed(root, "instance-id: i-1\n", cc({"phone_home": {"url": "ftp://x", "post": ["password"]}}))
    res = bp(root, "boot")
    assert res.returncode == 1 and "$.phone_home.post[0]: 'password' is not one of" in res.stderr
    assert "$.phone_home.url: 'ftp://x' does not match" in res.stderr


# -- power_state ------------------------------------------------------------------
def test_power_state_decision_recorded_on_a_temp_root(tmp_path):
    root = setup(tmp_path, "power_state", "final_modules")
    nocloud_seed(root, "instance-id: i-1\n", cc({"power_state": {"mode": "reboot", "delay": "+5", "message": "bye",
                                                                 "condition": ["test", "-e", "/nonexistent"]}}))
    bp(root, "boot", check=True)
    rec = json.loads((root / "run/blockprov/power-state.json").read_text())
    assert rec["argv"] == ["shutdown", "-r", "+5", "bye"] and rec["go"] is False
    assert "exited 1" in rec["why"]
    nocloud_seed(root, "instance-id: i-2\n", cc({"power_state": {"mode": "poweroff"}}))
    reboot(root)
    bp(root, "boot", check=True)
    rec = json.loads((root / "run/blockprov/power-state.json").read_text())
    assert rec["argv"] == ["shutdown", "-P", "now"] and rec["go"] is True
    reboot(root)
    bp(root, "boot", check=True)
    assert not (root / "run/blockprov/power-state.json").exists()  # per-instance: not again after the reboot


def test_power_state_bad_input(tmp_path):
    root = setup(tmp_path, "power_state", "final_modules")
    nocloud_seed(root, "instance-id: i-1\n", cc({"power_state": {"mode": "sleep", "delay": "soon"}}))
    res = bp(root, "boot")
    assert res.returncode == 1 and "$.power_state.mode: 'sleep' is not one of" in res.stderr
    assert not (root / "run/blockprov/power-state.json").exists()


# -- disk_setup, fs_setup, mounts, swap --------------------------------------------------
def test_cloud_init_disk_keys_partition_format_mount_once(tmp_path, loops):
    root = setup(tmp_path, "disks")
    dev = loops.add("1G")  # each half above mkfs.xfs's 300 MB minimum
    loops.mounts_under.append(root)
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/fstab").write_text("# site lines\n")
    nocloud_seed(root, "instance-id: i-1\n", cc({
        "disk_setup": {dev: {"table_type": "gpt", "layout": [50, [50, 83]], "overwrite": False}},
        "fs_setup": [{"label": "first", "filesystem": "ext4", "device": dev, "partition": 1},
                     {"label": "second", "filesystem": "xfs", "device": dev, "partition": 2}],
        "mounts": [[dev + "p1", "/srv/a"], ["LABEL=second", "/srv/b", "xfs", "defaults,noatime"],
                   ["sdz9", "/srv/later"]]}))
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert blkid(dev + "p1")["LABEL"] == "first" and blkid(dev + "p2")["TYPE"] == "xfs"
    assert mounted_at(root / "srv/a") == dev + "p1" and mounted_at(root / "srv/b") == dev + "p2"
    fstab = (root / "etc/fstab").read_text()
    assert fstab.startswith("# site lines\n")
    assert f"UUID={blkid(dev + 'p1')['UUID']}\t/srv/a\text4\tdefaults,nofail\t0\t2" in fstab
    assert "LABEL=second\t/srv/b\txfs\tdefaults,noatime\t0\t2" in fstab
    assert "/srv/later" not in fstab
    assert "$.mounts[2]: sdz9 is not attached; left for a later run" in \
        (root / "var/log/blockprov/output.log").read_text()
    before = (root / "etc/fstab").stat().st_mtime_ns
    reboot(root)
    assert bp(root, "boot").returncode in (0, 3)
    assert (root / "etc/fstab").stat().st_mtime_ns == before
    assert "already ran (once-per-instance)" in finished(root, "config-disks")[-1]["description"] or \
        "already ran" in finished(root, "config-disks")[-1]["description"]


def test_disk_setup_never_reformats_data_without_overwrite(tmp_path, loops):
    root = setup(tmp_path, "disks")
    dev = loops.add("256M")
    subprocess.run(["mkfs.ext4", "-q", "-L", "precious", dev], check=True)
    nocloud_seed(root, "instance-id: i-1\n", cc({
        "disk_setup": {dev: {"table_type": "mbr", "layout": True}},
        "fs_setup": [{"filesystem": "btrfs", "device": dev, "partition": "auto"}]}))
    res = bp(root, "boot")
    assert res.returncode == 1 and "refused" in res.stderr
    assert blkid(dev)["LABEL"] == "precious" and blkid(dev)["TYPE"] == "ext4"
    nocloud_seed(root, "instance-id: i-2\n", cc({
        "disk_setup": {dev: {"table_type": "mbr", "layout": True, "overwrite": True}},
        "fs_setup": [{"filesystem": "btrfs", "device": dev, "partition": "auto", "label": "fresh"}]}))
    reboot(root)
    assert bp(root, "boot").returncode in (0, 3)
    assert blkid(dev).get("PTTYPE") == "dos" and blkid(dev + "p1")["LABEL"] == "fresh"


def test_mounts_of_an_existing_filesystem_are_not_duplicated(tmp_path, loops):
    root = setup(tmp_path, "disks")
    dev = loops.add("128M")
    subprocess.run(["mkfs.ext4", "-q", "-L", "olddata", dev], check=True)
    uuid = blkid(dev)["UUID"]
    loops.mounts_under.append(root)
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/fstab").write_text(f"UUID={uuid}\t/data\text4\tdefaults\t0\t2\n")
    nocloud_seed(root, "instance-id: i-1\n", cc({"mounts": [[dev, "/data"], ["LABEL=olddata", "/data2"]]}))
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    fstab = (root / "etc/fstab").read_text()
    assert fstab.count(uuid) == 1 and "LABEL=olddata" not in fstab  # same device by UUID, by path, by label
    assert blkid(dev)["LABEL"] == "olddata"  # preserved, never reformatted


def test_swap_file_created_once(tmp_path):
    root = setup(tmp_path, "disks")
    nocloud_seed(root, "instance-id: i-1\n", cc({"swap": {"filename": "/swapfile", "size": "64M"}}))
    bp(root, "boot", check=True)
    f = root / "swapfile"
    assert f.stat().st_size == 64 << 20 and f.stat().st_mode & 0o777 == 0o600
    assert blkid(str(f))["TYPE"] == "swap"
    assert (root / "etc/fstab").read_text() == "/swapfile\tnone\tswap\tsw\t0\t0\n"
    ino = f.stat().st_ino
    reboot(root)
    bp(root, "boot", check=True)
    assert f.stat().st_ino == ino and (root / "etc/fstab").read_text().count("/swapfile") == 1


def test_swap_never_overwrites_another_file_and_bad_input_is_named(tmp_path):
    root = setup(tmp_path, "disks")
    (root / "data.bin").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.bin").write_bytes(b"keep me")
    nocloud_seed(root, "instance-id: i-1\n", cc({"swap": {"filename": "/data.bin", "size": "8M"}}))
    res = bp(root, "boot")
    assert "$.swap.filename: /data.bin exists and is not a swap file" in res.stderr
    assert (root / "data.bin").read_bytes() == b"keep me"
    nocloud_seed(root, "instance-id: i-2\n", cc({"disk_setup": {"/dev/sdx": {"layout": [60, 50]}},
                                                 "fs_setup": [{"device": "sdx", "filesystem": "zfs"}]}))
    reboot(root)
    res = bp(root, "boot")
    assert res.returncode == 1 and "$.disk_setup./dev/sdx.layout[1]: the layout adds up to more than 100%" in res.stderr


@pytest.mark.parametrize("form", ["disk_setup-overwrite", "fs_setup-overwrite", "fs_setup-replace_fs",
                                  "whole-disk-overwrite"])
def test_a_reboot_of_the_same_instance_never_formats_again(tmp_path, loops, form):
    """issue 21: disk_setup/fs_setup run once per instance, as in cloud-init. The first boot formats (overwrite and
    replace_fs are honoured: an old filesystem is replaced); a file written afterwards survives the reboot."""
    root = setup(tmp_path, "disks")
    dev = loops.add("400M")  # above mkfs.xfs's 300 MB minimum
    loops.mounts_under.append(root)
    if form == "fs_setup-replace_fs" or form == "whole-disk-overwrite":
        subprocess.run(["mkfs.ext4", "-q", "-L", "old", dev], check=True)
    disk_keys = {
        "disk_setup-overwrite": {"disk_setup": {dev: {"table_type": "gpt", "layout": True, "overwrite": True}},
                                 "fs_setup": [{"filesystem": "ext4", "device": dev, "partition": 1,
                                               "overwrite": True, "label": "fresh"}]},
        "fs_setup-overwrite": {"disk_setup": {dev: {"table_type": "gpt", "layout": True}},
                               "fs_setup": [{"filesystem": "ext4", "device": dev, "partition": 1, "overwrite": True,
                                             "label": "fresh"}]},
        "fs_setup-replace_fs": {"fs_setup": [{"filesystem": "btrfs", "device": dev, "partition": "none",
                                              "replace_fs": "ext4", "label": "fresh"}]},
        "whole-disk-overwrite": {"fs_setup": [{"filesystem": "xfs", "device": dev, "partition": "none",
                                               "overwrite": True, "label": "fresh"}]},
    }[form]
    vol = dev + "p1" if "disk_setup" in disk_keys else dev
    nocloud_seed(root, "instance-id: i-1\n", cc({**disk_keys, "mounts": [[vol, "/data"]]}))
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert blkid(vol)["LABEL"] == "fresh"
    assert mounted_at(root / "data") == vol
    (root / "data/keep.txt").write_text("written after the first boot\n")
    subprocess.run(["umount", str(root / "data")], check=True)
    reboot(root)
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    subprocess.run(["mount", vol, str(root / "data")], check=True)
    assert (root / "data/keep.txt").read_text() == "written after the first boot\n"
    subprocess.run(["umount", str(root / "data")], check=True)


def test_swap_size_auto_is_valid_and_made(tmp_path):
    """The documented ``swap: {size: auto}`` (it failed the schema with JSON Schema's own words)."""
    root = setup(tmp_path, "disks")
    nocloud_seed(root, "instance-id: i-1\n", cc({"swap": {"filename": "/swapfile", "size": "auto", "maxsize": "16M"}}))
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert (root / "swapfile").stat().st_size == 16 << 20 and blkid(str(root / "swapfile"))["TYPE"] == "swap"


def test_the_disks_docs_example_runs_as_documented(tmp_path, loops):
    """docs/modules.md's disks example, /dev/vdb being a loop disk and LABEL=logs an xfs on a second one."""
    import re

    import yaml

    from tests.unit.test_docs import _yaml_block

    root = setup(tmp_path, "disks")
    loops.mounts_under.append(root)
    dev, logs = loops.add("1G"), loops.add("400M")
    subprocess.run(["mkfs.xfs", "-q", "-L", "logs", logs], check=True)
    text = re.sub(r"/dev/vdb(\d)", dev + r"p\1", _yaml_block("modules.md", "## disks: disk_setup")).replace(
        "/dev/vdb", dev)
    nocloud_seed(root, "instance-id: i-1\n", "#cloud-config\n" + text)
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    assert blkid(dev + "p1")["LABEL"] == "data" and blkid(dev + "p1")["TYPE"] == "ext4"
    assert blkid(dev + "p2")["TYPE"] == "swap"
    sizes = subprocess.run(["lsblk", "-bno", "SIZE", dev + "p1", dev + "p2"], capture_output=True, text=True,
                           check=True).stdout.split()
    assert abs(int(sizes[0]) - int(sizes[1])) < 2 << 20  # 50 / 50
    assert mounted_at(root / "srv/data") == dev + "p1" and mounted_at(root / "var/log/app") == logs
    fstab = (root / "etc/fstab").read_text()
    assert f"UUID={blkid(dev + 'p1')['UUID']}\t/srv/data\text4\tdefaults,nofail\t0\t2" in fstab
    assert f"UUID={blkid(dev + 'p2')['UUID']}\tnone\tswap\tsw" in fstab
    assert "LABEL=logs\t/var/log/app\txfs\tdefaults,noatime\t0\t2" in fstab
    swap = root / "swap.img"
    assert swap.exists() and (swap.stat().st_mode & 0o777) == 0o600 and swap.stat().st_size <= 2 << 30
    assert subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", str(swap)], capture_output=True,
                          text=True).stdout.strip() == "swap"
    assert "/swap.img\tnone\tswap\tsw\t0\t0" in fstab or "/swap.img none swap sw 0 0" in fstab, fstab
    assert yaml.safe_load(text)["swap"]["size"] == "auto"
