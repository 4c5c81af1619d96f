"""The VM tier: one guest per module, with the Debian packages built from this checkout.

The guest's first boot (without blockprov) installs the packages; tests then
reboot into blockprov's first boot. Each scenario prints one line
(``VM scenario N: ...``) that .ci/run shows.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.vm import image
from tests.vm.harness import Guest

ROOT = Path(__file__).resolve().parents[2]
NEEDS = ("qemu-system-x86_64", "qemu-img", "mmdebstrap", "dpkg-buildpackage", "mkfs.ext4")


def need_vm_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("the VM tier builds its guest image as root")
    missing = [t for t in NEEDS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/install.sh installs them)")
    try:
        import qemu.qmp  # noqa: F401
    except ImportError:
        pytest.skip("qemu.qmp is not installed (pip install -e '.[test]')")


def report(line: str) -> None:
    """One line per scenario on the terminal, also under pytest's capture."""
    with open("/dev/tty", "w") if os.isatty(1) else open(os.devnull, "w") as tty:
        tty.write(line + "\n")
    print(line)
    log = os.environ.get("BLOCKPROV_VM_REPORT")
    if log:
        with open(log, "a") as f:
            f.write(line + "\n")


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> list[Path]:
    need_vm_tools()
    out = tmp_path_factory.mktemp("debs")
    subprocess.run([str(ROOT / "scripts/build-deb.sh"), str(out)], check=True, stdout=subprocess.DEVNULL)
    return sorted(out.glob("*.deb"))


def new_guest(tmp_path_factory, name: str) -> Guest:
    need_vm_tools()
    return Guest(tmp_path_factory.mktemp(name), image.ensure())


def install(guest: Guest, debs: list[Path]) -> None:
    for d in debs:
        shutil.copy(d, guest.ctl / d.name)
    guest.run(["dpkg", "-i", *[f"/mnt/ctl/{d.name}" for d in debs]], timeout=300)
