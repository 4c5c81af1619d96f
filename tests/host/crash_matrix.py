"""SIGKILL from outside at step boundaries and inside steps; one re-run must converge with nothing lost.

The apply process runs in its own session (as systemd runs a unit in its own cgroup) and the whole group is
killed, mkfs and sfdisk included. Step boundaries come from ``BLOCKPROV_STEP_TRACE`` (one line as each device
step begins and ends; at the chosen boundary the process holds still, ``BLOCKPROV_STEP_PAUSE``, so the kill
lands exactly there); "inside" kills wait a random few milliseconds after a step began.

Used by tests/host/test_crash.py (a sample in CI) and bench/crash_sweep.py (the full sweep).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA = b"precious bytes that no crash may touch\n" * 1000


@dataclass
class Point:
    kind: str  # "begin" (at a step boundary: as step N begins) or "inside" (N began, then a delay)
    step: int
    delay: float = 0.0

    def __str__(self) -> str:
        return f"{self.kind} step {self.step}" + (f" +{self.delay * 1000:.0f} ms" if self.kind == "inside" else "")


def sh(*argv, check=True, **kw):
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, **kw)


class Rig:
    """Disk A: a preserved GPT partition with data and a new one added; disk B: new table, ext4 + btrfs."""

    def __init__(self, loops, tmp: Path):
        self.tmp = tmp
        self.a = loops.add("1G", name="crash-a.img")
        self.b = loops.add("1G", name="crash-b.img")
        sh("sfdisk", "--quiet", self.a, input="label: gpt\nstart=2048, size=204800\n")
        sh("partx", "--add", self.a)
        sh("mkfs.ext4", "-q", "-L", "keep", self.a + "p1")
        m = tmp / "seed-mnt"
        m.mkdir(exist_ok=True)
        sh("mount", self.a + "p1", str(m))
        (m / "data.bin").write_bytes(DATA)
        sh("umount", str(m))
        self.keep_uuid = sh("blkid", "-p", "-o", "value", "-s", "UUID", self.a + "p1").stdout.strip()
        self.cfg = tmp / "crash.yaml"
        self.cfg.write_text(yaml.safe_dump({"storage": {"version": 1, "config": [
            {"id": "a", "type": "disk", "path": self.a, "ptable": "gpt", "preserve": True},
            {"id": "a1", "type": "partition", "device": "a", "number": 1, "size": "100M", "preserve": True},
            {"id": "a2", "type": "partition", "device": "a", "number": 2, "size": "300M"},
            {"id": "fa1", "type": "format", "volume": "a1", "fstype": "ext4", "preserve": True},
            {"id": "fa2", "type": "format", "volume": "a2", "fstype": "ext4"},
            {"id": "ma1", "type": "mount", "device": "fa1", "path": "/data"},
            {"id": "ma2", "type": "mount", "device": "fa2", "path": "/data/new"},
            {"id": "b", "type": "disk", "path": self.b, "ptable": "gpt"},
            {"id": "b1", "type": "partition", "device": "b", "size": "300M"},
            {"id": "b2", "type": "partition", "device": "b", "size": "400M"},
            {"id": "fb1", "type": "format", "volume": "b1", "fstype": "ext4"},
            {"id": "fb2", "type": "format", "volume": "b2", "fstype": "btrfs"},
            {"id": "mb1", "type": "mount", "device": "fb1", "path": "/srv"},
            {"id": "mb2", "type": "mount", "device": "fb2", "path": "/srv/b"}]}}, sort_keys=False))

    def apply(self, root: Path, trace: Path | None = None, pause: int | None = None) -> subprocess.Popen:
        env = {**os.environ, **({"BLOCKPROV_STEP_TRACE": str(trace)} if trace else {}),
               **({"BLOCKPROV_STEP_PAUSE": str(pause)} if pause else {})}
        return subprocess.Popen([sys.executable, "-m", "blockprov", "storage", "apply", str(self.cfg), "--root",
                                 str(root), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)

    def steps(self) -> int:
        res = sh(sys.executable, "-m", "blockprov", "storage", "apply", str(self.cfg), "--root",
                 str(self.tmp / "dry"), "--dry-run", "--json", check=False)
        return len([s for s in json.loads(res.stdout)["steps"] if s["op"] != "fstab"])

    def reset(self, root: Path) -> None:
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            point = line.split()[4]
            if point.startswith(str(root)):
                sh("umount", point, check=False)
        sh("wipefs", "-a", "-q", self.a + "p2", check=False)
        sh("partx", "-d", "--nr", "2", self.a, check=False)
        sh("sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", "--delete", self.a, "2", check=False)
        for p in (self.b + "p1", self.b + "p2"):
            sh("wipefs", "-a", "-q", p, check=False)
        sh("partx", "-d", self.b, check=False)
        sh("wipefs", "-a", "-q", self.b, check=False)


def kill_at(proc: subprocess.Popen, trace: Path, point: Point, deadline: float = 120) -> bool:
    """SIGKILL the apply's whole process group at ``point``; False when the run ended first."""
    end = time.monotonic() + deadline
    want = f"begin {point.step} "
    while time.monotonic() < end:
        done = proc.poll() is not None
        try:
            text = trace.read_text()
        except FileNotFoundError:
            text = ""
        if done and want not in text:
            return False
        if want in text:
            if point.kind == "inside":
                time.sleep(point.delay)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # an inner point after the run's end
                proc.wait()
                return False
            proc.wait()
            # what it had started (mkfs, sfdisk) dies with it; wait until no member of the group is left
            for _ in range(200):
                if sh("pgrep", "-g", str(proc.pid), check=False).returncode != 0:
                    break
                time.sleep(0.02)
            return True
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"{point}: never reached")


