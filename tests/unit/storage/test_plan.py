import glob
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockprov.storage import layout, loader, validate
from blockprov.storage.inventory import Device, Inventory, Part
from blockprov.storage.model import Model
from blockprov.storage.plan import ItemPlan, Options, applied_identities, blank_inventory, plan
from blockprov.storage.simulate import simulate
from tests.conftest import CORPUS

G = 1 << 30
MiB = 1 << 20
M = 1 << 20


def model(items, version=1):
    l = loader.from_document({"storage": {"version": version, "config": items}})
    assert validate.errors(validate.validate(l.storage, l.prefix)) == []
    return Model.build(l.storage, l.prefix)


def disk_inv(*devs):
    return Inventory(devices={d.path: d for d in devs})


BASIC = [
    {"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt", "wipe": "superblock"},
    {"id": "p1", "type": "partition", "device": "d0", "size": "1G", "flag": "boot"},
    {"id": "p2", "type": "partition", "device": "d0", "size": "2G"},
    {"id": "f1", "type": "format", "volume": "p1", "fstype": "vfat"},
    {"id": "f2", "type": "format", "volume": "p2", "fstype": "ext4", "label": "root"},
    {"id": "m2", "type": "mount", "device": "f2", "path": "/srv/data"},
    {"id": "m1", "type": "mount", "device": "f1", "path": "/srv"},
]


def statuses(p):
    return {i.id: i.status for i in p.items}


def test_blank_disk_creates_and_orders_mounts_by_depth():
    p = plan(model(BASIC), disk_inv(Device("/dev/vdb", size=10 * G, serial="S0")))
    assert set(statuses(p).values()) == {"create"}
    mounts = [s.args["path"] for s in p.steps if s.op == "mount"]
    assert mounts == ["/srv", "/srv/data"]
    pt = next(s for s in p.steps if s.op == "ptable")
    assert [(x["start"], x["size"]) for x in pt.args["partitions"]] == [(M, G), (M + G, 2 * G)]
    assert pt.args["partitions"][0]["type"] == layout.FLAG_TYPES["boot"][0]


def test_absent_disk_waits_and_others_proceed():
    items = BASIC + [{"id": "d1", "type": "disk", "serial": "S1", "ptable": "gpt"},
                     {"id": "q1", "type": "partition", "device": "d1", "size": "1G"}]
    p = plan(model(items), disk_inv(Device("/dev/vdb", size=10 * G, serial="S0")))
    s = statuses(p)
    assert s["d1"] == s["q1"] == "waiting" and s["f2"] == "create"


def test_serial_is_exact_not_substring():
    p = plan(model(BASIC), disk_inv(Device("/dev/vdb", size=10 * G, serial="S00")))
    assert statuses(p)["d0"] == "waiting"


def test_serial_matches_any_udev_serial_form_and_all_keys_must_agree():
    dev = Device("/dev/sda", size=10 * G, serial="S0-short", serial_ids=["0QEMU_QEMU_HARDDISK_S0", "S0-short"],
                 wwn="0x5000c500a0b1c2d3", links=["/dev/disk/by-id/wwn-0x5000c500a0b1c2d3"])
    for keys, want in [({"serial": "0QEMU_QEMU_HARDDISK_S0"}, "create"), ({"wwn": "0x5000C500A0B1C2D3"}, "create"),
                       ({"path": "/dev/disk/by-id/wwn-0x5000c500a0b1c2d3"}, "create"),
                       ({"serial": "S0-short", "wwn": "0xdead"}, "waiting"), ({"serial": "QEMU"}, "waiting")]:
        items = [{"id": "d0", "type": "disk", "ptable": "gpt", **keys}]
        assert statuses(plan(model(items), disk_inv(dev)))["d0"] == want, keys


