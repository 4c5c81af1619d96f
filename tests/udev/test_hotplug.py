"""Block hotplug end to end: real udevd, the real rule and helper, a detached processor, real disks.

Each test boots a temp root from an OpenStack-style metadata service on
127.0.0.1, then attaches loop disks (``losetup`` + ``udevadm trigger --action=add``)
and checks what blkid, the mount table and the root's fstab show.
"""
import fcntl
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from blockprov.events.hotplug import start_time
from blockprov.storage.fstab import managed_paths
from tests.boot.helpers import bp, isolated_cfg, until
from tests.udev.metadata import Metadata

STORAGE_ONLY = "init_local_modules: []\ninit_modules: [storage]\nconfig_modules: []\nfinal_modules: []\n"


def volume(serial: str, path: str, size: str = "48M", label: str | None = None) -> str:
    label = label or serial[-12:]
    return (f"  - {{id: {serial}, type: disk, serial: {serial}, ptable: gpt}}\n"
            f"  - {{id: {serial}-p1, type: partition, device: {serial}, size: {size}, number: 1}}\n"
            f"  - {{id: {serial}-fs, type: format, volume: {serial}-p1, fstype: ext4, label: {label}}}\n"
            f"  - {{id: {serial}-mnt, type: mount, device: {serial}-fs, path: {path}}}\n")


def storagedata(*vols: str) -> str:
    return "version: 1\nconfig:\n" + "".join(vols) if vols else "version: 1\nconfig: []\n"


