"""Issue 18 on real loop disks: exact labels, mounted filesystems, confined mount points, file modes, locks,
secrets off command lines, crash residue."""
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.host.helpers import apply, blkid, mounted_at, sha, statuses, write_config

pytestmark = pytest.mark.host

LABELS = ["my data", "été", "a\\b", "x$y`z", "M-A", "^J", "tab\there", "'quote\"", "<>", "日本語", "  lead"]


def labelled(dev, label, wipe=True):
    disk = {"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"}
    if wipe:
        disk["wipe"] = "superblock"
    return [disk,
            {"id": "p1", "type": "partition", "device": "d0", "size": "200M", **({"wipe": "superblock"} if wipe else {})},
            {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4", "label": label},
            {"id": "m1", "type": "mount", "device": "f1", "path": "/srv/data"}]


def three_runs_keep_data(loops, tmp_path, label, tag):
    dev = loops.add("300M", name=f"lab{tag}.img")
    root = tmp_path / f"root{tag}"
    cfg = write_config(tmp_path / f"c{tag}.yaml", labelled(dev, label))
    rc, rep = apply(cfg, root)
    assert rc == 0, rep
    assert blkid(dev + "p1")["TYPE"] == "ext4"
    exact = subprocess.run(["blkid", "-p", "-o", "udev", dev + "p1"], capture_output=True, text=True).stdout
    assert "ID_FS_LABEL_ENC=" in exact
    (root / "srv/data/keep").write_text("precious")
    uuid = blkid(dev + "p1")["UUID"]
    for _ in range(2):
        rc, rep = apply(cfg, root)
        assert rc == 0 and set(statuses(rep).values()) == {"ok"}, (label, rep)
        assert not [s for s in rep["steps"] if s["op"] in ("wipe", "mkfs", "ptable")], rep["steps"]
    assert blkid(dev + "p1")["UUID"] == uuid and (root / "srv/data/keep").read_text() == "precious"
    subprocess.run(["umount", str(root / "srv/data")], check=True)


@pytest.mark.parametrize("label", LABELS)
def test_a_label_blkid_escapes_is_matched_exactly_and_never_reformatted(loops, tmp_path, label):
    three_runs_keep_data(loops, tmp_path, label, "")


label_text = st.text(st.characters(min_codepoint=32, blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8) \
    .filter(lambda s: len(s.encode()) <= 16)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(label=label_text)
def test_generated_labels_are_matched_exactly(loops, tmp_path, label):
    three_runs_keep_data(loops, tmp_path, label, str(abs(hash(label))))


def test_changing_a_label_with_wipe_never_touches_a_mounted_filesystem(loops, tmp_path):
    dev = loops.add("300M")
    root = tmp_path / "root"
    rc, rep = apply(write_config(tmp_path / "a.yaml", labelled(dev, "before")), root)
    assert rc == 0, rep
    (root / "srv/data/keep").write_text("precious")
    rc, rep = apply(write_config(tmp_path / "b.yaml", labelled(dev, "after")), root)
    st_ = statuses(rep)
    assert rc == 1 and st_["f1"] == "refused", rep
    assert "in use" in next(i["reason"] for i in rep["items"] if i["id"] == "f1")
    assert blkid(dev + "p1")["LABEL"] == "before" and (root / "srv/data/keep").read_text() == "precious"
    assert mounted_at(root / "srv/data") == dev + "p1"


def test_the_executor_refuses_a_destructive_step_on_a_mounted_device(loops, tmp_path):
    """The last word before wipefs/mkfs: even a plan made from a stale snapshot cannot format what is mounted."""
    from blockprov.paths import Paths
    from blockprov.storage.execute import Executor
    from blockprov.storage.model import Model
    from blockprov.storage.plan import Step

    dev = loops.add("100M")
    subprocess.run(["mkfs.ext4", "-q", dev], check=True)
    mnt = tmp_path / "m"
    mnt.mkdir()
    subprocess.run(["mount", dev, str(mnt)], check=True)
    (mnt / "keep").write_text("x")
    model = Model.build({"version": 1, "config": [{"id": "d", "type": "disk", "path": dev},
                                                  {"id": "f", "type": "format", "volume": "d", "fstype": "xfs"}]})
    ex = Executor(model, Paths(tmp_path / "root"))
    out = ex.run([Step("wipe", "f", dev, {"mode": "superblock"}), Step("mkfs", "f", dev, {"fstype": "xfs"})],
                 lambda failed: [])
    assert "is mounted at" in out.failed["f"] and (mnt / "keep").read_text() == "x"
    assert blkid(dev)["TYPE"] == "ext4"


def one_disk(dev, path="/srv"):
    return [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
            {"id": "p1", "type": "partition", "device": "d0", "size": "100M"},
            {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4"},
            {"id": "m1", "type": "mount", "device": "f1", "path": path}]


@pytest.mark.parametrize("shape", ["symlink-out", "symlink-parent", "file", "file-parent"])
def test_unusable_mount_points_exit_2_before_any_write(loops, tmp_path, shape):
    dev = loops.add("200M")
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "srv").parent.mkdir(parents=True, exist_ok=True)
    path = "/srv/data"
    if shape == "symlink-out":
        (root / "srv").mkdir()
        (root / "srv/data").symlink_to(outside)
    elif shape == "symlink-parent":
        (root / "srv").symlink_to(outside)
    elif shape == "file":
        (root / "srv").mkdir()
        (root / "srv/data").write_text("a file")
    else:
        (root / "srv").write_text("a file where a directory should be")
    before = sha(loops.image(dev))
    res = subprocess.run([sys.executable, "-m", "blockprov", "storage", "apply", str(write_config(
        tmp_path / "c.yaml", one_disk(dev, path))), "--root", str(root)], capture_output=True, text=True)
    assert res.returncode == 2 and "$.storage.config[3].path [m1]" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert sha(loops.image(dev)) == before  # not one byte written
    assert mounted_at(outside) is None and not list(outside.iterdir())


def test_dot_dot_in_a_mount_path_is_invalid(loops, tmp_path):
    dev = loops.add("200M")
    res = subprocess.run([sys.executable, "-m", "blockprov", "storage", "apply", str(write_config(
        tmp_path / "c.yaml", one_disk(dev, "/../../escape"))), "--root", str(tmp_path / "r")],
        capture_output=True, text=True)
    assert res.returncode == 2 and "path-escapes" in res.stderr
    assert not Path("/escape").exists()


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_state_logs_and_locks_are_private_under_any_umask(loops, tmp_path):
    dev = loops.add("200M")
    root = tmp_path / "root"
    cfg = write_config(tmp_path / "c.yaml", one_disk(dev))
    old = os.umask(0)
    try:
        res = subprocess.run([sys.executable, "-m", "blockprov", "storage", "apply", str(cfg), "--root", str(root)],
                             capture_output=True, text=True)
    finally:
        os.umask(old)
    assert res.returncode == 0, res.stderr
    assert mode(root / "var/lib/blockprov") == 0o700
    assert mode(root / "run/blockprov/lock") == 0o700
    assert mode(root / "run/blockprov/lock/storage.lock") == 0o600
    assert mode(root / "var/lib/blockprov/storage/journal.json") == 0o600
    assert mode(root / "etc/fstab") == 0o644 and mode(root / "run/blockprov") == 0o755  # public, not 0777
    assert mounted_at(root / "srv") == dev + "p1"
    # an unprivileged user cannot even open the lock (flock needs only read access)
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                            f"open({str(root / 'run/blockprov/lock/storage.lock')!r})"], capture_output=True, text=True)
    assert probe.returncode != 0 and "PermissionError" in probe.stderr


def test_stale_temp_files_of_dead_writers_are_swept_and_live_ones_kept(loops, tmp_path):
    dev = loops.add("200M")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    p = subprocess.Popen(["true"])  # a pid that has exited
    p.wait()
    stale = root / "etc" / f".fstab.{p.pid}.blockprov-tmp"
    stale.write_text("half")
    live = root / "etc" / f".fstab.{os.getpid()}.blockprov-tmp"
    live.write_text("mine")
    rc, rep = apply(write_config(tmp_path / "c.yaml", one_disk(dev)), root)
    assert rc == 0, rep
    assert not stale.exists() and live.exists()
