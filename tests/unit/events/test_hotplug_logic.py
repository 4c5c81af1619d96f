"""Pure parts of the hotplug path: spool records, coalescing, which mounts belong to a removed disk."""
from blockprov.events import spool
from blockprov.events.hotplug import last_per_device, mounted_from
from blockprov.paths import Paths


def ev(seq, action, dev, sub="block"):
    key = "INTERFACE" if sub == "net" else "DEVNAME"
    return spool.Event(f"{seq}.event", {"SEQNUM": str(seq), "ACTION": action, "SUBSYSTEM": sub, key: dev})


def test_parse_env0_and_lines():
    assert spool.parse(b"ACTION=add\0DEVNAME=/dev/vdb\0DEVLINKS=/dev/disk/by-id/a /dev/disk/by-id/b\0") == {
        "ACTION": "add", "DEVNAME": "/dev/vdb", "DEVLINKS": "/dev/disk/by-id/a /dev/disk/by-id/b"}
    assert spool.parse(b"A=1\nB=x=y\nbroken\n") == {"A": "1", "B": "x=y"}


def test_last_event_per_device_wins_in_kernel_order():
    evs = [ev(5, "remove", "/dev/vdb"), ev(3, "add", "/dev/vdb"), ev(4, "add", "/dev/vdc"), ev(6, "change", "/dev/vdc")]
    last = last_per_device(evs)
    assert {d: (e.action, e.seqnum) for d, e in last.items()} == {"/dev/vdb": ("remove", 5), "/dev/vdc": ("change", 6)}


def test_mounted_from_matches_the_disk_and_its_partitions_only():
    mounts = [("/dev/vdb", "/a"), ("/dev/vdb1", "/b"), ("/dev/vdb12", "/c"), ("/dev/vdbb1", "/x"),
              ("/dev/nvme0n1p2", "/n"), ("/dev/nvme0n10p1", "/y"), ("tmpfs", "/run")]
    assert mounted_from("/dev/vdb", mounts) == ["/a", "/b", "/c"]
    assert mounted_from("/dev/nvme0n1", mounts) == ["/n"]
    loops = [("/dev/loop1p1", "/mine"), ("/dev/loop12", "/other-disk"), ("/dev/loop12p1", "/other-part")]
    assert mounted_from("/dev/loop1", loops) == ["/mine"]  # loop12 is another disk, not a partition


def test_spool_roundtrip_in_kernel_order(tmp_path):
    paths = Paths(tmp_path)
    for seq in (12, 3, 7):
        spool.enqueue(paths, {"SEQNUM": str(seq), "ACTION": "add", "SUBSYSTEM": "block", "DEVNAME": f"/dev/x{seq}"})
    (spool.queue_dir(paths) / ".half.tmp").write_bytes(b"ACTION=add")  # a helper still writing: never read
    got = spool.take(paths)
    assert [e.seqnum for e in got] == [3, 7, 12] and got[0].device == "/dev/x3"
    spool.done(paths, got[:2])
    assert [e.seqnum for e in spool.take(paths)] == [12]


LINGER = """
import sys
from pathlib import Path
from blockprov.events import hotplug
from blockprov.paths import Paths
print(hotplug._linger(Paths(Path(sys.argv[1])), float(sys.argv[2])), flush=True)
"""


def _lingering(root, seconds="60"):
    import subprocess
    import sys
    import time

    (root / "run/blockprov/hotplug/queue").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", LINGER, str(root), seconds], stdout=subprocess.PIPE, text=True)
    marker = root / f"run/blockprov/hotplug/lingering.{proc.pid}"
    deadline = time.monotonic() + 20
    while not (marker.exists() and marker.read_text().strip()):
        assert time.monotonic() < deadline and proc.poll() is None, "no lingering marker"
        time.sleep(0.02)
    return proc, marker


def test_a_lingering_processor_wakes_on_sigusr1_and_ends_cleanly_on_sigterm(tmp_path):
    """A real process: the helper's SIGUSR1 wakes it for a queued event; systemctl stop's SIGTERM ends it,
    marker gone; the marker holds the start time the helper compares with /proc/PID/stat."""
    import signal

    from blockprov.events.hotplug import start_time

    proc, marker = _lingering(tmp_path)
    assert marker.read_text().strip() == start_time(proc.pid) == open(f"/proc/{proc.pid}/stat").read().split()[21]
    spool.enqueue(Paths(tmp_path), {"ACTION": "add", "SUBSYSTEM": "block", "DEVNAME": "/dev/vdz"})
    proc.send_signal(signal.SIGUSR1)
    assert proc.communicate(timeout=20)[0].strip() == "True" and proc.returncode == 0
    assert not marker.exists()
    for f in (tmp_path / "run/blockprov/hotplug/queue").iterdir():
        f.unlink()
    (tmp_path / "run/blockprov/hotplug/lingering.999999999").write_text("12\n")  # a killed processor's
    proc, marker = _lingering(tmp_path, "inf")  # hotplug.linger: .inf
    proc.send_signal(signal.SIGTERM)
    assert proc.communicate(timeout=20)[0].strip() == "False" and proc.returncode == 0
    assert list((tmp_path / "run/blockprov/hotplug").glob("lingering.*")) == []  # its own and the stale one


def test_journal_mounts_are_the_targets_of_mount_steps():
    from blockprov.events.hotplug import journal_mounts

    journal = {"version": 1, "items": {
        "m1": {"steps": [{"op": "mount", "device": "/dev/vdb1", "target": "/srv/a", "at": 1.0}]},
        "f1": {"steps": [{"op": "mkfs", "device": "/dev/vdb1", "fstype": "ext4"}]},
        "m2": {"steps": [{"op": "mount", "device": "/dev/vdc1", "target": "/mnt/t/srv/b"},
                         {"op": "mount", "device": "/dev/vdc1", "target": "/mnt/t/srv/b"}]},
        "fstab": {"steps": [{"op": "fstab", "lines": 2}]}, "odd": "not an entry"}}
    assert journal_mounts(journal) == {"/srv/a", "/mnt/t/srv/b"}
    assert journal_mounts({}) == set()
