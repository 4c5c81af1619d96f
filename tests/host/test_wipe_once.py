"""``wipe`` is carried out the first time this config meets a device, and only verified after (issue 19).

A foreign filesystem of the desired type is replaced once; reboots and re-runs keep what was made; a device
that already carries exactly what the config describes, uuid or label included, is kept even when the journal
cannot know (a new instance, a lost state directory); nothing mounted is ever wiped."""
import subprocess

import pytest

from tests.host.helpers import apply, blkid, mounted_at, statuses, write_config

pytestmark = pytest.mark.host


def foreign(loops, label=None):
    """A disk as something else left it: a GPT with one 100 MiB partition holding ext4 and a file."""
    dev = loops.add("300M")
    subprocess.run(["sfdisk", "--quiet", dev], input="label: gpt\nstart=2048, size=204800\n", text=True, check=True)
    subprocess.run(["partx", "--add", dev], check=True)
    subprocess.run(["mkfs.ext4", "-q", *(["-L", label] if label else []), dev + "p1"], check=True)
    return dev


def put(dev, tmp_path, name="old.txt"):
    m = tmp_path / "m"
    m.mkdir(exist_ok=True)
    subprocess.run(["mount", dev, str(m)], check=True)
    (m / name).write_text("data")
    subprocess.run(["umount", str(m)], check=True)


def has(dev, tmp_path, name="old.txt") -> bool:
    m = tmp_path / "m"
    m.mkdir(exist_ok=True)
    subprocess.run(["mount", "-o", "ro", dev, str(m)], check=True)
    try:
        return (m / name).exists()
    finally:
        subprocess.run(["umount", str(m)], check=True)


def config(dev, **fmt):
    return [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
            {"id": "p1", "type": "partition", "device": "d0", "size": "100M", "wipe": "superblock"},
            {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4", **fmt}]


def test_a_foreign_filesystem_of_the_desired_type_is_wiped_once_then_kept(loops, tmp_path):
    dev = foreign(loops)
    put(dev + "p1", tmp_path)
    old_uuid = blkid(dev + "p1")["UUID"]
    cfg = write_config(tmp_path / "c.yaml", config(dev))
    root = tmp_path / "root"
    rc, rep = apply(cfg, root)
    assert rc == 0 and statuses(rep)["f1"] == "done", rep
    assert [s["op"] for s in rep["steps"] if s["item"] == "f1"] == ["wipe", "mkfs"]
    assert blkid(dev + "p1")["UUID"] != old_uuid and not has(dev + "p1", tmp_path)
    put(dev + "p1", tmp_path, "new.txt")
    for _ in range(2):  # re-runs and a reboot (the journal stays): only verified
        rc, rep = apply(cfg, root)
        assert rc == 0 and set(statuses(rep).values()) == {"ok"} and not rep["steps"], rep
    assert has(dev + "p1", tmp_path, "new.txt")


def test_a_reattached_volume_is_kept(loops, tmp_path):
    dev = foreign(loops)
    root = tmp_path / "root"
    cfg = config(dev)
    rc, rep = apply(write_config(tmp_path / "c.yaml", cfg), root)
    assert rc == 0, rep
    put(dev + "p1", tmp_path, "new.txt")
    img = loops.image(dev)
    subprocess.run(["partx", "-d", dev], check=True)
    subprocess.run(["losetup", "-d", dev], check=True)
    loops.devs.remove(dev)
    loops.add("64M", name="other.img")  # the old node may now be another disk
    dev2 = loops.attach(img)
    subprocess.run(["partx", "--add", dev2], check=True)
    cfg[0]["path"] = dev2
    rc, rep = apply(write_config(tmp_path / "c.yaml", cfg), root)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    assert has(dev2 + "p1", tmp_path, "new.txt")


@pytest.mark.parametrize("key", ["label", "uuid"])
def test_a_new_instance_keeps_a_filesystem_whose_uuid_or_label_the_config_gives(loops, tmp_path, key):
    dev = foreign(loops, label="data")
    put(dev + "p1", tmp_path)
    given = {"label": "data"} if key == "label" else {"uuid": blkid(dev + "p1")["UUID"]}
    rc, rep = apply(write_config(tmp_path / "c.yaml", config(dev, **given)), tmp_path / "fresh-root")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    assert has(dev + "p1", tmp_path)


def test_without_a_uuid_or_label_a_new_instance_cannot_know_and_makes_it_fresh(loops, tmp_path):
    """The documented cost of `wipe` without an identifying uuid or label: a lost state directory means one
    more fresh filesystem."""
    dev = foreign(loops)
    put(dev + "p1", tmp_path)
    rc, rep = apply(write_config(tmp_path / "c.yaml", config(dev)), tmp_path / "fresh-root")
    assert rc == 0 and statuses(rep)["f1"] == "done" and not has(dev + "p1", tmp_path)


def test_a_mounted_filesystem_is_never_wiped_even_the_first_time(loops, tmp_path):
    dev = foreign(loops)
    m = tmp_path / "busy"
    m.mkdir()
    subprocess.run(["mount", dev + "p1", str(m)], check=True)
    (m / "keep").write_text("x")
    rc, rep = apply(write_config(tmp_path / "c.yaml", config(dev)), tmp_path / "root")
    assert rc == 1 and statuses(rep)["f1"] == "refused", rep
    assert (m / "keep").read_text() == "x" and mounted_at(m) == dev + "p1"


def test_a_disk_with_wipe_is_made_fresh_once(loops, tmp_path):
    dev = foreign(loops)
    put(dev + "p1", tmp_path)
    items = config(dev)
    items[0]["wipe"] = "superblock"
    del items[1]["wipe"]
    root = tmp_path / "root"
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    assert rc == 0 and statuses(rep)["d0"] == "done" and not has(dev + "p1", tmp_path), rep
    put(dev + "p1", tmp_path, "new.txt")
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"} and has(dev + "p1", tmp_path, "new.txt")


def test_a_preserved_partition_with_wipe_and_no_format_is_wiped_once_as_curtin_does(loops, tmp_path):
    dev = foreign(loops)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "size": "100M", "preserve": True,
              "wipe": "superblock"}]
    root = tmp_path / "root"
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    assert rc == 0 and statuses(rep)["p1"] == "done" and "TYPE" not in blkid(dev + "p1"), rep
    subprocess.run(["mkfs.ext4", "-q", dev + "p1"], check=True)  # made by the user afterwards
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), root)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"} and blkid(dev + "p1")["TYPE"] == "ext4", rep


def test_a_journal_from_before_the_record_counts_as_applied(loops, tmp_path):
    """Upgrading must not wipe: a journal that shows steps on the device (and no `applied` record) is enough."""
    import json

    dev = foreign(loops)
    root = tmp_path / "root"
    rc, rep = apply(write_config(tmp_path / "c.yaml", config(dev)), root)
    assert rc == 0
    put(dev + "p1", tmp_path, "new.txt")
    j = root / "var/lib/blockprov/storage/journal.json"
    data = json.loads(j.read_text())
    del data["applied"]
    j.write_text(json.dumps(data))
    rc, rep = apply(write_config(tmp_path / "c.yaml", config(dev)), root)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"} and has(dev + "p1", tmp_path, "new.txt"), rep
