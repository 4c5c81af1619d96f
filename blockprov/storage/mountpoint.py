"""Mount points under a target root, confined to it.

A mount path from the config is taken relative to the target (``/srv`` under
``--target /mnt`` is ``/mnt/srv``). Every component that exists must be a real
directory: a symlink is refused, not followed (systemd refuses symlinks in a
mount unit's ``Where=`` for the same reason: it could lead out of the root, and
a mount made through one would not be found again under its configured path);
a regular file is refused too. Missing components are created one at a time,
never through a link that appears meanwhile.
"""

from __future__ import annotations

import os
import stat


class MountPointError(ValueError):
    pass


def components(path: str) -> list[str]:
    """The parts of an absolute config path; ``..`` is refused (validation reports it first)."""
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        raise MountPointError(f"{path}: '..' would leave the target")
    return parts


def problem(target: str, path: str) -> str | None:
    """Why ``path`` cannot be a mount point under ``target`` as things stand, or None (read-only)."""
    try:
        parts = components(path)
    except MountPointError as exc:
        return str(exc)
    cur = target.rstrip("/") or "/"
    for part in parts:
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return None  # the rest will be created
        except OSError as exc:
            return f"{cur}: {exc.strerror}"
        if stat.S_ISLNK(st.st_mode):
            return f"{cur} is a symbolic link; blockprov does not mount through links"
        if not stat.S_ISDIR(st.st_mode):
            return f"{cur} exists and is not a directory"
    return None


def make(target: str, path: str) -> str:
    """Create the mount point (0755 directories) and return it; MountPointError when it cannot be made safely."""
    parts = components(path)
    cur = target.rstrip("/") or "/"
    try:
        os.makedirs(cur, exist_ok=True)  # the target itself is the caller's (--target), made as given
    except OSError as exc:
        raise MountPointError(f"{cur}: {exc.strerror}") from None
    for part in parts:
        cur = os.path.join(cur, part)
        try:
            os.mkdir(cur, 0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise MountPointError(f"{cur}: {exc.strerror}") from None
        st = os.lstat(cur)
        if stat.S_ISLNK(st.st_mode):
            raise MountPointError(f"{cur} is a symbolic link; blockprov does not mount through links")
        if not stat.S_ISDIR(st.st_mode):
            raise MountPointError(f"{cur} exists and is not a directory")
    return cur
