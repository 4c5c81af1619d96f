"""curtin's partitioning integration cases (tests/integration/test_block_meta.py), on real loop disks.

Inputs and expected tables are curtin's (its ``PartData`` facts: number, offset, size); the code is ours.
Where blockprov deliberately differs (it never deletes or replaces a partition the config does not
authorise), the case asserts blockprov's documented behaviour instead and names the difference
(docs/storage-config.md, "Differences from curtin and Ignition").
"""
import subprocess

import pytest

from tests.host.helpers import apply, sfdisk, statuses, write_config

pytestmark = pytest.mark.host

MiB = 1 << 20


def table(dev: str) -> list[tuple[int, int, int]]:
    """(number, offset bytes, size bytes) per partition, as sfdisk reads the disk (curtin's summarize_partitions)."""
    pt = sfdisk(dev)
    sector = pt.get("sectorsize", 512)
    out = []
    for p in pt["partitions"]:
        num = int(p["node"][len(dev) + 1:])
        out.append((num, p["start"] * sector, p["size"] * sector))
    return sorted(out)


class Builder:
    """curtin's StorageConfigBuilder, writing storage v1/v2 with ids id0, id1, ... as curtin's does."""

    def __init__(self, version: int):
        self.version, self.config, self.disk = version, [], None

    def add(self, **kw) -> dict:
        action = {"id": f"id{len(self.config)}", **kw}
        self.config.append(action)
        return action

    def add_disk(self, path: str, ptable: str, **kw) -> dict:
        self.disk = self.add(type="disk", path=path, ptable=ptable, **kw)
        return self.disk

    def add_part(self, size, **kw) -> dict:
        return self.add(type="partition", device=self.disk["id"], size=size if isinstance(size, str) else f"{size}B",
                        **kw)

    def set_preserve(self) -> None:
        for action in self.config:
            action["preserve"] = True

    def rerun_preserved(self, tmp_path) -> None:
        """Everything preserved, applied again: curtin's verification pass; every item verifies (ok)."""
        self.set_preserve()
        rc, rep = self.run(tmp_path)
        assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep

    def run(self, tmp_path, root="r"):
        rc, rep = apply(write_config(tmp_path / "c.yaml", self.config, self.version), tmp_path / root)
        return rc, rep


def attach(loops, size: str, sector: int = 512) -> str:
    if sector == 512:
        return loops.add(size)
    dev = loops.add(size)
    subprocess.run(["losetup", "--sector-size", str(sector), dev], check=True)
    return dev


@pytest.mark.parametrize("ptable", ["gpt", "msdos"])
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("sector", [512, 4096])
def test_default_offsets(loops, tmp_path, ptable, version, sector):
    psize = 40 << 20
    dev = attach(loops, "200M", sector)
    c = Builder(version)
    c.add_disk(dev, ptable)
    parts = [c.add_part(psize, number=n) for n in (1, 2, 3)]
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, MiB, psize), (2, MiB + psize, psize), (3, MiB + 2 * psize, psize)]
    for p, off in zip(parts, (MiB, MiB + psize, MiB + 2 * psize)):
        p["offset"] = f"{off}B"
    c.rerun_preserved(tmp_path)


@pytest.mark.parametrize("ptable", ["gpt", "msdos"])
def test_specified_offsets_v2(loops, tmp_path, ptable):
    psize = 20 << 20
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, ptable)
    c.add_part(psize, number=1, offset=f"{psize}B")
    c.add_part(psize, number=2, offset=f"{psize * 3}B")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, psize, psize), (2, psize * 3, psize)]
    c.rerun_preserved(tmp_path)


def test_minimum_gpt_offset_v2(loops, tmp_path):
    psize, offset = 20 << 20, 34 * 512
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    c.add_part(psize, number=1, offset=f"{offset}B")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, offset, psize)]
    c.rerun_preserved(tmp_path)


@pytest.mark.parametrize("ptable,version", [("gpt", 1), ("gpt", 2), ("msdos", 2), ("msdos", 1)])
def test_non_default_numbering(loops, tmp_path, ptable, version):
    """curtin marks msdos v1 BROKEN; blockprov makes it as well."""
    psize = 40 << 20
    dev = attach(loops, "100M")
    c = Builder(version)
    c.add_disk(dev, ptable)
    c.add_part(psize, number=1)
    c.add_part(psize, number=4)
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, MiB, psize), (4, MiB + psize, psize)]


@pytest.mark.parametrize("version", [1, 2])
def test_logical(loops, tmp_path, version):
    dev = attach(loops, "100M")
    c = Builder(version)
    c.add_disk(dev, "msdos")
    # curtin adds 1 MiB to the size of the extended partition per contained logical partition, in v1 only
    c.add_part("97M" if version == 1 else "99M", number=1, flag="extended", wipe="superblock")
    c.add_part("10M", number=5, flag="logical")
    c.add_part("10M", number=6, flag="logical")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    got = table(dev)
    assert got[0][:2] == (1, MiB)  # sfdisk reports an extended partition's size as the kernel sees it
    assert sfdisk(dev)["partitions"][0]["size"] * 512 == 99 * MiB
    assert got[1:] == [(5, 2 * MiB, 10 * MiB), (6, 13 * MiB, 10 * MiB)]
    c.rerun_preserved(tmp_path)


def test_delete_logical_partition_is_a_deliberate_difference(loops, tmp_path):
    """curtin deletes logical 5 and renumbers 6 as 5; blockprov never deletes a partition the config does not
    name: the preserved partition 5 the config describes is not on the disk as described, so it is a conflict
    and nothing is written."""
    psize = 20 << 20
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, "msdos")
    c.add_part("90M", number=1, flag="extended")
    c.add_part(psize, number=5, flag="logical")
    c.add_part(psize, number=6, flag="logical")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev)[1:] == [(5, 2 * MiB, psize), (6, 3 * MiB + psize, psize)]
    before = table(dev)
    c2 = Builder(2)
    c2.add_disk(dev, "msdos", preserve=True)
    c2.add_part("90M", number=1, flag="extended", preserve=True)
    c2.add_part(psize, number=5, flag="logical", offset=f"{3 * MiB + psize}B", preserve=True)
    rc, rep = c2.run(tmp_path)
    st = statuses(rep)
    assert rc == 1 and st["id2"] == "conflict", rep
    assert table(dev) == before


@pytest.mark.parametrize("ptable", ["gpt", "msdos"])
def test_replace_partition_is_a_deliberate_difference(loops, tmp_path, ptable):
    """curtin replaces partition 2 (20 MiB) by a 40 MiB one because it is not preserved; blockprov refuses to
    replace a partition the config does not authorise (it may hold data), and writes nothing."""
    psize = 20 << 20
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, ptable)
    c.add_part(psize, number=1)
    c.add_part(psize, number=2)
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, MiB, psize), (2, MiB + psize, psize)]
    c2 = Builder(2)
    c2.add_disk(dev, ptable, preserve=True)
    c2.add_part(psize, number=1, offset=f"{MiB}B", preserve=True)
    c2.add_part(psize * 2, number=2)
    rc, rep = c2.run(tmp_path)
    assert rc == 1 and statuses(rep)["id2"] == "refused", rep
    assert "does not authorise replacing it" in next(i["reason"] for i in rep["items"] if i["id"] == "id2")
    assert table(dev) == [(1, MiB, psize), (2, MiB + psize, psize)]


def types(dev):
    return [(int(p["node"][len(dev) + 1:]), p["start"] * 512, p["size"] * 512, p["type"].upper(),
             bool(p.get("bootable"))) for p in sfdisk(dev)["partitions"]]


def test_parttype_dos(loops, tmp_path):
    """msdos partitions keep the types given (curtin also puts ntfs on them; the table is what is compared)."""
    dev = attach(loops, "200M")
    c = Builder(2)
    c.add_disk(dev, "msdos")
    c.add_part(50 << 20, offset=f"{MiB}B", number=1, flag="boot", partition_type="0x7")
    c.add_part(100 << 20, offset=f"{51 * MiB}B", number=2, partition_type="0x7")
    c.add_part(48 << 20, offset=f"{151 * MiB}B", number=3, partition_type="0x27")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert types(dev) == [(1, MiB, 50 << 20, "7", True), (2, 51 * MiB, 100 << 20, "7", False),
                          (3, 151 * MiB, 48 << 20, "27", False)]


def test_parttype_gpt(loops, tmp_path):
    esp, msreserved = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "E3C9E316-0B5C-4DB8-817D-F92DF00215AE"
    msdata, winre = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC"
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    c.add_part(9 << 20, number=1, offset=f"{MiB}B", flag="boot")
    c.add_part(20 << 20, number=2, offset=f"{10 * MiB}B", partition_type=msreserved)
    c.add_part(50 << 20, number=3, offset=f"{30 * MiB}B", partition_type=msdata)
    c.add_part(19 << 20, number=4, offset=f"{80 * MiB}B", partition_type=winre)
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert [(n, o, s, t) for n, o, s, t, _b in types(dev)] == [
        (1, MiB, 9 << 20, esp), (2, 10 * MiB, 20 << 20, msreserved), (3, 30 * MiB, 50 << 20, msdata),
        (4, 80 * MiB, 19 << 20, winre)]


@pytest.mark.parametrize("ptable", ["msdos", "gpt"])
def test_disk_label_id_and_partition_uuid_persist_when_preserved(loops, tmp_path, ptable):
    dev = attach(loops, "20M")
    c = Builder(2)
    c.add_disk(dev, ptable)
    c.add_part(18 << 20, number=1, offset=f"{MiB}B")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    before = sfdisk(dev)
    c.rerun_preserved(tmp_path)
    after = sfdisk(dev)
    assert after["id"] == before["id"] and table(dev) == [(1, MiB, 18 << 20)]
    assert after["partitions"][0].get("uuid") == before["partitions"][0].get("uuid")


@pytest.mark.parametrize("name", ["two words", "'name' must not be écrasé/덮어쓴!"])
def test_gpt_name_is_set_and_persists_when_preserved_without_it(loops, tmp_path, name):
    dev = attach(loops, "20M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    p1 = c.add_part(18 << 20, number=1, offset=f"{MiB}B", partition_name=name)
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert sfdisk(dev)["partitions"][0]["name"] == name
    del p1["partition_name"]
    c.rerun_preserved(tmp_path)
    assert sfdisk(dev)["partitions"][0]["name"] == name


@pytest.mark.parametrize("attrs", [["GUID:63"], ["GUID:63", "RequiredPartition"]])
def test_gpt_attrs_are_set_and_persist_when_preserved_without_them(loops, tmp_path, attrs):
    dev = attach(loops, "20M")
    c = Builder(2)
    c.add_disk(dev, "gpt")
    p1 = c.add_part(18 << 20, number=1, offset=f"{MiB}B", attrs=list(attrs))
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert set(sfdisk(dev)["partitions"][0]["attrs"].split()) == set(attrs)
    del p1["attrs"]
    c.rerun_preserved(tmp_path)
    assert set(sfdisk(dev)["partitions"][0]["attrs"].split()) == set(attrs)


@pytest.mark.parametrize("header,key,value", [("first-lba: 34", "firstlba", 34), ("last-lba: 10240", "lastlba", 10240),
                                              ("table-length: 64", None, None)])
def test_gpt_header_fields_persist_on_a_preserved_disk(loops, tmp_path, header, key, value):
    dev = attach(loops, "20M")
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", dev], check=True, text=True,
                   input=f"label: gpt\n{header}\n1MiB 1MiB L\n")
    subprocess.run(["partx", "--add", dev], check=True)
    before = sfdisk(dev)
    c = Builder(2)
    c.add_disk(dev, "gpt", preserve=True)
    c.add_part(1 << 20, number=1, offset=f"{MiB}B")
    rc, rep = c.run(tmp_path)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep
    after = sfdisk(dev)
    assert table(dev) == [(1, MiB, MiB)]
    assert {k: after.get(k) for k in ("firstlba", "lastlba", "id")} == \
        {k: before.get(k) for k in ("firstlba", "lastlba", "id")}
    if key:
        assert after[key] == value


@pytest.mark.parametrize("ptable", ["gpt", "msdos"])
def test_replace_partition_with_wipe(loops, tmp_path, ptable):
    """curtin's replace_partition with leave to destroy (``wipe`` on partition 2): curtin's expected table, 2 is
    40 MiB; partition 1 and its contents are untouched, the old signature on 2 is gone."""
    psize = 20 << 20
    dev = attach(loops, "100M")
    c = Builder(2)
    c.add_disk(dev, ptable)
    c.add_part(psize, number=1)
    c.add_part(psize, number=2)
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    subprocess.run(["mkfs.ext4", "-q", "-L", "one", f"{dev}p1"], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", "two", f"{dev}p2"], check=True)
    uuid1 = subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", f"{dev}p1"], capture_output=True,
                           text=True).stdout
    c2 = Builder(2)
    c2.add_disk(dev, ptable, preserve=True)
    c2.add_part(psize, number=1, offset=f"{MiB}B", preserve=True)
    c2.add_part(psize * 2, number=2, wipe="superblock")
    rc, rep = c2.run(tmp_path)
    assert rc == 0 and statuses(rep)["id2"] == "done", rep
    assert table(dev) == [(1, MiB, psize), (2, MiB + psize, 2 * psize)]
    assert subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", f"{dev}p1"], capture_output=True,
                          text=True).stdout == uuid1
    assert subprocess.run(["wipefs", "--no-act", f"{dev}p2"], capture_output=True, text=True).stdout.strip() == ""
    rc, rep = c2.run(tmp_path)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


