"""apt_configure, ntp and package_update_upgrade_install through boots of a temp root. What apt_configure
writes is judged by apt itself: ``apt-get update`` in a private mount namespace where the temp root's
etc/apt is /etc/apt, against a signed repository made in the test (tests/aptrepo.py). The packages module's
real installs, and chrony, are proven in the VM tier (tests/vm/test_guest.py, scenario 7)."""
import json
import os
import shutil
import stat
import subprocess

import pytest
import yaml

from tests import aptrepo
from tests.boot.helpers import bp, isolated_cfg, nocloud_seed, reboot

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("dpkg-scanpackages") is None,
                                reason="unshare (util-linux) and dpkg-scanpackages (dpkg-dev) are needed")


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    isolated_cfg(r)
    (r / "etc/blockprov/blockprov.cfg.d/02-apt.cfg").write_text(
        "config_modules: [apt_configure, ntp]\nfinal_modules: [package_update_upgrade_install]\n")
    (r / "etc/apt/sources.list.d").mkdir(parents=True)
    (r / "etc/apt/apt.conf.d").mkdir(parents=True)
    (r / "etc/os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
                                      'VERSION_CODENAME=bookworm\n')
    (r / "etc/apt/sources.list").write_text("deb http://deb.debian.org/debian bookworm main\n"
                                            "deb http://deb.debian.org/debian bookworm-updates main\n")
    return r


def cc(doc: dict) -> str:
    return "#cloud-config\n" + yaml.safe_dump(doc)


def apt_update(root, *extra: str) -> subprocess.CompletedProcess:
    """apt-get update as if ``root`` were the system: its etc/apt bound over /etc/apt in a private mount
    namespace (so ``signed-by=/etc/apt/keyrings/...`` resolves inside the root), state and cache under it."""
    for d in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "var/lib/dpkg/status").touch()
    apt = (f"apt-get -o Dir::State={root}/var/lib/apt -o Dir::Cache={root}/var/cache/apt "
           f"-o Dir::State::status={root}/var/lib/dpkg/status -o Debug::NoLocking=1 "
           f"-o Dir::Etc::SourceList=/dev/null {' '.join(extra)} update")
    return subprocess.run(["unshare", "--mount", "sh", "-c", f"mount --bind {root}/etc/apt /etc/apt && {apt} && "
                           f"apt-cache -o Dir::State={root}/var/lib/apt -o Dir::Cache={root}/var/cache/apt "
                           f"-o Dir::State::status={root}/var/lib/dpkg/status -o Dir::Etc::SourceList=/dev/null "
                           "policy blockprov-hello"],
                          capture_output=True, text=True, timeout=300)


def test_apt_sources_and_key_are_what_apt_accepts_and_a_foreign_key_is_refused(root, tmp_path):
    repo = aptrepo.build(tmp_path / "repo")
    other = aptrepo.build(tmp_path / "other")  # same packages, signed by another key
    nocloud_seed(root, "instance-id: i-1\n", cc({"apt": {"sources": {
        "blockprov-tests": {"source": f"deb [signed-by=$KEY_FILE] file:{repo.dir} ./", "key": repo.key},
        "wrong.list": {"source": f"deb file:{repo.dir} ./", "key": other.key},
        "needs-keyserver": {"source": "deb http://example.invalid/ x main", "keyid": "F430BBA5"}}}}))
    res = bp(root, "boot")
    assert res.returncode == 3, res.stderr  # degraded: the keyid entry is named and left out
    assert "$.apt.sources.needs-keyserver.keyid: fetching keys from a keyserver" in res.stderr
    assert not (root / "etc/apt/sources.list.d/needs-keyserver.list").exists()
    src = (root / "etc/apt/sources.list.d/blockprov-tests.list").read_text()
    assert src == f"deb [signed-by=/etc/apt/keyrings/blockprov-tests.asc] file:{repo.dir} ./\n"
    assert (root / "etc/apt/sources.list.d/wrong.list").read_text() == \
        f"deb [signed-by=/etc/apt/keyrings/wrong.asc] file:{repo.dir} ./\n"
    assert (root / "etc/apt/keyrings/blockprov-tests.asc").read_text() == repo.key
    # apt: the right key verifies the repository; the wrong file's key does not (signed-by binds, globally
    # trusted keys would not have caught it)
    (root / "etc/apt/sources.list.d/wrong.list").rename(root / "wrong.list.off")
    r = apt_update(root)
    assert r.returncode == 0 and "Candidate: 1.0" in r.stdout, r.stdout + r.stderr
    (root / "etc/apt/sources.list.d/blockprov-tests.list").unlink()
    (root / "wrong.list.off").rename(root / "etc/apt/sources.list.d/wrong.list")
    r = apt_update(root, "-o", "APT::Update::Error-Mode=any")
    assert r.returncode != 0 and ("NO_PUBKEY" in r.stderr or "not signed" in r.stderr
                                  or "signatures couldn't be verified" in r.stderr), r.stdout + r.stderr


