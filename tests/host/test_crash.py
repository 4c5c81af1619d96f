"""Crash matrix (sampled): SIGKILL of the whole apply process group from outside, at every step boundary
and at random moments inside steps, on two disks with a preserved partition holding data. One re-run
converges each time, the data and its filesystem's uuid are intact, fsck is clean, no temp file is left.
The full sweep is bench/crash_sweep.py (figures in docs/security.md)."""
import os
import shutil

import pytest

from tests.host.crash_matrix import Rig, one, points

pytestmark = pytest.mark.host


@pytest.mark.skipif(shutil.which("mkfs.btrfs") is None, reason="btrfs-progs not installed")
def test_sigkill_anywhere_then_one_rerun_converges(loops, tmp_path):
    rig = Rig(loops, tmp_path)
    n = rig.steps()
    assert n >= 7
    seed = int(os.environ.get("BLOCKPROV_CRASH_SEED", "18"))
    done = []
    for i, point in enumerate(points(n, inside=4, seed=seed)):
        root = tmp_path / f"r{i}"
        done.append(one(rig, root, point))
        rig.reset(root)
    assert sum(o.killed for o in done) >= n  # every boundary was really reached and killed


@pytest.mark.skipif(shutil.which("mkfs.btrfs") is None, reason="btrfs-progs not installed")
def test_a_run_killed_inside_mkfs_is_redone_by_the_next(loops, tmp_path):
    """Issue 18 item 11: a kill while mkfs.btrfs was writing left a superblock blkid recognises over a filesystem
    that cannot be mounted; the next run took it for done ("btrfs already present") and failed to mount it.
    Here mkfs.btrfs is wrapped: it runs, then the wrapper damages the trees behind the superblock (what an
    unfinished mkfs leaves) and waits to be killed. The journal shows the step started and not finished, so the
    next run wipes and makes the filesystem again, and mounts it."""
    import signal
    import subprocess
    import sys
    import time

    from tests.host.helpers import apply, blkid, mounted_at, write_config

    dev = loops.add("600M")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    done = tmp_path / "half-made"
    real = shutil.which("mkfs.btrfs")
    (bindir / "mkfs.btrfs").write_text(
        "#!/bin/sh\n"
        f'{real} "$@" || exit $?\n'
        'for dev; do :; done\n'  # the last argument is the device
        'dd if=/dev/zero of="$dev" bs=4096 seek=20 count=1000 conv=notrunc status=none\n'
        f"touch {done}\nsleep 120\n")
    (bindir / "mkfs.btrfs").chmod(0o755)
    cfg = write_config(tmp_path / "c.yaml", [
        {"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
        {"id": "p1", "type": "partition", "device": "d0", "size": "400M"},
        {"id": "f1", "type": "format", "volume": "p1", "fstype": "btrfs"},
        {"id": "m1", "type": "mount", "device": "f1", "path": "/srv"}])
    root = tmp_path / "root"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "blockprov", "storage", "apply", str(cfg), "--root", str(root)],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not done.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "mkfs never ran"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert blkid(dev + "p1").get("TYPE") == "btrfs"  # what the next run sees: a btrfs signature
    rc, rep = apply(cfg, root)
    assert rc == 0, rep
    assert {i["id"]: i["status"] for i in rep["items"]}["f1"] == "done"
    assert mounted_at(root / "srv") == dev + "p1"
    rc, rep = apply(cfg, root)
    assert rc == 0 and {i["status"] for i in rep["items"]} == {"ok"}


@pytest.mark.parametrize("direction", ["grow", "shrink"])
def test_a_run_killed_inside_a_resize_is_finished_by_the_next(loops, tmp_path, direction):
    """Killed while resize2fs runs: growing, the table entry is already larger and the filesystem is not;
    shrinking, the filesystem is already smaller and the table entry is not. Either way the journal shows the
    resize started and not finished: the next run finishes it, and the data is intact."""
    import hashlib
    import signal
    import subprocess
    import sys
    import time

    from tests.conformance.curtin.test_resize import fs_size, mounted
    from tests.host.helpers import apply, sfdisk, write_config

    dev = loops.add("300M")
    start, end = (100, 200) if direction == "grow" else (200, 100)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "size": f"{start}M"},
             {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4"}]
    rc, rep = apply(write_config(tmp_path / "c0.yaml", items, 2), tmp_path / "root")
    assert rc == 0, rep
    data = os.urandom(1 << 20)
    with mounted(dev + "p1") as mnt, open(f"{mnt}/data.bin", "wb") as f:
        f.write(data)
    for it in items:
        it["preserve"] = True
    items[1].update(size=f"{end}M", resize=True)
    cfg = write_config(tmp_path / "c.yaml", items, 2)
    bindir, marker = tmp_path / "bin", tmp_path / "in-resize2fs"
    bindir.mkdir()
    real = shutil.which("resize2fs")
    (bindir / "resize2fs").write_text(f'#!/bin/sh\n{real} "$@" || exit $?\ntouch {marker}\nsleep 120\n'
                                      if direction == "shrink" else f"#!/bin/sh\ntouch {marker}\nsleep 120\n")
    (bindir / "resize2fs").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "blockprov", "storage", "apply", str(cfg), "--root",
                             str(tmp_path / "root")], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "resize2fs never ran"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    half = sfdisk(dev)["partitions"][0]["size"] * 512, fs_size(dev + "p1")
    assert half == ((end << 20, start << 20) if direction == "grow" else (start << 20, end << 20))
    rc, rep = apply(cfg, tmp_path / "root")
    assert rc == 0 and {i["id"]: i["status"] for i in rep["items"]}["p1"] == "done", rep
    assert sfdisk(dev)["partitions"][0]["size"] * 512 == end << 20 and fs_size(dev + "p1") == end << 20
    with mounted(dev + "p1") as mnt, open(f"{mnt}/data.bin", "rb") as f:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
    rc, rep = apply(cfg, tmp_path / "root")
    assert rc == 0 and {i["status"] for i in rep["items"]} == {"ok"}, rep