@pytest.mark.parametrize("ptable", ["gpt", "msdos"])
def test_wiping(loops, tmp_path, ptable):
    """curtin's _test_wiping: four 5 MiB partitions filled with their number, then a preserved disk where 3 is
    preserved with ``wipe: superblock`` and 4 preserved without. curtin's expected first and last MiB: 3 zeroed,
    4 untouched. Where blockprov differs (documented): 1, not preserved but exactly as described, is kept, not
    re-made and zeroed; 2, not listed, is kept, not deleted."""
    dev = attach(loops, "30M")
    c = Builder(2)
    c.add_disk(dev, ptable)
    for n in (1, 2, 3, 4):
        c.add_part("5M", number=n, offset=f"{5 * n}M")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    extents = {n: (o, s) for n, o, s in table(dev)}
    with open(dev, "r+b") as f:
        for n, (o, s) in extents.items():
            f.seek(o)
            f.write(bytes([n]) * s)
    c2 = Builder(2)
    c2.add_disk(dev, ptable, preserve=True)
    c2.add_part("5M", number=1, offset="5M")
    c2.add_part("5M", number=3, offset="15M", preserve=True, wipe="superblock")
    c2.add_part("5M", number=4, offset="20M", preserve=True)
    rc, rep = c2.run(tmp_path)
    assert rc == 0, rep
    expected = {1: {1}, 2: {2}, 3: {0}, 4: {4}}  # curtin: {1: {0}, 2: {0}, 3: {0}, 4: {4}}
    with open(dev, "rb") as f:
        for n, (o, s) in extents.items():
            f.seek(o)
            first = set(f.read(MiB))
            f.seek(o + s - MiB)
            last = set(f.read(MiB))
            assert (first, last) == (expected[n], expected[n]), n
    rc, rep = c2.run(tmp_path)
    assert rc == 0 and set(statuses(rep).values()) == {"ok"}, rep


def test_device_action(loops, tmp_path):
    """curtin's test_device_action: a ``device`` item (a block device named by path) partitioned like a disk."""
    dev = attach(loops, "10M")
    c = Builder(2)
    c.add(type="device", path=dev, ptable="gpt", id="id0")
    c.disk = c.config[-1]
    c.add_part(MiB, number=1, offset=f"{MiB}B")
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert table(dev) == [(1, MiB, MiB)]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("ptable,flag,ptype", [("msdos", "swap", "82"),
                                               ("gpt", "msftres", "E3C9E316-0B5C-4DB8-817D-F92DF00215AE")])
def test_swap_and_msftres_types(loops, tmp_path, version, ptable, flag, ptype):
    """curtin's test_swap (msdos type 82, not bootable) and test_msftres (GPT Microsoft reserved)."""
    dev = attach(loops, "20M")
    c = Builder(version)
    c.add_disk(dev, ptable)
    c.add_part(MiB, number=1, offset=f"{MiB}B", flag=flag)
    rc, rep = c.run(tmp_path)
    assert rc == 0, rep
    assert types(dev) == [(1, MiB, MiB, ptype, False)]
    c.rerun_preserved(tmp_path)


def test_quick_zero_loop(loops, tmp_path):
    """curtin's test_quick_zero_loop: 18 one-MiB partitions on a disk with ``wipe: superblock-recursive``, applied
    five times; the table is the same each time (blockprov wipes once, then verifies)."""
    dev = attach(loops, "20M")
    c = Builder(2)
    c.add_disk(dev, "gpt", wipe="superblock-recursive")
    for i in range(1, 19):
        c.add_part(MiB, number=i, offset=f"{i * MiB}B")
    for run in range(5):
        rc, rep = c.run(tmp_path)
        assert rc == 0, rep
        assert table(dev) == [(i, i * MiB, MiB) for i in range(1, 19)]
        if run:
            assert set(statuses(rep).values()) == {"ok"}, rep
