"""apt-get and friends run inside the target root: a chroot when the root is not ``/``.

Every call is an argv list with ``DEBIAN_FRONTEND=noninteractive``, keeps the
configuration files a package ships over locally changed ones (``--force-confold``
as cloud-init does), and waits up to 5 minutes for another apt to release its
lock (apt's own ``DPkg::Lock::Timeout``) instead of failing at once.
"""

from __future__ import annotations

import shlex

from blockprov.run import run

APT_GET = ["apt-get", "--assume-yes", "--quiet", "-o", "Dpkg::Options::=--force-confold",
           "-o", "Dpkg::Options::=--force-unsafe-io", "-o", "DPkg::Lock::Timeout=300"]
ENV = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}
TIMEOUT = 3600


class AptError(RuntimeError):
    """apt-get exited non-zero; its last lines say why."""


def in_target(paths, argv: list[str]) -> list[str]:
    """``argv`` as run inside the target root (pure)."""
    return argv if str(paths.root) == "/" else ["chroot", str(paths.root), *argv]


def has_apt(paths) -> bool:
    return any(paths.inside(p).exists() for p in ("/usr/bin/apt-get", "/bin/apt-get"))


def apt_get(ctx, *args: str, timeout: float = TIMEOUT) -> str:
    if not has_apt(ctx.paths):
        raise AptError(f"no apt-get in the target root {ctx.paths.root}")
    argv = in_target(ctx.paths, [*APT_GET, *args])
    res = run(argv, check=False, timeout=timeout, env=ENV)
    if ctx.log:
        ctx.log(f"{shlex.join(argv)}: exit {res.returncode}\n{res.stdout[-4000:]}{res.stderr[-4000:]}")
    if res.returncode:
        tail = " / ".join(ln for ln in (res.stderr or res.stdout).strip().splitlines()[-3:])
        raise AptError(f"apt-get {' '.join(args[:2])} exited {res.returncode}: {tail[-300:]}")
    return res.stdout


def installed(ctx, package: str) -> bool:
    """Whether dpkg says ``package`` is installed in the target."""
    argv = in_target(ctx.paths, ["dpkg-query", "--show", "--showformat", "${db:Status-Status}", package])
    res = run(argv, check=False, timeout=60)
    return res.returncode == 0 and res.stdout.strip() == "installed"


def os_release(paths) -> dict[str, str]:
    """The target's etc/os-release (or usr/lib/os-release) as a mapping; {} when there is none."""
    import shlex as _shlex

    for p in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = paths.inside(p).read_text()
        except OSError:
            continue
        out = {}
        for line in text.splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                k, v = line.split("=", 1)
                try:
                    out[k.strip()] = " ".join(_shlex.split(v))
                except ValueError:
                    out[k.strip()] = v.strip().strip('"')
        return out
    return {}
