"""The hotplug processor: drains the spool, one processor at a time, after boot has finished.

Per batch: events are coalesced per device (the last action wins, so an
add+remove burst is a remove); removes unmount what blockprov mounted from
the device and keep its fstab entry with ``nofail``; adds and changes apply
the storage config once for the whole batch. A disk that was added but that
the config does not name yet (clouds update metadata after the attach) makes
the processor re-read the metadata with exponential backoff, for at most
``hotplug.metadata_timeout`` seconds, applying again after each change and
taking in events that arrive meanwhile. Every event gets a reporting event on
``/blockprov/<instance-id>/hotplug/<subsystem>``.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from blockprov.events import spool
from blockprov.paths import Paths, write_if_changed
from blockprov.boot.reporting import FAIL, SUCCESS, WARN

DEFAULT_METADATA_TIMEOUT = 30.0


@dataclass
class Handled:
    event: spool.Event
    result: str = SUCCESS
    description: str = ""


@dataclass
class Batch:
    events: list[spool.Event]
    handled: dict[int, Handled] = field(default_factory=dict)  # id(event) -> outcome

    def note(self, ev: spool.Event, result: str, text: str) -> None:
        h = self.handled.setdefault(id(ev), Handled(ev))
        order = {SUCCESS: 0, WARN: 1, FAIL: 2}
        if order[result] >= order[h.result]:
            h.result = result
        h.description = f"{h.description}; {text}" if h.description else text


def boot_finished(paths: Paths) -> bool:
    """run/ is emptied at boot, so result.json there means this boot's final stage is done."""
    return paths.result.exists()


def metadata_read_at(paths: Paths) -> float:
    """When the instance data in hand was last read (the boot's datasource read or a refresh), wall clock.

    A disk queued before that moment was there when the metadata was read, so
    the metadata-lag wait does not apply to it (coldplug events at boot).
    """
    try:
        return paths.instance_data.stat().st_mtime
    except OSError:
        return 0.0


def last_per_device(events: list[spool.Event]) -> dict[str, spool.Event]:
    """Device -> its last event (kernel order): the state the batch must reach (pure)."""
    out: dict[str, spool.Event] = {}
    for e in sorted(events, key=lambda e: e.seqnum):
        out.pop(e.device, None)
        out[e.device] = e
    return out


def mounted_from(devname: str, mounts: list[tuple[str, str]]) -> list[str]:
    """Mount points whose source is ``devname`` or one of its partitions (pure; kernel naming as part_path)."""
    from blockprov.storage.inventory import part_path

    part = re.compile(re.escape(part_path(devname, 0)[:-1]) + r"\d+$")
    return [point for src, point in mounts if src == devname or part.match(src)]


def _mounts() -> list[tuple[str, str]]:
    """(source, mount point) of every mount."""
    from blockprov.storage.probe import mountinfo

    return [(src, point) for point, src in mountinfo()[1].items()]


def journal_mounts(journal: dict) -> set[str]:
    """Mount points blockprov's storage journal shows it mounted (pure)."""
    return {st["target"] for entry in (journal.get("items") or {}).values() if isinstance(entry, dict)
            for st in entry.get("steps") or [] if st.get("op") == "mount" and st.get("target")}


def release(paths: Paths, devname: str) -> list[str]:
    """Unmount (lazily if busy) blockprov's mounts from a removed device; its fstab lines get ``nofail``.

    blockprov's mounts: the managed fstab block's, and those its journal shows it made (a disk pulled
    while the run that mounted it was still probing gets no fstab line, but its mount is still ours)."""
    import json

    from blockprov.storage import fstab
    from blockprov.storage.plan import join_target
    from blockprov.run import run

    try:
        text = paths.fstab.read_text()
    except OSError:
        text = ""
    managed = {join_target(str(paths.tgt), p): p for p in fstab.managed_paths(text)}
    try:
        made = journal_mounts(json.loads(paths.storage_journal.read_text()))
    except (OSError, ValueError, AttributeError):
        made = set()
    done, held = [], set()
    for point in mounted_from(devname, _mounts()):
        if point not in managed and point not in made:
            continue
        if run(["umount", point], check=False, timeout=30).returncode != 0:
            run(["umount", "-l", point], check=False, timeout=30)
        done.append(managed.get(point, point))
        if point in managed:
            held.add(managed[point])
    if held:
        new = fstab.with_option(text, held, "nofail")
        if new != text:
            write_if_changed(paths.fstab, new)
    return done


