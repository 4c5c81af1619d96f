"""Undo what a benchmark set up under its temp directory: mounts, loop disks, the udevd and metadata service."""
import subprocess
from pathlib import Path


def teardown(tmp: Path, devs: list[str], udev, md) -> None:
    for line in sorted(Path("/proc/self/mountinfo").read_text().splitlines()):
        point = line.split()[4]
        if point.startswith(str(tmp)):
            subprocess.run(["umount", "-l", point], capture_output=True)
    for d in devs:
        subprocess.run(["partx", "-d", d], capture_output=True)
        subprocess.run(["losetup", "-d", d], capture_output=True)
    udev.stop()
    md.close()
    subprocess.run(["rm", "-rf", str(tmp)], check=False)
