import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A copy of ../shared/corpus/curtin (curtin's examples/tests, unchanged), so CI clones have it too.
CORPUS = ROOT / "tests" / "fixtures" / "curtin-corpus"
assert len(list(CORPUS.glob("*.yaml"))) >= 37, f"conformance corpus missing at {CORPUS}"


def need_root_tools(*tools):
    if os.geteuid() != 0:
        pytest.skip("needs root for loop devices")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"tools not installed: {', '.join(missing)}")


class Loops:
    """Loop disks attached by this test only; always detached (never losetup -D)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.devs: list[str] = []
        self.mounts_under: list[Path] = []

    def add(self, size: str = "1G", name: str | None = None) -> str:
        img = self.tmp / (name or f"disk{len(self.devs)}.img")
        subprocess.run(["truncate", "-s", size, str(img)], check=True)
        dev = subprocess.run(["losetup", "-f", "--show", str(img)], check=True, capture_output=True,
                             text=True).stdout.strip()
        self.devs.append(dev)
        return dev

    def attach(self, img: Path) -> str:
        dev = subprocess.run(["losetup", "-f", "--show", str(img)], check=True, capture_output=True,
                             text=True).stdout.strip()
        self.devs.append(dev)
        return dev

    def image(self, dev: str) -> Path:
        return Path(subprocess.run(["losetup", "-nO", "BACK-FILE", dev], capture_output=True, text=True).stdout.strip())

    def cleanup(self):
        mounts = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4]
            if point.startswith(str(self.tmp)):
                mounts.append(point)
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        swaps = Path("/proc/swaps").read_text().splitlines()[1:]
        for s in swaps:
            if any(s.split()[0].startswith(d) for d in self.devs):
                subprocess.run(["swapoff", s.split()[0]], capture_output=True)
        for d in self.devs:
            subprocess.run(["partx", "-d", d], capture_output=True)
            subprocess.run(["losetup", "-d", d], capture_output=True)


@pytest.fixture
def loops(tmp_path):
    need_root_tools("losetup", "partx", "wipefs", "sfdisk", "blkid", "mkfs.ext4")
    lp = Loops(tmp_path)
    try:
        yield lp
    finally:
        lp.cleanup()