def disk_of(devname: str) -> str:
    """The whole disk of a partition's node (sysfs), else the name itself."""
    name = os.path.basename(devname)
    p = f"/sys/class/block/{name}"
    if os.path.exists(f"{p}/partition"):
        return "/dev/" + os.path.basename(os.path.dirname(os.path.realpath(p)))
    return devname


def disk_state(devname: str) -> list:
    """What sysfs, the udev database and the mount table say of a disk and its partitions (no I/O on it)."""
    from blockprov.storage.probe import udev_view

    name = os.path.basename(devname)
    base = f"/sys/class/block/{name}"
    try:
        kids = sorted(k for k in os.listdir(base) if k.startswith(name) and os.path.exists(f"{base}/{k}/partition"))
    except OSError:
        return []
    out = []
    for n, sysdir in [(name, base)] + [(k, f"{base}/{k}") for k in kids]:
        try:
            with open(f"{sysdir}/size") as f:
                size = f.read().strip()
            props = udev_view(n).props
        except OSError:
            return []
        out.append([n, size] + [props.get(k, "") for k in ("ID_SERIAL", "ID_PART_TABLE_UUID", "ID_FS_TYPE",
                                                            "ID_FS_UUID")])
    out.append(sorted(mounted_from(devname, _mounts())))
    return out


def _disks_under(file: Path, digest: str) -> dict:
    """The ``disks`` a memo file keeps for this storage digest ({} for another digest or an unreadable file)."""
    import json

    try:
        data = json.loads(file.read_text())
        disks = data.get("disks", {}) if data.get("digest") == digest else {}
    except (OSError, ValueError, AttributeError):
        return {}
    return disks if isinstance(disks, dict) else {}


@dataclass
class Settled:
    """Disks whose storage was fully applied, with their state then (``run/blockprov/hotplug/settled.json``).

    A change event on such a disk whose state is unchanged, under an unchanged
    storage config, has nothing to do: no probe, no plan, no module run.
    """
    digest: str
    disks: dict[str, list]

    @staticmethod
    def file(paths: Paths):
        return paths.run / "hotplug" / "settled.json"

    @classmethod
    def load(cls, paths: Paths, digest: str) -> "Settled":
        return cls(digest, _disks_under(cls.file(paths), digest))

    def unchanged(self, e: spool.Event) -> bool:
        if e.action != "change" and (e.action, e.props.get("DEVTYPE")) != ("add", "partition"):
            return False  # a disk's add may be a different disk behind the same name; a partition's is its disk's
        disk = disk_of(e.device)
        return disk in self.disks and self.disks[disk] == disk_state(disk)

    @classmethod
    def record(cls, paths: Paths, digest: str, disks: set[str]) -> None:
        import json

        write_if_changed(cls.file(paths), json.dumps({"digest": digest, "disks": {d: disk_state(d) for d in
                                                                                  sorted(disks)}}, indent=1))


FAILURE_BACKOFF = 2.0  # seconds before the first retry of a failure in an unchanged state; doubles each time
FAILURE_BACKOFF_MAX = 3600.0


