"""Every filesystem location the agent uses, relative to one root.

Tests and ``--root DIR`` relocate files (etc, var, run); block devices are
still those of the running system.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    root: Path = Path("/")
    target: Path | None = None  # where mount points and etc/fstab live; default: root

    @property
    def tgt(self) -> Path:
        return self.target or self.root

    def under(self, base: Path, rel: str) -> Path:
        return base / rel.lstrip("/")

    @property
    def fstab(self) -> Path:
        return self.under(self.tgt, "etc/fstab")

    @property
    def crypttab(self) -> Path:
        return self.under(self.tgt, "etc/crypttab")

    @property
    def mdadm_conf(self) -> Path:
        return self.under(self.tgt, "etc/mdadm/mdadm.conf")

    @property
    def state(self) -> Path:
        return self.under(self.root, "var/lib/blockprov")

    @property
    def storage_journal(self) -> Path:
        return self.state / "storage" / "journal.json"

    @property
    def ptable_cache(self) -> Path:
        """Partition tables already read, by a digest of their bytes (storage/probe.py); lost at reboot."""
        return self.run / "ptables.json"

    @property
    def cache(self) -> Path:
        return self.under(self.root, "var/cache/blockprov")

    @property
    def run(self) -> Path:
        return self.under(self.root, "run/blockprov")

    @property
    def channel_socket(self) -> Path:
        """Where local processes hand events to the channel service (0600 in a 0700 directory)."""
        return self.run / "channel" / "channel.sock"

    @property
    def etc(self) -> Path:
        return self.under(self.root, "etc/blockprov")

    # -- boot stages ------------------------------------------------------------
    @property
    def sysconfig(self) -> Path:
        return self.etc / "blockprov.cfg"

    @property
    def sysconfig_d(self) -> Path:
        return self.etc / "blockprov.cfg.d"

    @property
    def instances(self) -> Path:
        return self.state / "instances"

    def instance_dir(self, iid: str) -> Path:
        return self.instances / safe_name(iid)

    @property
    def instance_link(self) -> Path:
        return self.state / "instance"

    @property
    def global_sem(self) -> Path:
        return self.state / "sem"

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def scripts(self) -> Path:
        return self.state / "scripts"

    def seed(self, name: str) -> list[Path]:
        """Seed directories for a datasource, ours first, then cloud-init's."""
        return [self.state / "seed" / name, self.under(self.root, f"var/lib/cloud/seed/{name}")]

    @property
    def logs(self) -> Path:
        return self.under(self.root, "var/log/blockprov")

    @property
    def events_log(self) -> Path:
        return self.logs / "events.jsonl"

    @property
    def output_log(self) -> Path:
        return self.logs / "output.log"

    @property
    def status(self) -> Path:
        return self.run / "status.json"

    @property
    def result(self) -> Path:
        return self.run / "result.json"

    @property
    def instance_data(self) -> Path:
        return self.run / "instance-data.json"

    @property
    def instance_data_sensitive(self) -> Path:
        return self.run / "instance-data-sensitive.json"

    @property
    def locks(self) -> Path:
        """Lock files, in a 0700 directory: ``flock`` needs only read access, so a lock any local user can
        open is a lock any local user can hold (and stall storage, boot and hotplug with)."""
        return self.run / "lock"

    @property
    def boot_lock(self) -> Path:
        return self.locks / "boot.lock"

    @property
    def storage_lock(self) -> Path:
        return self.locks / "storage.lock"

    @property
    def processor_lock(self) -> Path:
        return self.locks / "processor.lock"

    def private_dirs(self) -> list[Path]:
        """Directories only root may enter: state (raw user-data, datasource caches, journals), caches,
        logs (script output) and locks. ``run/blockprov`` itself stays 0755 for the public status and
        instance-data.json."""
        return [self.state, self.cache, self.logs, self.locks]

    def prepare(self) -> None:
        """Create (or tighten) the private directories, before anything is written below them."""
        self.run.mkdir(parents=True, exist_ok=True)
        for d in self.private_dirs():
            ensure_dir(d, 0o700)

    def inside(self, path: str) -> Path:
        """A system path under the root (``/etc/hostname``, ``/sys/class/net``): ``..`` cannot leave it."""
        import os

        rel = os.path.normpath("/" + path).lstrip("/")
        return self.root / rel

    def confined(self, path: str) -> Path:
        """A path from config to write to (write_files, injected files, a swap file, a home's keys), confined to
        the root: its directories resolved with the root as ``/`` (as ``chroot`` or ``systemd-tmpfiles
        --root`` would), so neither ``..`` nor a symbolic link in the root (absolute or relative) leads out of
        it. The last component is not followed: the write replaces a link there, inside the root."""
        return resolve_in(self.root, path)