def test_unseen_partition_is_never_assumed_blank():
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "size": "1G"},
             {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4"}]
    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0", ptable="gpt", parts=[Part(1, M, G, layout.LINUX_GUID)]))
    p = plan(model(items), inv)
    assert statuses(p) == {"d0": "ok", "p1": "ok", "f1": "waiting"} and not [s for s in p.steps if s.op == "mkfs"]


def test_ambiguous_match_is_error():
    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0"), Device("/dev/vdc", size=10 * G, serial="S0"))
    p = plan(model(BASIC), inv)
    assert statuses(p)["d0"] == "error" and "/dev/vdb" in p.by_id()["d0"].reason and "/dev/vdc" in p.by_id()["d0"].reason


def test_refuses_disk_with_data_without_wipe():
    items = [dict(BASIC[0])] + BASIC[1:]
    del items[0]["wipe"]
    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0", fstype="ext4"))
    p = plan(model(items), inv)
    assert statuses(p)["d0"] == "refused" and "add wipe" in p.by_id()["d0"].reason
    assert p.steps == [] or all(s.op == "fstab" for s in p.steps)


def test_refuses_in_use_disk_even_with_wipe():
    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0", ptable="gpt", parts=[Part(1, M, G, layout.LINUX_GUID)]),
                   Device("/dev/vdb1", kind="part", parent="/dev/vdb", number=1, size=G, mountpoints=["/x"]))
    assert statuses(plan(model(BASIC), inv))["d0"] == "refused"


def test_preserve_mismatch_is_conflict_with_expected_and_found():
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt", "preserve": True},
             {"id": "p1", "type": "partition", "device": "d0", "size": "1G", "preserve": True},
             {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4", "preserve": True}]
    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0", ptable="gpt", parts=[Part(1, M, 2 * G, layout.LINUX_GUID)]),
                   Device("/dev/vdb1", kind="part", parent="/dev/vdb", number=1, size=2 * G, fstype="ext4"))
    p = plan(model(items), inv)
    ip = p.by_id()["p1"]
    assert ip.status == "conflict" and ip.expected["size"] == G and ip.found["size"] == 2 * G
    assert statuses(p)["f1"] == "blocked"


def test_unknown_disk_is_never_touched():
    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0"), Device("/dev/vdz", size=10 * G, serial="OTHER"))
    p = plan(model(BASIC), inv)
    assert all(s.device is None or not s.device.startswith("/dev/vdz") for s in p.steps)


def test_msdos_extended_logical_layout():
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "msdos"},
             {"id": "p1", "type": "partition", "device": "d0", "size": "1G", "flag": "boot"},
             {"id": "p2", "type": "partition", "device": "d0", "size": "3G", "flag": "extended"},
             {"id": "p5", "type": "partition", "device": "d0", "size": "1G", "flag": "logical"},
             {"id": "p6", "type": "partition", "device": "d0", "size": "1G", "flag": "logical"}]
    p = plan(model(items), disk_inv(Device("/dev/vdb", size=10 * G, serial="S0")))
    slots = next(s for s in p.steps if s.op == "ptable").args["partitions"]
    assert [(s["number"], s["kind"]) for s in slots] == [(1, "primary"), (2, "extended"), (5, "logical"), (6, "logical")]
    assert slots[2]["start"] == slots[1]["start"] + M
    assert slots[3]["start"] == slots[2]["start"] + G + M
    assert slots[0]["bootable"]


def test_partition_does_not_fit_known_disk():
    p = plan(model(BASIC), disk_inv(Device("/dev/vdb", size=2 * G, serial="S0")))
    assert statuses(p)["d0"] == "error" and "does not fit" in p.by_id()["d0"].reason


def test_plan_is_deterministic_and_json():
    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0"))
    a, b = plan(model(BASIC), inv).to_json(), plan(model(BASIC), inv).to_json()
    assert a == b and json.loads(json.dumps(a)) == a
    assert set(a["items"][0]) >= {"id", "type", "status", "reason", "device"}


@pytest.mark.parametrize("path", sorted(glob.glob(str(CORPUS / "*.yaml"))), ids=lambda p: p.rsplit("/", 1)[-1])
def test_corpus_plans_on_blank_disks(path):
    l = loader.load_file(path)
    m = Model.build(l.storage, l.prefix)
    p = plan(m, blank_inventory(m))
    assert "error" not in statuses(p).values()
    for ip in p.items:
        if ip.status == "conflict":
            assert m.by_id[ip.id].get("preserve"), ip
    if not any(it.get("preserve") for it in m.items):
        assert "conflict" not in statuses(p).values()


