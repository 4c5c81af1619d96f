"""GPT geometry against the real tools (issue 19): the last usable LBA, "the rest of the disk" ending on it
exactly as parted's 100% does, and tables from parted or older blockprov versions verifying when preserved."""
import json
import subprocess

import pytest

from tests.host.helpers import apply, sfdisk, statuses, write_config

pytestmark = pytest.mark.host

SECTORS = 204800  # a 100 MiB disk of 512-byte sectors
LAST_USABLE = SECTORS - 34  # backup header at N-1, 32 sectors of backup entries before it


def disk(loops, name="g.img"):
    return loops.add("100M", name=name)


@pytest.mark.parametrize("size", [None, "100%"])
def test_the_rest_of_a_gpt_disk_ends_on_its_last_usable_sector(loops, tmp_path, size):
    dev = disk(loops)
    part = {"id": "p1", "type": "partition", "device": "d0"}
    if size:
        part["size"] = size
    rc, rep = apply(write_config(tmp_path / "c.yaml", [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
                                                       part]), tmp_path / "r")
    assert rc == 0, rep
    pt = sfdisk(dev)
    assert pt["lastlba"] == LAST_USABLE
    p = pt["partitions"][0]
    assert p["start"] == 2048 and p["start"] + p["size"] - 1 == LAST_USABLE
    rc, rep = apply(write_config(tmp_path / "c.yaml", [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
                                                       part]), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}