def test_apt_proxy_conf_sources_list_and_suites(root):
    nocloud_seed(root, "instance-id: i-1\n", cc({
        "apt": {"primary": [{"arches": ["default"], "uri": "http://mirror.example/debian"}],
                "security": [{"uri": "http://security.example/debian-security"}],
                "disable_suites": ["$RELEASE-updates"],
                "http_proxy": "http://user:secret@proxy.example:3128", "https_proxy": "http://proxy.example:3129",
                "conf": 'APT::Install-Recommends "false";',
                "debconf_selections": {"tz": "tzdata tzdata/Areas select Europe"}},
        "apt_pipelining": False}))
    res = bp(root, "boot")
    # the temp root has no debconf-set-selections to chroot into: that entry alone is named, all else written
    apt_warnings = [ln for ln in res.stderr.splitlines() if "apt_configure" in ln]
    assert all("$.apt.debconf_selections: debconf-set-selections exited" in ln for ln in apt_warnings), res.stderr
    assert (root / "etc/apt/sources.list").read_text().splitlines()[1:] == [
        "deb http://mirror.example/debian bookworm main",
        "# suite disabled by blockprov: deb http://mirror.example/debian bookworm-updates main",
        "deb http://security.example/debian-security bookworm-security main"]
    proxy = root / "etc/apt/apt.conf.d/90blockprov-aptproxy"
    assert proxy.read_text() == ('Acquire::http::Proxy "http://user:secret@proxy.example:3128";\n'
                                 'Acquire::https::Proxy "http://proxy.example:3129";\n')
    assert stat.S_IMODE(proxy.stat().st_mode) == 0o600  # it holds a password
    assert (root / "etc/apt/apt.conf.d/94blockprov-config").read_text() == 'APT::Install-Recommends "false";\n'
    assert (root / "etc/apt/apt.conf.d/90blockprov-pipelining").read_text() == \
        'Acquire::http::Pipeline-Depth "0";\n'
    # apt parses every snippet we wrote (apt-config dump fails on a syntax error)
    r = subprocess.run(["unshare", "--mount", "sh", "-c", f"mount --bind {root}/etc/apt /etc/apt && apt-config dump"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and 'Acquire::http::Proxy "http://user:secret@proxy.example:3128";' in r.stdout, r.stderr
    assert 'APT::Install-Recommends "false";' in r.stdout and 'Acquire::http::Pipeline-Depth "0";' in r.stdout
    # a second boot of the same instance changes nothing
    before = {p: p.read_bytes() for p in (root / "etc/apt").rglob("*") if p.is_file()}
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    reboot(root)
    bp(root, "boot")
    assert {p: p.read_bytes() for p in (root / "etc/apt").rglob("*") if p.is_file()} == before
    assert {p: p.stat().st_mtime_ns for p in before} == mtimes


def test_apt_without_sources_list_keys_leaves_sources_list_alone(root):
    before = (root / "etc/apt/sources.list").read_text()
    nocloud_seed(root, "instance-id: i-1\n", cc({"apt": {"conf": 'APT::Get::Assume-Yes "true";'}}))
    bp(root, "boot")
    assert (root / "etc/apt/sources.list").read_text() == before


def test_packages_without_apt_in_the_target_is_a_clear_error(root):
    nocloud_seed(root, "instance-id: i-1\n", cc({"packages": ["blockprov-hello", ["x", "1.0"], "Bad Name",
                                                             {"snap": ["hello"]}], "package_update": True}))
    res = bp(root, "boot")
    assert res.returncode == 1
    assert f"package_update_upgrade_install: no apt-get in the target root {root}" in res.stderr, res.stderr


def test_ntp_timesyncd_dropin_and_chrony_conf(root):
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "usr/lib/systemd/systemd-timesyncd").touch()  # installed, as a Debian root has it
    nocloud_seed(root, "instance-id: i-1\n", cc({"ntp": {"servers": ["ntp1.example", "ntp2.example"],
                                                         "pools": ["pool.example"]}}))
    res = bp(root, "boot")
    conf = root / "etc/systemd/timesyncd.conf.d/blockprov.conf"
    assert conf.read_text().splitlines()[1:] == ["[Time]", "NTP=ntp1.example ntp2.example pool.example"], res.stderr
    # no unit file in the temp root: enabling it is a warning, the file is still written
    assert "systemctl" in res.stderr


def test_ntp_auto_with_no_client_and_no_apt_fails_clearly_and_disabled_does_nothing(root):
    nocloud_seed(root, "instance-id: i-1\n", cc({"ntp": {"servers": ["ntp1.example"]}}))
    res = bp(root, "boot")
    assert res.returncode == 1 and "ntp: no apt-get in the target root" in res.stderr, res.stderr
    nocloud_seed(root, "instance-id: i-2\n", cc({"ntp": {"enabled": False, "servers": ["x"]}}))
    reboot(root)
    res = bp(root, "boot")
    assert not (root / "etc/chrony").exists() and "ntp: no apt-get" not in res.stderr


def test_schema_knows_the_new_keys_and_names_bad_entries(root, tmp_path):
    f = tmp_path / "ud.yaml"
    f.write_text(cc({"packages": ["ok", 3], "ntp": {"ntp_client": "ntpd"}, "apt": {"sources": {"a": {"src": 1}}},
                     "package_update": "yes"}))
    res = bp(root, "schema", str(f))
    assert res.returncode == 2
    for path in ("$.packages[1]", "$.ntp.ntp_client", "$.apt.sources.a", "$.package_update"):
        assert path in res.stderr, res.stderr
    f.write_text(cc({"packages": ["nginx"], "package_update": True, "ntp": {"servers": ["a"]}, "apt": {}}))
    res = bp(root, "schema", str(f))
    assert res.returncode == 0 and "not carried out" not in res.stderr, res.stderr