# -- properties ---------------------------------------------------------------
FSTYPES = ["ext4", "xfs", "btrfs", "vfat", "swap", "ext2"]


@st.composite
def configs(draw):
    items, n_disks = [], draw(st.integers(1, 3))
    paths = iter(f"/m{i}" for i in range(100))
    for d in range(n_disks):
        ptable = draw(st.sampled_from(["gpt", "msdos", None]))
        disk = {"id": f"d{d}", "type": "disk", "serial": f"S{d}", "wipe": "superblock"}
        if ptable is None:
            items.append(disk)
            vols = [disk["id"]]
        else:
            disk["ptable"] = ptable
            items.append(disk)
            vols = []
            for k in range(draw(st.integers(1, 3 if ptable == "msdos" else 5))):
                pid = f"d{d}p{k}"
                items.append({"id": pid, "type": "partition", "device": disk["id"],
                              "size": draw(st.sampled_from(["100M", "1G", "1.5G", 4 << 20, "10%"]))})
                vols.append(pid)
        for v in vols:
            if draw(st.booleans()):
                fst = draw(st.sampled_from(FSTYPES))
                fmt = {"id": f"{v}f", "type": "format", "volume": v, "fstype": fst}
                if draw(st.booleans()) and fst != "swap":
                    fmt["label"] = "lbl"
                items.append(fmt)
                if draw(st.booleans()):
                    items.append({"id": f"{v}m", "type": "mount", "device": fmt["id"],
                                  "path": "none" if fst == "swap" else next(paths)})
    order = draw(st.permutations(items))
    return list(order)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_plan_of_applied_config_is_all_ok(items):
    m = model(items)
    inv = disk_inv(*(Device(f"/dev/vd{chr(98 + i)}", size=20 * G, serial=f"S{i}") for i in range(3)))
    p1 = plan(m, inv, Options(target="/t"))
    assert set(statuses(p1).values()) <= {"create", "ok"}
    after = simulate(p1, inv)
    # the run's journal: every item done on the device it was planned on
    applied = applied_identities([ItemPlan(i.id, i.type, "done", "", i.device) for i in p1.items], after)
    p2 = plan(m, after, Options(target="/t", applied=applied))
    assert set(statuses(p2).values()) == {"ok"}, [(i.id, i.status, i.reason) for i in p2.items if i.status != "ok"]
    assert [s.op for s in p2.steps] in ([], ["fstab"])
    assert plan(m, inv, Options(target="/t")).to_json() == p1.to_json()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=20)
item_keys = st.sampled_from(["id", "type", "device", "volume", "size", "offset", "path", "ptable", "fstype",
                             "devices", "preserve", "wipe", "number", "flag", "label", "raidlevel"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(item_keys, json_values | st.sampled_from(["disk", "partition", "d0", "1G", "/x"]),
                                max_size=8), max_size=6), st.sampled_from([1, 2, "1", None]))
def test_random_configs_only_give_clean_errors(items, version):
    doc = {"version": version, "config": items}
    probs = validate.validate(doc, "$")
    for pr in probs:
        assert pr.code and pr.path.startswith("$") and pr.message
    # The compiled fast gate used for large configs agrees with the full validator.
    assert validate.schema_valid_fast(doc) == (validate.schema_problems(doc, "$") == [])


