"""The udev tier: a real systemd-udevd with the project's real rule file and RUN helper.

The fixture installs ``udev/90-blockprov-hotplug.rules`` with one substitution
(the helper's installed path -> this checkout's ``udev/hotplug-enqueue``) and a
test-only rule file that (1) stops udevd's inotify watch on loop disks (it
would re-read tables and drop partitions), (2) gives loop disks backed by
``<tmp>/serial-disks/NAME`` the serial NAME and a ``disk/by-id/virtio-NAME``
link, and (3) points the helper at the test's root. Events of every other
device on the machine go to a sink root whose hotplug is disabled, so the
helper drops them.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_root_tools

UDEVD = "/lib/systemd/systemd-udevd"
RULES_DIR = Path("/run/udev/rules.d")
HELPER_INSTALLED = "/usr/lib/blockprov/hotplug-enqueue"

# After 60-block.rules, which turns the watch on for loop devices.
NOWATCH = 'SUBSYSTEM=="block", KERNEL=="loop*", ENV{DEVTYPE}=="disk", OPTIONS+="nowatch"\n'
TEST_RULES = """\
SUBSYSTEM=="block|net", ENV{{BLOCKPROV_ROOT}}="{sink}", ENV{{BLOCKPROV_BIN}}="{bin}"
SUBSYSTEM=="block", KERNEL=="loop*", ENV{{DEVTYPE}}=="disk", ATTR{{loop/backing_file}}=="{disks}/*", \
  PROGRAM="/usr/bin/basename $attr{{loop/backing_file}}", ENV{{ID_SERIAL}}="%c", ENV{{ID_SERIAL_SHORT}}="%c", \
  ENV{{BLOCKPROV_ROOT}}="{root}", SYMLINK+="disk/by-id/virtio-%c"
SUBSYSTEM=="block", KERNEL=="loop*", ENV{{DEVTYPE}}=="partition", ATTRS{{loop/backing_file}}=="{disks}/*", \
  PROGRAM="/usr/bin/basename $attr{{loop/backing_file}}", ENV{{ID_SERIAL}}="%c", \
  ENV{{BLOCKPROV_ROOT}}="{root}", SYMLINK+="disk/by-id/virtio-%c-part%n"
SUBSYSTEM=="net", KERNEL=="bpt*", ENV{{BLOCKPROV_ROOT}}="{root}"
"""


def _udevadm(*args, timeout=60):
    return subprocess.run(["udevadm", *args], capture_output=True, text=True, timeout=timeout)


class Udev:
    """A running udevd; ``use(root, disks_dir)`` points the test rules at one test's root."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.sink = tmp / "sink"
        (self.sink / "var/lib/blockprov/hotplug").mkdir(parents=True)
        for s in ("block", "net"):
            (self.sink / f"var/lib/blockprov/hotplug/disabled-{s}").write_text("")
        self.bin = tmp / "blockprov"
        self.bin.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m blockprov \"$@\"\n")
        self.bin.chmod(0o755)
        self.helper = tmp / "hotplug-enqueue"
        shutil.copy(ROOT / "udev/hotplug-enqueue", self.helper)
        rules = (ROOT / "udev/90-blockprov-hotplug.rules").read_text()
        assert rules.count(HELPER_INSTALLED) == 2
        self.project_rules = rules.replace(HELPER_INSTALLED, str(self.helper))
        self.had_run_udev = Path("/run/udev").exists()
        self.had_dev_disk = Path("/dev/disk").exists()
        RULES_DIR.mkdir(parents=True, exist_ok=True)
        (RULES_DIR / "90-blockprov-hotplug.rules").write_text(self.project_rules)
        (RULES_DIR / "95-blockprov-test-nowatch.rules").write_text(NOWATCH)
        self.use(self.sink, tmp / "no-disks")
        self.log = open(tmp / "udevd.log", "w")
        self.proc = subprocess.Popen([UDEVD], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while _udevadm("control", "--ping", timeout=5).returncode != 0:
            assert time.monotonic() < deadline and self.proc.poll() is None, "systemd-udevd did not start"
            time.sleep(0.05)

    def use(self, root: Path, disks: Path) -> None:
        (RULES_DIR / "00-blockprov-test.rules").write_text(
            TEST_RULES.format(sink=self.sink, bin=self.bin, disks=disks, root=root))
        if getattr(self, "proc", None) is not None:
            assert self.proc.poll() is None, f"systemd-udevd exited with {self.proc.returncode}"
            r = _udevadm("control", "--reload")
            assert r.returncode == 0, f"udevadm control --reload: {r.stderr}"

    def trigger(self, dev: str, action: str = "add") -> None:
        r = _udevadm("trigger", f"--action={action}", "--settle", dev)
        assert r.returncode == 0, r.stderr

    def stop(self) -> None:
        _udevadm("control", "--exit", timeout=30)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for name in ("00-blockprov-test.rules", "90-blockprov-hotplug.rules", "95-blockprov-test-nowatch.rules"):
            (RULES_DIR / name).unlink(missing_ok=True)
        if not self.had_run_udev:
            shutil.rmtree("/run/udev", ignore_errors=True)
        if not self.had_dev_disk:
            shutil.rmtree("/dev/disk", ignore_errors=True)


@pytest.fixture
def udev(udevd_session):
    """The session's udevd, pointed back at the sink after the test."""
    yield udevd_session
    udevd_session.use(udevd_session.sink, udevd_session.tmp / "no-disks")


@pytest.fixture(scope="session")
def udevd_session(tmp_path_factory):
    need_root_tools("udevadm", "losetup", "partx", "mkfs.ext4")
    if not os.path.exists(UDEVD):
        pytest.skip(f"{UDEVD} not installed (apt-get install udev)")
    if subprocess.run(["pgrep", "-x", "systemd-udevd"], capture_output=True).returncode == 0:
        pytest.skip("a systemd-udevd already runs on this machine; the udev tier starts its own")
    u = Udev(tmp_path_factory.mktemp("udev"))
    try:
        yield u
    finally:
        u.stop()
