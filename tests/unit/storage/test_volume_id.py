"""volume_id and lun matching, one recorded inventory per platform (tests/fixtures/volumes/platforms.json: the
udev properties, sysfs serial and links each platform gives a volume), through the probe's own serial rule
and the planner; then ``storage plan --inventory`` as a user runs it."""
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from blockprov.storage import plan as planner
from blockprov.storage.inventory import Device, Inventory
from blockprov.storage.probe import serials
from blockprov.storage.volume_id import answers, lun_matches, matches

FIX = json.loads((Path(__file__).parents[2] / "fixtures/volumes/platforms.json").read_text())["platforms"]


def disk(path: str, row: dict) -> Device:
    serial, ids = serials(row["props"], row["sysfs_serial"])
    return Device(path=path, size=10 << 30, serial=serial, serial_ids=ids, links=row["links"])


@pytest.mark.parametrize("row", FIX, ids=[r["platform"] for r in FIX])
def test_each_platform_matches_its_volume_and_no_other(row):
    mine = disk("/dev/sdx", row)
    others = [disk(f"/dev/sd{c}", r) for c, r in zip("abcdefgh", FIX) if r is not row]
    if "volume_id" in row:
        assert row["platform"] in matches(row["volume_id"], mine)
        assert not any(matches(row["volume_id"], o) for o in others)
    else:
        assert lun_matches(row["lun"], mine) and not any(lun_matches(row["lun"], o) for o in others)
        assert not lun_matches(row["lun"] + 1, mine)
    assert [asdict(a) for a in answers(mine)] == row["answers"]


def test_exact_only_never_a_substring():
    blk = disk("/dev/vdb", FIX[0])  # serial abcdef12-3456-7890-a
    assert matches("abcdef12-3456-7890", blk) == []  # a prefix of the serial is not the volume
    assert matches("abcdef12-3456-7890-a", blk) == ["serial"]
    assert matches("xabcdef12-3456-7890-abcd", blk) == []
    assert matches("vol-0123456789abcdef", disk("/dev/nvme1n1", FIX[2])) == []
    assert matches("data-disk", disk("/dev/sdb", FIX[3])) == []


def inv_of(*devs: Device) -> Inventory:
    return Inventory(devices={d.path: d for d in devs})


def test_planner_one_match_two_matches_none():
    item = {"id": "d", "type": "disk", "volume_id": "abcdef12-3456-7890-abcd-ef1234567890"}
    found, desc = planner.match_disk(item, inv_of(disk("/dev/vdb", FIX[0]), disk("/dev/vdc", FIX[3])))
    assert [d.path for d in found] == ["/dev/vdb"] and "volume_id=" in desc
    # two disks cut to the same 20 characters: both are named (the plan makes this an error)
    found, _ = planner.match_disk(item, inv_of(disk("/dev/vdb", FIX[0]), disk("/dev/vdc", FIX[0])))
    assert [d.path for d in found] == ["/dev/vdb", "/dev/vdc"]
    assert planner.match_disk(item, inv_of(disk("/dev/vdc", FIX[3])))[0] == []
    # every identifier given must match: a volume_id and a serial that disagree match nothing
    assert planner.match_disk({**item, "serial": "other"}, inv_of(disk("/dev/vdb", FIX[0])))[0] == []
    assert [d.path for d in planner.match_disk({"id": "a", "type": "disk", "lun": 1},
                                               inv_of(disk("/dev/sdc", FIX[4]), disk("/dev/sdd", FIX[5])))[0]] == \
        ["/dev/sdc"]


def run_plan(tmp_path, cfg: dict, devs: list[Device]) -> tuple[int, dict]:
    (tmp_path / "cfg.json").write_text(json.dumps({"storage": {"version": 1, "config": cfg}}))
    (tmp_path / "inv.json").write_text(inv_of(*devs).dumps())
    r = subprocess.run([sys.executable, "-m", "blockprov", "storage", "plan", str(tmp_path / "cfg.json"),
                        "--inventory", str(tmp_path / "inv.json"), "--json"], capture_output=True, text=True)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {"stderr": r.stderr}


def test_storage_plan_with_an_inventory_file_as_the_issue_says(tmp_path):
    cfg = [{"id": "d1", "type": "disk", "volume_id": "abcdef12-3456-7890-abcd-ef1234567890", "ptable": "gpt"},
           {"id": "p1", "type": "partition", "device": "d1", "size": "100%"},
           {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4"}]
    rc, rep = run_plan(tmp_path, cfg, [disk("/dev/vdb", FIX[0]), disk("/dev/vdc", FIX[3])])
    items = {i["id"]: i for i in rep["items"]}
    assert rc == 0 and items["d1"]["device"] == "/dev/vdb", rep
    rc, rep = run_plan(tmp_path, cfg, [disk("/dev/vdb", FIX[0]), disk("/dev/vdc", FIX[0])])
    d1 = {i["id"]: i for i in rep["items"]}["d1"]
    assert d1["status"] == "error" and "/dev/vdb" in d1["reason"] and "/dev/vdc" in d1["reason"], d1
    rc, rep = run_plan(tmp_path, cfg, [disk("/dev/vdc", FIX[3])])
    assert {i["id"]: i for i in rep["items"]}["d1"]["status"] == "waiting"
    bad = [{"id": "d1", "type": "disk", "volume_id": ""}]
    (tmp_path / "cfg.json").write_text(json.dumps({"storage": {"version": 1, "config": bad}}))
    r = subprocess.run([sys.executable, "-m", "blockprov", "storage", "validate", str(tmp_path / "cfg.json")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "volume_id" in r.stderr + r.stdout