def test_recorded_inventory_via_cli(tmp_path):
    """A fixture recorded with `blockprov storage inventory --json` from a real loop disk."""
    import subprocess
    import sys
    from pathlib import Path

    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "inventory-loop-gpt-ext4.json"
    base = [{"id": "d0", "type": "disk", "path": "/dev/loop99", "ptable": "gpt"},
            {"id": "p1", "type": "partition", "device": "d0", "size": "200M", "partition_name": "data"},
            {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4", "label": "keep"}]
    cases = [(base, 0, {"d0": "ok", "p1": "ok", "f1": "ok"}),
             ([base[0], dict(base[1], size="300M")], 1, {"d0": "refused", "p1": "blocked"}),
             ([dict(base[0], preserve=True), dict(base[1], preserve=True), dict(base[2], fstype="xfs", preserve=True)],
              1, {"d0": "ok", "p1": "ok", "f1": "conflict"})]
    for items, rc, want in cases:
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps({"version": 1, "config": items}))
        res = subprocess.run([sys.executable, "-m", "blockprov", "storage", "plan", str(cfg), "--inventory", str(fixture),
                              "--json"], capture_output=True, text=True)
        assert res.returncode == rc, res.stderr
        assert {i["id"]: i["status"] for i in json.loads(res.stdout)["items"]} == want


def test_only_disks_the_config_can_name_are_probed_deeply():
    from blockprov.storage.plan import disks_needed

    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0"), Device("/dev/vdz", size=10 * G, serial="OTHER"),
                   Device("/dev/vdb1", kind="part", size=G, parent="/dev/vdb", number=1))
    assert disks_needed(model(BASIC), inv) == {"/dev/vdb"}
    assert disks_needed(model(BASIC), disk_inv(Device("/dev/vdz", size=G, serial="OTHER"))) == set()
    stacked = BASIC[:3] + [{"id": "r0", "type": "raid", "name": "md0", "raidlevel": 1, "devices": ["p1", "p2"]}]
    assert disks_needed(model(stacked), inv) is None  # members may be anywhere: look at everything


def gpt_disk_with(part: Part, size=10 * G) -> Inventory:
    return disk_inv(Device("/dev/vdb", size=size, serial="S0", ptable="gpt", parts=[part]),
                    Device("/dev/vdb1", kind="part", size=part.size, parent="/dev/vdb", number=1))


def test_gpt_attrs_are_planned_verified_and_refused_where_they_cannot_be():
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "size": "1G", "attrs": ["GUID:63", "RequiredPartition"]}]
    p = plan(model(items), disk_inv(Device("/dev/vdb", size=10 * G, serial="S0")))
    table = next(s for s in p.steps if s.op == "ptable")
    assert table.args["partitions"][0]["attrs"] == ["RequiredPartition", "GUID:63"]
    have = Part(1, MiB, G, layout.LINUX_GUID, attrs=["RequiredPartition", "GUID:63"])
    assert statuses(plan(model(items), gpt_disk_with(have)))["d0"] == "ok"
    items[0]["preserve"] = True
    items[1]["preserve"] = True
    items[1]["number"] = 1
    wrong = Part(1, MiB, G, layout.LINUX_GUID, attrs=["GUID:63"])
    ip = next(i for i in plan(model(items), gpt_disk_with(wrong)).items if i.id == "p1")
    assert ip.status == "conflict" and "attrs" in ip.reason
    bad = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "msdos"},
           {"id": "p1", "type": "partition", "device": "d0", "size": "1G", "attrs": ["GUID:63", "GUID:7"]}]
    codes = {(p.code, p.path) for p in validate.validate({"version": 1, "config": bad}, "$")}
    assert ("attrs-needs-gpt", "$.config[1].attrs") in codes and ("bad-attr", "$.config[1].attrs[1]") in codes


def resized(fstype, size="2G", busy=False):
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt", "preserve": True},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "size": size, "preserve": True,
              "resize": True}]
    inv = gpt_disk_with(Part(1, MiB, G, layout.LINUX_GUID))
    inv.devices["/dev/vdb1"].fstype = fstype
    if busy:
        inv.devices["/dev/vdb1"].mountpoints = ["/srv"]
    p = plan(model(items, 2), inv)
    return next(i for i in p.items if i.id == "p1"), p.steps


@pytest.mark.parametrize("fstype", [None, "ext2", "ext3", "ext4", "xfs", "btrfs"])
def test_resize_true_grows_the_partition_and_its_filesystem(fstype):
    ip, steps = resized(fstype)
    assert ip.status == "grow" and ip.expected == {"size": 2 * G} and ip.found == {"size": G}
    assert [(s.op, s.args["old_size"], s.args["size"], s.args["fstype"]) for s in steps] == \
        [("part-resize", G, 2 * G, fstype)]
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt", "preserve": True},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "size": "2G", "resize": True}]
    inv = gpt_disk_with(Part(1, MiB, G, layout.LINUX_GUID))
    after = simulate(plan(model(items, 2), inv), inv)
    assert set(statuses(plan(model(items, 2), after)).values()) == {"ok"}


@pytest.mark.parametrize("fstype,busy,why", [
    ("ntfs", False, "does not resize"), ("swap", False, "does not resize"),
    ("linux_raid_member", False, "never shrinks"), ("crypto_LUKS", False, "never shrinks"),
    ("xfs", False, "xfs cannot shrink"),
    ("ext4", True, "needs it unmounted")])
def test_resize_true_is_refused_where_the_contents_cannot_follow(fstype, busy, why):
    """ntfs is curtin's too (ntfsresize): a documented difference; the others would lose data."""
    ip, steps = resized(fstype, "512M", busy)
    assert ip.status == "refused" and why in ip.reason and steps == []


def test_resize_true_past_the_disk_or_over_a_neighbour_is_refused():
    ip, steps = resized("ext4", "20G")
    assert ip.status in ("refused", "blocked") and steps == []
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt", "preserve": True},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "size": "2G", "resize": True,
              "preserve": True}]
    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0", ptable="gpt",
                          parts=[Part(1, MiB, G, layout.LINUX_GUID), Part(2, MiB + G, G, layout.LINUX_GUID)]),
                   Device("/dev/vdb1", kind="part", size=G, parent="/dev/vdb", number=1))
    ip = next(i for i in plan(model(items, 2), inv).items if i.id == "p1")
    assert ip.status == "refused" and "overlap partition 2" in ip.reason


def test_plan_reads_the_journal_under_root_as_apply_does(tmp_path):
    """A wipe already carried out (the journal's `applied`) is not planned again by `storage plan --root`."""
    import subprocess
    import sys

    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0", ptable="gpt", ptuuid="abcd",
                          parts=[Part(1, MiB, G, layout.LINUX_GUID)]),
                   Device("/dev/vdb1", kind="part", size=G, parent="/dev/vdb", number=1, fstype="ext4"))
    (tmp_path / "inv.json").write_text(inv.dumps())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"version": 1, "config": [
        {"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt"},
        {"id": "p1", "type": "partition", "device": "d0", "size": "1G", "wipe": "superblock"},
        {"id": "f1", "type": "format", "volume": "p1", "fstype": "ext4"}]}))

    def planned(root):
        res = subprocess.run([sys.executable, "-m", "blockprov", "storage", "plan", str(cfg), "--inventory",
                              str(tmp_path / "inv.json"), "--root", str(root), "--json"], capture_output=True, text=True)
        return {i["id"]: i["status"] for i in json.loads(res.stdout)["items"]}

    assert planned(tmp_path / "fresh")["f1"] == "create"  # first meeting: wipe and make
    journal = tmp_path / "applied/var/lib/blockprov/storage/journal.json"
    journal.parent.mkdir(parents=True)
    journal.write_text(json.dumps({"version": 1, "items": {}, "applied": {"p1": [inv.identity("/dev/vdb1")]}}))
    assert planned(tmp_path / "applied") == {"d0": "ok", "p1": "ok", "f1": "ok"}