@dataclass
class Failures:
    """Disks whose storage apply failed, with the disk's state and the storage digest then
    (``run/blockprov/hotplug/failures.json``).

    A failing step writes to the disk (wipefs, mkfs), udev answers with a ``change`` event, and that event
    would start the same failing apply again: 22 runs a second. An event on a disk whose state and storage
    config are those of a recorded failure is skipped until its back-off has passed (2 s, doubling, at most
    an hour); any change of the disk or of the config retries at once. The failure stays in the report.
    """
    digest: str
    disks: dict[str, dict]

    @staticmethod
    def file(paths: Paths):
        return paths.run / "hotplug" / "failures.json"

    @classmethod
    def load(cls, paths: Paths, digest: str) -> "Failures":
        return cls(digest, {k: v for k, v in _disks_under(cls.file(paths), digest).items() if isinstance(v, dict)})

    def holding(self, e: spool.Event, now: float) -> dict | None:
        """The failure that holds this event back, or None (the event is handled)."""
        if e.action == "remove":
            return None
        disk = disk_of(e.device)
        f = self.disks.get(disk)
        if f is None or f.get("state") != disk_state(disk) or now >= f.get("until", 0):
            return None
        return f

    def save(self, paths: Paths, failed: dict[str, str], settled: set[str], now: float) -> None:
        import json

        disks = {d: f for d, f in self.disks.items() if d not in settled and d not in failed}
        for disk, error in failed.items():
            state = disk_state(disk)
            old = self.disks.get(disk)
            n = old["attempts"] + 1 if old and old.get("state") == state else 1
            delay = min(FAILURE_BACKOFF * 2 ** (n - 1), FAILURE_BACKOFF_MAX)
            disks[disk] = {"state": state, "attempts": n, "until": now + delay, "error": error[:400]}
        write_if_changed(self.file(paths), json.dumps({"digest": self.digest, "disks": disks}, indent=1),
                         mode=0o600)