def fsck_clean(dev: str, fstype: str) -> bool:
    if fstype == "ext4":
        return sh("e2fsck", "-fn", dev, check=False).returncode == 0
    return sh("btrfs", "check", "--readonly", dev, check=False).returncode == 0


@dataclass
class Outcome:
    point: Point
    killed: bool
    reruns: int  # runs after the kill until everything was ok (1 = one re-run converged)
    seconds: float


def one(rig: Rig, root: Path, point: Point) -> Outcome:
    trace = root.parent / f"{root.name}.trace"
    t0 = time.monotonic()
    # at a boundary the process holds still (BLOCKPROV_STEP_PAUSE) until it is killed; inside a step it runs on
    killed = kill_at(rig.apply(root, trace, point.step if point.kind == "begin" else None), trace, point)
    p = rig.apply(root)
    out, err = p.communicate(timeout=300)
    rep = json.loads(out) if out.strip() else {}
    assert p.returncode == 0, (str(point), err[-2000:], rep)
    assert {i["status"] for i in rep["items"]} <= {"ok", "done"}, (str(point), rep)
    p = rig.apply(root)
    out, err = p.communicate(timeout=300)
    again = json.loads(out)
    assert p.returncode == 0 and {i["status"] for i in again["items"]} == {"ok"}, (str(point), again)
    assert (root / "data/data.bin").read_bytes() == DATA, str(point)
    blk = sh("blkid", "-p", "-o", "value", "-s", "UUID", rig.a + "p1").stdout.strip()
    assert blk == rig.keep_uuid, str(point)
    fstab = (root / "etc/fstab").read_text()
    for path in ("/data", "/data/new", "/srv", "/srv/b"):
        assert fstab.count(f"\t{path}\t") == 1, (str(point), fstab)
    residue = [str(x) for x in root.rglob("*.blockprov-tmp")]
    assert not residue, (str(point), residue)
    seconds = time.monotonic() - t0
    for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
        mp = line.split()[4]
        if mp.startswith(str(root)):
            sh("umount", mp)
    for dev, fstype in ((rig.a + "p1", "ext4"), (rig.a + "p2", "ext4"), (rig.b + "p1", "ext4"),
                        (rig.b + "p2", "btrfs")):
        assert fsck_clean(dev, fstype), (str(point), dev)
    return Outcome(point, killed, 1, seconds)


def points(n_steps: int, inside: int, seed: int) -> list[Point]:
    rnd = random.Random(seed)
    out = [Point("begin", k) for k in range(1, n_steps + 1)]
    out += [Point("inside", rnd.randint(1, n_steps), rnd.uniform(0.0, 0.25)) for _ in range(inside)]
    return out
