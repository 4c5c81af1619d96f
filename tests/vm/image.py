"""The guest image for the VM tier: a Debian bookworm root, kernel and initrd, cached by recipe hash.

The recipe (packages, hooks, this file's constants) is hashed; a cache directory
named by the hash holds ``root.img`` (ext4, read-only base for per-run qcow2
overlays), ``vmlinuz`` and ``initrd.img``. Only blockprov itself is not in the
image: each run installs the Debian package built from the checkout.

Run ``python3 -m tests.vm.image`` to build (or find) it and print its directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("BLOCKPROV_VM_CACHE", "/var/cache/blockprov-vm"))
SUITE = "bookworm"
PACKAGES = [
    "linux-image-amd64", "initramfs-tools", "systemd-sysv", "udev", "kmod", "util-linux", "fdisk",
    "parted", "e2fsprogs", "xfsprogs", "btrfs-progs", "dosfstools", "mdadm", "lvm2", "cryptsetup-bin",
    "bcache-tools", "iproute2", "openssh-client", "passwd", "openssl",
    # blockprov's Depends (Debian's own packages, as a user's machine has them)
    "python3", "python3-parted", "python3-yaml", "python3-pyudev", "python3-websocket", "python3-jsonschema", "python3-sh",
    "python3-fastjsonschema", "python3-pycdlib", "python3-defusedxml", "python3-urllib3", "python3-tenacity",
    "python3-jinja2", "python3-jsonpatch",
    # the ntp module's clients (apt itself is in every Debian root)
    "chrony",
    # blockprov-engine's
    "python3-aiohttp",
]
# Only what boot needs before the root is mounted: a smaller initrd boots ~5 s faster under TCG.
INITRD_MODULES = ["virtio_pci", "virtio_blk", "virtio_scsi", "ext4", "crc32c_generic"]
DRIVER_UNIT = """\
[Unit]
Description=blockprov VM test driver (runs commands the host writes to the 9p share)
DefaultDependencies=no
After=systemd-remount-fs.service systemd-modules-load.service
Before=sysinit.target

[Service]
Type=simple
ExecStartPre=/bin/mkdir -p /mnt/ctl
# the virtio 9p device may be bound after this early unit starts ("9pnet_virtio: no channels available"):
# try for a minute rather than fail the boot on a slow or busy host
ExecStartPre=/bin/sh -c 'for i in $(seq 120); do mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 ctl /mnt/ctl 2>/dev/null && exit 0; sleep 0.5; done; exec mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 ctl /mnt/ctl'
ExecStart=/usr/bin/python3 /mnt/ctl/driver.py
StandardOutput=journal+console

[Install]
WantedBy=sysinit.target
"""
HOOK_ESSENTIAL = [
    'mkdir -p "$1/etc/initramfs-tools/conf.d"',
    'echo MODULES=list > "$1/etc/initramfs-tools/conf.d/blockprov-vm.conf"',
    'printf "%s\\n" ' + " ".join(INITRD_MODULES) + ' > "$1/etc/initramfs-tools/modules"',
]
HOOK_CUSTOMIZE = [
    'echo blockprov-guest > "$1/etc/hostname"',
    'printf "127.0.0.1 localhost\\n" > "$1/etc/hosts"',
    'printf "9p\\n9pnet_virtio\\n" > "$1/etc/modules-load.d/9p.conf"',
    'rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"',
    # a network renderer for blockprov's network module, as Debian cloud images have one
    'chroot "$1" systemctl enable systemd-networkd.service',
    # no mdadm e-mail monitor or periodic checks; nothing else in a test guest wants time
    'for u in mdmonitor.service mdcheck_start.timer mdcheck_continue.timer mdmonitor-oneshot.timer '
    'e2scrub_all.timer e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer fstrim.timer '
    # the guest's NIC has no carrier: waiting for the network would hold every boot for 2 minutes
    'systemd-networkd-wait-online.service; '
    'do ln -sf /dev/null "$1/etc/systemd/system/$u"; done',
]


def recipe() -> str:
    return "\n".join([SUITE, *PACKAGES, *INITRD_MODULES, DRIVER_UNIT, *HOOK_ESSENTIAL, *HOOK_CUSTOMIZE, "v2"])


def recipe_hash() -> str:
    return hashlib.sha256(recipe().encode()).hexdigest()[:16]


def mirror() -> str:
    """The first Debian mirror the machine's apt is configured with (deb822 or one-line format)."""
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        m = re.search(r"^URIs:\s*(\S+)", f.read_text(), re.M)
        if m and "security" not in m.group(1):
            return m.group(1)
    try:
        for line in Path("/etc/apt/sources.list").read_text().splitlines():
            f = line.split()
            if len(f) >= 3 and f[0] == "deb" and "security" not in f[1]:
                return f[1] if not f[1].startswith("[") else f[2]
    except OSError:
        pass
    return "http://deb.debian.org/debian"


def build(dest: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="blockprov-vm-", dir=dest.parent))
    try:
        rootdir = tmp / "root"
        argv = ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=directory",
                "--include=" + ",".join(PACKAGES)]
        argv += [f"--essential-hook={h}" for h in HOOK_ESSENTIAL]
        argv += [f"--customize-hook={h}" for h in HOOK_CUSTOMIZE]
        argv += [SUITE, str(rootdir), f"deb {mirror()} {SUITE} main"]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        # the unit is written from here, not through a shell hook: its ExecStartPre is shell code itself
        units = rootdir / "etc/systemd/system"
        (units / "blockprov-vmtest.service").write_text(DRIVER_UNIT)
        (units / "sysinit.target.wants").mkdir(exist_ok=True)
        os.symlink("/etc/systemd/system/blockprov-vmtest.service", units / "sysinit.target.wants/blockprov-vmtest.service")
        shutil.copy(max(rootdir.glob("boot/vmlinuz-*")), tmp / "vmlinuz")
        shutil.copy(max(rootdir.glob("boot/initrd.img-*")), tmp / "initrd.img")
        subprocess.run(["mkfs.ext4", "-q", "-L", "guestroot", "-d", str(rootdir), str(tmp / "root.img"), "3G"],
                       check=True)
        shutil.rmtree(rootdir)
        (tmp / "recipe.txt").write_text(recipe())
        os.rename(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure() -> Path:
    """The cached image directory for the current recipe, built if missing."""
    dest = CACHE / recipe_hash()
    if not (dest / "root.img").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        build(dest)
    return dest


if __name__ == "__main__":
    print(ensure())
    sys.exit(0)