class Processor:
    def __init__(self, paths: Paths):
        from blockprov.boot.reporting import Reporter
        from blockprov.boot.stages import OutputLog

        self.paths = paths
        self.log = OutputLog(paths)
        self.reload()
        self.reporter = Reporter(paths, self.cfg or {}, self.log)
        self._runner = None  # the stage runner (system config, boot lock) only when a module must run

    def reload(self) -> None:
        """The instance data as stored now: a refresh-metadata or watch may have changed it since the last batch."""
        from blockprov.boot import instance

        self.sd = instance.cached(self.paths)
        self.cfg = instance.load_config(self.paths)

    @property
    def runner(self):
        from blockprov.boot.stages import Runner

        if self._runner is None:
            self._runner = Runner(self.paths)
        return self._runner

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        self.reporter.close()

    def channel(self, subsystem: str) -> str:
        return f"/blockprov/{self.sd.instance_id if self.sd else 'none'}/hotplug/{subsystem}"

    def handle(self, batch: Batch) -> None:
        from blockprov.events import policy

        self.reload()
        if self.sd is None or self.cfg is None:
            for e in batch.events:
                batch.note(e, WARN, "no instance (the boot found no datasource); nothing to apply")
            return self.report(batch)
        try:
            pol = policy.update_policy(self.paths, self.cfg)
        except policy.PolicyError as exc:
            for e in batch.events:
                batch.note(e, FAIL, str(exc))
            return self.report(batch)
        self._publish(batch)
        for subsystem in SUBSYSTEMS:
            evs = [e for e in batch.events if e.subsystem == subsystem]
            if not evs:
                continue
            if not pol.hotplug_enabled(subsystem):
                for e in evs:
                    batch.note(e, SUCCESS, f"ignored: hotplug is off for {subsystem}")
                continue
            SUBSYSTEMS[subsystem](self, batch, evs, pol)
            self._executables(batch, evs, pol.hotplug.get(subsystem, ()))
        for e in batch.events:
            if e.subsystem not in ("block", "net"):
                batch.note(e, SUCCESS, f"ignored: subsystem {e.subsystem or '?'}")
        self.report(batch)

    # -- block --------------------------------------------------------------------
    @staticmethod
    def _coalesce(batch: Batch, evs: list[spool.Event]) -> dict[str, spool.Event]:
        """The last event per device; the others are reported as coalesced."""
        last = last_per_device(evs)
        for e in evs:
            if last.get(e.device) is not e:
                batch.note(e, SUCCESS, "coalesced with a later event for the same device")
        return last

    def _block(self, batch: Batch, evs: list[spool.Event], pol) -> None:
        last = self._coalesce(batch, evs)
        if "storage" not in pol.hotplug.get("block", ()) or not pol.allows("storage", "hotplug"):
            for e in last.values():
                batch.note(e, SUCCESS, "no storage handler for block hotplug")
            return
        for e in (e for e in last.values() if e.action == "remove"):
            released = release(self.paths, e.device)
            batch.note(e, SUCCESS, f"unmounted {', '.join(released)}; fstab entries kept with nofail" if released
                       else "nothing of blockprov's was mounted from it")
        adds = [e for e in last.values() if e.action in ("add", "change")]
        if not adds:
            return
        digest = self.storage_digest()
        memo = Settled.load(self.paths, digest)
        fresh = [e for e in adds if not memo.unchanged(e)]
        for e in adds:
            if e not in fresh:
                batch.note(e, SUCCESS, "its disk is as the storage config says and unchanged since; nothing to do")
        failures = Failures.load(self.paths, digest)
        now = time.time()
        for e in list(fresh):
            f = failures.holding(e, now)
            if f is not None:
                fresh.remove(e)
                batch.note(e, FAIL, f"skipped: storage failed {f['attempts']} time(s) on this disk in this same state"
                                    f" and config; next try in {max(0.0, f['until'] - now):.0f} s or on any change;"
                                    f" last error: {f['error']}")
        if not fresh:
            return
        out = self._storage()
        read_at = metadata_read_at(self.paths)
        unnamed = [e for e in fresh if e.action == "add" and e.props.get("DEVTYPE") == "disk"
                   and e.device not in out.storage.disks and not 0 < e.queued < read_at]
        if unnamed:
            out = self._wait_for_metadata(unnamed, out)
        for e in fresh:
            self._note_storage(batch, e, out)
        settled = out.storage.settled if not out.errors else set()
        Settled.record(self.paths, self.storage_digest(), settled)
        named = out.storage.disks
        failed = {disk_of(e.device): "; ".join(out.errors) for e in fresh if out.errors and disk_of(e.device) in named}
        if failed or failures.disks:
            Failures(self.storage_digest(), failures.disks).save(self.paths, failed,
                                                                out.storage.settled, time.time())

    def storage_digest(self) -> str:
        from blockprov import modules

        return modules.inputs_digest(modules.load("storage"), self.cfg or {}, {}, self.sd)

    def _storage(self):
        from blockprov.events.updates import run_scope

        return run_scope(self.runner, "storage", "hotplug", self.sd, self.cfg)

    def _note_storage(self, batch: Batch, e: spool.Event, out) -> None:
        named = e.device in out.storage.disks
        if out.errors:
            batch.note(e, FAIL, "storage: " + "; ".join(out.errors))
        elif e.action == "add" and e.props.get("DEVTYPE") == "disk" and not named:
            batch.note(e, SUCCESS, "the storage config does not name this disk; left alone")
        else:
            done = out.storage.done
            batch.note(e, WARN if out.warnings else SUCCESS,
                       f"storage applied: {len(done)} item(s) done" + (f" ({', '.join(done)})" if done else "")
                       + (f", {len(set(out.storage.waiting))} waiting" if out.storage.waiting else ""))

    def _wait_for_metadata(self, unnamed: list[spool.Event], out):
        """Re-read the metadata until it names every added disk, applying after each change (bounded).

        Events that arrive meanwhile stay queued for the next batch.
        """
        import tenacity

        from blockprov.events.refresh import RefreshError, refresh

        limit = _number((self.cfg.get("hotplug") or {}).get("metadata_timeout"), DEFAULT_METADATA_TIMEOUT)
        state = {"out": out, "digest": self.storage_digest()}

        def attempt() -> bool:
            try:
                r = refresh(self.paths)
            except RefreshError as exc:
                self.log(f"hotplug: metadata refresh failed: {exc}")
                return False
            self.sd, self.cfg = r.sd, r.cfg
            digest = self.storage_digest()
            if digest != state["digest"]:
                state["digest"], state["out"] = digest, self._storage()
            disks = state["out"].storage.disks
            return all(e.device in disks for e in unnamed)

        retrying = tenacity.Retrying(stop=tenacity.stop_after_delay(limit),
                                     wait=tenacity.wait_exponential(multiplier=0.25, max=4),
                                     retry=tenacity.retry_if_result(lambda ok: not ok),
                                     retry_error_callback=lambda _state: False)
        if not retrying(attempt):
            self.log(f"hotplug: after {limit:g} s the metadata still does not name "
                     f"{', '.join(e.device for e in unnamed if e.device not in state['out'].storage.disks)}")
        return state["out"]

    # -- net ------------------------------------------------------------------------
    def _net(self, batch: Batch, evs: list[spool.Event], pol) -> None:
        from blockprov.events.refresh import RefreshError, refresh
        from blockprov.events.updates import run_scope

        last = self._coalesce(batch, evs)
        adds = [e for e in last.values() if e.action == "add"]
        for e in last.values():
            if e.action != "add":
                batch.note(e, SUCCESS, f"{e.action}: nothing to do")
        if not adds:
            return
        try:
            r = refresh(self.paths)
            if r.changed:
                self.sd, self.cfg = r.sd, r.cfg
        except RefreshError as exc:
            self.log(f"hotplug: metadata refresh failed: {exc}; using the cached metadata")
        known = _configured_interfaces(self.paths, self.cfg, self.sd)
        wanted = [e for e in adds if e.device in known]
        for e in adds:
            if e not in wanted:
                batch.note(e, SUCCESS, "not in the network config; nothing done")
        if not wanted:
            return
        handlers = pol.hotplug.get("net", ())
        for scope in ("network", "modules"):
            if scope not in handlers or not pol.allows(scope, "hotplug"):
                continue
            out = run_scope(self.runner, scope, "hotplug", self.sd, self.cfg)
            for e in wanted:
                batch.note(e, FAIL if out.errors else WARN if out.warnings else SUCCESS, f"{scope}: {out.summary()}")

    # -- executables and reports -------------------------------------------------------
    def _executables(self, batch: Batch, evs: list[spool.Event], handlers) -> None:
        from blockprov.events.updates import run_executable

        for h in (h for h in handlers if h.startswith("/")):
            for e in evs:
                payload = {"event_type": "hotplug", "instance_id": self.sd.instance_id, **e.to_json()}
                env = {k: v for k, v in e.props.items() if k.isidentifier()}
                env.update(BLOCKPROV_ROOT=str(self.paths.root), BLOCKPROV_INSTANCE_ID=self.sd.instance_id)
                rc, output = run_executable(h, payload, env)
                batch.note(e, SUCCESS if rc == 0 else FAIL, f"{h}: exit {rc}" + (f": {output[-300:]}" if rc else ""))

    def _publish(self, batch: Batch) -> None:
        """Each event with its udev attributes on the event channel (hotplug/block, hotplug/network), before
        it is handled: the management server may answer it (docs/event-channel.md, the NIC flow)."""
        if self.reporter.channel is None:
            return
        for e in batch.events:
            if e.subsystem == "net":
                data = {"action": e.action, "interface": e.device, "mac": _sysfs(f"/sys/class/net/{e.device}/address")}
                self.reporter.channel.publish("hotplug/network", data)
            elif e.subsystem == "block":
                size = _sysfs(f"/sys/class/block/{os.path.basename(e.device)}/size")
                self.reporter.channel.publish("hotplug/block", {
                    "action": e.action, "device": e.device, "devtype": e.props.get("DEVTYPE", ""),
                    "serial": e.props.get("ID_SERIAL_SHORT") or e.props.get("ID_SERIAL") or "",
                    "size": int(size) * 512 if size.isdigit() else None})

    def report(self, batch: Batch) -> None:
        for e in batch.events:
            h = batch.handled.get(id(e)) or Handled(e, SUCCESS, "nothing to do")
            t = time.time()
            self.reporter.emit({
                "name": self.channel(e.subsystem or "unknown"), "event_type": "finish", "origin": "blockprov",
                "timestamp": t, "result": h.result, "description": h.description, "device": e.device,
                "action": e.action, "seqnum": e.seqnum})
            self.log(f"hotplug {e.subsystem} {e.action} {e.device}: {h.result}: {h.description}")


