"""Issue 18 item 2: secrets are root's alone from the moment they exist, and never on a command line."""
import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.boot.helpers import account_files, isolated_cfg, nocloud_seed
from tests.conftest import need_root_tools

HASH = "$6$saltsalt$" + "x" * 86
UD = "#cloud-config\n" + json.dumps({
    "users": [{"name": "alice", "lock_passwd": False, "hashed_passwd": HASH},
              {"name": "bob", "lock_passwd": False, "plain_text_passwd": "bob-plain-secret"}],
    "chpasswd": {"list": ["root:root-plain-secret"], "expire": False}})


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.fixture
def root(tmp_path):
    need_root_tools("useradd", "usermod", "chpasswd")
    r = tmp_path / "root"
    isolated_cfg(r, full=True)
    account_files(r)
    for f in ("shadow", "gshadow"):
        (r / "etc" / f).chmod(0o640)  # as an image has them
    return r


def wrap_tools(tmp_path: Path) -> tuple[Path, Path]:
    """A PATH directory whose account tools log their argv, then run the real ones."""
    bindir, log = tmp_path / "bin", tmp_path / "argv.log"
    bindir.mkdir()
    for tool in ("useradd", "usermod", "chpasswd", "chage", "groupadd"):
        real = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if not real:
            continue
        w = bindir / tool
        w.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$0 $*\" >> {log}\nexec {real} \"$@\"\n")
        w.chmod(0o755)
    return bindir, log


def test_secrets_are_private_from_creation_and_off_command_lines(root, tmp_path):
    nocloud_seed(root, "instance-id: i-0001\n", UD)
    bindir, log = wrap_tools(tmp_path)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    old = os.umask(0)  # a careless caller: nothing we create may become world-readable
    try:
        res = subprocess.run([sys.executable, "-m", "blockprov", "boot", "--root", str(root)], capture_output=True,
                             text=True, env=env, timeout=120)
    finally:
        os.umask(old)
    assert res.returncode in (0, 3), res.stderr
    state = root / "var/lib/blockprov"
    assert mode(state) == 0o700
    idir = state / "instances" / "i-0001"
    assert mode(idir) == 0o700 and mode(idir / "datasource.json") == 0o600
    raw = base64.b64decode(json.loads((idir / "datasource.json").read_text())["userdata"])
    assert b"bob-plain-secret" in raw  # the raw user-data: hence 0600
    for p in (root / "run/blockprov/instance-data-sensitive.json", root / "var/log/blockprov/output.log",
              root / "var/log/blockprov/events.jsonl", root / "run/blockprov/lock/boot.lock"):
        assert mode(p) == 0o600, p
    assert mode(root / "var/log/blockprov") == 0o700 and mode(root / "run/blockprov/lock") == 0o700
    public = (root / "run/blockprov/instance-data.json")
    assert mode(public) == 0o644 and "plain-secret" not in public.read_text() and HASH not in public.read_text()
    # every file anywhere under the root that holds a secret is 0600 or inside a 0700 directory
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink() and p.stat().st_size < 1 << 20:
            text = p.read_bytes()
            if b"plain-secret" in text or HASH.encode() in text:
                private = mode(p) & 0o077 == 0 or any(mode(a) & 0o077 == 0 for a in p.parents if root in a.parents)
                shadow_family = p.name in ("shadow", "shadow-") and mode(p) & 0o007 == 0  # the shadow tools' own
                assert private or shadow_family, p
    argv = log.read_text()
    assert "useradd" in argv and "chpasswd" in argv
    assert HASH not in argv and "$6$" not in argv and "plain-secret" not in argv
    shadow = {ln.split(":")[0]: ln.split(":")[1] for ln in (root / "etc/shadow").read_text().splitlines()}
    assert shadow["alice"] == HASH and shadow["bob"].startswith("$") and shadow["root"].startswith("$")


def test_write_files_never_leaves_the_root_through_links_or_dot_dot(tmp_path):
    r = tmp_path / "root"
    isolated_cfg(r, "init_local_modules: []\ninit_modules: [write_files]\nconfig_modules: []\nfinal_modules: []\n", full=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (r / "etc").mkdir(parents=True, exist_ok=True)
    (r / "etc/evil").symlink_to(outside)  # absolute: resolved with the root as /
    (r / "etc/up").symlink_to("../../..")  # relative, climbing past the root
    ud = "#cloud-config\n" + json.dumps({"write_files": [
        {"path": "/etc/evil/a", "content": "a"}, {"path": "/etc/up/b", "content": "b"},
        {"path": "/../../c", "content": "c"}]})
    nocloud_seed(r, "instance-id: i-links\n", ud)
    res = subprocess.run([sys.executable, "-m", "blockprov", "boot", "--root", str(r)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode in (0, 3), res.stderr
    assert list(outside.iterdir()) == [] and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
    assert (r / str(outside).lstrip("/") / "a").read_text() == "a"
    assert (r / "b").read_text() == "b" and (r / "c").read_text() == "c"


def test_a_link_as_the_file_itself_is_replaced_never_written_or_read_through(tmp_path):
    r = tmp_path / "root"
    isolated_cfg(r, "init_local_modules: []\ninit_modules: [write_files]\nconfig_modules: []\nfinal_modules: []\n",
                 full=True)
    victim = tmp_path / "victim"
    victim.write_text("host secret\n")
    (r / "etc").mkdir(parents=True, exist_ok=True)
    (r / "etc/app.conf").symlink_to(victim)
    ud = "#cloud-config\n" + json.dumps({"write_files": [{"path": "/etc/app.conf", "content": "mine\n",
                                                          "append": True}]})
    nocloud_seed(r, "instance-id: i-final\n", ud)
    res = subprocess.run([sys.executable, "-m", "blockprov", "boot", "--root", str(r)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode in (0, 3), res.stderr
    assert victim.read_text() == "host secret\n"
    assert not (r / "etc/app.conf").is_symlink() and (r / "etc/app.conf").read_text() == "mine\n"
