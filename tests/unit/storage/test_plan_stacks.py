"""Planning stacked devices against inventories shaped like what probe() records in the VM guest (pure)."""

from hypothesis import given
from hypothesis import strategies as st

from blockprov.storage import conffiles
from blockprov.storage.inventory import Device, Inventory
from blockprov.storage.model import Model
from blockprov.storage.plan import Options, plan
from blockprov.storage.plan_stacks import raid_level

G = 1 << 30
DISKS = [{"id": "a", "type": "disk", "serial": "m-a"}, {"id": "b", "type": "disk", "serial": "m-b"}]
RAID = DISKS + [{"id": "md", "type": "raid", "name": "md0", "raidlevel": 1, "devices": ["a", "b"]},
                {"id": "fs", "type": "format", "volume": "md", "fstype": "ext4"}]


def inv(*devs: Device, **kw) -> Inventory:
    i = Inventory(**kw)
    for d in devs:
        i.devices[d.path] = d
    return i


def disks(fstype=None, uuid=None, holders=()):
    return [Device("/dev/vdb", size=4 * G, serial="m-a", fstype=fstype, fsuuid=uuid, holders=list(holders)),
            Device("/dev/vdc", size=4 * G, serial="m-b", fstype=fstype, fsuuid=uuid, holders=list(holders))]


def statuses(items, i):
    p = plan(Model.build({"version": 1, "config": items}), i, Options(target="/t"))
    return {x.id: (x.status, x.reason) for x in p.items}, p


def test_blank_members_make_an_array():
    s, p = statuses(RAID, inv(*disks()))
    assert s["md"][0] == "create" and s["fs"][0] == "create"
    assert [x.op for x in p.steps] == ["raid-create", "wipe", "mkfs"]  # a new volume is wiped before mkfs
    assert p.steps[0].args == {"name": "md0", "level": "raid1", "devices": ["/dev/vdb", "/dev/vdc"], "spares": [],
                               "metadata": "1.2"}


def test_running_array_that_matches_is_ok_and_one_that_differs_is_conflict_or_refused():
    md = Device("/dev/md127", kind="raid", size=4 * G, name="md0", level="raid1", members=["/dev/vdb", "/dev/vdc"],
                fstype="ext4", fsuuid="u1")
    s, p = statuses(RAID, inv(*disks("linux_raid_member", "x", ["md127"]), md))
    assert s["md"] == ("ok", "raid1 array md0 already as desired") and s["fs"][0] == "ok"
    degraded = Device("/dev/md127", kind="raid", size=4 * G, name="md0", level="raid1", members=["/dev/vdb"])
    pres = [dict(it, preserve=True) for it in RAID]
    s, p = statuses(pres, inv(*disks("linux_raid_member", "x", ["md127"]), degraded))
    assert s["md"][0] == "conflict" and "/dev/vdc" in s["md"][1] and s["fs"][0] == "blocked"
    assert [x.op for x in p.steps] == []
    s, _ = statuses(RAID, inv(*disks("linux_raid_member", "x", ["md127"]), degraded))
    assert s["md"][0] == "refused"


def test_stopped_array_is_assembled_and_foreign_members_are_refused():
    s, p = statuses(RAID, inv(*disks("linux_raid_member", "same-uuid")))
    assert s["md"][0] == "create" and [x.op for x in p.steps][:1] == ["raid-assemble"]
    two = disks("linux_raid_member")
    two[0].fsuuid, two[1].fsuuid = "one", "other"
    s, p = statuses(RAID, inv(*two))
    assert s["md"][0] == "refused" and "add wipe" in s["md"][1] and not p.steps
    s, _ = statuses([dict(it, preserve=True) for it in RAID], inv(*disks("ext4", "u")))
    assert s["md"][0] == "conflict"


def test_lvm_group_and_volume_sizes_round_to_extents():
    items = DISKS[:1] + [{"id": "vg", "type": "lvm_volgroup", "name": "vg0", "devices": ["a"]},
                         {"id": "lv", "type": "lvm_partition", "volgroup": "vg", "name": "data", "size": "1G"},
                         {"id": "lv2", "type": "lvm_partition", "volgroup": "vg", "name": "rest"}]
    s, p = statuses(items, inv(disks()[0]))
    assert [x.op for x in p.steps] == ["vg-create", "lv-create", "lv-create"]
    assert p.steps[1].args["size"] == G and p.steps[2].args["size"] is None
    i = inv(Device("/dev/vdb", size=4 * G, serial="m-a", fstype="LVM2_member", holders=["dm-0"]),
            Device("/dev/dm-0", kind="lvm", size=G, name="vg0-data"),
            Device("/dev/dm-1", kind="lvm", size=3 * G, name="vg0-rest"),
            vgs={"vg0": ["/dev/vdb"]}, lvs={"vg0/data": {"path": "/dev/dm-0", "size": G},
                                              "vg0/rest": {"path": "/dev/dm-1", "size": 3 * G}})
    s, p = statuses(items, i)
    assert {v[0] for v in s.values()} == {"ok"} and not p.steps
    i.lvs["vg0/data"]["size"] = 2 * G
    s, _ = statuses([dict(it, preserve=True) for it in items], i)
    assert s["lv"][0] == "conflict" and "expected 1073741824" in s["lv"][1]