SUBSYSTEMS = {"block": Processor._block, "net": Processor._net}  # the udev subsystems a batch is handled for


def _sysfs(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _number(v, default: float) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else default


def _configured_interfaces(paths: Paths, cfg: dict, sd) -> set[str]:
    """Names of the interfaces the network config describes, on this machine's NICs."""
    from blockprov.boot import sysconfig
    from blockprov.modules import network
    from blockprov.net import observe, parse

    doc, form, _where = network.source(sysconfig.load(paths), sd)
    if doc is None:
        return set()
    if form in ("v1", "v2", None) and isinstance(doc, dict) and isinstance(doc.get("network"), dict):
        doc = doc["network"]
    try:
        net = parse.parse(doc, None if form in (None, "v1", "v2") else form, observe.macs(observe.interfaces(paths)))
    except Exception:  # noqa: BLE001 - a bad network config is the network module's error to report
        return set()
    return {i.name for i in net.interfaces}


def _lock(paths: Paths):
    from blockprov.paths import open_lock

    f = open_lock(paths.processor_lock)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


DEFAULT_LINGER = 300.0
LINGER_POLL = 1.0  # a safety net only: the udev helper wakes a lingering processor with SIGUSR1
WAKE = signal.SIGUSR1


def linger_seconds(paths: Paths) -> float:
    """``hotplug.linger`` from the instance's config: how long an idle processor waits for the next event."""
    from blockprov.boot import instance

    return max(0.0, _number(((instance.load_config(paths) or {}).get("hotplug") or {}).get("linger"), DEFAULT_LINGER))


def process(paths: Paths, linger: float | None = None) -> int:
    """Handle every queued event; returns at once if another processor runs (it will see new events).

    Once the queue is empty the processor stays ``linger`` seconds (default:
    ``hotplug.linger``) for the next event, so an attach soon after boot or a
    burst pays no interpreter start-up. While it waits it holds no lock and
    marks itself with ``hotplug/lingering.<pid>``: the udev helper then only
    queues, and starts nothing.
    """
    linger = linger_seconds(paths) if linger is None else linger
    while True:
        lock = _lock(paths)
        if lock is None:
            return 0
        try:
            if not boot_finished(paths):
                return 0  # the final stage starts a processor when it is done
            proc = None
            try:
                while events := spool.take(paths):
                    proc = proc or Processor(paths)
                    batch = Batch(events)
                    proc.handle(batch)
                    spool.done(paths, batch.events)
            finally:
                if proc is not None:
                    proc.close()  # the boot lock too: a lingering processor blocks nobody
        finally:
            lock.close()
        if spool.pending(paths):  # an event queued after the last take, while the lock was still held
            continue
        if linger <= 0 or not _linger(paths, linger):
            return 0


def start_time(pid: int) -> str:
    """A process's start time (clock ticks after boot, /proc/PID/stat field 22): with the pid, its identity."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(marker: Path) -> bool:
    """Whether a lingering marker's process still runs (not a killed one's pid, reused)."""
    pid = marker.name.rpartition(".")[2]
    try:
        return pid.isdigit() and marker.read_text().strip() == start_time(int(pid)) != ""
    except OSError:
        return False


def _linger(paths: Paths, seconds: float) -> bool:
    """Wait up to ``seconds`` for a queued event; True when one came.

    The udev helper writes its event, then looks for a marker and sends its
    process SIGUSR1: so the marker goes before the last look at the queue, and
    the signal is blocked from before the marker, so one sent at any moment
    stays pending until ``sigtimedwait`` takes it. Idle, the process sleeps.
    SIGTERM (``systemctl stop``, shutdown) while idle ends it cleanly, marker
    removed; markers of processors killed otherwise are removed here.
    """
    marker = paths.run / "hotplug" / f"lingering.{os.getpid()}"
    waited = {WAKE, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    marker.write_text(start_time(os.getpid()) + "\n")
    try:
        others = [m for m in marker.parent.glob("lingering.*") if m != marker]
        for m in others:
            if not _alive(m):
                m.unlink(missing_ok=True)
        if any(m.exists() for m in others):
            return bool(spool.pending(paths))  # one lingering processor is enough
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if spool.pending(paths):
                return True
            got = signal.sigtimedwait(waited, min(left, LINGER_POLL))
            if got is not None and got.si_signo == signal.SIGTERM:
                return False
    finally:
        marker.unlink(missing_ok=True)
        while signal.sigtimedwait({WAKE}, 0) is not None:  # a wake-up sent before the marker went
            pass
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)  # a SIGTERM pending now ends the process as usual
    return bool(spool.pending(paths))