@pytest.mark.parametrize("maker", ["parted", "old-blockprov"])
def test_a_table_made_elsewhere_verifies_when_preserved(loops, tmp_path, maker):
    dev = disk(loops)
    if maker == "parted":
        subprocess.run(["parted", "-s", dev, "mklabel", "gpt", "mkpart", "data", "1MiB", "100%"], check=True)
    else:  # ends on the MiB boundary before the last usable sector
        subprocess.run(["sfdisk", "--quiet", dev], input="label: gpt\nstart=2048, size=200704\n", text=True,
                       check=True)
    for size in (None, "100%"):
        part = {"id": "p1", "type": "partition", "device": "d0", "number": 1, "preserve": True}
        if size:
            part["size"] = size
        rc, rep = apply(write_config(tmp_path / "c.yaml", [
            {"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "preserve": True}, part]), tmp_path / "r")
        assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def test_a_partition_may_end_on_the_last_usable_lba_and_one_sector_more_is_an_exact_error(loops, tmp_path):
    dev = disk(loops)
    exact = (LAST_USABLE + 1 - 2048) * 512
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "size": f"{exact}B"}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    p = sfdisk(dev)["partitions"][0]
    assert p["start"] + p["size"] - 1 == LAST_USABLE
    items[1]["size"] = f"{exact + 512}B"
    items[0]["wipe"] = "superblock"
    res = subprocess.run(["python3", "-m", "blockprov", "storage", "plan", str(write_config(tmp_path / "d.yaml", items)),
                          "--json"], capture_output=True, text=True)
    plan = json.loads(res.stdout)
    reason = next(i["reason"] for i in plan["items"] if i["id"] == "d0")
    assert f"would end at sector {LAST_USABLE + 1}" in reason and f"last usable sector of the disk is {LAST_USABLE}" in reason


def test_a_disk_whose_primary_gpt_is_gone_but_whose_backup_survives_is_not_blank(loops, tmp_path):
    from tests.host.helpers import sha

    dev = disk(loops)
    subprocess.run(["sfdisk", "--quiet", dev], input="label: gpt\nstart=2048, size=20480\n", text=True, check=True)
    subprocess.run(["dd", "if=/dev/zero", f"of={dev}", "bs=1M", "count=1", "conv=notrunc", "status=none"], check=True)
    assert subprocess.run(["blkid", "-p", dev], capture_output=True).returncode == 2  # blkid: nothing here
    before = sha(loops.image(dev))
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "size": "10M"}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    d0 = next(i for i in rep["items"] if i["id"] == "d0")
    assert rc == 1 and d0["status"] == "refused" and "wipefs finds a gpt signature" in d0["reason"], rep
    assert sha(loops.image(dev)) == before
    items[0]["wipe"] = "superblock"
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep


def msdos(dev, *parts, **disk):
    return [{"id": "d0", "type": "disk", "path": dev, "ptable": "msdos", **disk}] + [
        {"type": "partition", "device": "d0", **p} for p in parts]


def test_five_primaries_on_msdos_are_an_error_of_the_plan_and_nothing_is_written(loops, tmp_path):
    from tests.host.helpers import sha

    dev = disk(loops)
    subprocess.run(["mkfs.ext4", "-q", dev], check=True)
    before = sha(loops.image(dev))
    items = msdos(dev, *({"id": f"p{i}", "size": "10M"} for i in range(1, 6)), wipe="superblock")
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    d0 = next(i for i in rep["items"] if i["id"] == "d0")
    assert rc == 1 and d0["status"] == "error" and "primary slots 1 to 4" in d0["reason"], rep
    assert rep["steps"] == [] or all(s["op"] == "fstab" for s in rep["steps"])
    assert sha(loops.image(dev)) == before


def test_msdos_numbering_with_gaps_and_its_extended_partition_verify_on_rerun(loops, tmp_path):
    dev = disk(loops)
    items = msdos(dev, {"id": "p1", "number": 1, "size": "10M"}, {"id": "p4", "number": 4, "size": "10M"})
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    assert [p["node"][-1] for p in sfdisk(dev)["partitions"]] == ["1", "4"]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    dev2 = disk(loops, "e.img")
    items = msdos(dev2, {"id": "p1", "size": "10M"}, {"id": "e", "size": "60M", "flag": "extended"},
                  {"id": "l5", "size": "20M", "flag": "logical"})
    rc, rep = apply(write_config(tmp_path / "e.yaml", items), tmp_path / "r2")
    assert rc == 0, rep
    ext = next(p for p in sfdisk(dev2)["partitions"] if p["node"].endswith("p2"))
    assert int(ext["type"], 16) in (0x05, 0x0F)
    for it in items:  # everything preserved, the extended one verified by its flag
        it["preserve"] = True
    items[1]["number"], items[2]["number"], items[3]["number"] = 1, 2, 5
    rc, rep = apply(write_config(tmp_path / "e.yaml", items), tmp_path / "r2")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def test_a_table_the_writer_would_refuse_fails_before_the_wipe(loops, tmp_path):
    from tests.host.helpers import sha

    dev = disk(loops)
    subprocess.run(["mkfs.ext4", "-q", "-L", "keep", dev], check=True)
    before = sha(loops.image(dev))
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt", "wipe": "superblock"},
             {"id": "p1", "type": "partition", "device": "d0", "offset": "0", "size": "10M"}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items, version=2), tmp_path / "r")
    d0 = next(i for i in rep["items"] if i["id"] == "d0")
    assert rc == 1 and d0["status"] == "failed" and "nothing was written" in d0["reason"], rep
    assert sha(loops.image(dev)) == before


@pytest.mark.parametrize("uuid", ["2E24-EC82", "2e24ec82", "2E24EC82"])
def test_a_vfat_volume_id_in_any_spelling_is_made_once(loops, tmp_path, uuid):
    dev = disk(loops)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "size": "50M", "wipe": "superblock"},
             {"id": "f1", "type": "format", "volume": "p1", "fstype": "fat32", "uuid": uuid, "label": "EFI"}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    got = subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", dev + "p1"], capture_output=True,
                         text=True).stdout.strip()
    assert got == "2E24-EC82"
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"} and not rep["steps"], rep


def test_gpt_attributes_are_written_and_verified(loops, tmp_path):
    dev = disk(loops)
    items = [{"id": "d0", "type": "disk", "path": dev, "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "size": "10M", "attrs": ["RequiredPartition", "63"]},
             {"id": "p2", "type": "partition", "device": "d0", "number": 3, "size": "10M", "attrs": ["GUID:60"]}]
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0, rep
    got = {p["node"][-1]: p.get("attrs") for p in sfdisk(dev)["partitions"]}
    assert got == {"1": "RequiredPartition GUID:63", "3": "GUID:60"}
    rc, rep = apply(write_config(tmp_path / "c.yaml", items), tmp_path / "r")
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
