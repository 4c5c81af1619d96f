"""Host side of the VM harness: one qemu guest (TCG, ``-nic none``), its disks, QMP and the 9p share.

The guest runs ``driver.py`` from the share; ``Guest.run`` writes a command
file and waits for its result file. Every wait has a deadline, the whole guest
has one too (a timer kills qemu), and ``stop`` always ends it (QMP ``quit``,
then SIGKILL).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


class GuestError(Exception):
    pass


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    elapsed: float

    def json(self):
        return json.loads(self.stdout)


@dataclass
class Disk:
    serial: str
    file: Path
    node: str
    plugged: bool = False
    port: str | None = None
    fmt: str = "qcow2"


class Guest:
    def __init__(self, workdir: Path, image: Path, *, mem_mb: int = 2048, cpus: int = 2, deadline: float = 1200):
        self.dir, self.image, self.mem, self.cpus, self.deadline = workdir, image, mem_mb, cpus, deadline
        self.ctl = workdir / "ctl"
        self.ctl.mkdir(parents=True)
        shutil.copy(HERE / "driver.py", self.ctl / "driver.py")
        self.serial_log = workdir / "serial.log"
        self.disks: dict[str, Disk] = {}
        self.cdrom: Path | None = None
        self.nic_mac: str | None = None
        self.proc: subprocess.Popen | None = None
        self.qmp = None
        self.boot_id: str | None = None
        self.n = 0
        # PCIe root ports for hotplug: every scenario's disks and NICs that stay plugged hold one (eleven by
        # scenario 8), unplugged ones give theirs back
        self.free_ports = [f"rp{i}" for i in range(1, 15)]
        self._killer: threading.Timer | None = None

    # -- set-up before start ----------------------------------------------------
    def new_disk(self, serial: str, size: str) -> Disk:
        """A fresh sparse qcow2 (never reused: udev would assemble leftover md members)."""
        f = self.dir / f"disk-{serial}-{self.n}.qcow2"
        self.n += 1
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(f), size], check=True)
        d = Disk(serial, f, f"n{self.n}")
        self.disks[serial] = d
        return d

    def file_disk(self, serial: str, image: Path) -> Disk:
        """An existing raw image (an ISO, say) as a read-only virtio disk with this serial."""
        self.n += 1
        d = Disk(serial, image, f"n{self.n}", fmt="raw")
        self.disks[serial] = d
        return d

    def boot_disk(self, serial: str, size: str) -> Disk:
        d = self.new_disk(serial, size)
        d.plugged = True
        return d

    def start(self) -> None:
        overlay = self.dir / "root.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(self.image / "root.img"),
                        str(overlay)], check=True)
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-machine", "q35", "-smp", str(self.cpus),
                "-m", str(self.mem), "-nodefaults", "-display", "none", "-nic", "none",
                "-serial", f"file:{self.serial_log}", "-qmp", f"unix:{self.dir / 'qmp.sock'},server=on,wait=off",
                "-kernel", str(self.image / "vmlinuz"), "-initrd", str(self.image / "initrd.img"),
                "-append", "root=/dev/vda rw console=ttyS0 quiet loglevel=4 systemd.show_status=0 "
                           "raid=noautodetect net.ifnames=0",
                "-drive", f"if=none,id=root,file={overlay},format=qcow2,cache=unsafe",
                "-device", "virtio-blk-pci,drive=root",
                "-virtfs", f"local,path={self.ctl},mount_tag=ctl,security_model=none,id=ctl"]
        for i, port in enumerate(self.free_ports, 1):
            argv += ["-device", f"pcie-root-port,id={port},bus=pcie.0,chassis={i},slot={i}"]
        for i, d in enumerate(self.disks.values(), len(self.free_ports) + 1):
            # each on its own root port, so a boot disk can be unplugged (replaced) too
            d.port = f"bp{i}"
            argv += ["-device", f"pcie-root-port,id={d.port},bus=pcie.0,chassis={i},slot={i}",
                     "-drive", f"if=none,id={d.node},file={d.file},format=qcow2,cache=unsafe",
                     "-device", f"virtio-blk-pci,drive={d.node},serial={d.serial},id=dev-{d.serial},bus={d.port}"]
        if self.cdrom:
            argv += ["-device", "virtio-scsi-pci,id=scsi",
                     "-drive", f"if=none,id=cd,file={self.cdrom},format=raw,media=cdrom,readonly=on",
                     "-device", "scsi-cd,drive=cd,bus=scsi.0"]
        if self.nic_mac:
            # A NIC connected to nothing: the guest has a real interface to configure, and no network.
            argv += ["-netdev", "hubport,id=n0,hubid=0", "-device", f"virtio-net-pci,netdev=n0,mac={self.nic_mac}"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "qemu.err", "w"))
        self._killer = threading.Timer(self.deadline, self._kill)
        self._killer.daemon = True
        self._killer.start()
        from qemu.qmp.legacy import QEMUMonitorProtocol

        sock = self.dir / "qmp.sock"
        self._until(lambda: sock.exists(), 10, "QMP socket")
        self.qmp = QEMUMonitorProtocol(str(sock))
        self.qmp.connect()
        self.wait_boot(180)

    # -- waiting and commands -----------------------------------------------------
    def _until(self, cond, timeout: float, what: str):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise GuestError(f"qemu exited ({self.proc.returncode}) while waiting for {what}:\n{self.tail()}")
            v = cond()
            if v:
                return v
            time.sleep(0.05)
        raise GuestError(f"timed out after {timeout:g} s waiting for {what}:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        try:
            lines = self.serial_log.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        err = (self.dir / "qemu.err").read_text(errors="replace") if (self.dir / "qemu.err").exists() else ""
        return "\n".join(lines[-n:]) + (f"\nqemu: {err}" if err.strip() else "")

    def wait_boot(self, timeout: float) -> dict:
        """Until the driver of a new boot has started; returns {boot_id, uptime}."""
        def fresh():
            try:
                b = json.loads((self.ctl / "boot.json").read_text())
            except (OSError, ValueError):
                return None
            return b if b["boot_id"] != self.boot_id else None

        b = self._until(fresh, timeout, "the guest to boot")
        self.boot_id = b["boot_id"]
        return b

    def submit(self, cmd: dict) -> str:
        self.n += 1
        name = f"{self.n:05d}.json"
        tmp = self.ctl / "cmd" / f".{name}"
        tmp.write_text(json.dumps(cmd))
        tmp.rename(self.ctl / "cmd" / name)
        return name

    def watch(self, cmd: dict, timeout: float = 30) -> str:
        """Submit a driver op that acknowledges its start (await-hotplug); return once it has started."""
        name = self.submit(cmd)
        self._until((self.ctl / "res" / (name[:-5] + ".started")).exists, timeout, f"command {name} to start")
        return name

    def result(self, name: str, timeout: float) -> Result:
        f = self.ctl / "res" / name
        self._until(f.exists, timeout, f"command {name}")
        return Result(**json.loads(f.read_text()))

    def run(self, argv: list[str], timeout: float = 120, input: str | None = None, check: bool = True) -> Result:
        r = self.result(self.submit({"argv": argv, "timeout": timeout, "input": input}), timeout + 30)
        if check and r.rc != 0:
            raise GuestError(f"{argv} exited {r.rc}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    def sh(self, script: str, timeout: float = 120, check: bool = True) -> Result:
        return self.run(["sh", "-ec", script], timeout, check=check)

    def write(self, path: str, text: str) -> None:
        self.run(["sh", "-ec", f'mkdir -p "$(dirname "{path}")" && cat > "{path}"'], input=text)

    def reboot(self, timeout: float = 180) -> dict:
        self.submit({"argv": ["systemctl", "reboot"], "timeout": 60})
        return self.wait_boot(timeout)

    # -- hotplug ------------------------------------------------------------------
    def plug(self, disk: Disk) -> None:
        port = self.free_ports.pop(0)
        self.qmp.cmd("blockdev-add", driver=disk.fmt, **{"node-name": disk.node}, **(
            {"read-only": True} if disk.fmt == "raw" else {}), file={"driver": "file", "filename": str(disk.file)})
        self.qmp.cmd("device_add", driver="virtio-blk-pci", id=f"dev-{disk.serial}", drive=disk.node,
                     serial=disk.serial, bus=port)
        disk.plugged, disk.port = True, port

    def plug_nic(self, mac: str, ident: str) -> None:
        """Hotplug a virtio NIC with this MAC, connected to nothing (a hub of its own)."""
        port = self.free_ports.pop(0)
        self.qmp.cmd("netdev_add", type="hubport", id=f"net-{ident}", hubid=int(port[2:]) + 100)
        self.qmp.cmd("device_add", driver="virtio-net-pci", id=f"nic-{ident}", netdev=f"net-{ident}", mac=mac,
                     bus=port)

    def plug_user_nic(self, mac: str, ident: str) -> None:
        """Hotplug a virtio NIC on QEMU's user-mode network: the guest reaches the host's 127.0.0.1 at
        10.0.2.2 (a management network for the event channel's VM scenario)."""
        port = self.free_ports.pop(0)
        self.qmp.cmd("netdev_add", type="user", id=f"net-{ident}")
        self.qmp.cmd("device_add", driver="virtio-net-pci", id=f"nic-{ident}", netdev=f"net-{ident}", mac=mac,
                     bus=port)

    def unplug(self, disk: Disk, timeout: float = 30) -> None:
        self.qmp.cmd("device_del", id=f"dev-{disk.serial}")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ev = self.qmp.pull_event(wait=max(0.1, end - time.monotonic()))
            if ev and ev.get("event") == "DEVICE_DELETED" and ev["data"].get("device") == f"dev-{disk.serial}":
                break
        else:
            raise GuestError(f"{disk.serial}: no DEVICE_DELETED within {timeout} s")
        if disk.port and disk.port.startswith("rp"):  # plugged by plug(): its node was added by blockdev-add
            self.qmp.cmd("blockdev-del", **{"node-name": disk.node})
        if disk.port:
            self.free_ports.append(disk.port)
        disk.plugged, disk.port = False, None
        self.disks.pop(disk.serial, None)

    # -- end ----------------------------------------------------------------------
    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()

    def stop(self) -> None:
        if self._killer:
            self._killer.cancel()
        if self.proc is None:
            return
        if self.proc.poll() is None and self.qmp is not None:
            try:
                self.qmp.cmd("quit")
            except Exception:  # noqa: BLE001 - the guest may already be gone; the kill below ends it
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.qmp is not None:
            try:
                self.qmp.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass
