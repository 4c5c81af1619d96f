"""The grow chain planned against inventories shaped like what probe() reads in the VM guest (pure):
partition -> md raid1 -> LUKS -> LVM -> ext4 on two disks that grew, and each boundary a killed run may leave."""

import copy

import pytest

from blockprov.storage import layout, plan_grow
from blockprov.storage.inventory import PV, Device, Inventory, Part, VGSpace
from blockprov.storage.model import Model
from blockprov.storage.plan import Options, plan
from blockprov.storage.simulate import simulate

MiB, G = 1 << 20, 1 << 30
EXT = 4 * MiB
OFF = 2 * MiB  # md data offset (mdadm 1.2 on small members)
HDR = 16 * MiB  # LUKS2 payload offset
OLD_PART = G - 2 * MiB  # a 1 GiB gpt disk's one partition from 1 MiB to the backup table

ITEMS = [
    {"id": "a", "type": "disk", "serial": "vol-a", "ptable": "gpt"},
    {"id": "b", "type": "disk", "serial": "vol-b", "ptable": "gpt"},
    {"id": "pa", "type": "partition", "device": "a", "number": 1, "size": "100%"},
    {"id": "pb", "type": "partition", "device": "b", "number": 1, "size": "100%"},
    {"id": "md", "type": "raid", "name": "data", "raidlevel": 1, "devices": ["pa", "pb"]},
    {"id": "crypt", "type": "dm_crypt", "volume": "md", "dm_name": "cdata", "key": "k"},
    {"id": "vg", "type": "lvm_volgroup", "name": "vg0", "devices": ["crypt"]},
    {"id": "lv", "type": "lvm_partition", "volgroup": "vg", "name": "data"},
    {"id": "fs", "type": "format", "volume": "lv", "fstype": "ext4"},
]


def grown_inventory(disk: int = 2 * G) -> Inventory:
    """Both disks grew from 1 GiB to ``disk``; every layer is still its old size."""
    comp = OLD_PART - OFF
    inv = Inventory()

    def add(d: Device) -> None:
        inv.devices[d.path] = d

    for name, serial in (("vdb", "vol-a"), ("vdc", "vol-b")):
        add(Device(f"/dev/{name}", size=disk, serial=serial, ptable="gpt", ptuuid=f"T-{name}",
                   parts=[Part(1, MiB, OLD_PART, layout.LINUX_GUID)]))
        add(Device(f"/dev/{name}1", kind="part", size=OLD_PART, parent=f"/dev/{name}", number=1,
                   fstype="linux_raid_member", fsuuid="R", holders=["md127"]))
    add(Device("/dev/md127", kind="raid", size=comp, name="data", level="raid1", metadata="1.2",
               members=["/dev/vdb1", "/dev/vdc1"], fstype="crypto_LUKS", holders=["dm-0"], component_size=comp,
               member_offsets={"/dev/vdb1": OFF, "/dev/vdc1": OFF}))
    add(Device("/dev/dm-0", kind="crypt", size=comp - HDR, name="cdata", members=["/dev/md127"],
               fstype="LVM2_member", holders=["dm-1"], payload_offset=HDR))
    pv = (comp - HDR - MiB) // EXT * EXT
    add(Device("/dev/dm-1", kind="lvm", size=pv, name="vg0-data", members=["/dev/dm-0"], fstype="ext4",
               fsuuid="F", mountpoints=["/srv"], fs_size=pv))
    inv.vgs = {"vg0": ["/dev/dm-0"]}
    inv.lvs = {"vg0/data": {"path": "/dev/dm-1", "size": pv}}
    inv.pvs = {"/dev/dm-0": PV(size=pv, pe_start=MiB)}
    inv.vg_space = {"vg0": VGSpace(size=pv, free=0, extent=EXT)}
    return inv


def planned(items, inv):
    p = plan(Model.build({"version": 1, "config": items}), inv, Options(target="/t"))
    return {i.id: i for i in p.items}, p


def test_every_layer_grows_in_order_with_its_from_and_to_sizes():
    inv = grown_inventory()
    got, p = planned(ITEMS, inv)
    assert {k: v.status for k, v in got.items()} == {
        "a": "ok", "b": "ok", "pa": "grow", "pb": "grow", "md": "grow", "crypt": "grow", "vg": "grow",
        "lv": "grow", "fs": "grow"}
    assert [s.op for s in p.steps] == ["part-resize", "part-resize", "raid-grow", "crypt-resize", "pv-resize",
                                       "lv-extend", "fs-grow"]
    new_part = p.steps[0].args["size"]
    assert 2 * G - 2 * MiB <= new_part < 2 * G - MiB  # 1 MiB in, the backup table's 33 sectors at the end
    comp = (new_part - OFF) // (64 << 10) * (64 << 10)
    assert got["md"].found == {"size": OLD_PART - OFF} and got["md"].expected == {"size": comp}
    assert got["crypt"].expected == {"size": comp - HDR}
    pv = (comp - HDR - MiB) // EXT * EXT
    assert got["vg"].expected == {"size": pv}
    assert got["lv"].expected == {"size": pv} and got["fs"].expected == {"size": pv}
    # the partitions carry no filesystem resize of their own: the layer above grows by its own item
    assert [s.args["fstype"] for s in p.steps[:2]] == [None, None]
    assert "the linux_raid_member on it follows" in got["pa"].reason
    assert "pass" not in str(p.to_json()) and '"k"' not in str(p.to_json())


def test_a_run_after_the_chain_grew_is_all_ok():
    inv = grown_inventory()
    _, p = planned(ITEMS, inv)
    after = simulate(p, inv)
    got, p2 = planned(ITEMS, after)
    assert {v.status for v in got.values()} == {"ok"} and p2.steps == []


@pytest.mark.parametrize("done", range(1, 7))
def test_a_run_killed_at_any_boundary_is_finished_by_the_next(done):
    """What a SIGKILL after ``done`` steps leaves: the next plan holds exactly the steps not yet run."""
    inv = grown_inventory()
    _, full = planned(ITEMS, inv)
    partial = copy.deepcopy(full)
    partial.steps = full.steps[:done]
    left = simulate(partial, inv)
    for s in partial.steps:  # the partitions the kernel now knows at their new size
        if s.op == "part-resize":
            dev = left.devices[s.device]
            dev.parts[0].size = s.args["size"]
            left.devices[s.device + "1"].size = s.args["size"]
    _, p = planned(ITEMS, left)
    assert [s.op for s in p.steps] == [s.op for s in full.steps[done:]]


def test_raid0_members_growing_leave_the_array_and_a_fixed_size_lv_stays():
    items = copy.deepcopy(ITEMS)
    items[7]["size"] = "512M"
    inv = grown_inventory()
    inv.lvs["vg0/data"]["size"] = 512 * MiB
    inv.vg_space["vg0"].free = inv.vg_space["vg0"].size - 512 * MiB
    inv.devices["/dev/dm-1"].size = inv.devices["/dev/dm-1"].fs_size = 512 * MiB
    got, p = planned(items, inv)
    assert got["lv"].status == "ok" and got["fs"].status == "ok" and got["vg"].status == "grow"
    inv = grown_inventory()
    inv.devices["/dev/md127"].level = "raid0"
    items = copy.deepcopy(ITEMS)
    items[4]["raidlevel"] = 0
    got, p = planned(items, inv)
    assert got["md"].status == "ok" and got["crypt"].status == "ok" and got["fs"].status == "ok"


