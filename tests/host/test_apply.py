"""Host tier: real loop devices, real mkfs and mount, a temp root for etc and var."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.host.helpers import apply, blkid, mounted_at, sfdisk, sha, statuses, write_config

pytestmark = pytest.mark.host


def two_part(dev, fs1="ext4", fs2="btrfs", **disk):
    return [
        {"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", **disk},
        {"id": "p1", "type": "partition", "device": "d0", "size": "300M"},
        {"id": "p2", "type": "partition", "device": "d0", "size": "400M"},
        {"id": "f1", "type": "format", "volume": "p1", "fstype": fs1, "label": "one"},
        {"id": "f2", "type": "format", "volume": "p2", "fstype": fs2},
        {"id": "m1", "type": "mount", "device": "f1", "path": "/srv"},
        {"id": "m2", "type": "mount", "device": "f2", "path": "/srv/two"},
    ]


def test_apply_then_rerun_does_nothing(loops, tmp_path):
    dev = loops.add("1G")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/fstab").write_text("# user line\nproc /proc proc defaults 0 0\n")
    cfg = write_config(tmp_path / "c.yaml", two_part(dev))
    rc, rep = apply(cfg, root)
    assert rc == 0, rep
    assert set(statuses(rep).values()) == {"done"}
    pt = sfdisk(dev)
    assert pt["label"] == "gpt" and [p["start"] for p in pt["partitions"]] == [2048, 2048 + 300 * 2048]
    assert blkid(dev + "p1")["TYPE"] == "ext4" and blkid(dev + "p1")["LABEL"] == "one"
    assert blkid(dev + "p2")["TYPE"] == "btrfs"
    assert mounted_at(root / "srv") == dev + "p1" and mounted_at(root / "srv/two") == dev + "p2"
    fstab = (root / "etc/fstab").read_text()
    assert fstab.startswith("# user line\nproc /proc proc defaults 0 0\n")
    assert f"UUID={blkid(dev + 'p1')['UUID']}\t/srv\text4" in fstab
    before = (root / "etc/fstab").read_bytes()
    mtime = os.stat(root / "etc/fstab").st_mtime_ns
    rc, rep = apply(cfg, root)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}
    assert [s["op"] for s in rep["steps"]] in ([], ["fstab"]) and rep["fstab_changed"] is False
    assert (root / "etc/fstab").read_bytes() == before and os.stat(root / "etc/fstab").st_mtime_ns == mtime


@pytest.mark.parametrize("fstype,tool", [("ext2", None), ("ext3", None), ("ext4", None), ("xfs", "mkfs.xfs"),
                                         ("btrfs", "mkfs.btrfs"), ("vfat", "mkfs.vfat"), ("swap", None)])
def test_each_fstype(loops, tmp_path, fstype, tool):
    if tool and not __import__("shutil").which(tool):
        pytest.skip(f"{tool} not installed")
    dev = loops.add("1G")
    root = tmp_path / "root"
    uuid = "0123abcd-0000-4000-8000-00000000beef" if fstype != "vfat" else "ABCD-1234"
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "size": "400M"},
             {"id": "f1", "type": "format", "volume": "p1", "fstype": fstype, "label": "LBL", "uuid": uuid}]
    mountable = fstype != "vfat"  # this kernel cannot mount vfat
    if mountable:
        items.append({"id": "m1", "type": "mount", "device": "f1", "path": "none" if fstype == "swap" else "/mnt/x"})
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    assert rc == 0, rep
    info = blkid(dev + "p1")
    assert info["TYPE"] == fstype and info["LABEL"] == "LBL" and info["UUID"].lower() == uuid.lower()
    if fstype == "swap":
        assert (dev + "p1") in Path("/proc/swaps").read_text()
        assert "\tnone\tswap\tsw\t" in (root / "etc/fstab").read_text()
    elif mountable:
        assert mounted_at(root / "mnt/x") == dev + "p1"
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}


def test_msdos_extended_logical(loops, tmp_path):
    dev = loops.add("1G")
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "msdos"},
             {"id": "p1", "type": "partition", "device": "d0", "size": "200M", "flag": "boot"},
             {"id": "p2", "type": "partition", "device": "d0", "size": "600M", "flag": "extended"},
             {"id": "p5", "type": "partition", "device": "d0", "size": "200M", "flag": "logical"},
             {"id": "p6", "type": "partition", "device": "d0", "size": "200M", "flag": "logical"},
             {"id": "f6", "type": "format", "volume": "p6", "fstype": "ext4"},
             {"id": "m6", "type": "mount", "device": "f6", "path": "/l"}]
    cfg = write_config(tmp_path / "c.yaml", items)
    rc, rep = apply(cfg, tmp_path / "r")
    assert rc == 0, rep
    pt = sfdisk(dev)
    assert pt["label"] == "dos"
    nodes = {p["node"].rsplit("p", 1)[-1]: p for p in pt["partitions"]}
    assert set(nodes) == {"1", "2", "5", "6"} and nodes["1"].get("bootable") and nodes["2"]["type"] in ("f", "5")
    assert blkid(dev + "p6")["TYPE"] == "ext4"
    rc, rep = apply(cfg, tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}


@pytest.mark.parametrize("mode", ["superblock", "superblock-recursive", "zero", "random"])
def test_wipe_modes_replace_old_data(loops, tmp_path, mode):
    dev = loops.add("64M")
    subprocess.run(["mkfs.ext4", "-q", "-F", dev], check=True)
    img = loops.image(dev)
    items = [{"id": "d0", "type": "disk", "path": dev, "wipe": mode},
             {"id": "f", "type": "format", "volume": "d0", "fstype": "swap", "label": "fresh"}]  # mkswap writes one page only
    old_uuid = blkid(dev)["UUID"]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    assert blkid(dev)["LABEL"] == "fresh" and blkid(dev)["UUID"] != old_uuid
    if mode in ("zero", "random"):
        with open(img, "rb") as f:
            f.seek(60 << 20)
            tail = f.read(1 << 20)
        assert (tail == bytes(len(tail))) == (mode == "zero")


def test_wipe_pvremove_clears_an_lvm_label(loops, tmp_path):
    if not shutil.which("pvcreate"):
        pytest.skip("lvm2 is not installed (scripts/install.sh installs it)")
    dev = loops.add("64M")
    subprocess.run(["pvcreate", "-ff", "-y", dev], check=True, capture_output=True)
    assert blkid(dev)["TYPE"] == "LVM2_member"
    items = [{"id": "d0", "type": "disk", "path": dev, "wipe": "pvremove"},
             {"id": "f", "type": "format", "volume": "d0", "fstype": "ext4", "label": "was-pv"}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    assert blkid(dev)["TYPE"] == "ext4" and blkid(dev)["LABEL"] == "was-pv"
    pvs = subprocess.run(["pvs", "--noheadings", "-o", "pv_name", dev], capture_output=True, text=True)
    assert pvs.returncode != 0 or dev not in pvs.stdout


def test_volume_groups_are_listed_only_when_lvm_is_in_play(loops, tmp_path):
    """pvs and lvs (half a second in a slow VM) run when the config has LVM items or a PV is in scope."""
    if not shutil.which("pvs"):
        pytest.skip("lvm2 is not installed (scripts/install.sh installs it)")
    env, log = _logged(tmp_path, "pvs", "lvs")
    dev, pv = loops.add("64M"), loops.add("64M")
    rc, rep = apply(write_config(tmp_path / "c.yaml", [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"}]),
                    tmp_path / "r", env=env)
    assert rc == 0 and not log.exists(), (rep, log.read_text() if log.exists() else "")
    subprocess.run(["pvcreate", "-ff", "-y", pv], check=True, capture_output=True)
    rc, rep = apply(write_config(tmp_path / "c2.yaml", [{"id": "d1", "type": "disk", "path": pv, "preserve": True}]),
                    tmp_path / "r", "--dry-run", env=env)
    assert [ln.split()[0] for ln in log.read_text().splitlines()] == ["pvs", "lvs"], rep
    log.unlink()
    vg = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
          {"id": "vg", "type": "lvm_volgroup", "name": "bpvgtest", "devices": ["d0"]}]
    rc, rep = apply(write_config(tmp_path / "c3.yaml", vg), tmp_path / "r", "--dry-run", env=env)
    assert [ln.split()[0] for ln in log.read_text().splitlines()] == ["pvs", "lvs"], rep


def _logged(tmp_path, *tools):
    """PATH with the real tools behind wrappers noting each call in tmp_path/calls: (env, the log)."""
    log, bindir = tmp_path / "calls", tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for tool in tools:
        (bindir / tool).write_text(f"#!/bin/sh\necho {tool} \"$@\" >> {log}\nexec {shutil.which(tool)} \"$@\"\n")
        (bindir / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}, log


def test_a_table_is_read_again_only_when_its_bytes_changed(loops, tmp_path):
    """run/blockprov/ptables.json keeps each table read under a digest of its bytes: a re-run reads no table
    that is as it was; any change to one (here a partition added behind blockprov's back) is read again."""
    gpt, dos = loops.add("64M"), loops.add("64M")
    items = [{"id": "g", "type": "disk", "path": gpt, "ptable": "gpt"},
             {"id": "gp", "type": "partition", "device": "g", "size": "16M"},
             {"id": "d", "type": "disk", "path": dos, "ptable": "msdos"},
             {"id": "dx", "type": "partition", "device": "d", "size": "32M", "flag": "extended"},
             {"id": "dl", "type": "partition", "device": "d", "size": "8M", "flag": "logical"}]
    cfg, root = write_config(tmp_path / "c.yaml", items), tmp_path / "r"
    env, log = _logged(tmp_path, "sfdisk")
    rc, rep = apply(cfg, root, env=env)
    assert rc == 0, rep
    assert json.loads((root / "run/blockprov/ptables.json").read_text()).keys() == {gpt}  # not the extended
    log.unlink()
    rc, rep = apply(cfg, root, env=env)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    assert [ln.split()[-1] for ln in log.read_text().splitlines()] == [dos]  # the logical partition is anywhere
    subprocess.run(["sfdisk", "--append", "--quiet", "--no-reread", "--no-tell-kernel", gpt], input=",8M\n",
                   text=True, check=True)
    log.unlink()
    items.append({"id": "gp2", "type": "partition", "device": "g", "size": "8M", "preserve": True})
    rc, rep = apply(write_config(tmp_path / "c2.yaml", items), root, env=env)
    assert rc == 0 and statuses(rep)["gp2"] == "ok", rep  # seen: read again, not taken from the cache
    reads = [ln.split()[-1] for ln in log.read_text().splitlines()]
    assert reads.count(gpt) == 1 and dos in reads, reads  # (a second probe, after partx, reads only dos)


def test_wipe_progress_is_reported_as_events_off_a_terminal(loops, tmp_path):
    dev = loops.add("48M")
    items = [{"id": "d0", "type": "disk", "path": dev, "wipe": "zero"},
             {"id": "f", "type": "format", "volume": "d0", "fstype": "swap"}]
    cfg = write_config(tmp_path / "c.yaml", items)
    res = subprocess.run([sys.executable, "-m", "blockprov", "storage", "apply", str(cfg), "--root", str(tmp_path / "r")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    assert events and all(e["event"] == "progress" and e["what"] == f"wipe zero {dev}" for e in events)
    pct = [e["percent"] for e in events]
    assert pct == sorted(pct) and pct[-1] == 100
    assert "d0" in res.stdout and "done" in res.stdout  # the human report still goes to stdout


def test_refusal_leaves_disk_byte_identical(loops, tmp_path):
    dev = loops.add("64M")
    subprocess.run(["mkfs.ext4", "-q", "-F", dev], check=True)
    img = loops.image(dev)
    before = sha(img)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "size": "10M"}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 1 and statuses(rep) == {"d0": "refused", "p1": "blocked"}
    assert "add wipe" in rep["items"][0]["reason"]
    assert sha(img) == before


def test_preserve_verified_and_each_mismatch(loops, tmp_path):
    dev = loops.add("1G")
    root = tmp_path / "r"
    base = two_part(dev, fs2="ext4")
    rc, _ = apply(write_config(tmp_path / "a.yaml", base), root)
    assert rc == 0
    subprocess.run(["umount", "-R", str(root / "srv")], check=True)
    keep = [dict(it, preserve=True) if it["type"] in ("disk", "partition", "format") else it for it in base]
    rc, rep = apply(write_config(tmp_path / "b.yaml", keep), root)
    assert rc == 0 and statuses(rep)["p1"] == "ok" and statuses(rep)["m1"] == "done"
    subprocess.run(["umount", "-R", str(root / "srv")], check=True)
    img = loops.image(dev)
    cases = {
        "table": ("d0", {"ptable": "msdos"}), "size": ("p1", {"size": "200M"}), "offset": ("p2", {"offset": "500M"}),
        "flag": ("p1", {"flag": "swap"}), "fstype": ("f1", {"fstype": "xfs"}), "label": ("f1", {"label": "other"}),
        "uuid": ("f2", {"uuid": "11111111-2222-4333-8444-555555555555"}),
    }
    for name, (iid, change) in cases.items():
        before = sha(img)
        # mounts left out: mounting ext4 rewrites its superblock, which would hide a stray write
        cfg = [dict(it, **change) if it["id"] == iid else it for it in keep if it["type"] != "mount"]
        rc, rep = apply(write_config(tmp_path / f"{name}.yaml", cfg), root)
        st = statuses(rep)
        assert rc == 1 and st[iid] == "conflict", (name, rep)
        assert all(s in ("ok", "conflict", "blocked") for s in st.values()), (name, st)
        conflict = next(i for i in rep["items"] if i["id"] == iid)
        assert conflict["expected"] and "found" in conflict, conflict
        assert sha(img) == before, name


def test_partial_apply_then_completion(loops, tmp_path):
    dev0 = loops.add("1G")
    img1 = tmp_path / "late.img"
    subprocess.run(["truncate", "-s", "1G", str(img1)], check=True)
    items = two_part(dev0) + [
        {"id": "d1", "type": "disk", "path": "/dev/disk/by-blockprov-test/late", "ptable": "gpt"},
        {"id": "q1", "type": "partition", "device": "d1", "size": "300M"},
        {"id": "g1", "type": "format", "volume": "q1", "fstype": "ext4"},
        {"id": "n1", "type": "mount", "device": "g1", "path": "/late"}]
    root = tmp_path / "r"
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    st = statuses(rep)
    assert rc == 3 and st["d1"] == st["q1"] == st["g1"] == st["n1"] == "waiting" and st["m2"] == "done"
    first_uuid = blkid(dev0 + "p1")["UUID"]
    dev1 = loops.add("1G", name="late2.img")
    items[7]["path"] = dev1
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    st = statuses(rep)
    assert rc == 0 and st["d0"] == st["f1"] == "ok" and st["n1"] == "done"
    assert blkid(dev0 + "p1")["UUID"] == first_uuid
    assert mounted_at(root / "late") == dev1 + "p1"
    assert (root / "etc/fstab").read_text().count("\t/late\t") == 1


def test_failure_isolated_to_dependents(loops, tmp_path):
    dev = loops.add("1G")
    items = two_part(dev)
    items[3] = dict(items[3], extra_options=["-O", "no_such_feature"])
    root = tmp_path / "r"
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    st = statuses(rep)
    assert rc == 1 and st["f1"] == "failed" and st["m1"] == "failed" and st["f2"] == "done"
    assert "no_such_feature" in next(i for i in rep["items"] if i["id"] == "f1")["reason"]
    assert st["m2"] == "failed"  # /srv/two nests under the failed /srv mount
    assert blkid(dev + "p2")["TYPE"] == "btrfs"


def test_fstab_dedupes_existing_user_lines(loops, tmp_path):
    dev = loops.add("1G")
    root = tmp_path / "r"
    items = two_part(dev, fs2="ext4")
    items[4]["uuid"] = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    (root / "etc").mkdir(parents=True)
    user = "/dev/sdz9 /srv ext4 defaults 0 2\nUUID=\"AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE\" /elsewhere ext4 noatime 0 2\n"
    (root / "etc/fstab").write_text(user)
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    assert rc == 0, rep
    text = (root / "etc/fstab").read_text()
    assert text == user  # both mounts are already described by the user's lines
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    assert (root / "etc/fstab").read_text() == user


def test_dry_run_writes_nothing(loops, tmp_path):
    dev = loops.add("1G")
    img = loops.image(dev)
    before = sha(img)
    rc, rep = apply(write_config(tmp_path / "c.yaml", two_part(dev)), tmp_path / "r", "--dry-run")
    assert rc == 0 and set(statuses(rep).values()) == {"create"} and rep["steps"]
    assert sha(img) == before and not (tmp_path / "r/etc/fstab").exists()


def test_crash_after_every_step_converges(loops, tmp_path):
    devs = [loops.add("1G"), loops.add("1G")]
    items = two_part(devs[0], fs2="ext4") + [
        {"id": "e0", "type": "disk", "path": devs[1], "ptable": "msdos", "wipe": "superblock"},
        {"id": "e1", "type": "partition", "device": "e0", "size": "300M"},
        {"id": "ef", "type": "format", "volume": "e1", "fstype": "xfs"},
        {"id": "em", "type": "mount", "device": "ef", "path": "/srv/x"}]
    cfg = write_config(tmp_path / "c.yaml", items)
    probe_root = tmp_path / "probe"
    rc, rep = apply(cfg, probe_root, "--dry-run")
    n_steps = len([s for s in rep["steps"] if s["op"] != "fstab"])
    assert n_steps >= 8
    for n in range(1, n_steps + 1):
        root = tmp_path / f"r{n}"
        rc, _ = apply(cfg, root, env={**os.environ, "BLOCKPROV_FAULT_AFTER_STEP": str(n)})
        assert rc == 99
        rc, rep = apply(cfg, root)
        assert rc == 0, (n, rep)
        assert set(statuses(rep).values()) <= {"ok", "done"}
        text = (root / "etc/fstab").read_text()
        for p in ("/srv", "/srv/two", "/srv/x"):
            assert text.count(f"\t{p}\t") == 1
        marker = root / "srv/two/keep.txt"
        marker.write_text("data")
        rc, rep = apply(cfg, root)
        assert set(statuses(rep).values()) == {"ok"} and marker.read_text() == "data"
        subprocess.run(["umount", "-R", str(root / "srv")], check=True)
        for d in devs:  # start the next round from blank disks
            subprocess.run(["wipefs", "-a", "-q", d + "p1"], capture_output=True)
            subprocess.run(["partx", "-d", d], capture_output=True)
            subprocess.run(["wipefs", "-a", "-q", d], check=True, capture_output=True)


def test_journal_records_created_items(loops, tmp_path):
    dev = loops.add("1G")
    root = tmp_path / "r"
    apply(write_config(tmp_path / "c.yaml", two_part(dev)), root)
    j = json.loads((root / "var/lib/blockprov/storage/journal.json").read_text())
    assert {"d0", "f1", "f2", "m1", "m2", "fstab"} <= set(j["items"])
    assert j["items"]["f1"]["steps"][-1]["op"] == "mkfs"


def test_a_blank_disk_does_not_hide_the_data_on_the_next_one(loops, tmp_path):
    """blkid -p stops at the first device it finds nothing on; the probe must go on past it."""
    a, b = loops.add("64M"), loops.add("64M")
    blank, full = sorted([a, b])  # the probe lists devices in this order
    subprocess.run(["mkfs.ext4", "-q", "-L", "precious", full], check=True)
    before = sha(loops.image(full))
    root = tmp_path / "root"
    cfg = write_config(tmp_path / "c.yaml", [
        {"id": "empty", "type": "disk", "path": blank},
        {"id": "data", "type": "disk", "path": full},
        {"id": "fe", "type": "format", "volume": "empty", "fstype": "ext4"},
        {"id": "fd", "type": "format", "volume": "data", "fstype": "xfs" if shutil.which("mkfs.xfs") else "btrfs"},
    ])
    rc, rep = apply(cfg, root)
    st = statuses(rep)
    assert rc == 1 and st["fe"] == "done" and st["fd"] == "refused", rep
    assert "holds ext4" in next(i["reason"] for i in rep["items"] if i["id"] == "fd")
    assert sha(loops.image(full)) == before and blkid(full)["LABEL"] == "precious"