class Instance:
    """A booted temp root, its metadata service and the loop disks attached to it."""

    def __init__(self, tmp: Path, udevd, loops, md: Metadata, extra_cfg: str = ""):
        self.root, self.md, self.udevd, self.loops = tmp / "root", md, udevd, loops
        self.disks = tmp / "serial-disks"
        self.disks.mkdir()
        isolated_cfg(self.root, md.dscfg() + STORAGE_ONLY + extra_cfg, full=True)
        udevd.use(self.root, self.disks)

    def boot(self, *stages):
        for st in stages or (("boot",),):
            bp(self.root, *st, check=True)

    def attach(self, serial: str, size: str = "64M", trigger: bool = True) -> str:
        img = self.disks / serial
        subprocess.run(["truncate", "-s", size, str(img)], check=True)
        dev = self.loops.attach(img)
        if trigger:
            self.udevd.trigger(dev, "add")
        return dev

    def queued(self) -> list[str]:
        q = self.root / "run/blockprov/hotplug/queue"
        return sorted(p.name for p in q.glob("*.event")) if q.is_dir() else []

    def processing(self) -> bool:
        lock = self.root / "run/blockprov/lock/processor.lock"
        if not lock.exists():
            return False
        with open(lock, "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
        return False

    def idle(self, timeout: float = 60) -> None:
        """Wait until udev, the spool and the processor are all quiet (our own partition events included)."""
        deadline, quiet = time.monotonic() + timeout, None
        while True:
            subprocess.run(["udevadm", "settle", "--timeout=30"], check=False)
            if self.queued() or self.processing():
                quiet = None
            elif quiet is None:
                quiet = time.monotonic()
            elif time.monotonic() - quiet > 0.4:
                return
            assert time.monotonic() < deadline, f"hotplug still busy: {self.queued()}"
            time.sleep(0.05)

    def fstab(self) -> dict[str, str]:
        f = self.root / "etc/fstab"
        return managed_paths(f.read_text()) if f.exists() else {}

    def mounted(self, path: str) -> str | None:
        """The source mounted at root/path, per findmnt."""
        r = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(self.root) + path], capture_output=True, text=True)
        return r.stdout.strip() or None

    def reports(self, device: str | None = None) -> list[dict]:
        p = self.root / "var/log/blockprov/events.jsonl"
        evs = [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []
        return [e for e in evs if "/hotplug/" in e["name"] and (device is None or e.get("device") == device)]

    def journal(self) -> dict:
        return json.loads((self.root / "var/lib/blockprov/storage/journal.json").read_text())["items"]


def blkid(dev: str, tag: str) -> str:
    return subprocess.run(["blkid", "-p", "-o", "value", "-s", tag, dev], capture_output=True, text=True).stdout.strip()


@pytest.fixture
def md():
    m = Metadata()
    yield m
    m.close()


def test_attach_partitions_formats_mounts_then_readd_is_noop_and_detach_keeps_entry(tmp_path, udev, loops, md):
    md.set("storagedata", storagedata(volume("hp-vol-1", "/srv/data", label="hpdata")))
    inst = Instance(tmp_path, udev, loops, md)
    inst.boot()
    assert inst.fstab() == {} and inst.mounted("/srv/data") is None  # the disk is not attached yet: waiting

    dev = inst.attach("hp-vol-1")
    inst.idle()
    part = dev + "p1"
    assert blkid(part, "TYPE") == "ext4" and blkid(part, "LABEL") == "hpdata"
    assert blkid(dev, "PTTYPE") == "gpt"
    assert inst.mounted("/srv/data") == part
    uuid = blkid(part, "UUID")
    assert inst.fstab() == {"/srv/data": f"UUID={uuid}\t/srv/data\text4\tdefaults\t0\t2"}
    add = [e for e in inst.reports(dev) if e["action"] == "add"]
    assert add and add[-1]["result"] == "SUCCESS" and add[-1]["name"] == "/blockprov/hp-1/hotplug/block"
    assert "storage applied" in add[-1]["description"]

    fstab_before = (inst.root / "etc/fstab").read_bytes()
    journal_before = inst.journal()
    udev.trigger(dev, "add")  # the same disk again
    inst.idle()
    assert blkid(part, "UUID") == uuid and inst.mounted("/srv/data") == part
    assert (inst.root / "etc/fstab").read_bytes() == fstab_before
    assert inst.journal() == journal_before  # no step ran

    udev.trigger(dev, "change")  # nothing changed on the disk: not even probed
    inst.idle()
    assert inst.reports(dev)[-1]["description"].endswith("unchanged since; nothing to do")
    assert inst.journal() == journal_before

    udev.trigger(dev, "remove")
    inst.idle()
    assert inst.mounted("/srv/data") is None
    assert inst.fstab() == {"/srv/data": f"UUID={uuid}\t/srv/data\text4\tnofail\t0\t2"}
    removed = [e for e in inst.reports(dev) if e["action"] == "remove"]
    assert removed and "unmounted /srv/data" in removed[-1]["description"]
    subprocess.run(["losetup", "-d", dev], check=True)  # the disk is really gone now: its items wait
    res = bp(inst.root, "apply", "storage", "--no-refresh")
    assert res.returncode == 3, res.stdout + res.stderr
    assert inst.fstab()["/srv/data"].endswith("nofail\t0\t2")


def test_metadata_that_lags_the_attach_is_retried(tmp_path, udev, loops, md):
    md.set("storagedata", storagedata())
    inst = Instance(tmp_path, udev, loops, md, "hotplug: {metadata_timeout: 20}\n")
    inst.boot()
    md.set("storagedata", storagedata(volume("hp-late", "/late")), after=2.0)
    t = time.monotonic()
    dev = inst.attach("hp-late")
    inst.idle()
    assert inst.mounted("/late") == dev + "p1"
    assert time.monotonic() - t >= 2.0
    assert len([r for r in md.requests if r.endswith("/storagedata")]) >= 3  # re-read until it named the disk


def test_storm_of_sixteen_disks_with_duplicate_events(tmp_path, udev, loops, md):
    serials = [f"hp-storm-{i:02d}" for i in range(16)]
    md.set("storagedata", storagedata(*(volume(s, f"/storm/{s}", size="24M") for s in serials)))
    inst = Instance(tmp_path, udev, loops, md)
    inst.boot()
    devs = [inst.attach(s, size="32M", trigger=False) for s in serials]
    for _ in range(2):
        r = subprocess.run(["udevadm", "trigger", "--action=add", *devs], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    inst.idle(timeout=180)
    table = inst.fstab()
    assert sorted(table) == sorted(f"/storm/{s}" for s in serials)
    journal = inst.journal()
    for s, dev in zip(serials, devs):
        assert inst.mounted(f"/storm/{s}") == dev + "p1"
        assert table[f"/storm/{s}"].startswith(f"UUID={blkid(dev + 'p1', 'UUID')}\t")
        assert [st["op"] for st in journal[f"{s}-fs"]["steps"]].count("mkfs") == 1  # formatted exactly once
        assert [st["op"] for st in journal[s]["steps"]].count("ptable") == 1
        adds = [e for e in inst.reports(dev) if e["action"] == "add"]
        assert len(adds) == 2  # both triggered adds were reported: none lost, none doubled
    text = (inst.root / "etc/fstab").read_text()
    assert len(text.splitlines()) == len(set(text.splitlines()))


def test_events_during_boot_wait_for_the_final_stage(tmp_path, udev, loops, md):
    md.set("storagedata", storagedata(volume("hp-early", "/early")))
    inst = Instance(tmp_path, udev, loops, md)
    inst.boot(("init",), ("modules", "--mode", "config"))
    dev = inst.attach("hp-early")
    subprocess.run(["udevadm", "settle"], check=True)
    time.sleep(0.5)
    assert inst.queued() and inst.mounted("/early") is None  # kept, not dropped, not applied mid-boot
    inst.boot(("modules", "--mode", "final"))
    inst.idle()
    assert inst.mounted("/early") == dev + "p1"
    assert not inst.queued()


def test_disks_present_when_the_metadata_was_read_do_not_wait_for_it(tmp_path, udev, loops, md):
    """Coldplug events queued before the boot read the metadata are judged by that metadata, without a wait."""
    md.set("storagedata", storagedata(volume("hp-named", "/named")))
    inst = Instance(tmp_path, udev, loops, md, "hotplug: {metadata_timeout: 20}\n")
    other = inst.attach("hp-not-named")  # queued before the boot: no processor runs before the final stage
    named = inst.attach("hp-named")
    subprocess.run(["udevadm", "settle"], check=True)
    assert len(inst.queued()) >= 2
    t = time.monotonic()
    inst.boot()
    inst.idle()
    assert time.monotonic() - t < 15, "no metadata-lag wait for disks the boot's metadata already saw"
    assert inst.mounted("/named") == named + "p1"
    assert blkid(other, "PTTYPE") == "" and blkid(other, "TYPE") == ""
    left = [e for e in inst.reports(other) if e["action"] == "add"]
    assert left and "does not name this disk; left alone" in left[-1]["description"]
    storagedata_reads = len([r for r in md.requests if r.endswith("/storagedata")])
    assert storagedata_reads <= 2, md.requests  # the boot's read(s), no retry loop


def test_a_refresh_made_elsewhere_reaches_a_running_processor(tmp_path, udev, loops, md):
    """The processor re-reads the stored instance data per batch: `blockprov refresh-metadata` run meanwhile counts."""
    md.set("storagedata", storagedata())
    inst = Instance(tmp_path, udev, loops, md, "hotplug: {metadata_timeout: 6}\n")
    inst.boot()
    inst.attach("hp-stray")  # never named: the processor re-reads the metadata for 6 s
    time.sleep(1.0)
    assert inst.processing()
    md.set("storagedata", storagedata(volume("hp-second", "/second")))
    bp(inst.root, "refresh-metadata", check=True)  # stored now; the processor's own refreshes see no change
    dev = inst.attach("hp-second")
    inst.idle()
    assert inst.mounted("/second") == dev + "p1"
    assert [e for e in inst.reports(dev) if e["action"] == "add"][-1]["result"] == "SUCCESS"


def _processors(root: Path) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if p.name.isdigit() and b"process" in argv and str(root).encode() in argv:
            out.append(int(p.name))
    return out


def test_an_idle_processor_lingers_for_the_next_event_and_blocks_nobody(tmp_path, udev, loops, md):
    md.set("storagedata", storagedata(volume("hp-l1", "/l1"), volume("hp-l2", "/l2"), volume("hp-l3", "/l3")))
    inst = Instance(tmp_path, udev, loops, md, "hotplug: {linger: 8}\n")
    inst.boot()
    d1 = inst.attach("hp-l1")
    inst.idle()
    assert inst.mounted("/l1") == d1 + "p1"
    markers = list((inst.root / "run/blockprov/hotplug").glob("lingering.*"))
    assert len(markers) == 1 and _processors(inst.root) == [int(markers[0].name.split(".")[1])]
    pid = _processors(inst.root)[0]
    res = bp(inst.root, "apply", "storage", "--no-refresh", timeout=30)  # the boot lock is free meanwhile
    assert res.returncode == 3 and "ran storage" in res.stdout, res.stdout + res.stderr  # 3: l2, l3 wait
    d2 = inst.attach("hp-l2")
    inst.idle()
    assert inst.mounted("/l2") == d2 + "p1"
    assert _processors(inst.root) == [pid]  # the same process took the event: the helper started none
    until(lambda: not _processors(inst.root), 20, "the processor to end after 8 idle seconds")
    assert not list((inst.root / "run/blockprov/hotplug").glob("lingering.*"))
    (inst.root / "run/blockprov/hotplug/lingering.999999999").touch()  # a processor killed mid-linger
    d3 = inst.attach("hp-l3")
    inst.idle()
    assert inst.mounted("/l3") == d3 + "p1"


def test_the_helper_wakes_a_lingering_processor_and_never_a_stranger(tmp_path, udev, loops, md):
    """The helper signals the pid a lingering marker names only when that process's start time matches."""
    md.set("storagedata", storagedata(volume("hp-w1", "/w1"), volume("hp-w2", "/w2")))
    inst = Instance(tmp_path, udev, loops, md, "hotplug: {linger: 0}\n")
    inst.boot()
    hot = inst.root / "run/blockprov/hotplug"
    hot.mkdir(parents=True, exist_ok=True)
    # Stand-ins for a lingering processor: SIGUSR1 ends a sleep, so its exit status shows the signal.
    woken, stranger = subprocess.Popen(["sleep", "120"]), subprocess.Popen(["sleep", "120"])
    try:
        (hot / f"lingering.{woken.pid}").write_text(start_time(woken.pid) + "\n")
        d1 = inst.attach("hp-w1")
        assert woken.wait(timeout=30) == -signal.SIGUSR1
        (hot / f"lingering.{woken.pid}").unlink()
        bp(inst.root, "hotplug", "process", "--linger", "0", check=True)  # what the woken processor would do
        inst.idle()
        assert inst.mounted("/w1") == d1 + "p1"
        # A marker left by a killed processor whose pid now belongs to another process: not signalled;
        # the helper starts a processor instead.
        (hot / f"lingering.{stranger.pid}").write_text("1\n")
        d2 = inst.attach("hp-w2")
        inst.idle()
        assert inst.mounted("/w2") == d2 + "p1"
        assert stranger.poll() is None
    finally:
        for p in (woken, stranger):
            p.kill()
            p.wait()


def test_a_disk_pulled_before_its_fstab_line_was_written_is_still_unmounted(tmp_path, udev, loops, md):
    """The VM tier's burst: a disk unplugged while the run that mounted it was still probing got no fstab
    line; its mount is blockprov's all the same (the journal shows it), so the remove unmounts it. A mount
    of the same partition that blockprov did not make stays."""
    md.set("storagedata", storagedata(volume("hp-gone", "/gone")))
    inst = Instance(tmp_path, udev, loops, md)
    inst.boot()
    dev = inst.attach("hp-gone")
    inst.idle()
    assert inst.mounted("/gone") == dev + "p1"
    fstab = inst.root / "etc/fstab"
    fstab.write_text("")  # as if the run's fstab step never happened
    other = tmp_path / "someone-elses"
    other.mkdir()
    subprocess.run(["mount", dev + "p1", str(other)], check=True)
    try:
        udev.trigger(dev, "remove")
        inst.idle()
        assert inst.mounted("/gone") is None
        assert any("unmounted" in e["description"] and "/gone" in e["description"]
                   for e in inst.reports() if e.get("action") == "remove"), inst.reports()
        assert subprocess.run(["findmnt", str(other)], capture_output=True).returncode == 0
        assert fstab.read_text() == ""
    finally:
        subprocess.run(["umount", str(other)], check=False)


def test_a_failing_apply_is_not_retried_on_its_own_change_events(tmp_path, udev, loops, md):
    """mkfs.xfs refuses a 40 MiB partition; the wipefs before it and mkfs itself make udev send change events.
    Each must not start the same failing apply again (issue 18: 450 runs in 20 s): the failure is remembered
    against the disk's unchanged state and config and backed off, and it stays visible in the reports."""
    bad = ("  - {id: bad, type: disk, serial: hp-bad-1, ptable: gpt}\n"
           "  - {id: bad-p1, type: partition, device: bad, size: 40M, number: 1}\n"
           "  - {id: bad-fs, type: format, volume: bad-p1, fstype: xfs}\n")
    md.set("storagedata", storagedata(bad))
    inst = Instance(tmp_path, udev, loops, md, "hotplug: {linger: 30}\n")
    inst.boot()
    dev = inst.attach("hp-bad-1")
    time.sleep(8)  # long enough for dozens of loops at the old rate
    inst.idle(timeout=60)
    log = (inst.root / "var/log/blockprov/output.log").read_text()
    runs = log.count("storage (")
    assert 1 <= runs <= 4, log[-3000:]
    assert inst.queued() == []
    reps = inst.reports(dev) + inst.reports(dev + "p1")
    assert any(r["result"] == "FAIL" and "xfs" in r["description"] for r in reps), reps
    failures = json.loads((inst.root / "run/blockprov/hotplug/failures.json").read_text())["disks"]
    assert failures[dev]["attempts"] >= 1 and "bad-fs" in failures[dev]["error"]
    # a changed config is tried at once
    md.set("storagedata", storagedata(bad.replace("fstype: xfs", "fstype: ext4")))
    bp(inst.root, "refresh-metadata", check=True)
    udev.trigger(dev, "change")
    inst.idle(timeout=60)
    assert until(lambda: blkid(dev + "p1", "TYPE") == "ext4", 30, "the ext4 made after the config changed")


def test_sigkill_of_the_hotplug_processor_at_every_step_converges(tmp_path, udev, loops, md):
    """The processor runs the same storage apply, journal included: killed (its whole process group) at each
    device-step boundary of an attach, the next processor run converges: one table, one filesystem made once,
    mounted, one fstab line, nothing left in the queue."""
    import os
    import sys

    serials = [f"hp-kill-{k}" for k in range(1, 6)]
    md.set("storagedata", storagedata(*(volume(s, f"/srv/{s}") for s in serials)))
    inst = Instance(tmp_path, udev, loops, md)
    inst.boot()
    marker = inst.root / "var/lib/blockprov/hotplug/disabled-block"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")  # udev's helper queues nothing: this test runs the processor itself
    env = dict(os.environ)
    for k, serial in enumerate(serials, 1):
        dev = inst.attach(serial)
        udev.trigger(dev, "add")  # the udev database gets the disk's serial; no event is queued
        trace = tmp_path / f"trace{k}"
        argv = [sys.executable, "-m", "blockprov", "hotplug", "--root", str(inst.root), "handle", "--subsystem",
                "block", "--action", "add", "--device", dev]
        proc = subprocess.Popen(argv, env={**env, "BLOCKPROV_STEP_TRACE": str(trace), "BLOCKPROV_STEP_PAUSE": str(k)},
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until(lambda: trace.exists() and f"begin {k} " in trace.read_text() or proc.poll() is not None, 60,
              f"step {k} to begin")
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        part = dev + "p1"
        assert blkid(part, "TYPE") == "ext4" and inst.mounted(f"/srv/{serial}") == part, (k, res.stdout)
        assert list(inst.fstab()).count(f"/srv/{serial}") == 1
        steps = inst.journal()[f"{serial}-fs"]["steps"]
        assert [s["op"] for s in steps].count("mkfs") == 1, steps  # the kill came before it ran: made once
        assert inst.queued() == [] and (killed or k > 4)


def test_a_volume_grown_by_the_cloud_grows_on_its_change_event_alone(tmp_path, udev, loops, md):
    """issue 23: the disk grows (truncate + losetup -c, as a cloud resizes a volume), a change uevent comes,
    and with no user action the partition and its (mounted) xfs grow; the data stays."""
    import hashlib
    import os

    vol = volume("hp-grow", "/srv/grow", size="100%", label="growing").replace("fstype: ext4", "fstype: xfs")
    md.set("storagedata", storagedata(vol))
    inst = Instance(tmp_path, udev, loops, md)
    inst.boot()
    dev = inst.attach("hp-grow", size="400M")
    inst.idle()
    mnt = inst.root / "srv/grow"
    assert inst.mounted("/srv/grow") == dev + "p1"
    data = os.urandom(4 << 20)
    (mnt / "file").write_bytes(data)
    before = os.statvfs(mnt).f_blocks * os.statvfs(mnt).f_frsize

    subprocess.run(["truncate", "-s", "800M", str(inst.disks / "hp-grow")], check=True)
    subprocess.run(["losetup", "-c", dev], check=True)
    udev.trigger(dev, "change")  # what the kernel sends on a capacity change, through the real rules
    inst.idle()
    after = os.statvfs(mnt).f_blocks * os.statvfs(mnt).f_frsize
    assert after > before + 300 * (1 << 20), (before, after, inst.reports(dev)[-1])
    assert hashlib.sha256((mnt / "file").read_bytes()).digest() == hashlib.sha256(data).digest()
    last = [e for e in inst.reports(dev) if e["action"] == "change"][-1]
    assert last["result"] == "SUCCESS" and "storage applied" in last["description"], last
