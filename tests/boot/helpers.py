import json
import subprocess
import sys
import time
from pathlib import Path


def bp(root: Path, *args: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
    argv = [args[0], "--root", str(root), *args[1:]]  # before any REMAINDER argument (per CMD...)
    res = subprocess.run([sys.executable, "-m", "blockprov", *argv], capture_output=True,
                         text=True, timeout=timeout)
    # a stage command that ran with warnings exits 3 (degraded): ``check`` asks only that it ran
    ok = (0, 3) if args[0] in ("boot", "init", "modules", "single") else (0,)
    if check and res.returncode not in ok:
        raise AssertionError(f"blockprov {' '.join(args)} exited {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def nocloud_seed(root: Path, meta: str, user: str | bytes | None = None, vendor: str | None = None, **extra) -> Path:
    d = root / "var/lib/blockprov/seed/nocloud"
    d.mkdir(parents=True, exist_ok=True)
    (d / "meta-data").write_text(meta)
    if user is not None:
        (d / "user-data").write_bytes(user.encode() if isinstance(user, str) else user)
    if vendor is not None:
        (d / "vendor-data").write_text(vendor)
    for name, text in extra.items():
        (d / name.replace("_", "-")).write_text(text)
    return d


def isolated_cfg(root: Path, text: str = "", full: bool = False) -> None:
    """Keep tests off the machine's block devices: no seed-device search unless a test asks for it.

    Unless ``full``, the init and config stages run no modules: stage and datasource tests use roots
    without account files, which users_groups and friends (tested in test_accounts.py) need.
    """
    d = root / "etc/blockprov/blockprov.cfg.d"
    d.mkdir(parents=True, exist_ok=True)
    lean = d / "01-no-system-modules.cfg"
    if full:
        lean.unlink(missing_ok=True)
    else:
        lean.write_text("init_local_modules: []\ninit_modules: []\nconfig_modules: []\n")
    # Processors started by a test end with it (the lingering processor has its own test).
    (d / "00-test-linger.cfg").write_text("hotplug: {linger: 0}\n")
    (d / "00-test.cfg").write_text("datasource: {NoCloud: {search_devices: false}, ConfigDrive: {search_devices: false}}\n"
                                   + text)


def account_files(root: Path) -> None:
    """A minimal image's account files (root and a sudo group) for useradd/chpasswd --root."""
    import shutil

    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    shutil.copy("/etc/login.defs", etc / "login.defs")
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\nsudo:x:27:\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\nsudo:*::\n")
    (root / "root").mkdir(exist_ok=True)


def reboot(root: Path) -> None:
    """run/ is a tmpfs: a reboot empties it."""
    subprocess.run(["rm", "-rf", str(root / "run")], check=True)


def events(root: Path) -> list[dict]:
    p = root / "var/log/blockprov/events.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def finished(root: Path, suffix: str) -> list[dict]:
    return [e for e in events(root) if e["event_type"] == "finish" and e["name"].endswith(suffix)]


def is_hash_of(hashed: str, plain: str) -> bool:
    """Whether a SHA-512 crypt hash (from shadow or a rendered config) is of ``plain``: openssl, re-salted."""
    if not hashed.startswith("$6$"):
        return False
    again = subprocess.run(["openssl", "passwd", "-6", "-salt", hashed.split("$")[2], "-stdin"], input=plain + "\n",
                           capture_output=True, text=True, check=True).stdout.strip()
    return again == hashed


def until(cond, timeout: float, what: str):
    """Poll ``cond`` until it returns something true (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (val := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return val