def test_luks_key_never_appears_in_the_plan_and_an_existing_header_is_opened():
    items = DISKS[:1] + [{"id": "c", "type": "dm_crypt", "volume": "a", "dm_name": "secret", "key": "pass-123"}]
    _s, p = statuses(items, inv(disks()[0]))
    assert [x.op for x in p.steps] == ["crypt-format"] and "pass-123" not in str(p.to_json())
    s, p = statuses(items, inv(Device("/dev/vdb", size=4 * G, serial="m-a", fstype="crypto_LUKS")))
    assert s["c"][0] == "create" and [x.op for x in p.steps] == ["crypt-open"]
    s, p = statuses(items, inv(Device("/dev/vdb", size=4 * G, serial="m-a", fstype="crypto_LUKS", holders=["dm-0"]),
                               Device("/dev/dm-0", kind="crypt", size=4 * G, name="secret", members=["/dev/vdb"])))
    assert s["c"][0] == "ok" and not p.steps


def test_bcache_mode_is_changed_in_place_but_verified_when_preserved():
    items = DISKS + [{"id": "bc", "type": "bcache", "backing_device": "a", "cache_device": "b",
                      "cache_mode": "writeback"}]
    devs = disks("bcache") + [Device("/dev/bcache0", kind="bcache", size=4 * G, members=["/dev/vdb"],
                                     caches=["/dev/vdc"], cache_mode="writethrough")]
    s, p = statuses(items, inv(*devs))
    assert s["bc"][0] == "create" and [x.op for x in p.steps] == ["bcache-mode"]
    s, p = statuses([dict(it, preserve=True) for it in items], inv(*devs))
    assert s["bc"][0] == "conflict" and not p.steps


@given(st.sampled_from([1, "1", "raid1", "mirror", "RAID1"]))
def test_raid_levels_normalise(v):
    assert raid_level(v) == "raid1"


def test_crypttab_and_mdadm_conf_blocks_never_duplicate_and_are_stable():
    e = conffiles.CryptEntry("data", "UUID=abc", "none", "luks", {"/dev/md127"})
    once = conffiles.render_crypttab("# comment\n", [e])
    assert "data\tUUID=abc\tnone\tluks" in once.splitlines()
    assert conffiles.render_crypttab(once, [e]) == once
    assert conffiles.render_crypttab("data /dev/md127 /k luks\n", [e]) == "data /dev/md127 /k luks\n"
    arr = "ARRAY /dev/md/md0 metadata=1.2 name=g:md0 UUID=aa:bb:cc:dd"
    conf = conffiles.render_mdadm_conf("HOMEHOST <system>\n", [arr])
    assert conf.count("ARRAY") == 1 and conffiles.render_mdadm_conf(conf, [arr]) == conf
    foreign = "ARRAY /dev/md0 UUID=AA:BB:CC:DD\n"
    assert conffiles.render_mdadm_conf(foreign, [arr]) == foreign


def test_lines_of_stacks_that_are_not_up_are_kept():
    e = conffiles.CryptEntry("cryptdata", "UUID=aaaa-bbbb")
    arr = "ARRAY /dev/md0 metadata=1.2 name=vm1:md0 UUID=46920e90:878c969f:0782bbb5:7a4ab7f3"
    crypttab = conffiles.render_crypttab("", [e])
    mdconf = conffiles.render_mdadm_conf("", [arr])
    # the array is in conflict now: no entries come from this run, the names are held
    assert conffiles.render_crypttab(crypttab, [], frozenset({"cryptdata"})) == crypttab
    assert conffiles.render_mdadm_conf(mdconf, [], frozenset({"md0"})) == mdconf
    # removed from the config: not held, the lines go
    assert "cryptdata" not in conffiles.render_crypttab(crypttab, [], frozenset())
    assert "ARRAY" not in conffiles.render_mdadm_conf(mdconf, [], frozenset())
    assert conffiles.array_name("ARRAY /dev/md/data metadata=1.2 UUID=1:2:3:4") == "data"