MAX_LINKS = 40  # as the kernel's ELOOP limit


def resolve_in(root: Path, path: str) -> Path:
    """``path`` under ``root`` with every symbolic link on the way (not the last component) resolved as if
    ``root`` were ``/``."""
    import errno
    import os

    todo = [p for p in path.split("/") if p and p != "."]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        here = root.joinpath(*done, part)
        if todo and os.path.islink(here):
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, f"too many levels of symbolic links under {root}", str(path))
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p and p != "."] + todo
            continue
        done.append(part)
    return root.joinpath(*done)


def safe_name(text: str) -> str:
    """A file name for an instance-id or module name: no separators, no dot-dot, never empty."""
    out = "".join(c if c.isalnum() or c in "-_.:@" else "_" for c in text).strip(".")
    return out or "_"


TMP_SUFFIX = ".blockprov-tmp"


def ensure_dir(path: Path, mode: int) -> None:
    """``path`` and its missing parents as directories; ``path`` gets exactly ``mode`` whatever the umask
    (an existing one is tightened or loosened to it). Parents created here get 0755."""
    import os

    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    if (path.stat().st_mode & 0o7777) != mode:
        os.chmod(path, mode)


def open_lock(path: Path):
    """A lock file (0600, in a 0700 directory), opened for ``flock``."""
    import os

    ensure_dir(path.parent, 0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "r+")


def open_log(path: Path):
    """A log for appending: 0600 in a 0700 directory (scripts' output and events can carry secrets)."""
    import os

    ensure_dir(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    if (os.fstat(fd).st_mode & 0o777) != 0o600:
        os.fchmod(fd, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """temp file + fsync + rename + fsync of the directory. The temp name carries the pid: processes writing
    the same file at once (a hotplug processor and a boot stage, say) never write into each other's.
    The file has exactly ``mode`` from its creation (fchmod: the umask cannot widen or narrow it), so a
    secret is never readable, not even between open and chmod."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    raw = data.encode() if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode & 0o600)
        try:
            os.fchmod(fd, mode)
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_if_changed(path: Path, data: str | bytes, mode: int = 0o644) -> bool:
    """atomic_write unless ``path`` already holds exactly ``data`` with ``mode``; True when it wrote.

    Re-runs must leave files (and their mtimes) alone when nothing changed.
    """
    import os

    raw = data.encode() if isinstance(data, str) else data
    try:
        if not path.is_symlink() and path.read_bytes() == raw and (path.stat().st_mode & 0o7777) == mode:
            return False
    except OSError:
        pass
    atomic_write(path, raw, mode=mode)
    return True


def sweep_temp(dirs: list[Path]) -> list[Path]:
    """Remove ``.NAME.PID.blockprov-tmp`` files whose writer is gone (a crash between create and rename).

    A live writer's file is left alone: it is renamed or removed by its own process. Returns what went."""
    import os

    gone = []
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if not (name.startswith(".") and name.endswith(TMP_SUFFIX)):
                continue
            pid = name[: -len(TMP_SUFFIX)].rsplit(".", 1)[-1]
            if not pid.isdigit() or int(pid) == os.getpid() or os.path.exists(f"/proc/{pid}"):
                continue
            try:
                os.unlink(os.path.join(d, name))
                gone.append(Path(d) / name)
            except OSError:
                pass
    return gone
