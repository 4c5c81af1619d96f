"""The realistic cloud-config (tests/realistic.py) through two boots of a real Debian root used as a temp
root: a copy of the VM tier's bookworm image (apt, dpkg, chrony, passwd), loop-mounted. Packages come from a
signed repository made by the test and are installed by apt-get in a chroot; every effect is read back from
the files (dpkg's status, passwd, chrony.conf...), and a second boot of the same instance changes none."""
import hashlib
import json
import shutil
import subprocess

import pytest

from tests import aptrepo, realistic
from tests.boot.helpers import bp, isolated_cfg, nocloud_seed, reboot

pytestmark = pytest.mark.skipif(shutil.which("mmdebstrap") is None or shutil.which("dpkg-scanpackages") is None,
                                reason="mmdebstrap (for the Debian root) and dpkg-dev are needed")


@pytest.fixture
def debian_root(tmp_path, loops):
    from tests.vm import image

    img = tmp_path / "root.img"
    subprocess.run(["cp", "--sparse=always", str(image.ensure() / "root.img"), str(img)], check=True)
    dev = loops.attach(img)
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", dev, str(root)], check=True)
    yield root  # loops unmounts what is under tmp_path and detaches


def digest(root, files):
    out = {}
    for f in files:
        p = root / f.lstrip("/")
        out[f] = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
    return out


def test_every_key_in_a_debian_root_then_a_second_boot_changes_nothing(debian_root, tmp_path):
    root = debian_root
    repo = aptrepo.build(root / "srv/repo", realistic.PACKAGES)
    isolated_cfg(root, full=True)
    nocloud_seed(root, "instance-id: vm7-instance\nlocal-hostname: vm7\n", realistic.user_data(repo.key, logs=f"{root}/var/log"))
    res = bp(root, "boot", timeout=1200)
    assert res.returncode == 3, res.stderr  # degraded: the bad entries, named
    for named in realistic.NAMED:
        assert named in res.stderr, res.stderr
    assert "error" not in res.stderr.replace("errors", ""), res.stderr
    st = json.loads(bp(root, "status", "--format", "json").stdout)
    assert st["status"] == "degraded done" and not st["errors"], st

    status = (root / "var/lib/dpkg/status").read_text()
    for pkg, ver in (("blockprov-hello", "1.0"), ("blockprov-pinned", "1.0")):
        assert f"Package: {pkg}\nStatus: install ok installed" in status and f"Version: {ver}" in status
    assert "blockprov-pinned\nStatus: install ok installed" in status
    assert (root / "usr/share/blockprov-pinned/hello").read_text() == "blockprov-pinned 1.0\n"  # as pinned
    assert "server 192.0.2.123 iburst" in (root / "etc/chrony/chrony.conf").read_text()
    assert (root / "etc/systemd/system/multi-user.target.wants/chrony.service").is_symlink()  # enabled
    passwd = (root / "etc/passwd").read_text()
    assert "\nalice:" in passwd and "\nbob:" in passwd and "bad user!" not in passwd
    shadow = {ln.split(":")[0]: ln.split(":")[1] for ln in (root / "etc/shadow").read_text().splitlines()}
    assert shadow["alice"].startswith("$6$")
    assert (root / "home/alice/.ssh/authorized_keys").read_text().strip() == realistic.KEY
    assert "Please login as the user" in (root / "root/.ssh/authorized_keys").read_text()
    assert (root / "etc/vm7/plain.txt").read_text() == "hello\n"
    assert hashlib.sha256((root / "etc/vm7/blob.bin").read_bytes()).hexdigest() == realistic.BLOB_SHA256
    assert (root / "etc/vm7/late.txt").stat().st_uid == int(passwd.split("\nalice:")[1].split(":")[1])
    assert (root / "var/log/vm7-runcmd.log").read_text() == "run\n"
    assert (root / "etc/hostname").read_text().strip() == "vm7"
    assert "vm7 vm7-instance up" in res.stderr
    before = digest(root, realistic.FILES)
    assert None not in before.values(), before

    reboot(root)
    res2 = bp(root, "boot", timeout=600)
    assert res2.returncode in (0, 3), res2.stderr
    assert digest(root, realistic.FILES) == before
    assert (root / "var/log/vm7-bootcmd.log").read_text() == "boot\nboot\n"