def test_a_partition_with_wipe_is_replaced_unless_it_is_in_use_or_a_logical():
    """``wipe`` on a partition that differs authorises deleting and re-making its entry (curtin's
    replace_partition, Ignition's wipePartitionEntry); not while mounted, and not for msdos logicals."""
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt", "preserve": True},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "size": "2G", "wipe": "superblock"}]
    inv = gpt_disk_with(Part(1, MiB, G, layout.LINUX_GUID))
    p = plan(model(items, 2), inv)
    assert statuses(p)["p1"] == "create" and [s.op for s in p.steps] == ["part-replace"]
    inv.devices["/dev/vdb1"].mountpoints = ["/srv"]
    ip = next(i for i in plan(model(items, 2), inv).items if i.id == "p1")
    assert ip.status == "refused" and "mounted" in ip.reason
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "msdos", "preserve": True},
             {"id": "e", "type": "partition", "device": "d0", "number": 1, "flag": "extended", "size": "5G",
              "preserve": True},
             {"id": "l5", "type": "partition", "device": "d0", "number": 5, "flag": "logical", "size": "2G",
              "wipe": "superblock"}]
    inv = disk_inv(Device("/dev/vdb", size=10 * G, serial="S0", ptable="msdos",
                          parts=[Part(1, MiB, 5 * G, "0f", "extended"), Part(5, 2 * MiB, G, "83", "logical")]),
                   Device("/dev/vdb5", kind="part", size=G, parent="/dev/vdb", number=5))
    ip = next(i for i in plan(model(items, 2), inv).items if i.id == "l5")
    assert ip.status == "refused" and "logical or extended" in ip.reason


def test_cryptoswap_is_plain_dm_crypt_named_by_its_mapping_in_fstab():
    """curtin's cryptoswap: keyfile /dev/urandom is plain dm-crypt (no luksFormat), opened with a new key, swap
    made on it; fstab names /dev/mapper/NAME (the swap's UUID changes every boot)."""
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "msdos"},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "offset": "1M", "size": "19M",
              "flag": "swap"},
             {"id": "c1", "type": "dm_crypt", "volume": "p1", "dm_name": "cryptoswap-x", "keyfile": "/dev/urandom",
              "options": ["swap", "initramfs"]},
             {"id": "f1", "type": "format", "volume": "c1", "fstype": "swap"},
             {"id": "m1", "type": "mount", "device": "f1", "path": "none"}]
    p = plan(model(items, 2), disk_inv(Device("/dev/vdb", size=200 * MiB, serial="S0")))
    assert [(s.op, s.args.get("plain")) for s in p.steps if s.item == "c1" and s.op != "wipe"] == [("crypt-plain", True)]
    fstab = next(s for s in p.steps if s.op == "fstab")
    assert fstab.args["entries"][0]["spec"] == "/dev/mapper/cryptoswap-x"


def test_zpool_and_zfs_are_unsupported_not_silently_skipped():
    """curtin's zfs cases (zfs_luks_keystore): validated and planned, `unsupported`, no step."""
    items = [{"id": "d0", "type": "disk", "serial": "S0", "ptable": "gpt"},
             {"id": "p1", "type": "partition", "device": "d0", "number": 1, "size": "1G"},
             {"id": "z", "type": "zpool", "pool": "tank", "vdevs": ["p1"], "mountpoint": "/"},
             {"id": "zf", "type": "zfs", "pool": "z", "volume": "/home"}]
    p = plan(model(items, 2), disk_inv(Device("/dev/vdb", size=10 * G, serial="S0")))
    st = statuses(p)
    assert st["z"] == "unsupported" and st["zf"] in ("unsupported", "blocked")
    assert not [s for s in p.steps if s.item in ("z", "zf")]


def test_every_step_the_planner_can_emit_has_an_executor_and_every_executor_a_step():
    """issue 22: an explicit op table, checked against the ops the planner's source can write."""
    import re
    from pathlib import Path

    import blockprov.storage as pkg
    from blockprov.storage.execute import OPS, Executor

    src = "".join(p.read_text() for p in Path(pkg.__file__).parent.glob("*.py"))
    emitted = set(re.findall(r'(?:Step|add_step)\("([a-z-]+)"', src)) | {"lv-activate"}  # in apply's activation set; no plan emits it yet
    assert emitted - {"fstab"} == set(OPS)  # fstab is written after the device steps, by write_fstab
    methods = {n for n in dir(Executor) if n.startswith("op_") and n != "op_unsupported"}
    assert {f.__name__ for f in OPS.values()} == methods