def test_a_share_of_the_group_grows_to_that_share_and_two_relative_lvs_do_not_take_the_same_space():
    items = ITEMS[:7] + [{"id": "lv", "type": "lvm_partition", "volgroup": "vg", "name": "data", "size": "50%"},
                         {"id": "lv2", "type": "lvm_partition", "volgroup": "vg", "name": "rest"}]
    inv = grown_inventory()
    half = inv.vg_space["vg0"].size // 2 // EXT * EXT
    inv.lvs = {"vg0/data": {"path": "/dev/dm-1", "size": half},
               "vg0/rest": {"path": "/dev/dm-2", "size": inv.vg_space["vg0"].size - half}}
    inv.devices["/dev/dm-2"] = Device("/dev/dm-2", kind="lvm", size=inv.vg_space["vg0"].size - half)
    got, p = planned(items, inv)
    vg_after = got["vg"].expected["size"]
    assert got["lv"].expected == {"size": vg_after // 2 // EXT * EXT}
    assert got["lv2"].expected == {"size": vg_after - got["lv"].expected["size"]}
    after = simulate(p, inv)
    assert after.vg_space["vg0"].free == 0
    got, p = planned(items, after)
    assert {v.status for v in got.values()} == {"ok"}


def test_filesystem_left_short_of_its_device_grows_and_rounding_does_not():
    items = [{"id": "d", "type": "disk", "serial": "vol-a", "preserve": True},
             {"id": "f", "type": "format", "volume": "d", "fstype": "xfs", "preserve": True}]
    inv = Inventory(devices={"/dev/sdb": Device("/dev/sdb", size=10 * G, serial="vol-a", fstype="xfs",
                                                 fsuuid="X", fs_size=5 * G)})
    got, p = planned(items, inv)
    assert got["f"].status == "grow" and got["f"].expected == {"size": 10 * G}
    assert [(s.op, s.args) for s in p.steps] == [("fs-grow", {"fstype": "xfs", "size": 10 * G})]
    inv.devices["/dev/sdb"].fs_size = 10 * G - 15 * MiB  # less than a filesystem leaves by design
    got, p = planned(items, inv)
    assert got["f"].status == "ok" and not p.steps


def test_growth_below_a_layer_s_rounding_is_not_a_grow():
    inv = grown_inventory(disk=G + 3 * MiB)
    got, p = planned(ITEMS, inv)
    assert got["md"].status == "ok" and [s.op for s in p.steps] == ["part-resize", "part-resize"]
    # a mirror is as large as its smallest member: one member that grew is not enough
    md = inv.devices["/dev/md127"]
    assert plan_grow.raid_after(md, {"/dev/vdb1": G, "/dev/vdc1": 2 * G}) is None
    assert plan_grow.raid_after(md, {"/dev/vdb1": 2 * G, "/dev/vdc1": 2 * G}) == 2 * G - OFF


def test_a_new_lv_with_a_percentage_takes_that_share_of_its_group():
    items = ITEMS[:1] + [{"id": "vg", "type": "lvm_volgroup", "name": "vg0", "devices": ["a"]},
                         {"id": "lv", "type": "lvm_partition", "volgroup": "vg", "name": "half", "size": "50%"}]
    inv = Inventory(devices={"/dev/vdb": Device("/dev/vdb", size=2 * G, serial="vol-a")})
    got, p = planned([{k: v for k, v in items[0].items() if k != "ptable"}] + items[1:], inv)
    lv = next(s for s in p.steps if s.op == "lv-create")
    assert lv.args["size"] is None and lv.args["share"] == 0.5 and "50% of the group" in got["lv"].reason


CRYPTSETUP_STATUS = """/dev/mapper/chaincrypt is active and is in use.
  type:    LUKS2
  cipher:  aes-xts-plain64
  keysize: 512 bits
  key location: keyring
  device:  /dev/md127
  sector size:  512
  offset:  32768 sectors
  size:    2058240 sectors
  mode:    read/write
"""


def test_the_payload_offset_is_read_from_cryptsetup_status():
    from blockprov.storage.probe_room import parse_crypt_status

    assert parse_crypt_status(CRYPTSETUP_STATUS) == 16 * MiB
    assert parse_crypt_status("/dev/mapper/x is inactive.\n") is None
