"""cloud-init disk keys -> storage v1 (pure), checked by blockprov's own validator."""

import pytest

from blockprov.storage import cloudinit, validate
from blockprov.storage.inventory import Device, Inventory, Part


def valid(doc):
    assert validate.errors(validate.validate(doc, "$")) == []
    return doc["config"]


def test_layout_fs_and_mounts_reference_each_other():
    items = valid(cloudinit.translate({
        "disk_setup": {"ephemeral0": {"table_type": "gpt", "layout": [25, [75, 82]], "overwrite": True}},
        "fs_setup": [{"device": "ephemeral0", "partition": 1, "filesystem": "ext4", "label": "eph"},
                     {"device": "ephemeral0", "partition": 2, "filesystem": "swap"}],
        "mounts": [["ephemeral0.1", "/mnt"], ["/dev/disk/cloud/azure_resource-part2", "none", "swap"]]},
        Inventory()).storage)
    disk, p1, p2, f1, f2, m1, m2 = items
    assert disk == {"id": disk["id"], "type": "disk", "path": "/dev/disk/cloud/azure_resource", "ptable": "gpt",
                    "wipe": "superblock-recursive"}
    assert (p1["size"], p2["size"], p2["flag"]) == ("25%", "75%", "swap")
    assert (f1["volume"], f1["label"], f2["volume"], f2["fstype"]) == (p1["id"], "eph", p2["id"], "swap")
    assert (m1["device"], m1["path"], m1["options"], m1["passno"]) == (f1["id"], "/mnt", "defaults,nofail", "2")
    assert (m2["device"], m2["path"], m2["options"]) == (f2["id"], "none", "sw")


def test_existing_volumes_are_preserved_not_made():
    inv = Inventory(devices={
        "/dev/vdb": Device("/dev/vdb", ptable="gpt", size=10 << 30),
        "/dev/vdb1": Device("/dev/vdb1", kind="part", parent="/dev/vdb", number=1, size=5 << 30, fstype="xfs",
                            label="logs", fsuuid="1234-abcd")})
    items = valid(cloudinit.translate({"mounts": [["LABEL=logs", "/var/log/app"]]}, inv).storage)
    assert [(i["type"], i.get("preserve")) for i in items] == [("disk", True), ("partition", True),
                                                               ("format", True), ("mount", None)]
    assert items[2]["fstype"] == "xfs" and items[3]["spec"] == "LABEL=logs"


def test_absent_devices_are_notes_not_errors():
    t = cloudinit.translate({"fs_setup": [{"device": "vdz", "filesystem": "ext4"}], "mounts": [["vdz1", "/x"]]},
                            Inventory())
    assert t.storage["config"] == [] and len(t.notes) == 2 and "/dev/vdz is not attached" in t.notes[0]


@pytest.mark.parametrize("cfg, msg", [
    ({"disk_setup": {"sdb": {"table_type": "dos"}}}, "$.disk_setup.sdb.table_type: 'dos' is not mbr or gpt"),
    ({"disk_setup": {"sdb": {"layout": [0]}}}, "$.disk_setup.sdb.layout[0]: a percentage 1-100"),
    ({"disk_setup": {"sdb": {"layout": [[50, "ab"]]}}}, "$.disk_setup.sdb.layout[0]: partition type 'ab'"),
    ({"fs_setup": [{"device": "sdb", "filesystem": "ntfs"}]}, "$.fs_setup[0].filesystem: 'ntfs' is not one of"),
    ({"fs_setup": [{"device": "sdb", "filesystem": "ext4", "cmd": "mkfs -t %(filesystem)s"}]},
     "$.fs_setup[0].cmd: custom mkfs commands are not supported"),
    ({"disk_setup": {"sdb": {"layout": True}}, "fs_setup": [{"device": "sdb", "partition": 3, "filesystem": "ext4"}]},
     "$.fs_setup[0].partition: 3: disk_setup gives /dev/sdb partitions [1]"),
    ({"mounts": [[]]}, "$.mounts[0]: a list of 1 to 6 fstab fields"),
])
def test_bad_input(cfg, msg):
    with pytest.raises(cloudinit.TranslateError) as e:
        cloudinit.translate(cfg, Inventory())
    assert msg in str(e.value)


def test_ephemeral_partition_names_and_dotted_paths():
    """``ephemeral0.1`` is partition 1 of the disk disk_setup makes; a dot elsewhere in a path means nothing."""
    items = valid(cloudinit.translate({
        "disk_setup": {"ephemeral0": {"layout": True}},
        "fs_setup": [{"device": "ephemeral0.1", "filesystem": "ext4"}]}, Inventory()).storage)
    assert items[2]["volume"] == items[1]["id"] and items[1]["type"] == "partition"
    by_path = "/dev/disk/by-path/pci-0000:00:05.0"
    inv = Inventory(devices={
        by_path: Device(by_path, ptable="gpt", size=10 << 30, parts=[Part(1, 1 << 20, 1 << 30, "0FC63DAF")]),
        by_path + "-part1": Device(by_path + "-part1", kind="part", parent=by_path, number=1, size=1 << 30)})
    items = valid(cloudinit.translate({"fs_setup": [{"device": by_path, "filesystem": "xfs"}]}, inv).storage)
    assert [(i["type"], i.get("number")) for i in items] == [("disk", None), ("partition", 1), ("format", None)]
